// A member of a token ring, shared by ember-bench (ring_*) and savina (threadring).
#pragma once

#include "ember/core/runtime.hpp"

namespace ember::bench {

// Passes {token, K} on to `next` as {token, K - 1}; at 0 tells `main` ring_done. A member
// started without `next` learns it from a {next, Pid} message first (closing the ring).
inline Proc ring_node(Self s, Pid main, Pid next) {
  if (!next.valid()) next = (co_await s.receive("{next, _}"_p)).pid(1);
  for (;;) {
    auto m = co_await s.receive("{token, _}"_p);
    std::int64_t k = m[1].integer();
    if (k == 0)
      s.send(main, "ring_done"_a);
    else
      s.send(next, tuple("token"_a, k - 1));
  }
}

}  // namespace ember::bench
