// Runtime::trace, erlang:trace(Pid, true, ['receive']): a copy of every message a traced
// process receives goes to its tracer, in the traced process's own order, and none is lost
// for the traced process; untrace and the tracer's death stop it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "ember/core/errors.hpp"
#include "ember/core/runtime.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

const Atom kTrace("trace"), kReceive("receive");

// Receives {msg, X} and tells `report` {got, X}, until stop.
Proc reporter(Self self, Pid report) {
  for (;;) {
    auto m = co_await self.receive(match(tuple("msg"_a, _)), match("stop"_a));
    if (m.clause() == 1) co_return;
    self.send(report, tuple("got"_a, m[1]));
  }
}

// A tracer that hands every trace message to `report` as {copy, Traced, Msg}; answers
// {ping, From} with pong (so the caller knows what came before has been handed on).
Proc forwarder(Self self, Pid report) {
  for (;;) {
    auto m = co_await self.receive(match(tuple(kTrace, _, kReceive, _)), match(tuple("ping"_a, _)),
                                   match("stop"_a));
    if (m.clause() == 2) co_return;
    if (m.clause() == 1)
      self.send(m[1].pid(), "pong"_a);
    else
      self.send(report, tuple("copy"_a, m[1], m[3]));
  }
}

}  // namespace

TEST_CASE("a traced process's messages reach the tracer in its receive order and none is lost") {
  Runtime rt({.workers = 2});
  constexpr int kSenders = 4, kMessages = 2000, kTotal = kSenders * kMessages;
  std::vector<Term> received, traced;
  bool late_copy = true;
  rt.run([&](Self self) -> Proc {
    Pid root = self.pid();
    Pid target = self.spawn([&received, root](Self t) -> Proc {
      for (int i = 0; i < kTotal; ++i) {
        auto m = co_await t.receive();
        received.push_back(m.term());
      }
      t.send(root, "target_done"_a);
      co_await t.receive(match("stop"_a));
    });
    Pid tracer = self.spawn([&traced, root, target](Self t) -> Proc {
      for (int i = 0; i < kTotal; ++i) {
        auto m = co_await t.receive(match(tuple(kTrace, target, kReceive, _)));
        traced.push_back(m[3]);
      }
      t.send(root, "tracer_done"_a);
      // Anything more would be a copy of a message that was never sent.
      auto extra = co_await t.receive(match(tuple(kTrace, _, _, _))).after(50ms);
      t.send(root, tuple("extra"_a, !extra.timed_out()));
    });
    REQUIRE(rt.trace(target, tracer));
    // Several senders at once: the tracer must see the interleaving the target saw.
    for (int s = 0; s < kSenders; ++s)
      self.spawn([target, s](Self sender) -> Proc {
        for (int i = 0; i < kMessages; ++i) co_await sender.send(target, tuple(s, i));
      });
    co_await self.receive(match("target_done"_a));
    co_await self.receive(match("tracer_done"_a));
    auto extra = co_await self.receive(match(tuple("extra"_a, _)));
    late_copy = extra[1].is(Atom("true"));
    self.send(target, "stop"_a);
  });
  REQUIRE(received.size() == std::size_t(kTotal));
  REQUIRE(traced.size() == std::size_t(kTotal));
  CHECK(received == traced);
  CHECK_FALSE(late_copy);
  // Per-sender order holds in both, so nothing was reordered or dropped on the way.
  std::vector<int> next(kSenders, 0);
  bool in_order = true;
  for (const Term& m : traced) in_order &= next[m[0].as<int>()]++ == m[1].as<int>();
  CHECK(in_order);
}

TEST_CASE("untrace and the tracer's death stop the copies and the traced process misses none") {
  Runtime rt({.workers = 2});
  std::vector<std::string> events;  // what the root saw, in order
  Pid tracer_seen, tracer_after_death;
  rt.run([&](Self self) -> Proc {
    Pid root = self.pid();
    Pid target = self.spawn([root](Self t) { return reporter(t, root); });
    Pid a = self.spawn([root](Self t) { return forwarder(t, root); });
    auto log = [&](const Term& m) { events.push_back(print_term(m)); };

    // Traced by a: the copy and the message itself both arrive.
    REQUIRE(rt.trace(target, a));
    self.send(target, tuple("msg"_a, 1));
    for (int i = 0; i < 2; ++i) {
      auto m = co_await self.receive(match(tuple("copy"_a, target, _)), match(tuple("got"_a, _)));
      log(m.term());
    }
    tracer_seen = rt.info(target)->tracer;

    // Untraced: the message arrives, and a copy would have reached `a` before the target
    // answered, so a's pong coming first proves there is none.
    rt.untrace(target);
    self.send(target, tuple("msg"_a, 2));
    {
      auto m = co_await self.receive(match(tuple("got"_a, _)));
      log(m.term());
    }
    self.send(a, tuple("ping"_a, root));
    {
      auto m = co_await self.receive(match("pong"_a), match(tuple("copy"_a, _, _)));
      log(m.term());
    }

    // Traced by b, which then dies: the next message arrives untraced and clears the trace.
    Pid b = self.spawn([root](Self t) { return forwarder(t, root); });
    REQUIRE(rt.trace(target, b));
    self.send(target, tuple("msg"_a, 3));
    for (int i = 0; i < 2; ++i) {
      auto m = co_await self.receive(match(tuple("copy"_a, target, _)), match(tuple("got"_a, _)));
      log(m.term());
    }
    Ref r = self.monitor(b);
    self.send(b, "stop"_a);
    co_await self.receive(match(tuple("DOWN"_a, r, _, _, _)));
    self.send(target, tuple("msg"_a, 4));
    {
      auto m = co_await self.receive(match(tuple("got"_a, _)));
      log(m.term());
    }
    tracer_after_death = rt.info(target)->tracer;
    auto stray = co_await self.receive(match(tuple("copy"_a, _, _))).after(50ms);
    if (!stray.timed_out()) log(stray.term());

    self.send(target, "stop"_a);
    self.send(a, "stop"_a);
  });
  REQUIRE(events.size() == 7);
  // The copy and the message race to the root from two processes: either order.
  CHECK(std::count(events.begin(), events.begin() + 2, "{got,1}") == 1);
  CHECK(std::count_if(events.begin(), events.begin() + 2, [](const std::string& e) {
          return e.ends_with(",{msg,1}}") && e.starts_with("{copy,");
        }) == 1);
  CHECK(events[2] == "{got,2}");
  CHECK(events[3] == "pong");
  CHECK(std::count(events.begin() + 4, events.begin() + 6, "{got,3}") == 1);
  CHECK(events[6] == "{got,4}");
  CHECK(tracer_seen.valid());
  CHECK_FALSE(tracer_after_death.valid());
}

TEST_CASE("trace refuses a process as its own tracer and says false for a dead one") {
  Runtime rt({.workers = 1});
  bool dead_traced = true, self_refused = false, remote_refused = false;
  rt.run([&](Self self) -> Proc {
    auto [dead, r] = self.spawn_monitor([](Self) {});
    co_await self.receive(match(tuple("DOWN"_a, r, _, _, _)));
    dead_traced = rt.trace(dead, self.pid());
    try {
      self.trace(self.pid());
    } catch (const ErlangError& e) {
      self_refused = e.reason().is(Atom("badarg"));
    }
    try {
      rt.trace(self.pid(), Pid(7, 1, 1));  // a pid of another node
    } catch (const ErlangError& e) {
      remote_refused = e.reason().is(Atom("badarg"));
    }
  });
  CHECK_FALSE(dead_traced);
  CHECK(self_refused);
  CHECK(remote_refused);
}

TEST_CASE("trapped exits and monitor downs are traced as the messages they become") {
  Runtime rt({.workers = 2});
  std::vector<std::string> copies;
  rt.run([&](Self self) -> Proc {
    Pid root = self.pid();
    // Traps exits, links to a child that crashes and monitors another that ends; reports
    // each EXIT and DOWN it receives.
    Pid target = self.spawn([root](Self t) -> Proc {
      t.trap_exit(true);
      co_await t.receive(match("go"_a));
      t.spawn_link([](Self c) { c.exit("boom"_a); });
      t.spawn_monitor([](Self) {});
      for (int i = 0; i < 2; ++i) {
        auto m =
            co_await t.receive(match(tuple("EXIT"_a, _, _)), match(tuple("DOWN"_a, _, _, _, _)));
        t.send(root, tuple("got"_a, m[0]));
      }
      co_await t.receive(match("stop"_a));
    });
    Pid tracer = self.spawn([root](Self t) { return forwarder(t, root); });
    REQUIRE(rt.trace(target, tracer));
    self.send(target, "go"_a);
    // go, the EXIT and the DOWN: three copies; and the target's two reports.
    for (int i = 0; i < 5; ++i) {
      auto m = co_await self.receive(match(tuple("copy"_a, target, _)), match(tuple("got"_a, _)));
      if (m.clause() == 0) copies.push_back(print_term(m[2]));
    }
    self.send(target, "stop"_a);
    self.send(tracer, "stop"_a);
  });
  REQUIRE(copies.size() == 3);
  CHECK(copies[0] == "go");
  CHECK(std::count_if(copies.begin(), copies.end(), [](const std::string& c) {
          return c.starts_with("{'EXIT',") && c.ends_with(",boom}");
        }) == 1);
  CHECK(std::count_if(copies.begin(), copies.end(), [](const std::string& c) {
          return c.starts_with("{'DOWN',") && c.ends_with(",normal}");
        }) == 1);
}
