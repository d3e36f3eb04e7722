// The local cases of ../shared/semantics/CASES.md, each asserting what Elixir/OTP printed.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "ember/core/errors.hpp"
#include "ember/core/runtime.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

const Atom kExitAtom("EXIT"), kDownAtom("DOWN");

// A process that waits for `stop` (or forever), for tests that need something alive.
Proc idle(Self self) {
  co_await self.receive(match("stop"_a));
}

// Waits until `pid` is gone, by monitoring it; returns the DOWN reason.
struct AwaitDown {
  static Term wait(Runtime& rt, Pid pid) {
    return rt.run([pid](Self self) -> Proc {
      Ref ref = self.monitor(pid);
      auto m = co_await self.receive(match(tuple(kDownAtom, ref, _, _, _)));
      self.exit(m[4]);
    });
  }
};

}  // namespace

TEST_CASE("01_send_self") {
  Runtime rt({.workers = 2});
  Term received;
  rt.run([&](Self self) -> Proc {
    self.send(self.pid(), "hello"_a);
    received = (co_await self.receive()).term();
  });
  CHECK(received == Term("hello"_a));
}

TEST_CASE("02_fifo_per_sender_pair") {
  Runtime rt({.workers = 2});
  bool a_in_order = true, b_in_order = true;
  int total = 0;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    for (Atom tag : {"a"_a, "b"_a})
      self.spawn([me, tag](Self s) {
        for (int i = 0; i < 500; ++i) s.send(me, tuple(tag, i));
      });
    int next_a = 0, next_b = 0;
    for (int i = 0; i < 1000; ++i) {
      auto m = co_await self.receive();
      int n = m[1].as<int>();
      if (m[0].is("a"_a))
        a_in_order &= n == next_a++;
      else
        b_in_order &= n == next_b++;
      ++total;
    }
  });
  CHECK(total == 1000);
  CHECK(a_in_order);
  CHECK(b_in_order);
}

TEST_CASE("03_selective_receive_keeps_order") {
  Runtime rt({.workers = 2});
  std::vector<Term> selected, remaining;
  rt.run([&](Self self) -> Proc {
    for (Term t :
         {Term("a"_a), tuple("x"_a, 1), Term("b"_a), Term("c"_a), tuple("x"_a, 2), Term("d"_a)})
      self.send(self.pid(), t);
    for (int i = 0; i < 2; ++i)
      selected.push_back((co_await self.receive(match(tuple("x"_a, _))))[1]);
    for (;;) {
      auto m = co_await self.receive().after(0ms);
      if (m.timed_out()) break;
      remaining.push_back(m.term());
    }
  });
  CHECK(print_term(list_of(selected)) == "[1,2]");
  CHECK(print_term(list_of(remaining)) == "[a,b,c,d]");
}

TEST_CASE("04_receive_after_zero_empty") {
  Runtime rt({.workers = 2});
  std::size_t before = 99;
  bool timed_out = false;
  rt.run([&](Self self) -> Proc {
    before = self.message_queue_len();
    timed_out = (co_await self.receive().after(0ms)).timed_out();
  });
  CHECK(before == 0);
  CHECK(timed_out);
}

TEST_CASE("05_receive_after_timeout_fires") {
  Runtime rt({.workers = 2});
  bool timed_out = false;
  auto start = std::chrono::steady_clock::now();
  rt.run(
      [&](Self self) -> Proc { timed_out = (co_await self.receive().after(200ms)).timed_out(); });
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(timed_out);
  CHECK(waited >= 200ms);
  CHECK(waited < 2s);
}

TEST_CASE("06_receive_catch_all_clause") {
  Runtime rt({.workers = 2});
  Term result;
  std::size_t after = 99;
  rt.run([&](Self self) -> Proc {
    self.send(self.pid(), tuple("unknown"_a, 42));
    auto m = co_await self.receive(match(tuple("known"_a, _)), any);
    result = m.clause() == 1 ? tuple("catch_all"_a, m.term()) : Term("wrong"_a);
    after = self.message_queue_len();
  });
  CHECK(print_term(result) == "{catch_all,{unknown,42}}");
  CHECK(after == 0);
}

TEST_CASE("08_send_to_dead_pid") {
  Runtime rt({.workers = 2});
  Pid dead = rt.spawn([](Self) {});
  AwaitDown::wait(rt, dead);
  CHECK_FALSE(rt.alive(dead));
  bool sent = false;
  rt.run([&](Self self) -> Proc {
    self.send(dead, "hello"_a);  // no error, no effect
    sent = true;
    co_return;
  });
  CHECK(sent);
}

TEST_CASE("09_send_to_unregistered_name") {
  Runtime rt({.workers = 2});
  CHECK_FALSE(rt.whereis(Atom("nobody_here")));
  Term raised;
  rt.run([&](Self self) -> Proc {
    try {
      self.send(Atom("nobody_here"), "hello"_a);
    } catch (const ErlangError& e) {
      raised = e.reason();
    }
    co_return;
  });
  CHECK(raised == Term(Atom("badarg")));
}

TEST_CASE("11_register_dead_pid") {
  Runtime rt({.workers = 2});
  Pid dead = rt.spawn([](Self) {});
  AwaitDown::wait(rt, dead);
  CHECK_THROWS_AS(rt.register_name(Atom("ghost"), dead), ErlangError);
  CHECK_FALSE(rt.whereis(Atom("ghost")));
}

TEST_CASE("12_whereis_after_exit") {
  Runtime rt({.workers = 2});
  Pid p = rt.spawn(idle);
  rt.register_name(Atom("short_lived"), p);
  CHECK(rt.whereis(Atom("short_lived")) == p);
  rt.send(p, "stop"_a);
  AwaitDown::wait(rt, p);
  CHECK_FALSE(rt.whereis(Atom("short_lived")));
}

TEST_CASE("14_link_normal_exit") {
  Runtime rt({.workers = 2});
  Term b_exit;
  bool a_alive = false;
  std::size_t a_mailbox = 99;
  rt.run([&](Self self) -> Proc {
    Pid b = self.spawn_link([](Self) {});
    Ref r = self.monitor(b);
    b_exit = (co_await self.receive(match(tuple(kDownAtom, r, _, _, _))))[4];
    co_await self.sleep(50ms);  // a normal exit signal, if wrongly delivered, arrives here
    a_alive = true;
    a_mailbox = self.message_queue_len();
  });
  CHECK(b_exit == Term(atoms::normal()));
  CHECK(a_alive);
  CHECK(a_mailbox == 0);
}

TEST_CASE("15_link_abnormal_exit") {
  Runtime rt({.workers = 2});
  Term b_exit;
  Term a_exit = rt.run([&](Self self) -> Proc {
    Pid b = self.spawn_link([](Self s) -> Proc {
      co_await s.sleep(20ms);
      s.exit("boom"_a);
    });
    (void)b;
    co_await self.receive();  // never: the exit signal ends this process
  });
  CHECK(a_exit == Term("boom"_a));
}

TEST_CASE("16_trap_exit_abnormal") {
  Runtime rt({.workers = 2});
  Term received;
  Pid b_pid;
  rt.run([&](Self self) -> Proc {
    self.trap_exit(true);
    b_pid = self.spawn_link([](Self s) { s.exit("boom"_a); });
    received = (co_await self.receive(match(tuple(kExitAtom, _, _)))).term();
  });
  CHECK(received == tuple(kExitAtom, b_pid, "boom"_a));
}

TEST_CASE("17_trap_exit_normal") {
  Runtime rt({.workers = 2});
  Term received;
  Pid b_pid;
  rt.run([&](Self self) -> Proc {
    self.trap_exit(true);
    b_pid = self.spawn_link([](Self) {});
    received = (co_await self.receive(match(tuple(kExitAtom, _, _)))).term();
  });
  CHECK(received == tuple(kExitAtom, b_pid, atoms::normal()));
}

TEST_CASE("18_exit_kill_trapping") {
  Runtime rt({.workers = 2});
  Term t_down, w_received;
  Pid t_pid;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    t_pid = self.spawn([](Self s) -> Proc {
      s.trap_exit(true);
      co_await s.receive(match("never"_a));
    });
    self.spawn([me, t = t_pid](Self s) -> Proc {
      s.trap_exit(true);
      s.link(t);
      s.send(me, "linked"_a);
      auto m = co_await s.receive(match(tuple(kExitAtom, _, _)));
      s.send(me, tuple("w"_a, m.term()));
    });
    co_await self.receive(match("linked"_a));
    Ref r = self.monitor(t_pid);
    self.exit(t_pid, Atom("kill"));
    t_down = (co_await self.receive(match(tuple(kDownAtom, r, _, _, _))))[4];
    w_received = (co_await self.receive(match(tuple("w"_a, _))))[1];
  });
  CHECK(t_down == Term(Atom("killed")));
  CHECK(w_received == tuple(kExitAtom, t_pid, Atom("killed")));
}

TEST_CASE("20_exit_reason_nontrapping") {
  Runtime rt({.workers = 2});
  Term t_down;
  rt.run([&](Self self) -> Proc {
    Pid t = self.spawn(idle);
    Ref r = self.monitor(t);
    self.exit(t, "boom"_a);
    t_down = (co_await self.receive(match(tuple(kDownAtom, r, _, _, _))))[4];
  });
  CHECK(t_down == Term("boom"_a));
}

TEST_CASE("23_link_dead_pid_nontrapping") {
  Runtime rt({.workers = 2});
  Pid dead = rt.spawn([](Self) {});
  AwaitDown::wait(rt, dead);
  Term raised;
  std::vector<Pid> links{Pid(0, 1, 1)};
  rt.run([&](Self self) -> Proc {
    try {
      self.link(dead);
    } catch (const ErlangError& e) {
      raised = e.reason();
    }
    links = self.runtime().info(self.pid())->links;
    co_return;
  });
  CHECK(raised == Term(Atom("noproc")));
  CHECK(links.empty());
}

TEST_CASE("25_unlink_prevents_propagation") {
  Runtime rt({.workers = 2});
  Term b_exit;
  bool a_alive = false;
  std::vector<Pid> a_links{Pid(0, 1, 1)};
  rt.run([&](Self self) -> Proc {
    Pid b = self.spawn_link([](Self s) -> Proc {
      co_await s.receive(match("go"_a));
      s.exit("boom"_a);
    });
    self.unlink(b);
    Ref r = self.monitor(b);
    self.send(b, "go"_a);
    b_exit = (co_await self.receive(match(tuple(kDownAtom, r, _, _, _))))[4];
    co_await self.sleep(50ms);
    a_alive = true;
    a_links = self.runtime().info(self.pid())->links;
  });
  CHECK(b_exit == Term("boom"_a));
  CHECK(a_alive);
  CHECK(a_links.empty());
}

TEST_CASE("26_link_chain_three") {
  Runtime rt({.workers = 2});
  Term a_exit, b_exit, c_exit;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    Pid a = self.spawn([me](Self s) -> Proc {
      Pid b = s.spawn_link([me](Self s2) -> Proc {
        Pid c = s2.spawn_link([](Self s3) -> Proc {
          co_await s3.receive(match("crash"_a));
          s3.exit("boom"_a);
        });
        s2.send(me, tuple("c"_a, c));
        co_await s2.receive(match("never"_a));
      });
      s.send(me, tuple("b"_a, b));
      co_await s.receive(match("never"_a));
    });
    Pid b = (co_await self.receive(match(tuple("b"_a, _)))).pid(1);
    Pid c = (co_await self.receive(match(tuple("c"_a, _)))).pid(1);
    Ref ra = self.monitor(a), rb = self.monitor(b), rc = self.monitor(c);
    self.send(c, "crash"_a);
    c_exit = (co_await self.receive(match(tuple(kDownAtom, rc, _, _, _))))[4];
    b_exit = (co_await self.receive(match(tuple(kDownAtom, rb, _, _, _))))[4];
    a_exit = (co_await self.receive(match(tuple(kDownAtom, ra, _, _, _))))[4];
  });
  CHECK(c_exit == Term("boom"_a));
  CHECK(b_exit == Term("boom"_a));
  CHECK(a_exit == Term("boom"_a));
}

TEST_CASE("27_monitor_down_normal") {
  Runtime rt({.workers = 2});
  Term down;
  Ref ref;
  Pid target;
  rt.run([&](Self self) -> Proc {
    target = self.spawn([](Self s) -> Proc { co_await s.sleep(10ms); });
    ref = self.monitor(target);
    down = (co_await self.receive(match(tuple(kDownAtom, _, _, _, _)))).term();
  });
  CHECK(down[0].is(kDownAtom));
  CHECK(down[1].as<Ref>() == ref);
  CHECK(down[2].is(Atom("process")));
  CHECK(down[3].as<Pid>() == target);
  CHECK(down[4].is(atoms::normal()));
}

TEST_CASE("28_monitor_down_abnormal") {
  Runtime rt({.workers = 2});
  Term down;
  bool alive_after = false;
  rt.run([&](Self self) -> Proc {
    Pid t = self.spawn([](Self s) -> Proc {
      co_await s.sleep(10ms);
      s.exit("boom"_a);
    });
    Ref r = self.monitor(t);
    down = (co_await self.receive(match(tuple(kDownAtom, r, "process"_a, t, _)))).term();
    alive_after = true;
  });
  CHECK(down[4].is("boom"_a));
  CHECK(alive_after);
}

TEST_CASE("29_monitor_dead_pid_noproc") {
  Runtime rt({.workers = 2});
  Pid dead = rt.spawn([](Self) {});
  AwaitDown::wait(rt, dead);
  Term down;
  rt.run([&](Self self) -> Proc {
    Ref r = self.monitor(dead);
    down = (co_await self.receive(match(tuple(kDownAtom, r, _, _, _)))).term();
  });
  CHECK(down[2].is(Atom("process")));
  CHECK(down[3].as<Pid>() == dead);
  CHECK(down[4].is(Atom("noproc")));
}

TEST_CASE("30_demonitor_flush") {
  Runtime rt({.workers = 2});
  std::size_t before = 0, after = 99;
  bool got_down = true, demonitor_result = false;
  rt.run([&](Self self) -> Proc {
    Pid t = self.spawn([](Self) {});
    Ref r = self.monitor(t);
    // Wait until the DOWN is queued, without taking it.
    while (self.message_queue_len() == 0) co_await self.sleep(1ms);
    before = self.message_queue_len();
    demonitor_result = self.demonitor(r, true);
    after = self.message_queue_len();
    got_down =
        !(co_await self.receive(match(tuple(kDownAtom, r, _, _, _))).after(50ms)).timed_out();
  });
  CHECK(before == 1);
  CHECK(demonitor_result);
  CHECK(after == 0);
  CHECK_FALSE(got_down);
}

TEST_CASE("32_two_monitors_two_downs") {
  Runtime rt({.workers = 2});
  bool distinct = false, extra = true;
  Term r1, r2;
  rt.run([&](Self self) -> Proc {
    Pid t = self.spawn(idle);
    Ref a = self.monitor(t), b = self.monitor(t);
    distinct = !(a == b);
    self.send(t, "stop"_a);
    r1 = (co_await self.receive(match(tuple(kDownAtom, a, _, _, _))))[4];
    r2 = (co_await self.receive(match(tuple(kDownAtom, b, _, _, _))))[4];
    extra = !(co_await self.receive(match(tuple(kDownAtom, _, _, _, _))).after(50ms)).timed_out();
  });
  CHECK(distinct);
  CHECK(r1.is(atoms::normal()));
  CHECK(r2.is(atoms::normal()));
  CHECK_FALSE(extra);
}

TEST_CASE("34_message_queue_len") {
  Runtime rt({.workers = 2});
  Pid p = rt.spawn([](Self s) -> Proc { co_await s.receive(match("never"_a)); });
  for (int i = 0; i < 3; ++i) rt.send(p, i);
  std::size_t len = 0;
  for (int i = 0; i < 2000 && len != 3; ++i) {
    len = rt.info(p)->message_queue_len;
    if (len != 3) std::this_thread::sleep_for(1ms);
  }
  CHECK(len == 3);
  rt.exit(p, Atom("kill"));
}

TEST_CASE("35_alive_before_after") {
  Runtime rt({.workers = 2});
  Pid p = rt.spawn(idle);
  CHECK(rt.alive(p));
  rt.send(p, "stop"_a);
  AwaitDown::wait(rt, p);
  CHECK_FALSE(rt.alive(p));
}

TEST_CASE("36_info_dead_pid_nil") {
  Runtime rt({.workers = 2});
  Pid p = rt.spawn([](Self) {});
  AwaitDown::wait(rt, p);
  CHECK_FALSE(rt.info(p));
}
