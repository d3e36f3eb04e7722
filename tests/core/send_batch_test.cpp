// A running process's messages to one target leave as one batch when it suspends
// (core/src/runtime.cpp, SendBatch). Nobody may tell: these check the orders and counts
// that a process could observe.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "ember/core/runtime.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

// Waits for go, then collects {msg, I} until stop and reports how many came and whether
// they came in order.
Proc counter(Self self, Pid report) {
  co_await self.receive(match("go"_a));
  std::int64_t n = 0;
  bool ordered = true;
  for (;;) {
    auto m = co_await self.receive(match(tuple("msg"_a, _)), match("stop"_a));
    if (m.clause() == 1) break;
    ordered = ordered && m[1].as<std::int64_t>() == n;
    ++n;
  }
  self.send(report, tuple("counted"_a, n, ordered ? "ordered"_a : "reordered"_a));
}

}  // namespace

TEST_CASE("messages just sent count in the target's message_queue_len the sender reads") {
  Runtime rt({.workers = 2});
  std::size_t seen = 0;
  rt.run([&](Self self) -> Proc {
    Pid target = self.spawn([](Self s) -> Proc { co_await s.receive(match("stop"_a)); });
    for (std::int64_t i = 0; i < 3; ++i) self.send(target, tuple("msg"_a, i));
    seen = rt.info(target)->message_queue_len;  // no suspension since the sends
    self.send(target, "stop"_a);
    co_return;
  });
  CHECK(seen == 3);
}

TEST_CASE("thousands of messages sent in one slice arrive whole and in order") {
  Runtime rt({.workers = 2});
  Term result;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    Pid target = self.spawn([me](Self s) { return counter(s, me); });
    self.send(target, "go"_a);
    // Plain sends: none of them suspends the sender, so the batch fills and goes many times.
    for (std::int64_t i = 0; i < 10'000; ++i) self.send(target, tuple("msg"_a, i));
    self.send(target, "stop"_a);
    result = (co_await self.receive(match(tuple("counted"_a, _, _)))).term();
  });
  CHECK(result == tuple("counted"_a, std::int64_t(10'000), "ordered"_a));
}

TEST_CASE("a message then an exit signal from one sender arrive in that order") {
  Runtime rt({.workers = 2});
  Term first, second;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    Pid target = self.spawn([me](Self s) -> Proc {
      s.trap_exit(true);
      s.send(me, "ready"_a);
      auto a = co_await s.receive();
      auto b = co_await s.receive();
      s.send(me, tuple("saw"_a, a.term(), b.term()));
    });
    co_await self.receive(match("ready"_a));
    self.send(target, "hello"_a);
    self.exit(target, "bye"_a);  // a signal, not a message: the batch must go first
    auto m = co_await self.receive(match(tuple("saw"_a, _, _)));
    first = m[1];
    second = m[2];
  });
  CHECK(first == "hello"_a);
  CHECK(second.size() == 3);
  CHECK(second[0] == "EXIT"_a);
  CHECK(second[2] == "bye"_a);
}

TEST_CASE("a child spawned after a send cannot overtake its parent's message") {
  Runtime rt({.workers = 2});
  int parent_first = 0;
  constexpr int kTrials = 200;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    for (int t = 0; t < kTrials; ++t) {
      Pid target = self.spawn([me](Self s) -> Proc {
        auto m = co_await s.receive();
        s.send(me, tuple("first"_a, m.term()));
        co_await s.receive();
      });
      self.send(target, "from_parent"_a);
      self.spawn([target](Self c) { c.send(target, "from_child"_a); });
      // A second spawn takes this worker's next slot and puts the child in its queue; then
      // stay in this slice a while, so that the other worker takes the child and runs it.
      self.spawn([](Self) {});
      for (volatile int k = 0; k < 20'000;) k = k + 1;
      auto m = co_await self.receive(match(tuple("first"_a, _)));
      if (m[1] == "from_parent"_a) ++parent_first;
    }
  });
  CHECK(parent_first == kTrials);
}

TEST_CASE("a batch to a process that died meanwhile is dropped and leaks nothing") {
  Runtime rt({.workers = 2});
  bool alive_after = true;
  rt.run([&](Self self) -> Proc {
    Pid target = self.spawn([](Self s) -> Proc { co_await s.receive(match("never"_a)); });
    Ref r = self.monitor(target);
    for (std::int64_t i = 0; i < 10; ++i) self.send(target, tuple("msg"_a, i));
    self.exit(target, "kill"_a);  // flushes the ten first, then kills
    co_await self.receive(match(tuple("DOWN"_a, r, _, _, _)));
    for (std::int64_t i = 0; i < 10; ++i) self.send(target, tuple("late"_a, i));
    alive_after = rt.alive(target);
  });
  CHECK_FALSE(alive_after);  // and LSan, under ASan, sees no leaked message
}

// The transport's loop thread gathers what one read delivers (begin/end_delivery_batch):
// messages between the two arrive, in order, with an exit signal among them neither
// passing the messages before it nor being passed by those after.
TEST_CASE("deliveries gathered by a thread outside the workers arrive in order") {
  Runtime rt({.workers = 2});
  std::atomic<bool> trapping{false}, done{false};
  std::vector<Term> seen;
  Pid peer = rt.spawn([](Self s) -> Proc { co_await s.receive(match("stop"_a)); });
  Pid p = rt.spawn([&](Self s) -> Proc {
    s.trap_exit(true);
    trapping = true;
    for (int i = 0; i < 7; ++i) seen.push_back((co_await s.receive()).term());
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!trapping && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  REQUIRE(trapping);
  detail::begin_delivery_batch(rt);
  for (std::int64_t i = 1; i <= 3; ++i)
    detail::deliver_signal(rt, detail::SignalKind::kMessage, peer, p, {}, Term(i));
  detail::deliver_signal(rt, detail::SignalKind::kExit, peer, p, {}, "bye"_a);
  for (std::int64_t i = 4; i <= 6; ++i)
    detail::deliver_signal(rt, detail::SignalKind::kMessage, peer, p, {}, Term(i));
  detail::end_delivery_batch(rt);
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  REQUIRE(done);
  std::vector<Term> want{Term(1), Term(2), Term(3), tuple(Atom("EXIT"), peer, "bye"_a),
                         Term(4), Term(5), Term(6)};
  CHECK(seen == want);
  rt.send(peer, "stop"_a);
}

namespace {
thread_local int tl_slice_end_runs = 0;
void count_slice_end() {
  ++tl_slice_end_runs;
}
}  // namespace

// What the transport's corked frames rely on (detail::at_slice_end): the work runs on the
// process's own thread, once, when it suspends, before anything else runs there.
TEST_CASE("work left for a run's end runs once, on its thread, when the process suspends") {
  CHECK_FALSE(detail::at_slice_end(count_slice_end));  // not inside a process
  Runtime rt({.workers = 1});
  bool registered = false, again = false;
  int inside = -1, after = -1;
  rt.run([&](Self self) -> Proc {
    int before = tl_slice_end_runs;
    registered = detail::at_slice_end(count_slice_end);
    again = detail::at_slice_end(count_slice_end);
    inside = tl_slice_end_runs - before;
    co_await self.yield();
    after = tl_slice_end_runs - before;
  });
  CHECK(registered);
  CHECK(again);
  CHECK(inside == 0);  // not while the process runs
  CHECK(after == 1);   // once, though registered twice
}
