// ember-demo: the scripted tour `make demo` runs (scripts/demo.sh starts the daemons).
//
// It joins a running 3-node cluster as a hidden node (it does not listen and the nodes do
// not list it), starts the seed's examples on the daemons with spawn_remote (the functions
// of demo_functions.hpp), and says in plain words what happens: echo across nodes, reports
// and metrics gathered from every node, a supervisor restarting a crashed worker, health
// checks by global name; then it has the third node killed with kill -9 and shows links,
// monitors and global names reacting, has it restarted and shows it rejoin.
//
// The daemons belong to the caller, which started them: when the tour needs the third
// node killed or started again it prints `@kill NODE` or `@restart NODE` on a line of its
// own and waits for the caller to answer `ok` on stdin once it is done (once the node is
// dead, or has printed its ready line), or any other line saying why it could not.
//
// Every step checks what it prints, waiting for it under a deadline (a loaded machine is
// slow, never wrong); the first step whose outcome is not what it should be ends the tour
// with a `FAILED:` line and exit code 1. Exit code 2: bad arguments or a node unreachable.
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ember/core/blocking.hpp>
#include <ember/core/errors.hpp>
#include <ember/core/node_table.hpp>
#include <ember/core/term_text.hpp>
#include <ember/node/admin.hpp>
#include <ember/node/node.hpp>

namespace {

using namespace ember;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Deadlines, not sleeps: each is how long a step may take on a loaded machine before it
// counts as not having happened. A normal run takes a small fraction of them.
constexpr milliseconds kDeadline = 10s;
constexpr milliseconds kRejoinDeadline = 30s;

// Atoms have no order of their own; any fixed one does for a map.
struct AtomLess {
  bool operator()(Atom x, Atom y) const { return x.index() < y.index(); }
};
template <class V>
using AtomMap = std::map<Atom, V, AtomLess>;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw Failure(what);
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string fixed(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}
void ok(const std::string& line) {
  say("   ok  " + line);
}
void heading(const std::string& title) {
  say("\n" + title);
}

// The three daemons and how the tour refers to them.
struct Cluster {
  Atom a, b, c;

  std::string label(Atom node) const {
    if (node == a) return "a";
    if (node == b) return "b";
    if (node == c) return "c";
    return std::string(node.text());
  }
};

class Tour {
 public:
  Tour(Self self, const Cluster& cluster) : self_(self), k_(cluster) {}

  Co<void> run() {
    co_await the_cluster();
    co_await echo();
    co_await status_reports();
    co_await metrics();
    co_await supervisor();
    co_await health_by_global_name();
    co_await kill_c();
    co_await restart_c();
  }

 private:
  // --- helpers ------------------------------------------------------------------------

  Atom node_of(Pid p) const { return NodeTable::identity(p.node()).name; }

  // <0.S.G> on b: the slot and generation of a process on the node it lives on (Ember's
  // own <N.S.G> carries a node index that only this program understands).
  std::string show(Pid p) const {
    return "<0." + std::to_string(p.slot()) + "." + std::to_string(p.generation()) + "> on " +
           k_.label(node_of(p));
  }

  std::string show_nodes(const std::vector<Atom>& nodes) const {
    std::vector<std::string> labels;
    for (Atom n : nodes) labels.push_back(k_.label(n));
    std::sort(labels.begin(), labels.end());
    std::string out = "[";
    for (std::size_t i = 0; i < labels.size(); ++i) out += (i ? ", " : "") + labels[i];
    return out + "]";
  }

  // One request to `node`'s ember_admin ({Command, From, Ref, Args...}, admin.hpp).
  Co<Term> admin(Atom node, Atom command, std::vector<Term> args) {
    Ref ref = self_.make_ref();
    std::vector<Term> items{Term(command), Term(self_.pid()), Term(ref)};
    items.insert(items.end(), args.begin(), args.end());
    self_.send(RemoteName{admin_name(), node}, tuple_of(items));
    auto m = co_await self_.receive(match(tuple(ref, _))).after(kDeadline).since(ref);
    require(!m.timed_out(), k_.label(node) + "'s ember_admin did not answer " +
                                std::string(command.text()) + " within " +
                                std::to_string(kDeadline.count()) + " ms");
    co_return m[1];
  }
  Co<Term> admin(Atom node, Atom command) {
    std::vector<Term> none;
    co_return co_await admin(node, command, std::move(none));
  }

  Co<std::vector<Atom>> nodes_of(Atom node) {
    Term t = co_await admin(node, "nodes"_a);
    std::vector<Atom> out;
    for (const Term& n : t)
      if (n.is_atom()) out.push_back(n.as<Atom>());
    co_return out;
  }

  // Waits until every node in `up` sees exactly the others of `up`; returns the line that
  // says so, or fails with what each saw last.
  Co<std::string> wait_for_view(std::vector<Atom> up, milliseconds deadline) {
    auto until = Clock::now() + deadline;
    for (;;) {
      std::string line, why;
      for (Atom n : up) {
        std::vector<Atom> seen = co_await nodes_of(n);
        std::vector<Atom> want;
        for (Atom m : up)
          if (m != n) want.push_back(m);
        std::sort(seen.begin(), seen.end(), [](Atom x, Atom y) { return x.text() < y.text(); });
        std::sort(want.begin(), want.end(), [](Atom x, Atom y) { return x.text() < y.text(); });
        if (seen != want) why += k_.label(n) + " sees " + show_nodes(seen) + " ";
        line += (line.empty() ? "" : ", ") + k_.label(n) + " sees " + show_nodes(seen);
      }
      if (why.empty()) co_return line;
      require(Clock::now() < until, "the nodes did not see each other within " +
                                        std::to_string(deadline.count()) + " ms: " + why);
      co_await self_.sleep(20ms);
    }
  }

  // spawn_remote, with its failure (noconnection, timeout, undef) said as a failed step.
  Co<RemoteSpawn> spawn_on(Atom node, std::string function, Term args,
                           RemoteSpawnOptions options = {}) {
    std::optional<RemoteSpawn> r;
    std::string error;
    try {
      r = co_await spawn_remote(self_, node, function, args, options);
    } catch (const ErlangError& e) {
      error = print_term(e.reason());
    }
    require(r.has_value(), "starting " + function + " on " + k_.label(node) + " failed: " + error);
    co_return *r;
  }

  // The global names as `node` sees them: "health_a (a), leader (b)".
  Co<std::string> global_names_of(Atom node, AtomMap<Pid>* into = nullptr) {
    Term names = co_await admin(node, "global_names"_a);
    std::string out;
    for (const Term& e : names) {
      if (!e.is_tuple(2) || !e[0].is_atom() || !e[1].is_pid()) continue;
      out += (out.empty() ? "" : ", ") + std::string(e[0].as<Atom>().text()) + " (" +
             k_.label(node_of(e[1].pid())) + ")";
      if (into) (*into)[e[0].as<Atom>()] = e[1].pid();
    }
    co_return out.empty() ? "none" : out;
  }

  // Asks the caller to do something to a daemon (see the top of this file). A helper
  // process prints the request and waits for the answer (reading stdin blocks, so off the
  // scheduler); this process goes on receiving, and timing, what happens meanwhile. The
  // answer comes as {caller_answer, Ref, Line}.
  Ref ask_caller(std::string request, Atom node) {
    Ref ref = self_.make_ref();
    std::string line = "@" + request + " " + std::string(node.text());
    Pid tour = self_.pid();
    self_.spawn([line, tour, ref](Self h) -> Proc {
      // A named closure, not a temporary inside the co_await expression: g++ 12 copies
      // such a temporary byte by byte into the frame and destroys both copies, freeing
      // the captured string twice (docs/ARCHITECTURE.md, "g++ 12 coroutine bugs").
      auto ask = [line] {
        say(line);
        std::string reply;
        if (!std::getline(std::cin, reply)) reply = "no answer (stdin closed)";
        return reply;
      };
      std::string answer = co_await blocking(h, ask);
      h.send(tour, tuple("caller_answer"_a, ref, answer));
    });
    return ref;
  }
  void check_answer(const Term& answer, const std::string& request) {
    require(answer == Term("ok"), "asked to " + request + ", the caller said: " +
                                      std::string(answer.as<std::string_view>()));
  }

  // --- the steps --------------------------------------------------------------------

  Co<void> the_cluster() {
    heading("1. Three ember-node daemons, meshed");
    std::vector<Atom> all{k_.a, k_.b, k_.c};
    std::string view = co_await wait_for_view(all, kDeadline);
    ok(view);
  }

  Co<void> echo() {
    heading("2. Echo on another node (the seed's Echo, running on every node)");
    auto start = Clock::now();
    self_.send(RemoteName{"echo"_a, k_.b}, tuple("echo"_a, "hello from the demo", self_.pid()));
    auto m = co_await self_.receive("{ok, _}"_p).after(kDeadline);
    require(!m.timed_out() && m[1] == Term("hello from the demo"),
            "b's echo did not answer {ok, <<\"hello from the demo\">>}");
    ok("b's echo answered " + print_term(m.term()) + " in " + fixed(ms_since(start), 2) + " ms");

    // Node to node, without this program in the middle: a process on a asks c's echo.
    co_await spawn_on(k_.a, "echo_via", tuple(k_.c, "hello from a", self_.pid()));
    auto v = co_await self_.receive("{echo_via, _, _}"_p).after(kDeadline);
    require(!v.timed_out(), "the process on a never reported its round trip to c");
    require(v[2] == tuple("ok"_a, "hello from a"),
            "a's round trip to c's echo got " + print_term(v[2]));
    ok("a process started on a sent to c's echo and got " + print_term(v[2]));
  }

  Co<void> status_reports() {
    heading("3. A status collector on a, receiving reports from all three nodes");
    std::vector<Atom> all{k_.a, k_.b, k_.c};
    for (Atom n : all) co_await spawn_on(n, "report_status", tuple(k_.a, self_.pid()));
    for (int i = 0; i < 3; ++i) {
      auto m = co_await self_.receive("{reported, _}"_p).after(kDeadline);
      require(!m.timed_out(), "only " + std::to_string(i) + " of 3 reporters said they sent");
    }
    // The reports travel from three senders, so they reach a in any order: ask until all
    // three are in.
    auto until = Clock::now() + kDeadline;
    for (;;) {
      self_.send(RemoteName{"status_collector"_a, k_.a}, tuple("get_all"_a, self_.pid()));
      auto m = co_await self_.receive("{statuses, _}"_p).after(kDeadline);
      require(!m.timed_out(), "a's status_collector did not answer get_all");
      bool all_in = true;
      for (Atom n : all) all_in = all_in && m[1].get(Term(std::string(n.text()))) == Term("up"_a);
      if (all_in) {
        ok("a's status_collector holds " + print_term(m[1]));
        break;
      }
      require(Clock::now() < until, "a's status_collector holds only " + print_term(m[1]));
      co_await self_.sleep(20ms);
    }
  }

  Co<void> metrics() {
    heading("4. A metric collector on b, averaging values recorded on every node");
    std::vector<Atom> all{k_.a, k_.b, k_.c};
    Term metric("echo_rtt_us");
    for (Atom n : all) co_await spawn_on(n, "record_metric", tuple(k_.b, metric, self_.pid()));
    AtomMap<double> values;
    for (int i = 0; i < 3; ++i) {
      auto m = co_await self_.receive("{recorded, _, _}"_p).after(kDeadline);
      require(!m.timed_out(), "only " + std::to_string(i) + " of 3 nodes recorded a value");
      values[m[1].as<Atom>()] = m[2].as<double>();
    }
    double sum = 0;
    std::string line;
    for (Atom n : all) {
      sum += values[n];
      line += (line.empty() ? "" : ", ") + k_.label(n) + " " + fixed(values[n]);
    }
    ok("each node timed a round trip to b's echo and recorded it as echo_rtt_us: " + line);
    double expected = sum / 3;
    auto until = Clock::now() + kDeadline;
    for (;;) {
      self_.send(RemoteName{"metric_collector"_a, k_.b},
                 tuple("get_average"_a, metric, self_.pid()));
      auto m = co_await self_.receive("{average, _}"_p, match("not_found"_a)).after(kDeadline);
      require(!m.timed_out(), "b's metric_collector did not answer get_average");
      if (m.clause() == 0 &&
          std::abs(m[1].as<double>() - expected) <= 1e-9 * std::max(1.0, expected)) {
        ok("b's metric_collector averages " + fixed(m[1].as<double>()) +
           " us, the mean of the three");
        break;
      }
      require(Clock::now() < until, "b's metric_collector says " + print_term(m.term()) +
                                        ", the mean of the three is " + fixed(expected, 3));
      co_await self_.sleep(20ms);
    }
  }

  Co<void> supervisor() {
    heading("5. A supervisor on b restarting a crashed worker (the seed's Supervisor)");
    Pid sup = (co_await spawn_on(k_.b, "worker_supervisor", Term(self_.pid()))).pid;
    auto s = co_await self_.receive("{started, _}"_p).after(kDeadline);
    require(!s.timed_out(), "the supervisor on b did not start its worker");
    Pid worker = s.pid(1);
    ok("supervisor " + show(sup) + " started worker " + show(worker));
    Ref ref = self_.monitor(worker);
    self_.send(worker, "crash"_a);
    auto down = co_await self_.receive(match(tuple(Atom("DOWN"), ref, _, _, _))).after(kDeadline);
    require(!down.timed_out(), "the worker did not die of the crash message");
    auto r = co_await self_.receive("{restarted, _}"_p).after(kDeadline);
    require(!r.timed_out(), "the supervisor did not restart the worker");
    Pid again = r.pid(1);
    require(again != worker && node_of(again) == k_.b,
            "the restarted worker is " + show(again) + ", not a new process on b");
    ok("sent it crash: it died (" + print_term(down[4]) + ", seen through a monitor) and " +
       "the supervisor restarted it as " + show(again));
  }

  Co<void> health_by_global_name() {
    heading("6. Health checks by global name");
    std::vector<Atom> all{k_.a, k_.b, k_.c};
    std::string registered;
    for (Atom n : all) {
      Atom name("health_" + k_.label(n));
      co_await spawn_on(n, "global_health_checker", tuple(name, self_.pid()));
      auto m =
          co_await self_.receive(match(tuple("health_checker"_a, name, _, _))).after(kDeadline);
      require(!m.timed_out(), "the checker on " + k_.label(n) + " did not say whether " +
                                  std::string(name.text()) + " is registered");
      require(m[2].is("yes"_a),
              "registering " + std::string(name.text()) + " answered " + print_term(m[2]));
      checkers_[name] = m.pid(3);
      registered += std::string(registered.empty() ? "" : ", ") + std::string(name.text());
    }
    ok(registered + " registered globally, one health checker on each node");

    Term monitor_args = tuple(list("health_b"_a, "health_c"_a), self_.pid());
    health_monitor_ = (co_await spawn_on(k_.a, "health_monitor", monitor_args)).pid;
    std::vector<Atom> watched{"health_b"_a, "health_c"_a};
    for (Atom name : watched) {
      auto m =
          co_await self_.receive(match(tuple("health"_a, name, _, "healthy"_a))).after(kDeadline);
      require(!m.timed_out(),
              "the health monitor on a never found " + std::string(name.text()) + " healthy");
      require(m.pid(2) == checkers_[name],
              "the health monitor checked " + show(m.pid(2)) + " for " + std::string(name.text()));
    }
    ok("a health monitor on a looked health_b and health_c up, checked them (healthy) and " +
       std::string("monitors them"));

    // A name that should move: held on c, with a standby on b waiting to take it.
    co_await spawn_on(k_.c, "global_holder", tuple("leader"_a, self_.pid()));
    auto h = co_await self_.receive("{holding, _, _, _, _}"_p).after(kDeadline);
    require(!h.timed_out() && h[2] == Term(1), "the process on c could not register leader");
    leader_ = h.pid(1);
    co_await spawn_on(k_.b, "global_standby", tuple("leader"_a, self_.pid()));
    auto w = co_await self_.receive("{standby, leader, watching, _}"_p).after(kDeadline);
    require(!w.timed_out() && w.pid(3) == leader_,
            "the standby on b is not watching leader's holder on c");
    ok("leader is a global name held by " + show(leader_) + "; a standby on b watches it");
    std::string names = co_await global_names_of(k_.b);
    ok("global names, as b sees them: " + names);
  }

  Co<void> kill_c() {
    heading("7. kill -9 c");
    self_.trap_exit(true);
    // The demo's own link and monitor to a process on c...
    RemoteSpawnOptions link_and_monitor{.link = true, .monitor = true};
    RemoteSpawn linked = co_await spawn_on(k_.c, "sleeper", Term(), link_and_monitor);
    // ...and a process on a that links to and monitors another one there.
    Pid target = (co_await spawn_on(k_.c, "sleeper", Term())).pid;
    Pid watcher = (co_await spawn_on(k_.a, "watch", tuple(target, self_.pid()))).pid;
    auto w = co_await self_.receive(match(tuple("watching"_a, watcher, target))).after(kDeadline);
    require(!w.timed_out(), "the watcher on a did not link to the process on c");
    ok("the demo linked to and monitors " + show(linked.pid) + "; " + show(watcher) +
       " links to and monitors " + show(target));

    say("   ..  asking for c to be killed with SIGKILL: no goodbye, its connections just close");
    auto killed_at = Clock::now();
    Ref kill = ask_caller("kill", k_.c);
    bool killed = false;

    // Everything that should happen now, each with the moment it was seen.
    enum Event { kLinkExit, kMonitorDown, kWatchExit, kWatchDown, kHealthDown, kNameMoved, kN };
    const char* what[kN] = {"the demo's link: EXIT",
                            "the demo's monitor: DOWN",
                            "a's link: EXIT",
                            "a's monitor: DOWN",
                            "the health monitor on a: health_c down",
                            "the standby on b took leader over"};
    std::optional<double> at[kN];
    Term reason[kN];
    Pid new_leader;
    auto until = Clock::now() + kDeadline;
    while (!killed || std::any_of(std::begin(at), std::end(at), [](auto& t) { return !t; })) {
      auto m =
          co_await self_
              .receive(match(tuple(Atom("EXIT"), linked.pid, _)),
                       match(tuple(Atom("DOWN"), linked.ref, _, _, _)),
                       match(tuple("watch"_a, "exit"_a, target, _)),
                       match(tuple("watch"_a, "down"_a, target, _)),
                       "{health, health_c, _, {down, _}}"_p, "{standby, leader, took_over, _}"_p,
                       match(tuple("caller_answer"_a, kill, _)))
              .after(std::max(milliseconds(1),
                              std::chrono::duration_cast<milliseconds>(until - Clock::now())));
      if (m.timed_out()) {
        require(killed, "c was not killed within " + std::to_string(kDeadline.count()) + " ms");
        std::string missing;
        for (int e = 0; e < kN; ++e)
          if (!at[e]) missing += std::string(missing.empty() ? "" : "; ") + what[e];
        require(false, "within " + std::to_string(kDeadline.count()) +
                           " ms of the kill, these did not happen: " + missing);
      }
      if (m.clause() == kN) {
        check_answer(m[2], "kill c");
        killed = true;
        continue;
      }
      auto e = Event(m.clause());
      at[e] = ms_since(killed_at);
      switch (e) {
        case kLinkExit:
          reason[e] = m[2];
          break;
        case kMonitorDown:
          reason[e] = m[4];
          break;
        case kWatchExit:
        case kWatchDown:
          reason[e] = m[3];
          break;
        case kHealthDown:
          reason[e] = m[3][1];
          break;
        case kNameMoved:
          new_leader = m.pid(3);
          break;
        default:
          break;
      }
    }
    for (int e = 0; e < kNameMoved; ++e)
      require(reason[e] == Term("noconnection"_a),
              std::string(what[e]) + " came with " + print_term(reason[e]));
    auto when = [&](Event e) { return fixed(*at[e]) + " ms"; };
    ok("the demo's link and monitor: EXIT and DOWN noconnection (" + when(kLinkExit) + ", " +
       when(kMonitorDown) + " after asking for the kill)");
    ok("a's link and monitor to c: EXIT and DOWN noconnection (" + when(kWatchExit) + ", " +
       when(kWatchDown) + ")");
    ok("the health monitor on a: health_c is down, noconnection (" + when(kHealthDown) + ")");
    require(node_of(new_leader) == k_.b, "leader moved to " + show(new_leader));
    ok("global name leader moved to b: the standby " + show(new_leader) + " took it over (" +
       when(kNameMoved) + ")");

    auto m = co_await self_.receive(match(tuple("health"_a, "health_c"_a, "missing"_a)))
                 .after(kDeadline);
    require(!m.timed_out(), "the health monitor on a still finds health_c registered");
    std::vector<Atom> survivors{k_.a, k_.b};
    std::string view = co_await wait_for_view(survivors, kDeadline);
    ok(view + " (c is gone)");
    std::string listed;
    for (Atom n : survivors) {
      AtomMap<Pid> names;
      listed = co_await global_names_of(n, &names);
      require(!names.contains("health_c"_a) && names["leader"_a] == new_leader,
              k_.label(n) + "'s global names are " + listed);
    }
    ok("health_c went with c, on a and on b, who both see: " + listed);
  }

  Co<void> restart_c() {
    heading("8. c restarts and rejoins");
    auto started = Clock::now();
    Ref restart = ask_caller("restart", k_.c);
    auto answer =
        co_await self_.receive(match(tuple("caller_answer"_a, restart, _))).after(kRejoinDeadline);
    require(!answer.timed_out(),
            "c was not restarted within " + std::to_string(kRejoinDeadline.count()) + " ms");
    check_answer(answer[2], "restart c");
    double restart_ms = ms_since(started);
    std::vector<Atom> all{k_.a, k_.b, k_.c};
    std::string view = co_await wait_for_view(all, kRejoinDeadline);
    ok("c is up again (" + fixed(restart_ms, 0) + " ms to its ready line) and " + view);

    // c starts empty; the global names come to it with the join (each side sends its table).
    auto until = Clock::now() + kDeadline;
    for (;;) {
      AtomMap<Pid> names;
      std::string listed = co_await global_names_of(k_.c, &names);
      if (names.contains("health_a"_a) && names.contains("health_b"_a) &&
          names.contains("leader"_a) && node_of(names["leader"_a]) == k_.b) {
        ok("c learnt the global names when it joined: " + listed);
        break;
      }
      require(Clock::now() < until, "c's global names are " + listed);
      co_await self_.sleep(20ms);
    }

    co_await spawn_on(k_.c, "global_health_checker", tuple("health_c"_a, self_.pid()));
    auto r = co_await self_.receive(match(tuple("health_checker"_a, "health_c"_a, _, _)))
                 .after(kDeadline);
    require(!r.timed_out() && r[2].is("yes"_a), "a new checker on c could not register health_c");
    Pid checker = r.pid(3);
    auto h = co_await self_.receive(match(tuple("health"_a, "health_c"_a, checker, "healthy"_a)))
                 .after(kDeadline);
    require(!h.timed_out(), "the health monitor on a did not find the new health_c healthy");
    ok("a new checker " + show(checker) + " registered health_c; the health monitor on a " +
       "found it and checked it: healthy");

    // Equal digests: the three nodes hold the same global table.
    until = Clock::now() + kDeadline;
    for (;;) {
      Term da = co_await admin(k_.a, "global_digest"_a);
      Term db = co_await admin(k_.b, "global_digest"_a);
      Term dc = co_await admin(k_.c, "global_digest"_a);
      if (da == db && db == dc) {
        std::string names = co_await global_names_of(k_.a);
        ok("a, b and c hold the same global names: " + names);
        break;
      }
      require(Clock::now() < until, "the nodes' global tables differ");
      co_await self_.sleep(20ms);
    }
  }

  Self self_;
  const Cluster& k_;
  AtomMap<Pid> checkers_;
  Pid health_monitor_, leader_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ember-demo: a scripted tour of a running 3-node Ember cluster (scripts/demo.sh runs "
      "it). It asks its caller to kill and restart the third node: `@kill NODE` and "
      "`@restart NODE` lines on stdout, answered by `ok` on stdin."};
  std::vector<std::string> names;
  std::string cookie;
  app.add_option("nodes", names, "the three nodes, name@host:port each")->required()->expected(3);
  app.add_option("--cookie", cookie, "the cluster's cookie (default: $EMBER_COOKIE)");
  CLI11_PARSE(app, argc, argv);
  if (cookie.empty())
    if (const char* c = std::getenv("EMBER_COOKIE")) cookie = c;
  if (cookie.empty()) {
    std::fprintf(stderr, "ember-demo: no cookie (--cookie or EMBER_COOKIE)\n");
    return 2;
  }
  // The node layer logs connection losses; the tour says them in its own words.
  spdlog::set_level(spdlog::level::off);

  Cluster cluster{Atom(names[0]), Atom(names[1]), Atom(names[2])};
  std::string failure;
  auto started = Clock::now();
  try {
    Node node({.name = "ember-demo-" + std::to_string(::getpid()) + "@127.0.0.1",
               .cookie = cookie,
               .listen = false,
               .hidden = true,
               .schedulers = 2});
    for (Atom n : {cluster.a, cluster.b, cluster.c}) {
      if (node.connect(n, kDeadline)) continue;
      std::fprintf(stderr, "ember-demo: cannot reach %s: %s\n", std::string(n.text()).c_str(),
                   node.connect_error(n).c_str());
      return 2;
    }
    say("A tour of a 3-node Ember cluster: a = " + std::string(cluster.a.text()) +
        ", b = " + std::string(cluster.b.text()) + ", c = " + std::string(cluster.c.text()) +
        ".\nThis program is a hidden node: it talks to them, they do not count it as one of "
        "theirs.");
    node.runtime().run([&](Self self) -> Proc {
      Tour tour(self, cluster);
      try {
        co_await tour.run();
      } catch (const Failure& f) {
        failure = f.what();
      } catch (const std::exception& e) {
        failure = std::string("unexpected error: ") + e.what();
      }
    });
  } catch (const std::exception& e) {
    failure = std::string("unexpected error: ") + e.what();
  }
  if (!failure.empty()) {
    say("\nFAILED: " + failure);
    return 1;
  }
  say("\nTour complete: every step happened as it should (" + fixed(ms_since(started) / 1000, 1) +
      " s).");
  return 0;
}
