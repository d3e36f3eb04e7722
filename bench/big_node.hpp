// A member of Savina's "big": shared by savina (big) and the core test that runs it to
// catch lost wake-ups (tests/core/runtime_test.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "ember/core/runtime.hpp"

namespace ember::bench {

// Learns its peers from {peers, List}, pings random ones (`pings` in all, one at a time)
// and answers every ping with pong; tells `main` done after its last pong, ends on stop.
inline Proc big_node(Self s, Pid main, int index, int pings) {
  auto peers = (co_await s.receive("{peers, _}"_p))[1].as<std::vector<Pid>>();
  std::uint64_t rng = 0x9E3779B97F4A7C15ull * std::uint64_t(index + 1);
  int sent = 0, pongs = 0;
  auto ping_next = [&] {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    s.send(peers[rng % peers.size()], tuple("ping"_a, s.pid()));
    ++sent;
  };
  ping_next();
  for (;;) {
    auto m = co_await s.receive("{ping, _}"_p, match("pong"_a), match("stop"_a));
    if (m.clause() == 2) co_return;
    if (m.clause() == 0) {
      s.send(m.pid(1), "pong"_a);
      continue;
    }
    if (++pongs == pings) s.send(main, "done"_a);
    if (sent < pings) ping_next();
  }
}

}  // namespace ember::bench
