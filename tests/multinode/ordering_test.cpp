// Per-pair order over one connection: many small messages A -> B with sequence numbers,
// none lost, none reordered, and the connection up throughout. Two in-process Nodes on
// loopback (the transport is the same one the daemons use).
//
// EMBER_MULTINODE_MESSAGES sets the count: 10,000,000 by default, 1,000,000 in sanitizer
// builds (EMBER_SANITIZE), where every message costs ten times as much.
#include <cstdio>
#include <cstdlib>

#include "support.hpp"

using namespace multinode;

namespace {

std::int64_t message_count() {
  if (const char* e = std::getenv("EMBER_MULTINODE_MESSAGES"); e && *e) return std::atoll(e);
#ifdef EMBER_MULTINODE_SANITIZED
  return 1'000'000;
#else
  return 10'000'000;
#endif
}

NodeConfig config(const char* name) {
  return ember::testing::loopback_node(name, "ordering");
}

// The receiver acknowledges every kAckEvery messages; the sender keeps at most kWindow
// unacknowledged, so B's mailbox stays bounded however fast A is.
constexpr std::int64_t kAckEvery = 1 << 16;
constexpr std::int64_t kWindow = 1 << 18;

}  // namespace

TEST_CASE("10M small messages A->B with sequence numbers: none lost, none reordered") {
  const std::int64_t count = message_count();
  Node a(config("seq_a")), b(config("seq_b"));
  const Atom seq("seq"), ack("ack"), done("done"), start("start");

  // B: checks each {seq, I} against the next number expected.
  Pid receiver = b.runtime().spawn([=](Self self) -> Proc {
    auto first = co_await self.receive(match(tuple(start, _)));
    Pid sender = first.pid(1);
    std::int64_t expected = 0;
    Term wrong;
    while (expected < count) {
      auto m = co_await self.receive();
      const Term& t = m.term();
      if (!t.is_tuple(2) || !t[0].is(seq) || t[1] != Term(expected)) {
        wrong = tuple(expected, t);  // lost (a later number) or reordered (an earlier one)
        break;
      }
      if (++expected % kAckEvery == 0) self.send(sender, tuple(ack, expected));
    }
    self.send(sender, tuple(done, expected, wrong));
  });

  std::int64_t received = -1;
  Term wrong, nodedown;
  bool stalled = false;
  auto t0 = Clock::now();
  a.runtime().run([&](Self self) -> Proc {
    a.monitor_node(self, b.name());
    self.send(receiver, tuple(start, self.pid()));
    std::int64_t acked = 0;
    for (std::int64_t i = 0; i < count; ++i) {
      while (i - acked >= kWindow) {
        auto m = co_await self.receive(match(tuple(ack, _)), "{nodedown, _}"_p).after(60s);
        if (m.timed_out() || m.clause() == 1) {
          stalled = m.timed_out();
          nodedown = m.term();
          co_return;
        }
        acked = m[1].as<std::int64_t>();
      }
      co_await self.send(receiver, tuple(seq, i));
    }
    auto m = co_await self.receive(match(tuple(done, _, _)), "{nodedown, _}"_p).after(120s);
    if (m.timed_out() || m.clause() == 1) {
      stalled = m.timed_out();
      nodedown = m.term();
      co_return;
    }
    received = m[1].as<std::int64_t>();
    wrong = m[2];
    auto late = co_await self.receive("{nodedown, _}"_p).after(0ms);
    if (!late.timed_out()) nodedown = late.term();
  });
  double seconds = ms_since(t0) / 1000;
  std::printf("ordering: %lld messages A->B in %.2f s (%.0f msgs/s)\n",
              static_cast<long long>(count), seconds, double(count) / seconds);
  std::fflush(stdout);

  INFO(count << " messages in " << seconds << " s");
  CHECK_FALSE(stalled);
  CHECK(nodedown == Term());
  CHECK(wrong == Term());
  CHECK(received == count);
  CHECK(has(a.nodes(), b.name()));  // the connection stayed up
}
