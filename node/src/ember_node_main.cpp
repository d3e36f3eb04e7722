// ember-node: one Ember node as an OS process. It hosts the seed's example services under
// registered names, registers named functions that other nodes may spawn here, prints
// `ember-node ready NAME` once it listens with its services registered, and stops on
// SIGTERM or SIGINT.
// Flags and environment: daemon_config.hpp.
#include <signal.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "daemon_config.hpp"
#include "demo_functions.hpp"
#include "ember/core/errors.hpp"
#include "ember/core/gen_server.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/global.hpp"
#include "ember/node/node.hpp"
#include "ember/node/node_name.hpp"
#include "ember/node/process_groups.hpp"
#include "join_keeper.hpp"
#include "seed.hpp"

namespace {

using namespace ember;
using namespace std::chrono_literals;

// --- the services, kept running by a supervisor ---------------------------------------

struct Service {
  const char* name;
  bool registers_itself;  // metric_collector and health_checker call register_name
  Proc (*body)(Self);
};

const Service kServices[] = {
    {"echo", false, [](Self s) { return examples::echo_loop(s); }},
    {"counter", false, [](Self s) { return examples::counter(s, 0); }},
    {"status_collector", false, [](Self s) { return examples::status_collector(s); }},
    {"metric_collector", true, [](Self s) { return examples::metric_collector(s); }},
    {"health_checker", true, [](Self s) { return examples::health_checker(s, 10ms); }},
};

// A service that ends (`stop`) or crashes is started again under its name, up to five
// times in ten seconds; past that it stays down and says so.
Proc supervise_services(Self self) {
  self.trap_exit(true);
  std::map<Pid, std::size_t> running;
  std::deque<std::chrono::steady_clock::time_point> restarts[std::size(kServices)];
  auto start = [&](std::size_t i) {
    Pid pid = self.spawn_link(kServices[i].body);
    running[pid] = i;
    if (kServices[i].registers_itself) return;
    try {
      self.runtime().register_name(Atom(kServices[i].name), pid);
    } catch (const ErlangError&) {
      spdlog::error("ember-node: the name {} is taken; {} runs unregistered", kServices[i].name,
                    kServices[i].name);
    }
  };
  for (std::size_t i = 0; i < std::size(kServices); ++i) start(i);
  for (;;) {
    auto m = co_await self.receive(match(tuple(Atom("EXIT"), _, _)));
    auto it = running.find(m.pid(1));
    if (it == running.end()) continue;
    std::size_t i = it->second;
    running.erase(it);
    auto now = std::chrono::steady_clock::now();
    auto& recent = restarts[i];
    while (!recent.empty() && now - recent.front() > 10s) recent.pop_front();
    if (recent.size() >= 5) {
      spdlog::error("ember-node: service {} ended ({}) too often; not restarting it",
                    kServices[i].name, print_term(m[2]));
      continue;
    }
    recent.push_back(now);
    spdlog::info("ember-node: service {} ended ({}); restarting it", kServices[i].name,
                 print_term(m[2]));
    start(i);
  }
}

// The ready line promises the services: whoever reads it may send to echo at once (the
// harness's restart did, and the message went nowhere when supervise_services had not
// registered it yet). Bounded, so a service that cannot start does not hold the line.
void await_services(Runtime& rt) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (const Service& s : kServices)
    while (!rt.whereis(Atom(s.name)) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
}

// --- named functions for remote spawn ---------------------------------------------------

std::int64_t int_or(const Term& t, std::int64_t fallback) {
  return t.is_integer() ? t.as<std::int64_t>() : fallback;
}

// Waits for `stop` (ends normally) or {exit, Reason} (ends with Reason).
Proc sleeper(Self self) {
  auto m = co_await self.receive(match("stop"_a), "{exit, _}"_p);
  if (m.clause() == 1) self.exit(m[1]);
}

// examples::health_checker registers itself, and every node already runs one under that
// name: this one answers the same {check, Service, From} requests unregistered.
Proc unregistered_health_checker(Self self, milliseconds delay) {
  for (;;) {
    auto m = co_await self.receive("{check, _, _}"_p, match("stop"_a));
    if (m.clause() == 1) co_return;
    co_await self.sleep(delay);
    self.send(m.pid(2), tuple("result"_a, "healthy"_a));
  }
}

// {Node, Message, ReplyTo}: one round trip through Node's echo service from here; ReplyTo
// gets {echo_via, Node, {ok, Message}} or {echo_via, Node, timeout}. Says that this node
// and Node can talk to each other.
Proc echo_via(Self self, Term args) {
  if (!args.is_tuple(3) || !args[0].is_atom() || !args[2].is_pid()) self.exit("badarg"_a);
  Atom node = args[0].as<Atom>();
  self.send(RemoteName{"echo"_a, node}, tuple("echo"_a, args[1], self.pid()));
  auto m = co_await self.receive(match(tuple("ok"_a, args[1]))).after(5s);
  self.send(args[2].pid(), tuple("echo_via"_a, node, m.timed_out() ? Term("timeout"_a) : m.term()));
}

// {Target, ReplyTo}: links to and monitors Target (trapping exits), tells ReplyTo
// {watching, Self, Target}, then reports {watch, exit, Target, Reason} and
// {watch, down, Target, Reason} as they come. `stop` ends it.
Proc watch(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_pid() || !args[1].is_pid()) self.exit("badarg"_a);
  Pid target = args[0].pid(), reply_to = args[1].pid();
  self.trap_exit(true);
  self.link(target);
  Ref ref = self.monitor(target);
  self.send(reply_to, tuple("watching"_a, self.pid(), target));
  for (int seen = 0; seen < 2;) {
    auto m = co_await self.receive(match(tuple(Atom("EXIT"), target, _)),
                                   match(tuple(Atom("DOWN"), ref, _, _, _)), match("stop"_a));
    if (m.clause() == 2) co_return;
    ++seen;
    if (m.clause() == 0) self.send(reply_to, tuple("watch"_a, "exit"_a, target, m[2]));
    if (m.clause() == 1) self.send(reply_to, tuple("watch"_a, "down"_a, target, m[4]));
  }
}

// {Node, ReplyTo}: streams {echo, Seq, Self} to Node's echo service, 100 in flight, until
// `stop` or the node goes down; then ReplyTo gets {streamer, stopped | nodedown | timeout,
// Node, Acknowledged}. ReplyTo first gets {streaming, Self} once the first 100 came back.
Proc streamer(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  Atom node = args[0].as<Atom>();
  Pid reply_to = args[1].pid();
  Node::of(self)->monitor_node(self, node);
  std::int64_t acked = 0;
  Atom outcome("stopped");
  for (bool done = false; !done;) {
    for (std::int64_t i = 0; i < 100; ++i)
      self.send(RemoteName{"echo"_a, node}, tuple("echo"_a, acked + i, self.pid()));
    for (std::int64_t want = acked + 100; acked < want && !done;) {
      auto m = co_await self
                   .receive(match(tuple("ok"_a, acked)), match(tuple("nodedown"_a, node)),
                            match("stop"_a))
                   .after(10s);
      if (m.timed_out()) {
        outcome = Atom("timeout");
        done = true;
      } else if (m.clause() == 0) {
        if (++acked == 100) self.send(reply_to, tuple("streaming"_a, self.pid()));
      } else {
        outcome = Atom(m.clause() == 1 ? "nodedown" : "stopped");
        done = true;
      }
    }
  }
  self.send(reply_to, tuple("streamer"_a, outcome, node, acked));
}

// --- the global registry, for multi-node tests ---------------------------------------

// {Name, ReportTo}: register_global(Name, self()), then ReportTo gets
// {race, Name, yes | no | timeout, Self}; then waits for `stop`.
Proc global_racer(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  Atom name = args[0].as<Atom>();
  GlobalResult r = co_await register_global(self, name, self.pid());
  self.send(args[1].pid(), tuple("race"_a, name, Atom(to_string(r)), self.pid()));
  co_await self.receive(match("stop"_a));
}

// {Names, ReportTo}: tells ReportTo {racers_ready, Self}, waits for `go`, then starts a
// global_racer for each name at once (each reports to ReportTo itself). `stop` stops them
// all. A test sends `go` to one of these on every node to start racers everywhere at once.
Proc global_racers(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_list() || !args[1].is_pid()) self.exit("badarg"_a);
  Term names = args[0];
  Pid report_to = args[1].pid();
  self.send(report_to, tuple("racers_ready"_a, self.pid()));
  auto m = co_await self.receive(match("go"_a), match("stop"_a));
  if (m.clause() == 1) co_return;
  std::vector<Pid> racers;
  racers.reserve(names.size());
  for (const Term& name : names) {
    Term racer_args = tuple(name, report_to);
    racers.push_back(self.spawn([racer_args](Self s) { return global_racer(s, racer_args); }));
  }
  co_await self.receive(match("stop"_a));
  for (Pid p : racers) self.send(p, "stop"_a);
}

// {Names, ReportTo} or {Names, ReportTo, trap}: registers itself globally under each of
// Names (an atom or a list of atoms; up to 100 requests in flight), then tells ReportTo
// {holding, Self, Yes, No, Timeout} (how many of each answer), and waits for `stop`.
// With `trap` it traps exits, and reports each exit signal as {holder_exit, Self, Reason}
// (e.g. {global_name_conflict, Name}) instead of dying of it.
Proc global_holder(Self self, Term args) {
  if (!(args.is_tuple(2) || args.is_tuple(3)) || !args[1].is_pid() ||
      !(args[0].is_atom() || args[0].is_list()))
    self.exit("badarg"_a);
  bool trap = args.is_tuple(3) && args[2].is("trap"_a);
  Pid report_to = args[1].pid();
  std::vector<Atom> names;
  if (args[0].is_atom()) {
    names.push_back(args[0].as<Atom>());
  } else {
    for (const Term& n : args[0])
      if (n.is_atom()) names.push_back(n.as<Atom>());
  }
  if (trap) self.trap_exit(true);
  Pid me = self.pid();
  std::int64_t counts[3] = {0, 0, 0};  // yes, no, timeout
  constexpr std::size_t kInFlight = 100;
  std::size_t next = 0, done = 0;
  auto start_one = [&] {
    Atom name = names[next++];
    self.spawn([name, me](Self h) -> Proc {
      GlobalResult r = co_await register_global(h, name, me);
      h.send(me, tuple("registered"_a, name, std::int64_t(r)));
    });
  };
  while (next < names.size() && next < kInFlight) start_one();
  while (done < names.size()) {
    auto m = co_await self.receive("{registered, _, _}"_p);
    ++done;
    ++counts[std::clamp<std::int64_t>(m[2].as<std::int64_t>(), 0, 2)];
    if (next < names.size()) start_one();
  }
  static_assert(int(GlobalResult::kYes) == 0 && int(GlobalResult::kNo) == 1 &&
                int(GlobalResult::kTimeout) == 2);
  self.send(report_to, tuple("holding"_a, me, counts[0], counts[1], counts[2]));
  for (;;) {
    auto m = co_await self.receive(match("stop"_a), match(tuple(Atom("EXIT"), _, _)));
    if (m.clause() == 0) co_return;
    self.send(report_to, tuple("holder_exit"_a, me, m[2]));
  }
}

// --- process groups, for multi-node tests ------------------------------------------------

// {Groups, ReportTo} or {Scope, Groups, ReportTo}: joins each group of the list Groups (any
// terms) in Scope (default pg), tells ReportTo {pg_joined, Self}, and stays a member until
// it ends: `stop` (normally) or {exit, Reason}. {leave, Group} leaves once and reports
// {pg_left, Self, Group, true | false}; anything else it gets (a broadcast) goes to ReportTo
// as {pg_got, Self, Message}, so a test sees who a broadcast reached.
Proc pg_member(Self self, Term args) {
  bool scoped = args.is_tuple(3);
  if (!(args.is_tuple(2) || scoped) || (scoped && !args[0].is_atom()) ||
      !args[scoped ? 1 : 0].is_list() || !args[scoped ? 2 : 1].is_pid())
    self.exit("badarg"_a);
  Atom scope = scoped ? args[0].as<Atom>() : ProcessGroups::default_scope();
  Pid report_to = args[scoped ? 2 : 1].pid();
  for (const Term& group : args[scoped ? 1 : 0]) pg::join(self, group, scope);
  self.send(report_to, tuple("pg_joined"_a, self.pid()));
  for (;;) {
    auto m = co_await self.receive(match("stop"_a), "{exit, _}"_p, "{leave, _}"_p, any);
    if (m.clause() == 0) co_return;
    if (m.clause() == 1) self.exit(m[1]);
    if (m.clause() == 2)
      self.send(report_to, tuple("pg_left"_a, self.pid(), m[1], pg::leave(self, m[1], scope)));
    if (m.clause() == 3) self.send(report_to, tuple("pg_got"_a, self.pid(), m.term()));
  }
}

// {Scope, Group, Message, ReportTo}: pg::broadcast from this node, then ReportTo gets
// {pg_broadcast, Self, Sent} (how many sends: one per membership this node knew of).
Proc pg_broadcaster(Self self, Term args) {
  if (!args.is_tuple(4) || !args[0].is_atom() || !args[3].is_pid()) self.exit("badarg"_a);
  std::size_t sent = pg::broadcast(self, args[1], args[2], args[0].as<Atom>());
  self.send(args[3].pid(), tuple("pg_broadcast"_a, self.pid(), std::int64_t(sent)));
  co_return;
}

// --- a GenServer, for multi-node tests of calls ----------------------------------------

// Answers X with {X, ThisNode}; {hang, Notify} tells Notify `hanging` and is never answered,
// so that a test can lose the node while a call waits.
class WhereServer : public GenServer {
 public:
  Co<Result> handle_call(Self self, Term request, From) override {
    if (request.is_tuple(2) && request[0].is("hang"_a) && request[1].is_pid()) {
      self.send(request[1].pid(), "hanging"_a);
      return noreply();
    }
    return reply(tuple(request, ember::Node::of(self)->name()));
  }
};

// {Name, ReportTo}: starts a WhereServer registered here as Name, not linked (it outlives
// this starter), and tells ReportTo {where_started, Pid} (or {where_failed, Reason}).
Proc where_server(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  auto started = co_await gen_server::start(self, std::make_unique<WhereServer>(),
                                            {.name = args[0].as<Atom>()});
  self.send(args[1].pid(), started.ok() ? tuple("where_started"_a, started.pid())
                                        : tuple("where_failed"_a, started.reason()));
}

void register_functions() {
  register_remote_function("echo", [](Self s, Term) { return examples::echo_loop(s); });
  register_remote_function("counter",
                           [](Self s, Term a) { return examples::counter(s, int_or(a, 0)); });
  register_remote_function("health_checker", [](Self s, Term a) {
    return unregistered_health_checker(s, milliseconds(int_or(a, 10)));
  });
  register_remote_function("status_collector",
                           [](Self s, Term) { return examples::status_collector(s); });
  register_remote_function("sleeper", [](Self s, Term) { return sleeper(s); });
  register_remote_function("echo_via", echo_via);
  register_remote_function("watch", watch);
  register_remote_function("streamer", streamer);
  register_remote_function("global_racer", global_racer);
  register_remote_function("global_racers", global_racers);
  register_remote_function("global_holder", global_holder);
  examples::register_demo_functions();  // what `make demo`'s tour starts on the nodes
  register_remote_function("pg_member", pg_member);
  register_remote_function("pg_broadcaster", pg_broadcaster);
  register_remote_function("where_server", where_server);
}

// --- the process ---------------------------------------------------------------------

void log_to_stderr() {
  auto logger = spdlog::stderr_color_mt("ember-node");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::info);
  if (const char* level = std::getenv("EMBER_LOG_LEVEL"))
    spdlog::set_level(spdlog::level::from_str(level));
}

// SIGTERM and SIGINT are blocked in every thread (the Node's threads inherit the mask)
// and taken by sigtimedwait in main. With EMBER_PARENT_PID set (the test harness sets it)
// the node also stops once that process is gone, so a crashed test leaves no node behind.
sigset_t block_stop_signals() {
  ::signal(SIGPIPE, SIG_IGN);  // a peer that vanished mid-write is an error code, not death
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

const char* wait_for_stop(const sigset_t& set) {
  std::optional<pid_t> parent;
  if (const char* p = std::getenv("EMBER_PARENT_PID")) parent = pid_t(std::atoll(p));
  for (;;) {
    timespec poll{0, 200'000'000};
    int sig = sigtimedwait(&set, nullptr, &poll);
    if (sig == SIGTERM) return "SIGTERM";
    if (sig == SIGINT) return "SIGINT";
    if (parent && getppid() != *parent) return "its parent process exited";
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto env = ember::daemon::process_env();
  auto parsed = ember::daemon::parse_daemon_args(argc, argv, env);
  if (!parsed.options) {
    (parsed.exit_code ? std::cerr : std::cout) << parsed.message << std::flush;
    return parsed.exit_code;
  }
  log_to_stderr();
  sigset_t stop_signals = block_stop_signals();
  try {
    const auto& o = *parsed.options;
    std::string cookie =
        !o.cookie.empty()
            ? o.cookie
            : ember::daemon::read_or_create_cookie(ember::daemon::default_cookie_path(env));
    register_functions();
    ember::Node node(o.node_config(cookie));
    node.runtime().spawn(supervise_services);
    await_services(node.runtime());
    std::optional<ember::daemon::JoinKeeper> keeper;
    if (o.rejoin > 0) {
      std::vector<ember::Atom> targets;
      for (const std::string& j : o.join)
        targets.emplace_back(ember::NodeName::canonical(j).to_string());
      keeper.emplace(node, std::move(targets),
                     std::chrono::milliseconds(std::llround(o.rejoin * 1000)));
    }
    spdlog::info("ember-node: {} listening on port {}", node.name().text(), node.port());
    if (node.metrics_port())
      spdlog::info(
          "ember-node: metrics on http://{}:{}/metrics (and /health)",
          o.listen_host.empty() ? ember::NodeName::parse(node.name().text()).host : o.listen_host,
          node.metrics_port());
    std::printf("ember-node ready %s\n", std::string(node.name().text()).c_str());
    std::fflush(stdout);
    const char* why = wait_for_stop(stop_signals);
    spdlog::info("ember-node: {} stopping ({})", node.name().text(), why);
  } catch (const std::exception& e) {
    spdlog::error("ember-node: {}", e.what());
    return 1;
  }
  spdlog::info("ember-node: stopped");
  return 0;
}
