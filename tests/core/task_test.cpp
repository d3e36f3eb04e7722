// Task cases 38-43 of ../shared/semantics/CASES.md, and Co<> helpers.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

#include "ember/core/runtime.hpp"
#include "ember/core/task.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {
const Atom kTaskDown("DOWN"), kTaskExit("EXIT");

Co<int> add_later(Self self, int a, int b) {
  co_await self.yield();
  co_return a + b;
}
Co<int> nested(Self self, int n) {
  int x = co_await add_later(self, n, 1);
  co_return x * 2;
}
}  // namespace

TEST_CASE("38_task_async_await") {
  Runtime rt({.workers = 2});
  Term result;
  std::size_t mailbox = 99;
  Term task_down;
  rt.run([&](Self self) -> Proc {
    Task t = task::async(self, [](Self) { return 6 * 7; });
    result = co_await task::await(self, t);
    mailbox = self.message_queue_len();
    Ref r = self.monitor(t.pid);
    task_down = (co_await self.receive(match(tuple(kTaskDown, r, _, _, _))))[4];
  });
  CHECK(result == Term(42));
  CHECK(mailbox == 0);
  CHECK((task_down.is(atoms::normal()) || task_down.is(Atom("noproc"))));
}

TEST_CASE("39_task_await_timeout") {
  Runtime rt({.workers = 2});
  bool await_returned = false;
  Term task_exit, owner_exit;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    Pid owner = self.spawn([&, me](Self o) -> Proc {
      Task t = task::async(o, [](Self s) -> Co<int> {
        co_await s.sleep(5000ms);
        co_return 1;
      });
      o.send(me, tuple("task"_a, t.pid));
      co_await task::await(o, t, 100ms);
      await_returned = true;
    });
    Ref ro = self.monitor(owner);
    Pid task_pid = (co_await self.receive(match(tuple("task"_a, _)))).pid(1);
    Ref rt_ = self.monitor(task_pid);
    owner_exit = (co_await self.receive(match(tuple(kTaskDown, ro, _, _, _))))[4];
    task_exit = (co_await self.receive(match(tuple(kTaskDown, rt_, _, _, _))))[4];
  });
  CHECK_FALSE(await_returned);
  REQUIRE(owner_exit.is_tuple(2));
  CHECK(owner_exit[0].is(Atom("timeout")));
  CHECK(owner_exit[1][0].is(Atom("Elixir.Task")));
  CHECK(owner_exit[1][1].is(Atom("await")));
  CHECK(owner_exit[1][2][1] == Term(100));
  CHECK(task_exit == owner_exit);
}

TEST_CASE("40_task_async_crash_propagates") {
  Runtime rt({.workers = 2});
  Term task_exit, owner_exit;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    Pid owner = self.spawn([me](Self o) -> Proc {
      Task t = task::async(o, [](Self s) -> Co<int> {
        co_await s.receive(match("boom"_a));
        throw std::runtime_error("boom");
      });
      o.send(me, tuple("task"_a, t.pid));
      co_await o.receive(match("never"_a));
    });
    Ref ro = self.monitor(owner);
    Pid task_pid = (co_await self.receive(match(tuple("task"_a, _)))).pid(1);
    Ref rtask = self.monitor(task_pid);
    self.send(task_pid, "boom"_a);
    task_exit = (co_await self.receive(match(tuple(kTaskDown, rtask, _, _, _))))[4];
    owner_exit = (co_await self.receive(match(tuple(kTaskDown, ro, _, _, _))))[4];
  });
  CHECK(task_exit == tuple(Atom("exception"), "boom"));
  CHECK(owner_exit == task_exit);
}

TEST_CASE("42_task_async_stream_ordered") {
  Runtime rt({.workers = 2});
  std::atomic<int> running{0}, peak{0};
  std::vector<Term> results;
  rt.run([&](Self self) -> Proc {
    std::vector<Term> inputs;
    for (int i = 1; i <= 6; ++i) inputs.push_back(i);
    results = co_await task::async_stream(
        self, inputs,
        [&](Self s, Term in) -> Co<int> {
          int now = ++running;
          int seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
          int i = in.as<int>();
          co_await s.sleep(milliseconds((7 - i) * 20));
          --running;
          co_return i * 10;
        },
        2);
  });
  CHECK(print_term(list_of(results)) == "[{ok,10},{ok,20},{ok,30},{ok,40},{ok,50},{ok,60}]");
  CHECK(peak.load() == 2);
}

TEST_CASE("43_supervisor_restart") {
  Runtime rt({.workers = 2});
  Term first, second, crash_reason, after_crash;
  bool new_pid = false, supervisor_alive = false;
  auto worker = [](Self w) -> Proc {
    for (;;) {
      auto m = co_await w.receive(match(tuple("work"_a, _, _)), match("crash"_a));
      if (m.clause() == 1) throw std::runtime_error("worker crashed");
      w.send(m.pid(1), tuple("result"_a, m[2].as<int>() * 2));
    }
  };
  rt.run([&](Self self) -> Proc {
    Pid test = self.pid();
    Pid sup = self.spawn([test, worker](Self s) -> Proc {
      s.trap_exit(true);
      Pid w = s.spawn_link(worker);
      s.runtime().register_name(Atom("worker"), w);
      s.send(test, "started"_a);
      for (;;) {
        auto m = co_await s.receive(match(tuple(kTaskExit, w, _)));
        s.send(test, tuple("crashed"_a, m[2]));
        w = s.spawn_link(worker);
        s.runtime().register_name(Atom("worker"), w);
        s.send(test, "restarted"_a);
      }
    });
    co_await self.receive(match("started"_a));
    Pid w1 = *self.whereis(Atom("worker"));
    self.send(Atom("worker"), tuple("work"_a, self.pid(), 2));
    first = (co_await self.receive(match(tuple("result"_a, _))))[1];
    self.send(Atom("worker"), "crash"_a);
    crash_reason = (co_await self.receive(match(tuple("crashed"_a, _))))[1];
    after_crash = (co_await self.receive(match("restarted"_a))).term();
    new_pid = self.whereis(Atom("worker")) != w1;
    self.send(Atom("worker"), tuple("work"_a, self.pid(), 5));
    second = (co_await self.receive(match(tuple("result"_a, _))))[1];
    supervisor_alive = self.runtime().alive(sup);
  });
  CHECK(first == Term(4));
  CHECK(crash_reason == tuple(Atom("exception"), "worker crashed"));
  CHECK(after_crash.is("restarted"_a));
  CHECK(new_pid);
  CHECK(second == Term(10));
  CHECK(supervisor_alive);
}

TEST_CASE("Co helpers nest and can be called in a loop without growing the stack") {
  Runtime rt({.workers = 2});
  int total = 0;
  rt.run([&](Self self) -> Proc {
    for (int i = 0; i < 100000; ++i) total += co_await nested(self, i % 1000);
  });
  int expected = 0;
  for (int i = 0; i < 100000; ++i) expected += (i % 1000 + 1) * 2;
  CHECK(total == expected);
}

TEST_CASE("Task.yield gives up without exiting and parallel map keeps order") {
  Runtime rt({.workers = 2});
  bool yielded_nothing = false;
  std::vector<Term> squares;
  rt.run([&](Self self) -> Proc {
    Task slow = task::async(self, [](Self s) -> Co<int> {
      co_await s.sleep(200ms);
      co_return 1;
    });
    yielded_nothing = !(co_await task::yield(self, slow, 10ms)).has_value();
    std::vector<Term> in;
    for (int i = 0; i < 20; ++i) in.push_back(i);
    squares = co_await task::parallel_map(self, in,
                                          [](Self, Term x) { return x.as<int>() * x.as<int>(); });
    co_await task::await(self, slow);
  });
  CHECK(yielded_nothing);
  REQUIRE(squares.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(squares[i] == Term(i * i));
}
