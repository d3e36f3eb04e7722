// ember::testing: multi-node tests against real `ember-node` processes.
//
// A Cluster starts ember-node daemons on free loopback ports with one cookie, waits for each
// to print its ready line, and lets a test kill (SIGKILL, SIGTERM), freeze (SIGSTOP,
// SIGCONT) and restart them under the same name and port. The test talks to them through
// an in-process hidden Node (client()) and every node's ember_admin service. At the end,
// shutdown() stops what is left and reports anything that leaked: an unreaped child, a
// stray ember-node of this cluster, a connection still open on one of its ports.
//
//   ember::testing::Cluster cluster;
//   auto& a = cluster.start("a");
//   auto& b = cluster.start("b");             // joins a
//   REQUIRE(cluster.wait_for_mesh());
//   b.kill();                                 // kill -9
//   CHECK(cluster.ping(a));                   // {ping, From, Ref} to a's ember_admin
//   b.restart();                              // same name, same port
//   auto report = cluster.shutdown();
//   CHECK(report.clean());
//
// Every child is killed and reaped by the destructor, also when a test fails half-way; a
// test program that crashes takes its nodes with it (they watch their parent). The
// harness is driven from one thread; docs/TESTING.md has a longer walk through.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/co.hpp"
#include "ember/core/runtime.hpp"
#include "ember/node/node.hpp"

namespace ember::testing {

using std::chrono::milliseconds;

// Polls `condition` every `poll` until it holds (true) or `timeout` passes (false): what
// tests wait with, instead of sleeping for a guessed time.
bool eventually(const std::function<bool()>& condition, milliseconds timeout,
                milliseconds poll = milliseconds(10));

// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
std::uint16_t free_port();

// The config of an in-process test Node: `name`@127.0.0.1 on a port of its own choosing,
// `cookie`, two schedulers. Several such Nodes in one test binary talk over loopback.
NodeConfig loopback_node(std::string_view name, std::string_view cookie);

// How a child ended.
struct ExitStatus {
  bool exited = false;  // exit() was called: `code` is valid
  int code = 0;
  int signal = 0;          // killed by this signal
  bool timed_out = false;  // did not end in time and was killed with SIGKILL
  bool clean() const { return exited && code == 0 && !timed_out; }
  std::string text() const;  // "exit code 0", "killed by SIGKILL", ...
};

struct ClusterOptions {
  std::string cookie;      // empty: a random one
  std::string executable;  // empty: $EMBER_NODE, else the ember-node built with Ember
  std::string host = "127.0.0.1";
  unsigned schedulers = 2;            // --schedulers for every node
  std::optional<double> ticktime;     // --ticktime for every node (and the client's ticks)
  milliseconds ready_timeout{30000};  // start or restart to the ready line
  milliseconds stop_timeout{30000};   // SIGTERM to exit (a loaded machine is slow to stop)
  // How long shutdown() gives the kernel to finish closing connections on the cluster's
  // ports before it reports what is still open.
  milliseconds close_timeout{10000};
  // Where the nodes' stderr goes, one <name>.log each. Empty: a fresh directory under
  // $TMPDIR, removed by the destructor after a clean shutdown() unless keep_logs (or
  // EMBER_TESTING_KEEP_LOGS=1).
  std::filesystem::path log_dir;
  bool keep_logs = false;
  std::vector<std::string> env;  // NAME=VALUE for every node (EMBER_LOG_LEVEL=debug, ...)
};

struct NodeOptions {
  // --join for each: a node of this cluster by its short name, or a full node name.
  // Unset: the first node started, if any (so the cluster meshes); empty: join nobody.
  std::optional<std::vector<std::string>> join;
  std::optional<double> ticktime;       // overrides ClusterOptions::ticktime
  std::vector<std::string> extra_args;  // more flags
  std::vector<std::string> env;         // NAME=VALUE, after the cluster's
};

class Cluster;

// One ember-node child. It keeps its name, port and flags across restarts.
class NodeProcess {
 public:
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;
  ~NodeProcess();  // SIGKILL and reap if still running

  const std::string& short_name() const { return short_name_; }
  Atom name() const { return name_; }  // short@host:port, as the node prints it
  std::uint16_t port() const { return port_; }
  pid_t os_pid() const { return pid_; }             // of the current incarnation; 0 once reaped
  int incarnation() const { return incarnation_; }  // 1, then +1 per restart
  bool running() const;  // started and not yet exited (a stopped node is running)
  bool stopped() const { return stopped_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // kill -9, then reap. No-op when not running.
  void kill();
  // SIGTERM (after SIGCONT if stopped), then waits for the exit; past `timeout` (default:
  // ClusterOptions::stop_timeout) SIGKILL, and the status says timed_out.
  ExitStatus terminate(std::optional<milliseconds> timeout = std::nullopt);
  // Sends any signal; the caller waits for its effect.
  void signal(int sig);
  // SIGSTOP, returning once the kernel reports the process stopped; cont() is SIGCONT.
  void stop();
  void cont();
  // Kills it if running, then starts it again with the same name, port and flags and waits
  // for its ready line. Throws std::runtime_error (with the log's tail) if it fails.
  void restart();
  // Waits for the process to end on its own; nullopt if it is still running at `timeout`.
  std::optional<ExitStatus> wait_exit(milliseconds timeout);
  // The last status seen (after kill, terminate or wait_exit).
  const std::optional<ExitStatus>& exit_status() const { return status_; }

  // stderr of every incarnation, in one file (a line marks each restart).
  const std::filesystem::path& log_path() const { return log_path_; }
  std::string log() const;
  std::string log_tail(std::size_t lines = 40) const;
  std::size_t log_size() const;
  // Waits until `text` appears in the log past byte `from` (see log_size()).
  bool wait_for_log(std::string_view text, milliseconds timeout, std::size_t from = 0) const;

 private:
  friend class Cluster;
  NodeProcess(Cluster& cluster, std::string short_name, std::uint16_t port,
              std::vector<std::string> argv, std::vector<std::string> env);
  void spawn();  // throws; on failure nothing is left running
  // waitpid: true once this incarnation has been reaped (at once, or within `timeout`).
  bool reap(milliseconds timeout) const;

  Cluster& cluster_;
  std::string short_name_;
  std::uint16_t port_;
  Atom name_;
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::filesystem::path log_path_;
  // Updated by whoever notices the exit first (running() included).
  mutable pid_t pid_ = 0;
  int incarnation_ = 0;
  mutable bool stopped_ = false;
  mutable std::optional<ExitStatus> status_;
  std::vector<pid_t> all_pids_;  // every incarnation, for the leak check
  mutable std::vector<pid_t> reaped_;
};

// What shutdown() found. Empty `problems` means nothing leaked.
struct TeardownReport {
  std::vector<std::string> problems;
  bool clean() const { return problems.empty(); }
  std::string text() const;  // one problem per line, or "clean"
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();  // kills and reaps every node that is left; never throws
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts ember-node `short_name`@host:port on a free port and waits for its ready line.
  // Throws std::runtime_error (with the log's tail) if it does not come up.
  NodeProcess& start(const std::string& short_name, NodeOptions options = {});
  NodeProcess& node(std::string_view short_name);
  NodeProcess& operator[](std::size_t i) { return *nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }
  const std::string& cookie() const { return options_.cookie; }
  const ClusterOptions& options() const { return options_; }
  std::vector<std::uint16_t> ports() const;

  // The in-process hidden node (NodeConfig{.listen = false, .hidden = true}) a test talks
  // to the cluster through; made on first use, destroyed by shutdown().
  Node& client();
  // Runs `body` as a process on client() and blocks until it ends: its exit reason.
  template <class F>
  Term run(F&& body) {
    return client().runtime().run(std::forward<F>(body));
  }
  // Asks a node's ember_admin from outside any process: {Command, Client, Ref, Args...};
  // the result, or the atom `timeout`.
  Term admin(Atom node, Atom command, std::vector<Term> args = {},
             milliseconds timeout = milliseconds(5000));
  // ember_admin answers pong within `timeout`.
  bool ping(const NodeProcess& n, milliseconds timeout = milliseconds(5000));
  // The nodes `n` sees connected (ember_admin's nodes), empty on timeout.
  std::vector<Atom> nodes_of(const NodeProcess& n, milliseconds timeout = milliseconds(5000));
  // Every running, not stopped node sees every other such node.
  bool wait_for_mesh(milliseconds timeout = milliseconds(20000));

  // Destroys the client, stops every node with SIGTERM (SIGCONT first if stopped; SIGKILL
  // past stop_timeout), reaps them, and checks that nothing leaked: every child reaped, no
  // ember-node process left on the cluster's ports, no socket of this process still on
  // them and no connection on them but TIME_WAIT. A node that does not exit 0 on SIGTERM
  // is a problem too. Idempotent.
  TeardownReport shutdown();

  // Every node's log tail, headed by its name and status: for failure messages.
  std::string logs(std::size_t lines_per_node = 60) const;
  void dump_logs(std::ostream& out, std::size_t lines_per_node = 60) const;
  const std::filesystem::path& log_dir() const { return options_.log_dir; }

 private:
  friend class NodeProcess;
  std::string full_name(const std::string& short_name, std::uint16_t port) const;

  ClusterOptions options_;
  bool own_log_dir_ = false;
  bool shut_down_clean_ = false;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  std::unique_ptr<Node> client_;
  int uncaught_at_start_ = 0;
};

// From a process: asks `node`'s ember_admin and waits for the answer: the result, or the
// atom `timeout`.
Co<Term> admin_call(Self self, Atom node, Atom command, std::vector<Term> args = {},
                    milliseconds timeout = milliseconds(5000));

}  // namespace ember::testing
