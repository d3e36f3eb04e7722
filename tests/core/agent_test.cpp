// Agent: Elixir's Agent (https://hexdocs.pm/elixir/Agent.html) on GenServer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "ember/core/agent.hpp"
#include "ember/core/errors.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

Term add(const Term& state, std::int64_t n) {
  return Term(state.integer() + n);
}

struct NamedFunctions {
  NamedFunctions() {
    agent::register_function(
        "agent_test_add"_a, [](const Term& s, const Term& args) { return add(s, args.integer()); });
    agent::register_function("agent_test_pop"_a, [](const Term& s, const Term&) {
      return tuple(s, Term(0));  // {Value, NewState}
    });
  }
};
const NamedFunctions kNamed;

}  // namespace

TEST_CASE("Agent: start, get, update, get_and_update, cast, stop") {
  Runtime rt({.workers = 2});
  Term first, after_update, popped, after_pop, after_cast, named;
  bool dead = false;
  rt.run([&](Self self) -> Proc {
    auto a = co_await agent::start_link(self, [] { return Term(0); }, {.name = "counter"_a});
    REQUIRE(a.ok());
    auto id = [](const Term& s) { return s; };
    first = co_await agent::get(self, a.pid(), id);
    co_await agent::update(self, "counter"_a, [](const Term& s) { return add(s, 5); });
    after_update = co_await agent::get(self, a.pid(), id);
    popped = co_await agent::get_and_update(
        self, a.pid(), [](const Term& s) { return std::pair<Term, Term>(s, Term(100)); });
    after_pop = co_await agent::get(self, a.pid(), id);
    agent::cast(self, a.pid(), [](const Term& s) { return add(s, 1); });
    after_cast = co_await agent::get(self, a.pid(), id);  // the cast came first
    co_await agent::update(self, a.pid(), agent::Named("agent_test_add"_a, Term(10)));
    named = co_await agent::get_and_update(self, a.pid(), agent::Named("agent_test_pop"_a));
    co_await agent::stop(self, a.pid());
    dead = !self.runtime().alive(a.pid());
  });
  CHECK(first == Term(0));
  CHECK(after_update == Term(5));
  CHECK(popped == Term(5));
  CHECK(after_pop == Term(100));
  CHECK(after_cast == Term(101));
  CHECK(named == Term(111));
  CHECK(dead);
}

TEST_CASE("Agent: get_and_update is atomic under concurrent callers") {
  Runtime rt({.workers = 2});
  std::vector<std::int64_t> tickets;
  rt.run([&](Self self) -> Proc {
    auto a = co_await agent::start(self, [] { return Term(0); });
    Pid me = self.pid(), agent_pid = a.pid();
    for (int i = 0; i < 20; ++i)
      self.spawn([me, agent_pid](Self c) -> Proc {
        for (int k = 0; k < 10; ++k) {
          Term t = co_await agent::get_and_update(c, agent_pid, [](const Term& s) {
            return std::pair<Term, Term>(s, Term(s.integer() + 1));
          });
          c.send(me, tuple("ticket"_a, t));
        }
      });
    for (int i = 0; i < 200; ++i)
      tickets.push_back((co_await self.receive("{ticket, _}"_p).after(10s))[1].integer());
    co_await agent::stop(self, agent_pid);
  });
  std::sort(tickets.begin(), tickets.end());
  REQUIRE(tickets.size() == 200);
  for (std::size_t i = 0; i < tickets.size(); ++i) CHECK(tickets[i] == std::int64_t(i));
}

TEST_CASE("Agent: a function that throws crashes the agent and the caller's call fails") {
  Runtime rt({.workers = 2});
  Term reason, agent_exit;
  rt.run([&](Self self) -> Proc {
    auto a = co_await agent::start(self, [] { return Term(1); });
    Ref mon = self.monitor(a.pid());
    try {
      co_await agent::get(self, a.pid(),
                          [](const Term&) -> Term { throw std::runtime_error("bad fun"); });
    } catch (const ErlangError& e) {
      reason = e.reason()[0];
    }
    agent_exit = (co_await self.receive("{'DOWN', _, _, _, _}"_p).after(5s))[4];
    (void)mon;
  });
  CHECK(print_term(reason) == "{exception,<<\"bad fun\">>}");
  CHECK(print_term(agent_exit) == "{exception,<<\"bad fun\">>}");
}
