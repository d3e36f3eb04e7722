#include "demo_functions.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <ember/node/global.hpp>
#include <ember/node/node.hpp>

#include "seed.hpp"

namespace ember::examples {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Remote spawn hands over whatever term the caller sent: a process given the wrong shape
// ends with badarg at once, as a BIF would, instead of crashing on a bad access later.
Proc exit_badarg(Self self) {
  self.exit("badarg"_a);
  co_return;
}

Term this_node(Self self) {
  return Term(std::string(Node::of(self)->name().text()));
}

Proc report_status(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  Atom collector_node = args[0].as<Atom>();
  self.send(RemoteName{"status_collector"_a, collector_node},
            tuple("report"_a, this_node(self), "up"_a));
  self.send(args[1].pid(), tuple("reported"_a, Node::of(self)->name()));
  co_return;
}

Proc record_metric(Self self, Term args) {
  if (!args.is_tuple(3) || !args[0].is_atom() || !args[1].is_binary() || !args[2].is_pid())
    self.exit("badarg"_a);
  Atom collector_node = args[0].as<Atom>();
  // The value is measured here, so each node records something of its own: how long a
  // round trip to the collector's node takes from where this process runs.
  auto start = Clock::now();
  self.send(RemoteName{"echo"_a, collector_node}, tuple("echo"_a, "rtt", self.pid()));
  auto m = co_await self.receive(match(tuple("ok"_a, "rtt"))).after(5s);
  if (m.timed_out()) self.exit("echo_timeout"_a);
  double micros = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  auto now = std::int64_t(Clock::now().time_since_epoch().count());
  self.send(RemoteName{"metric_collector"_a, collector_node},
            tuple("record"_a, args[1], micros, now));
  self.send(args[2].pid(), tuple("recorded"_a, Node::of(self)->name(), micros));
}

Proc global_health_checker(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  Atom name = args[0].as<Atom>();
  GlobalResult r = co_await register_global(self, name, self.pid());
  self.send(args[1].pid(), tuple("health_checker"_a, name, Atom(to_string(r)), self.pid()));
  if (r != GlobalResult::kYes) co_return;
  for (;;) {
    auto m = co_await self.receive("{check, _, _}"_p, match("stop"_a));
    if (m.clause() == 1) co_return;
    self.send(m.pid(2), tuple("result"_a, "healthy"_a));  // the seed's perform_check stub
  }
}

// One name the monitor follows: who holds it now (once checked healthy) and which
// holders it has already seen die, since the registry may still name a dead holder for a
// moment after its DOWN.
struct Watched {
  Atom name;
  std::optional<Pid> holder;
  Ref ref;
  bool checking = false;
  bool said_missing = false;
  std::vector<Pid> dead;
};

Proc health_monitor(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_list() || !args[1].is_pid()) self.exit("badarg"_a);
  Pid report_to = args[1].pid();
  std::vector<Watched> watched;
  for (const Term& n : args[0])
    if (n.is_atom()) watched.push_back(Watched{.name = n.as<Atom>()});
  Pid me = self.pid();
  for (;;) {
    for (Watched& w : watched) {
      if (w.holder || w.checking) continue;
      std::optional<Pid> p = whereis_global(self, w.name);
      if (!p) {
        if (!w.said_missing && !w.dead.empty())
          self.send(report_to, tuple("health"_a, w.name, "missing"_a));
        w.said_missing = !w.dead.empty();
        continue;
      }
      if (std::find(w.dead.begin(), w.dead.end(), *p) != w.dead.end()) continue;
      // A check per process: replies carry no name, so each asker waits for one only.
      w.checking = true;
      Atom name = w.name;
      Pid holder = *p;
      self.spawn([name, holder, me](Self h) -> Proc {
        h.send(holder, tuple("check"_a, name, h.pid()));
        auto r = co_await h.receive("{result, _}"_p).after(2s);
        h.send(me, tuple("checked"_a, name, holder, r.timed_out() ? Term("timeout"_a) : r[1]));
      });
    }
    // The timeout is the polling interval for names not (or no longer) registered.
    auto m = co_await self
                 .receive("{checked, _, _, _}"_p, "{'DOWN', _, process, _, _}"_p, match("stop"_a))
                 .after(50ms);
    if (m.timed_out()) continue;
    if (m.clause() == 2) co_return;
    if (m.clause() == 0) {
      for (Watched& w : watched) {
        if (w.name != m[1].as<Atom>()) continue;
        w.checking = false;
        if (!m[3].is("healthy"_a)) break;  // no answer: looked up and asked again
        w.holder = m.pid(2);
        w.ref = self.monitor(*w.holder);
        w.said_missing = false;
        self.send(report_to, tuple("health"_a, w.name, *w.holder, "healthy"_a));
      }
      continue;
    }
    for (Watched& w : watched) {
      if (!w.holder || w.ref != m[1].as<Ref>()) continue;
      self.send(report_to, tuple("health"_a, w.name, *w.holder, tuple("down"_a, m[4])));
      w.dead.push_back(*w.holder);
      w.holder.reset();
    }
  }
}

Proc global_standby(Self self, Term args) {
  if (!args.is_tuple(2) || !args[0].is_atom() || !args[1].is_pid()) self.exit("badarg"_a);
  Atom name = args[0].as<Atom>();
  Pid report_to = args[1].pid();
  std::vector<Pid> dead;
  for (;;) {
    std::optional<Pid> holder = whereis_global(self, name);
    if (holder && *holder == self.pid()) break;
    if (holder && std::find(dead.begin(), dead.end(), *holder) != dead.end()) {
      co_await self.sleep(20ms);  // its DOWN came first; the registry drops it next
      continue;
    }
    if (holder) {
      Ref ref = self.monitor(*holder);
      self.send(report_to, tuple("standby"_a, name, "watching"_a, *holder));
      auto m = co_await self.receive(match(tuple(Atom("DOWN"), ref, _, _, _)), match("stop"_a));
      if (m.clause() == 1) co_return;
      dead.push_back(*holder);
      continue;
    }
    if (co_await register_global(self, name, self.pid()) == GlobalResult::kYes) {
      self.send(report_to, tuple("standby"_a, name, "took_over"_a, self.pid()));
      break;
    }
    co_await self.sleep(20ms);  // another pid got it first, or no answer in time: look again
  }
  co_await self.receive(match("stop"_a));
}

}  // namespace

void register_demo_functions() {
  register_remote_function("report_status", report_status);
  register_remote_function("record_metric", record_metric);
  register_remote_function("worker_supervisor", [](Self s, Term a) {
    return a.is_pid() ? supervisor(s, a.pid()) : exit_badarg(s);
  });
  register_remote_function("global_health_checker", global_health_checker);
  register_remote_function("health_monitor", health_monitor);
  register_remote_function("global_standby", global_standby);
}

}  // namespace ember::examples
