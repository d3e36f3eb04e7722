// savina: micro-benchmarks of the Savina suite (Imam & Sarkar, 2014) on Ember; the same
// programs in Erlang are in bench/erlang/savina.erl. Each prints `savina_NAME_ms: T ms`
// (the median of 3 runs).
//   savina [pingpong|counting|fjthrput|fjcreate|threadring|chameneos|big]...
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "big_node.hpp"
#include "ember/core/runtime.hpp"
#include "ring_node.hpp"

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Ping-Pong: 40,000 ping/pong exchanges between two processes.
Proc pingpong(Self self) {
  constexpr int kPings = 40000;
  Pid pong = self.spawn([](Self s) -> Proc {
    for (;;) {
      auto m = co_await s.receive("{ping, _}"_p, match("stop"_a));
      if (m.clause() == 1) co_return;
      s.send(m.pid(1), "pong"_a);
    }
  });
  for (int i = 0; i < kPings; ++i) {
    self.send(pong, tuple("ping"_a, self.pid()));
    co_await self.receive(match("pong"_a));
  }
  self.send(pong, "stop"_a);
}

// Counting: a producer sends 1,000,000 increments to a counter, then asks for the total.
Proc counting(Self self) {
  constexpr std::int64_t kCount = 1000000;
  Pid counter = self.spawn([](Self s) -> Proc {
    std::int64_t n = 0;
    for (;;) {
      auto m = co_await s.receive(match("inc"_a), "{get, _}"_p);
      if (m.clause() == 0) {
        ++n;
      } else {
        s.send(m.pid(1), n);
        co_return;
      }
    }
  });
  for (std::int64_t i = 0; i < kCount; ++i) co_await self.send(counter, "inc"_a);
  self.send(counter, tuple("get"_a, self.pid()));
  auto total = co_await self.receive();
  if (total.as<std::int64_t>() != kCount) throw std::runtime_error("counting: wrong total");
}

// Fork-Join throughput: 60 workers, 10,000 messages each sent round-robin; each worker
// does a little arithmetic per message and reports when it has seen all of its share.
Proc fjthrput(Self self) {
  constexpr int kWorkers = 60, kMessages = 10000;
  std::vector<Pid> workers;
  Pid main = self.pid();
  for (int w = 0; w < kWorkers; ++w)
    workers.push_back(self.spawn([main](Self s) -> Proc {
      double acc = 0;
      for (int i = 0; i < kMessages; ++i) {
        co_await s.receive(match("msg"_a));
        acc += std::sin(double(i)) * std::cos(double(i));
      }
      s.send(main, tuple("done"_a, acc));
    }));
  for (int i = 0; i < kMessages; ++i)
    for (Pid w : workers) co_await self.send(w, "msg"_a);
  for (int w = 0; w < kWorkers; ++w) co_await self.receive("{done, _}"_p);
}

// Fork-Join creation: 40,000 processes, each created, sent one message, and ended.
Proc fjcreate(Self self) {
  constexpr int kProcs = 40000;
  Pid main = self.pid();
  for (int i = 0; i < kProcs; ++i) {
    Pid p = self.spawn([main](Self s) -> Proc {
      co_await s.receive(match("msg"_a));
      s.send(main, "done"_a);
    });
    self.send(p, "msg"_a);
  }
  for (int i = 0; i < kProcs; ++i) co_await self.receive(match("done"_a));
}

// Thread Ring: 100 processes pass a token 100,000 hops.
Proc threadring(Self self) {
  constexpr int kProcs = 100;
  constexpr std::int64_t kHops = 100000;
  Pid main = self.pid();
  std::vector<Pid> ring;
  for (int i = 0; i < kProcs; ++i)
    ring.push_back(self.spawn([main](Self s) { return bench::ring_node(s, main, Pid()); }));
  for (int i = 0; i < kProcs; ++i) self.send(ring[i], tuple("next"_a, ring[(i + 1) % kProcs]));
  self.send(ring[0], tuple("token"_a, kHops));
  co_await self.receive(match("ring_done"_a));
  for (Pid p : ring) self.exit(p, Atom("kill"));
}

// Chameneos: 100 chameneos meet 200,000 times at one mall, pairwise, exchanging colours.
Proc chameneos(Self self) {
  constexpr int kChameneos = 100, kMeetings = 200000;
  Pid main = self.pid();
  Pid mall = self.spawn([main](Self s) -> Proc {
    int meetings = 0, faded = 0;
    std::optional<std::pair<Pid, std::int64_t>> waiting;
    for (;;) {
      auto m = co_await s.receive("{meet, _, _}"_p);
      Pid who = m.pid(1);
      std::int64_t colour = m[2].integer();
      if (meetings >= kMeetings) {
        s.send(who, "stop"_a);
        if (++faded == kChameneos) break;
        continue;
      }
      if (!waiting) {
        waiting.emplace(who, colour);
        continue;
      }
      std::int64_t mixed = (colour + waiting->second) % 3;
      s.send(who, tuple("mate"_a, mixed));
      s.send(waiting->first, tuple("mate"_a, mixed));
      waiting.reset();
      ++meetings;
    }
    s.send(main, "done"_a);
  });
  for (int i = 0; i < kChameneos; ++i)
    self.spawn([mall, colour = std::int64_t(i % 3)](Self s) mutable -> Proc {
      for (;;) {
        s.send(mall, tuple("meet"_a, s.pid(), colour));
        auto m = co_await s.receive("{mate, _}"_p, match("stop"_a));
        if (m.clause() == 1) co_return;
        colour = m[1].integer();
      }
    });
  co_await self.receive(match("done"_a));
}

// Big: 120 processes, each sends 2,000 pings to random others and answers every ping.
Proc big(Self self) {
  constexpr int kProcs = 120, kPings = 2000;
  Pid main = self.pid();
  std::vector<Pid> all;
  for (int i = 0; i < kProcs; ++i)
    all.push_back(self.spawn([main, i](Self s) { return bench::big_node(s, main, i, kPings); }));
  for (Pid p : all) self.send(p, tuple("peers"_a, all));
  for (int i = 0; i < kProcs; ++i) co_await self.receive(match("done"_a));
  for (Pid p : all) self.send(p, "stop"_a);
}

const std::map<std::string, std::function<Proc(Self)>>& benchmarks() {
  static const std::map<std::string, std::function<Proc(Self)>> b = {
      {"big", big},
      {"chameneos", chameneos},
      {"counting", counting},
      {"fjcreate", fjcreate},
      {"fjthrput", fjthrput},
      {"pingpong", pingpong},
      {"threadring", threadring},
  };
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> chosen(argv + 1, argv + argc);
  if (chosen.empty())
    for (const auto& [name, fn] : benchmarks()) chosen.push_back(name);
  for (const auto& name : chosen)
    if (!benchmarks().count(name)) {
      std::fprintf(stderr,
                   "savina: unknown benchmark '%s'\nusage: savina [BENCHMARK...]\nbenchmarks:",
                   name.c_str());
      for (const auto& [n, fn] : benchmarks()) std::fprintf(stderr, " %s", n.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  for (const auto& name : chosen) {
    std::vector<double> ms;
    for (int rep = 0; rep < 3; ++rep) {
      Runtime rt;
      auto t0 = Clock::now();
      Term reason = rt.run(benchmarks().at(name));
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!reason.is(atoms::normal())) {
        std::fprintf(stderr, "savina %s failed: %s\n", name.c_str(), reason.to_string().c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    std::printf("savina_%s_ms: %.2f ms\n", name.c_str(), ms[1]);
    std::fflush(stdout);
  }
  return 0;
}
