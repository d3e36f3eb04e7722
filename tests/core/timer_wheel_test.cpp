#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>

#include "ember/core/detail/timer_wheel.hpp"

using ember::detail::TimerNode;
using ember::detail::TimerWheel;

TEST_CASE("every timer fires at its deadline tick, never early, across all levels") {
  std::mt19937_64 rng(5);
  TimerWheel wheel(1000);
  std::vector<std::unique_ptr<TimerNode>> nodes;
  std::map<TimerNode*, std::uint64_t> expected;
  std::uint64_t now = 1000;
  for (int i = 0; i < 20000; ++i) {
    auto n = std::make_unique<TimerNode>();
    // Spread over all four levels: up to ~17 million ms ahead.
    std::uint64_t delay = 1 + rng() % (std::uint64_t(1) << (8 * (1 + rng() % 3)));
    wheel.insert(n.get(), now + delay, now);
    expected[n.get()] = now + delay;
    nodes.push_back(std::move(n));
  }
  // Cancel a third of them.
  for (std::size_t i = 0; i < nodes.size(); i += 3) {
    wheel.cancel(nodes[i].get());
    expected.erase(nodes[i].get());
  }
  CHECK(wheel.size() == expected.size());
  std::vector<TimerNode*> due;
  std::size_t fired = 0;
  std::uint64_t end = now + (std::uint64_t(1) << 24) + 10;
  // Advance in uneven steps, as the timer thread does when it oversleeps.
  while (now < end && wheel.size() > 0) {
    now += 1 + rng() % 700;
    due.clear();
    wheel.advance(now, due);
    for (TimerNode* n : due) {
      REQUIRE(expected.count(n));
      REQUIRE(expected[n] <= now);       // never early
      REQUIRE(expected[n] + 700 > now);  // due in this step, not a later one
      REQUIRE_FALSE(n->armed);
      expected.erase(n);
      ++fired;
    }
  }
  CHECK(expected.empty());
  CHECK(fired > 13000);
}

TEST_CASE("an empty wheel jumps to the present and cancel is idempotent") {
  TimerWheel wheel(0);
  TimerNode n;
  wheel.insert(&n, 5'000'000 + 10, 5'000'000);
  CHECK(wheel.now() == 5'000'000);
  wheel.cancel(&n);
  wheel.cancel(&n);
  CHECK(wheel.size() == 0);
  std::vector<TimerNode*> due;
  wheel.advance(5'000'100, due);
  CHECK(due.empty());
}

TEST_CASE("a million pending timers insert and cancel in O(1)") {
  TimerWheel wheel(0);
  std::vector<TimerNode> nodes(1000000);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    wheel.insert(&nodes[i], 1 + (i * 7919) % 3'600'000, 0);
  CHECK(wheel.size() == nodes.size());
  for (auto& n : nodes) wheel.cancel(&n);
  CHECK(wheel.size() == 0);
}
