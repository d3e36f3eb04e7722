#include "cli_app.hpp"

#include <iostream>

#include "cli_error.hpp"

namespace ember::cli {
namespace {

const char* kFooter = R"(
Nodes: name@host[:port]; the port defaults to 4370.
Pids: Ember prints <N.S.G> with N a node index local to the printing program, so ember
prints and reads <0.S.G>@name@host:port (slot S, generation G on that node). A bare
<N.S.G>, as a target or inside a term, means slot S, generation G on --node.
Targets (send, call): a pid, a name registered on --node, name@node, or global:name (a
global name, looked up on --node; global:name@node looks it up on node).
Cookie: --cookie, else EMBER_COOKIE, else ~/.ember.cookie (created if absent).
Exit: 0 ok, 1 the node said no (no such process, spawn failed), 2 bad arguments, term
or pid, 3 node unreachable or connection refused (wrong cookie?), 4 timeout.)";

}  // namespace

CLI::App* CliApp::add(const char* name, const char* help, Action action) {
  CLI::App* sub = app_.add_subcommand(name, help);
  actions_.emplace_back(sub, std::move(action));
  return sub;
}

CliApp::CliApp() {
  app_.require_subcommand(1);
  app_.fallthrough();  // global options may come after the subcommand too
  app_.footer(kFooter);
  app_.add_option("--node", options_.node, "the node to attach to, name@host[:port]")
      ->envname("EMBER_NODE");
  app_.add_option("--cookie", options_.cookie, "the cluster's cookie")->envname("EMBER_COOKIE");
  app_.add_flag("--json", options_.json, "machine-readable output");
  app_.add_flag("-v,--verbose", options_.verbose, "log the node layer's connection events");

  add("term", "parse an Erlang term, print it back and its wire size",
      [this](Commands&) { return term_command(text_, options_.json); })
      ->add_option("TERM", text_, "the term, e.g. '{echo, <<\"hi\">>, 42}'")
      ->required();
  add("version", "print the version", [](Commands&) {
    std::cout << "ember " << EMBER_VERSION << "\n";
    return int(kOk);
  });

  add("ping", "ping NODE (default: --node): pong, or exit 3", [this](Commands& c) {
    return c.ping(node_);
  })->add_option("NODE", node_, "the node");
  add("nodes",
      "the nodes --node is connected to (hidden ones, like ember's, are not listed); with "
      "--verbose a table of each connection: address, creation, uptime, bytes and frames in "
      "and out, outbox queue depth, age of the last tick read",
      [this](Commands& c) { return c.nodes(connections_); })
      // Long form only: -v before or after a subcommand stays the global logging flag.
      ->add_flag("--verbose", connections_, "the connection table (e.g. ember nodes --verbose)");
  add("ps",
      "processes of --node: pid, name, status, queue length, reductions, memory (the current "
      "function is not tracked by the Ember runtime, so it is not shown)",
      [this](Commands& c) { return c.ps(all_nodes_); })
      ->add_flag("--all-nodes", all_nodes_, "also every node --node is connected to");
  add("info", "everything a node knows of one process",
      [this](Commands& c) { return c.info(pid_); })
      ->add_option("PID", pid_, "<0.S.G>@node as ps prints it")
      ->required();

  CLI::App* send = add("send", "send TERM to TARGET (a pid, a name, or name@node)",
                       [this](Commands& c) { return c.send(target_, text_); });
  send->add_option("TARGET", target_, "pid, registered name, or name@node")->required();
  send->add_option("TERM", text_, "the message, Erlang syntax")->required();

  CLI::App* call = add("call",
                       "send TERM with ember's pid appended ({echo, X} goes as {echo, X, Pid}; "
                       "a non-tuple T as {T, Pid}) and print the first reply",
                       [this](Commands& c) { return c.call(target_, text_, timeout_ms_); });
  call->add_option("TARGET", target_, "pid, registered name, or name@node")->required();
  call->add_option("TERM", text_, "the request, Erlang syntax")->required();
  call->add_option("--timeout", timeout_ms_, "milliseconds to wait for the reply (exit 4)")
      ->capture_default_str()
      ->check(CLI::Range(1L, 3600000L));

  CLI::App* spawn = add("spawn", "start a function registered for remote spawn on NODE",
                        [this](Commands& c) { return c.spawn(node_, function_, args_); });
  spawn->add_option("NODE", node_, "the node")->required();
  spawn->add_option("FUNCTION", function_, "the function's registered name")->required();
  spawn->add_option("ARGS", args_, "its argument, Erlang syntax (default [])");

  CLI::App* kill = add("kill", "exit(PID, REASON); REASON defaults to kill",
                       [this](Commands& c) { return c.kill(pid_, reason_); });
  kill->add_option("PID", pid_, "<0.S.G>@node")->required();
  kill->add_option("REASON", reason_, "the exit reason, Erlang syntax");

  add("registry", "names registered on --node (with --global: the global names)",
      [this](Commands& c) { return c.registry(global_); })
      ->add_flag("--global", global_, "the global registry, as --node sees it");
  // `ember global digest | register | unregister`.
  CLI::App* global =
      app_.add_subcommand("global", "the global name registry (ember registry --global lists it)");
  global->require_subcommand(1);
  global->fallthrough();
  CLI::App* digest = global->add_subcommand(
      "digest", "the global table's digest on --node (equal on nodes with equal tables)");
  digest->add_flag("--all-nodes", all_nodes_, "also every node --node is connected to");
  actions_.emplace_back(digest, [this](Commands& c) { return c.global_digest(all_nodes_); });
  CLI::App* reg = global->add_subcommand(
      "register", "register PID globally as NAME, through --node (exit 1 if NAME is taken)");
  reg->add_option("NAME", name_, "the global name")->required();
  reg->add_option("PID", pid_, "<0.S.G>@node")->required();
  actions_.emplace_back(reg, [this](Commands& c) { return c.global_change(true, name_, pid_); });
  CLI::App* unreg = global->add_subcommand(
      "unregister", "remove the global NAME, through --node (exit 1 if it is not registered)");
  unreg->add_option("NAME", name_, "the global name")->required();
  actions_.emplace_back(unreg, [this](Commands& c) { return c.global_change(false, name_, ""); });
  for (CLI::App* sub : {digest, reg, unreg}) sub->fallthrough();
  // `ember pg groups | members | join | leave`: process groups (pg) as --node sees them.
  CLI::App* pg = app_.add_subcommand("pg", "process groups (pg), as --node sees them");
  pg->require_subcommand(1);
  pg->fallthrough();
  auto scoped = [this](CLI::App* sub) {
    sub->add_option("--scope", scope_, "the scope, an atom")->capture_default_str();
    sub->fallthrough();
  };
  CLI::App* groups =
      pg->add_subcommand("groups", "the groups with members anywhere, and how many members");
  scoped(groups);
  actions_.emplace_back(groups, [this](Commands& c) { return c.pg_groups(scope_); });
  CLI::App* members = pg->add_subcommand(
      "members", "the members of GROUP on every node (with --local: on --node only)");
  members->add_option("GROUP", group_, "the group, Erlang syntax (e.g. workers, {svc, 1})")
      ->required();
  members->add_flag("--local", local_, "only the members that are processes of --node");
  scoped(members);
  actions_.emplace_back(members,
                        [this](Commands& c) { return c.pg_members(group_, scope_, local_); });
  CLI::App* join =
      pg->add_subcommand("join", "make PID a member of GROUP (through PID's own node)");
  CLI::App* leave =
      pg->add_subcommand("leave", "make PID leave GROUP once (exit 1 if it is not a member)");
  for (CLI::App* sub : {join, leave}) {
    sub->add_option("GROUP", group_, "the group, Erlang syntax")->required();
    sub->add_option("PID", pid_, "<0.S.G>@node")->required();
    scoped(sub);
  }
  actions_.emplace_back(join,
                        [this](Commands& c) { return c.pg_change(true, group_, pid_, scope_); });
  actions_.emplace_back(leave,
                        [this](Commands& c) { return c.pg_change(false, group_, pid_, scope_); });
  CLI::App* trace = add("trace",
                        "print the messages TARGET receives, with a timestamp, for a while "
                        "(erlang:trace 'receive', through a relay on TARGET's node)",
                        [this](Commands& c) { return c.trace(target_, seconds_, count_); });
  trace->add_option("TARGET", target_, "pid, registered name, name@node or global:name")
      ->required();
  trace->add_option("--seconds", seconds_, "how long to trace")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  trace->add_option("--count", count_, "stop after this many messages (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0L, 1000000000L));
  CLI::App* top =
      add("top",
          "a live view of --node (or the cluster): processes by reductions, queue "
          "or memory, run queues, node-wide counts; q quits, s changes the sort",
          [this](Commands& c) { return c.top(all_nodes_, interval_ms_, sort_, once_, limit_); });
  top->add_flag("--all-nodes", all_nodes_, "also every node --node is connected to");
  top->add_option("--interval", interval_ms_, "milliseconds between frames")
      ->capture_default_str()
      ->check(CLI::Range(50L, 3600000L));
  top->add_option("--sort", sort_, "reductions (over the interval), queue or memory")
      ->capture_default_str()
      ->check(CLI::IsMember({"reductions", "queue", "memory"}));
  top->add_flag("--once", once_,
                "print one frame and exit (also what happens when stdout is not a terminal)");
  top->add_option("--limit", limit_, "most processes shown (default: all, or what fits)")
      ->check(CLI::Range(0L, 1000000L));
  CLI::App* bench = add("bench",
                        "a quick health and throughput check: ping, echo round trips "
                        "(min/median/max) and a burst of messages to a sink, on each node",
                        [this](Commands& c) { return c.bench(nodes_, bench_seconds_, calls_); });
  bench->add_option("NODES", nodes_, "the nodes to check (default: --node and its peers)");
  bench->add_option("--seconds", bench_seconds_, "how long each node's burst lasts")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  bench->add_option("--calls", calls_, "echo round trips per node")
      ->capture_default_str()
      ->check(CLI::Range(1L, 1000000L));
  add("connect", "make --node connect to NODE", [this](Commands& c) { return c.connect(node_); })
      ->add_option("NODE", node_, "the node")
      ->required();
  add("disconnect", "make --node drop its connection to NODE",
      [this](Commands& c) { return c.disconnect(node_); })
      ->add_option("NODE", node_, "the node")
      ->required();
  add_examples();
}

std::string CliApp::help_command() {
  std::string command = "ember";
  for (CLI::App* at = &app_;;) {
    auto subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    command += " " + at->get_name();
  }
  return command + " --help";
}

// Each subcommand's --help ends with examples (its CLI11 footer), as README's CLI section.
void CliApp::add_examples() {
  static const std::vector<std::pair<std::vector<std::string>, const char*>> examples{
      {{"term"}, "ember term '{echo, <<\"hi\">>, 42}'"},
      {{"version"}, "ember version"},
      {{"ping"}, "ember ping b@127.0.0.1:4371          # default: --node"},
      {{"nodes"}, "ember nodes --node a@127.0.0.1:4370      # or EMBER_NODE"},
      {{"ps"}, "ember ps --all-nodes"},
      {{"info"}, "ember info '<0.2.1>@b@127.0.0.1:4371'"},
      {{"send"}, "ember send status_collector '{report, <<\"db\">>, up}'"},
      {{"call"}, "ember call echo@c@127.0.0.1:4372 '{echo, 1}' --timeout 500"},
      {{"spawn"}, "ember spawn b@127.0.0.1:4371 sleeper '[]'"},
      {{"kill"}, "ember kill '<0.9.1>@b@127.0.0.1:4371' shutdown"},
      {{"registry"}, "ember registry --global"},
      {{"global"}, "ember global digest --all-nodes"},
      {{"global", "digest"}, "ember global digest --all-nodes"},
      {{"global", "register"}, "ember global register db '<0.9.1>@b@127.0.0.1:4371'"},
      {{"global", "unregister"}, "ember global unregister db"},
      {{"pg"}, "ember pg members workers --scope pg"},
      {{"pg", "groups"}, "ember pg groups --scope pg"},
      {{"pg", "members"}, "ember pg members '{svc, 1}' --local"},
      {{"pg", "join"}, "ember pg join workers '<0.9.1>@b@127.0.0.1:4371'"},
      {{"pg", "leave"}, "ember pg leave workers '<0.9.1>@b@127.0.0.1:4371'"},
      {{"trace"}, "ember trace status_collector --seconds 30 --count 100"},
      {{"top"},
       "ember top --all-nodes --sort queue --interval 500    # ember top --once: one frame"},
      {{"bench"}, "ember bench --seconds 2 --calls 200                 # or: ember bench NODE..."},
      {{"connect"}, "ember connect c@127.0.0.1:4372"},
      {{"disconnect"}, "ember disconnect c@127.0.0.1:4372"},
  };
  for (const auto& [path, text] : examples) {
    CLI::App* sub = &app_;
    for (const auto& name : path) sub = sub->get_subcommand(name);
    // The example, then what every command shares (pids, targets, exit codes).
    sub->footer(std::string("\nExample:\n  ") + text + "\n" + kFooter);
  }
}

int CliApp::run() {
  Commands commands(options_);
  for (auto& [sub, action] : actions_) {
    if (!sub->parsed()) continue;
    try {
      return action(commands);
    } catch (const CliError& e) {
      std::cerr << "ember: " << e.what() << '\n';
      return e.code();
    } catch (const std::exception& e) {
      std::cerr << "ember: " << e.what() << '\n';
      return kFailed;
    }
  }
  return kUsage;  // unreachable: CLI11 requires one subcommand
}

}  // namespace ember::cli
