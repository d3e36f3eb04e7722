// ember-bench's gen_server workload: ebench.erl's gen_server_call (1,000,000 calls to a
// trivial server, 3 runs) and selective_receive_gen_server_call (100,000 calls with 0 and
// 10,000 unrelated messages queued at the caller) under their names; a call to a server
// on another Node of this OS process (dist_gen_server_call; edist.erl has no such figure
// yet: compare with dist_pingpong); and a supervisor restarting a killed child
// (supervisor_restart; no Erlang figure in the anchors or ebench.erl yet: the same loop on
// OTP 25's supervisor, run by hand beside it, is in docs/ARCHITECTURE.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "ember/core/gen_server.hpp"
#include "ember/core/supervisor.hpp"
#include "ember/node/node.hpp"

namespace ember::bench {

class PingServer : public GenServer {  // handle_call(ping, _From, S) -> {reply, pong, S}
  Co<Result> handle_call(Self, Term, From) override { return reply(Atom("pong")); }
};

inline double gs_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

inline void gs_rec(const std::string& name, const std::vector<double>& reps, const char* unit) {
  std::vector<double> v = reps;
  std::sort(v.begin(), v.end());
  std::printf("# %s: reps=%zu min=%.1f median=%.1f max=%.1f %s\n", name.c_str(), v.size(),
              v.front(), gs_median(v), v.back(), unit);
  std::printf("%s: %.4g %s\n", name.c_str(), gs_median(v), unit);
  std::fflush(stdout);
}

// `calls` calls from a fresh process with `queued` messages left in its mailbox; ns/call.
inline Co<double> gs_calls(Self self, Pid server, std::size_t calls, std::int64_t queued) {
  Pid parent = self.pid();
  self.spawn([server, parent, calls, queued](Self c) -> Proc {
    for (std::int64_t i = 0; i < queued; ++i) c.send(c.pid(), tuple(Atom("junk"), i));
    const Atom ping("ping");
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < calls; ++k) co_await gen_server::call(c, server, ping);
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    c.send(parent, tuple(Atom("gs_ns"), ns / double(calls)));
  });
  auto m = co_await self.receive("{gs_ns, _}"_p);
  co_return m[1].as<double>();
}

inline void gen_server_bench() {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<PingServer>());
    std::vector<double> reps;
    for (int i = 0; i < 3; ++i) reps.push_back(co_await gs_calls(self, s.pid(), 1000000, 0));
    gs_rec("gen_server_call_ns_per_call", reps, "ns");
    for (std::int64_t q : {0, 10000}) {
      std::vector<double> r;
      for (int i = 0; i < 3; ++i) r.push_back(co_await gs_calls(self, s.pid(), 100000, q));
      gs_rec("selective_receive_gen_server_call_" + std::to_string(q) + "queued_ns_per_call", r,
             "ns");
    }
    co_await gen_server::stop(self, s.pid());

    // supervisor_restart: a one_for_one supervisor's only child is killed; timed from the
    // kill until the restarted child has told us it runs (its start function sends the
    // pid). A fresh supervisor for each restart (not timed), as OTP's restart bookkeeping
    // walks the restarts still within the period: many in a row would measure that.
    constexpr int kRestarts = 2000;
    Pid me = self.pid();
    ChildSpec child;
    child.id = Atom("w");
    child.start = [me](Self sup) -> Co<StartResult> {
      Pid pid = sup.spawn_link([](Self w) -> Proc { co_await w.receive(match(Atom("never"))); });
      sup.send(me, tuple(Atom("child"), pid));
      return StartResult::ok(pid);
    };
    std::vector<ChildSpec> children{child};
    std::vector<double> restart_reps;
    for (int rep = 0; rep < 3; ++rep) {
      double ns = 0;
      for (int i = 0; i < kRestarts; ++i) {
        auto sup = co_await supervisor::start(self, children);
        Pid first = (co_await self.receive("{child, _}"_p)).pid(1);
        auto t0 = std::chrono::steady_clock::now();
        self.exit(first, Atom("kill"));
        co_await self.receive("{child, _}"_p);
        ns +=
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        co_await gen_server::stop(self, sup.pid());
      }
      restart_reps.push_back(ns / 1000 / kRestarts);
    }
    gs_rec("supervisor_restart_us_per_restart", restart_reps, "us");
  });
}

// A call to a server on another Node (two Nodes in this OS process, as dist_pingpong).
inline void dist_gen_server_bench() {
  auto config = [](const char* name) {
    NodeConfig c;
    c.name = std::string(name) + "@127.0.0.1:0";
    c.cookie = "ember_bench_cookie";
    c.cork_process_sends = bench_cork();
    return c;
  };
  Node a(config("bench_gs_a")), b(config("bench_gs_b"));
  Pid server;
  b.runtime().run([&](Self self) -> Proc {
    server = (co_await gen_server::start(self, std::make_unique<PingServer>())).pid();
  });
  a.runtime().run([&](Self self) -> Proc {
    co_await gs_calls(self, server, 1000, 0);  // connect and warm up
    std::vector<double> reps;
    for (int i = 0; i < 3; ++i) reps.push_back(co_await gs_calls(self, server, 20000, 0) / 1000);
    gs_rec("dist_gen_server_call_us_per_call", reps, "us");
    co_await gen_server::stop(self, server);
  });
}

}  // namespace ember::bench
