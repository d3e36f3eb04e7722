// ember-bench: the local runtime's workloads, named and shaped as the Erlang anchors
// (bench/erlang/ebench.erl, from shared/anchors/erlang) so the two line up by name.
//   ember-bench
//   [spawn_idle|spawn_idle_10m|spawn_exit|ring_10k|ring_1m|pingpong|many_to_one|selective]...
// With no argument it runs all but spawn_idle_10m. Prints `name: value unit` lines.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ember/core/runtime.hpp"
#include "ring_node.hpp"

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

void rec(const std::string& name, double value, const char* unit) {
  std::printf("%s: %.4g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

// Waits (politely) until every run queue is empty and `last` is waiting in receive.
void wait_idle(Runtime& rt, Pid last) {
  for (;;) {
    auto s = rt.stats();
    std::size_t queued = 0;
    for (auto n : s.run_queue_lengths) queued += n;
    auto info = rt.info(last);
    if (queued == 0 && info && info->status == ProcessStatus::kWaiting) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

Proc idle(Self self) {
  co_await self.receive(match("stop"_a));
}

// 1. spawn_idle: spawn N processes that wait in receive; time, RSS per process, kill time.
void spawn_idle(std::size_t n, const std::string& name) {
  Runtime rt;
  long rss0 = rss_bytes();
  double spawn_ns = 0;
  std::vector<Pid> pids;
  pids.reserve(n);
  rt.run([&](Self self) -> Proc {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i)
      pids.push_back(self.spawn(idle));  // (spawn is not a yield point)
    spawn_ns = ns_since(t0);
    co_return;
  });
  wait_idle(rt, pids.back());
  long rss1 = rss_bytes();
  rec(name + "_us_per_spawn", spawn_ns / 1000 / double(n), "us");
  rec(name + "_bytes_per_proc_rss", double(rss1 - rss0 - long(n * sizeof(Pid))) / double(n),
      "bytes");
  rec(name + "_process_info_memory", double(rt.info(pids.back())->memory), "bytes");
  auto t0 = Clock::now();
  for (Pid p : pids) rt.exit(p, Atom("kill"));
  while (rt.process_count() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  rec(name + "_kill_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
}

// 2. spawn_exit: N processes that message the parent and end; then N spawn_monitor'ed ones.
void spawn_exit(std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid parent = self.pid();
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) self.spawn([parent](Self s) { s.send(parent, "done"_a); });
    for (std::size_t i = 0; i < n; ++i) co_await self.receive(match("done"_a));
    rec("spawn_exit_1M_msg_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
    t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) self.spawn_monitor([](Self) {});
    for (std::size_t i = 0; i < n; ++i)
      co_await self.receive(match(tuple(Atom("DOWN"), _, _, _, _)));
    rec("spawn_exit_1M_monitor_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
  });
}

// 3. ring: N processes pass a token M times round (N*M hops).
using bench::ring_node;

void ring(std::size_t n, std::size_t m, const std::string& name) {
  Runtime rt;
  std::vector<Pid> pids;
  rt.run([&](Self self) -> Proc {
    Pid main = self.pid();
    auto t0 = Clock::now();
    Pid first = self.spawn([main](Self s) { return ring_node(s, main, Pid()); });
    Pid last = first;
    pids.push_back(first);
    for (std::size_t i = 1; i < n; ++i) {
      Pid next = last;
      last = self.spawn([main, next](Self s) { return ring_node(s, main, next); });
      pids.push_back(last);
    }
    self.send(first, tuple("next"_a, last));
    double setup = ns_since(t0);
    auto t1 = Clock::now();
    self.send(last, tuple("token"_a, std::int64_t(n * m)));
    co_await self.receive(match("ring_done"_a));
    double ns_hop = ns_since(t1) / double(n * m);
    rec(name + "_ns_per_hop", ns_hop, "ns");
    rec(name + "_hops_per_sec", 1e9 / ns_hop, "hops/s");
    rec(name + "_setup_us_per_proc", setup / 1000 / double(n), "us");
    for (Pid p : pids) self.exit(p, Atom("kill"));
  });
}

// 4. pingpong: N round trips between two processes.
void pingpong(std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid ponger = self.spawn([](Self s) -> Proc {
      for (;;) {
        auto m = co_await s.receive("{ping, _, _}"_p);
        s.send(m.pid(1), tuple("pong"_a, m[2]));
      }
    });
    auto t0 = Clock::now();
    for (std::size_t k = n; k > 0; --k) {
      self.send(ponger, tuple("ping"_a, self.pid(), std::int64_t(k)));
      co_await self.receive(match(tuple("pong"_a, std::int64_t(k))));
    }
    rec("pingpong_local_ns_per_roundtrip", ns_since(t0) / double(n), "ns");
    self.exit(ponger, Atom("kill"));
  });
}

// 5. many_to_one: P producers each send N {msg, I} to one consumer.
void many_to_one(std::size_t producers, std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid main = self.pid();
    std::size_t total = producers * n;
    Pid consumer = self.spawn([main, total](Self s) -> Proc {
      for (std::size_t i = 0; i < total; ++i) co_await s.receive("{msg, _}"_p);
      s.send(main, "consumed"_a);
    });
    std::vector<Pid> ps;
    for (std::size_t p = 0; p < producers; ++p)
      ps.push_back(self.spawn([consumer, n](Self s) -> Proc {
        co_await s.receive(match("go"_a));
        for (std::size_t k = n; k > 0; --k)
          co_await s.send(consumer, tuple("msg"_a, std::int64_t(k)));
      }));
    co_await self.sleep(std::chrono::milliseconds(10));
    auto t0 = Clock::now();
    for (Pid p : ps) self.send(p, "go"_a);
    co_await self.receive(match("consumed"_a));
    double secs = ns_since(t0) / 1e9;
    rec("many_to_one_" + std::to_string(producers) + "p_msgs_per_sec", double(total) / secs,
        "msgs/s");
  });
}

// 6. selective: call/reply with a fresh ref while Q unrelated messages sit in the mailbox.
void selective() {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid server = self.spawn([](Self s) -> Proc {
      for (;;) {
        auto m = co_await s.receive("{req, _, _}"_p);
        s.send(m.pid(1), tuple(m[2], "reply"_a));
      }
    });
    for (std::int64_t q : {0, 10000}) {
      constexpr std::size_t kCalls = 100000;
      std::vector<double> runs;
      for (int rep = 0; rep < 5; ++rep) {
        Pid parent = self.pid();
        self.spawn([server, parent, q](Self c) -> Proc {
          for (std::int64_t i = 0; i < q; ++i) c.send(c.pid(), tuple("junk"_a, i));
          auto t0 = Clock::now();
          for (std::size_t k = 0; k < kCalls; ++k) {
            Ref ref = c.make_ref();
            c.send(server, tuple("req"_a, c.pid(), ref));
            co_await c.receive(match(tuple(ref, _))).since(ref);
          }
          c.send(parent, tuple("ns"_a, ns_since(t0) / double(kCalls)));
        });
        runs.push_back((co_await self.receive("{ns, _}"_p))[1].as<double>());
      }
      std::sort(runs.begin(), runs.end());
      rec("selective_receive_ref_" + std::to_string(q) + "queued_ns_per_roundtrip",
          runs[runs.size() / 2], "ns");
    }
    self.exit(server, Atom("kill"));
  });
}

const std::map<std::string, std::function<void()>>& workloads() {
  static const std::map<std::string, std::function<void()>> w = {
      {"spawn_idle", [] { spawn_idle(1000000, "spawn_idle_1M"); }},
      {"spawn_idle_10m", [] { spawn_idle(10000000, "spawn_idle_10M"); }},
      {"spawn_exit", [] { spawn_exit(1000000); }},
      {"ring_10k", [] { ring(10000, 1000, "ring_10k_x1000"); }},
      {"ring_1m", [] { ring(1000000, 10, "ring_1M_x10"); }},
      {"pingpong", [] { pingpong(1000000); }},
      {"many_to_one",
       [] {
         many_to_one(2, 1000000);
         many_to_one(8, 1000000);
       }},
      {"selective", [] { selective(); }},
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> chosen(argv + 1, argv + argc);
  if (chosen.empty())
    for (const auto& [name, fn] : workloads())
      if (name != "spawn_idle_10m") chosen.push_back(name);
  for (const auto& name : chosen) {
    if (!workloads().count(name)) {
      std::fprintf(
          stderr,
          "ember-bench: unknown workload '%s'\nusage: ember-bench [WORKLOAD...]\nworkloads:",
          name.c_str());
      for (const auto& [w, fn] : workloads()) std::fprintf(stderr, " %s", w.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  std::printf("# ember-bench: %u hardware threads\n", std::thread::hardware_concurrency());
  for (const auto& name : chosen) workloads().at(name)();
  return 0;
}
