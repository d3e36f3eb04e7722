// The ember CLI's commands. Each returns the exit code or throws CliError.
#pragma once

#include <memory>
#include <string>

#include "cli_session.hpp"

namespace ember::cli {

struct Options {
  std::string node;    // --node / EMBER_NODE, as typed
  std::string cookie;  // --cookie / EMBER_COOKIE; else ~/.ember.cookie
  bool json = false;
  bool verbose = false;  // keep the node layer's log lines
};

// `ember term TEXT`: parse, print canonical Erlang text, and the bytes it takes on the wire.
int term_command(const std::string& text, bool json);

struct TopSample;

class Commands {
 public:
  explicit Commands(Options options) : options_(std::move(options)) {}

  int ping(const std::string& node);  // empty: --node
  int nodes(bool verbose);            // verbose: the connection table (admin `connections`)
  int connections();
  int ps(bool all_nodes);
  int info(const std::string& pid);
  int send(const std::string& target, const std::string& term);
  int call(const std::string& target, const std::string& term, long timeout_ms);
  int spawn(const std::string& node, const std::string& function, const std::string& args);
  int kill(const std::string& pid, const std::string& reason);
  int registry(bool global);  // global: the global names as --node sees them
  int global_digest(bool all_nodes);
  // register_global(NAME, PID) / unregister_global(NAME) through --node.
  int global_change(bool reg, const std::string& name, const std::string& pid);
  // Process groups as --node sees them (scope: an atom's text).
  int pg_groups(const std::string& scope);
  int pg_members(const std::string& group, const std::string& scope, bool local);
  // pg:join / pg:leave of PID, asked of PID's node (only a node's own pids join there).
  int pg_change(bool join, const std::string& group, const std::string& pid,
                const std::string& scope);
  // Prints the messages TARGET receives (erlang:trace 'receive'), each with a timestamp,
  // for `seconds` or `count` messages (0: no limit), whichever comes first.
  int trace(const std::string& target, double seconds, long count);
  // A live view (tools/top.cpp): processes sorted by `sort` (reductions over the interval,
  // queue, memory), node-wide counts and run queues, redrawn every interval until q;
  // one frame when `once` or stdout is not a terminal. limit: most process rows (0: all,
  // or what fits the terminal).
  int top(bool all_nodes, long interval_ms, const std::string& sort, bool once, long limit);
  // A health and throughput check of `nodes` (default: --node and its peers): ping,
  // `calls` echo round trips (min/median/max), a `seconds` burst to a sink (msgs/s).
  // Prints `NODE metric: value unit` lines and a summary; the first failure's exit code.
  int bench(const std::vector<std::string>& nodes, double seconds, long calls);
  int connect(const std::string& node);
  int disconnect(const std::string& node);

 private:
  Session& session();
  Atom attached();                             // --node, or CliError(kUsage)
  std::vector<Atom> targets(bool all_nodes);   // --node, then (all_nodes) its peers by name
  Term parse(const std::string& text);         // bare pids in it are on --node
  Pid live_pid(const std::string& text);       // resolved, and alive, else CliError(kFailed)
  Address address(const std::string& target);  // resolved, and there, else CliError(kFailed)
  Pid target_pid(const std::string& target);   // a name's pid too
  std::vector<Term> ps_rows(Atom node);
  Atom scope_atom(const std::string& text);  // an atom, else CliError(kUsage)
  std::vector<Pid> pg_pids(Atom node, const char* command, Atom scope, const Term& group);

  TopSample top_sample(bool all_nodes);
  std::string top_frame(const TopSample& before, const TopSample& now, const std::string& sort,
                        double seconds, long limit);

  Options options_;
  std::unique_ptr<Session> session_;
};

}  // namespace ember::cli
