// Supervisor: strategies, restart types, intensity, shutdown order and timeouts, dynamic
// children and nested trees, each against what Elixir's Supervisor docs say
// (https://hexdocs.pm/elixir/Supervisor.html) and OTP's supervisor does.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "ember/core/errors.hpp"
#include "ember/core/supervisor.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

const Atom kDown("DOWN"), kExit("EXIT");

std::string text(const Term& t) {
  return print_term(t);
}

enum class Ear { kListens, kDeaf };

// A child that reports to `observer`: {started, Id, Pid} (sent by the supervisor once it
// has started it, so in start order) and {stopped, Id, Reason} when its supervisor stops it
// (it traps exits). `crash` makes it throw, {exit, R} exit with R. A deaf one ignores
// its supervisor's shutdown and has to be killed.
ChildSpec probe(Pid observer, Term id, Restart restart = Restart::kPermanent,
                Ear ear = Ear::kListens) {
  ChildSpec spec;
  spec.id = id;
  spec.restart = restart;
  spec.start = [observer, id, ear](Self sup) -> Co<StartResult> {
    Pid parent = sup.pid();
    Pid pid = sup.spawn_link([observer, id, ear, parent](Self w) -> Proc {
      w.trap_exit(true);
      w.send(parent, tuple("ready"_a, w.pid()));
      for (;;) {
        auto m = co_await w.receive();
        const Term& t = m.term();
        if (t.is_tuple(3) && t[0].is(kExit) && t[1] == Term(parent)) {
          if (ear == Ear::kDeaf) continue;
          w.send(observer, tuple("stopped"_a, id, t[2]));
          w.exit(t[2]);
        }
        if (t.is("crash"_a)) throw std::runtime_error("crash");
        if (t.is_tuple(2) && t[0].is("exit"_a)) w.exit(t[1]);
      }
    });
    // Synchronous, as proc_lib's start_link: trapping exits before its supervisor goes on.
    co_await sup.receive(match(tuple("ready"_a, pid)));
    sup.send(observer, tuple("started"_a, id, pid));
    co_return StartResult::ok(pid);
  };
  return spec;
}

// The next {started, Id, Pid} or {stopped, Id, Reason} (5 s deadline; `timeout` if none).
Co<Term> next_event(Self self) {
  auto m = co_await self.receive("{started, _, _}"_p, "{stopped, _, _}"_p).after(5s);
  co_return m.timed_out() ? Term("timeout"_a) : m.term();
}

Co<Pid> started(Self self, Term id) {
  auto m = co_await self.receive(match(tuple("started"_a, id, _))).after(5s);
  co_return m.timed_out() ? Pid() : m.pid(2);
}

Co<std::vector<Term>> events(Self self, int n) {
  std::vector<Term> out;
  for (int i = 0; i < n; ++i) out.push_back(co_await next_event(self));
  co_return out;
}

// Names of events as text: "started a", "stopped c shutdown", ...
std::string describe(const std::vector<Term>& evs) {
  std::string s;
  for (const Term& e : evs) {
    if (!s.empty()) s += ", ";
    s += e.is_tuple(3) ? text(e[0]) + " " + text(e[1]) : text(e);
    if (e.is_tuple(3) && e[0].is("stopped"_a)) s += " " + text(e[2]);
  }
  return s;
}

// Polls which_children (5 s deadline) until `ready` holds for the list.
template <class Ready>
Co<std::vector<ChildInfo>> children_when(Self self, Pid sup, Ready ready) {
  std::vector<ChildInfo> now;
  for (int i = 0; i < 1000; ++i) {
    now = co_await supervisor::which_children(self, sup);
    if (ready(now)) break;
    co_await self.sleep(5ms);
  }
  co_return now;
}

Co<Term> down_of(Self self, Ref ref) {
  auto m = co_await self.receive(match(tuple(kDown, ref, _, _, _))).after(10s);
  co_return m.timed_out() ? Term("no_down"_a) : m[4];
}

}  // namespace

// "one_for_one - if a child process terminates, only that process is restarted."
TEST_CASE("Supervisor one_for_one: only the crashed child is restarted") {
  Runtime rt({.workers = 2});
  std::string first, after;
  bool others_kept = false, restarted = false;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "a"_a), probe(me, "b"_a), probe(me, "c"_a)};
    auto sup = co_await supervisor::start_link(self, children);
    REQUIRE(sup.ok());
    first = describe(co_await events(self, 3));
    auto before = co_await supervisor::which_children(self, sup.pid());
    self.send(*before[1].pid, "crash"_a);
    Pid b2 = co_await started(self, "b"_a);
    auto now = co_await supervisor::which_children(self, sup.pid());
    restarted = b2.valid() && b2 != *before[1].pid && now[1].pid == b2;
    others_kept = now[0].pid == before[0].pid && now[2].pid == before[2].pid;
    co_await gen_server::stop(self, sup.pid());
    after = describe(co_await events(self, 3));  // stopped in reverse start order
  });
  CHECK(first == "started a, started b, started c");
  CHECK(restarted);
  CHECK(others_kept);
  CHECK(after == "stopped c shutdown, stopped b shutdown, stopped a shutdown");
}

// "one_for_all - if a child process terminates, all other child processes are terminated
// and then all child processes (including the terminated one) are restarted."
TEST_CASE("Supervisor one_for_all: the others are stopped in reverse order, then all restart") {
  Runtime rt({.workers = 2});
  std::string seen;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "a"_a), probe(me, "b"_a), probe(me, "c"_a)};
    auto sup = co_await supervisor::start_link(self, children, {.strategy = Strategy::kOneForAll});
    co_await events(self, 3);
    auto kids = co_await supervisor::which_children(self, sup.pid());
    self.send(*kids[1].pid, "crash"_a);
    seen = describe(co_await events(self, 5));
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(seen == "stopped c shutdown, stopped a shutdown, started a, started b, started c");
}

// "rest_for_one - if a child process terminates, the terminated child process and the rest
// of the children started after it, are terminated and restarted."
TEST_CASE("Supervisor rest_for_one: the crashed child and those started after it restart") {
  Runtime rt({.workers = 2});
  std::string seen;
  bool a_kept = false;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "a"_a), probe(me, "b"_a), probe(me, "c"_a),
                                    probe(me, "d"_a)};
    auto sup = co_await supervisor::start_link(self, children, {.strategy = Strategy::kRestForOne});
    co_await events(self, 4);
    auto kids = co_await supervisor::which_children(self, sup.pid());
    self.send(*kids[1].pid, tuple("exit"_a, "boom"_a));
    seen = describe(co_await events(self, 5));
    auto now = co_await supervisor::which_children(self, sup.pid());
    a_kept = now[0].pid == kids[0].pid;
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(seen == "stopped d shutdown, stopped c shutdown, started b, started c, started d");
  CHECK(a_kept);
}

// ":max_restarts ... If more than :max_restarts restarts occur within :max_seconds, the
// supervisor terminates all children and then itself. The termination reason for the
// supervisor itself in that case will be :shutdown."
TEST_CASE(
    "Supervisor: too many restarts within the period stop the children, then the supervisor") {
  Runtime rt({.workers = 2});
  Term reason;
  std::string seen;
  int restarts = 0;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "a"_a), probe(me, "b"_a)};
    auto sup = co_await supervisor::start(self, children, {.intensity = 2, .period = 10s});
    Ref mon = self.monitor(sup.pid());
    co_await events(self, 2);
    // Two crashes are within the limit; the third is one too many.
    for (int i = 0; i < 3; ++i) {
      auto kids = co_await supervisor::which_children(self, sup.pid());
      self.send(*kids[1].pid, "crash"_a);
      if (i < 2 && (co_await started(self, "b"_a)).valid()) ++restarts;
    }
    seen = describe(co_await events(self, 1));
    reason = co_await down_of(self, mon);
  });
  CHECK(restarts == 2);
  CHECK(seen == "stopped a shutdown");  // b had crashed; a is stopped
  CHECK(reason == Term("shutdown"_a));
}

// ":permanent - the child process is always restarted. :temporary - the child process is
// never restarted, regardless of the supervision strategy: any termination (even abnormal)
// is considered successful. :transient - the child process is restarted only if it
// terminates abnormally, i.e., with an exit reason other than :normal, :shutdown, or
// {:shutdown, term}."
TEST_CASE("Supervisor: permanent, transient and temporary children") {
  Runtime rt({.workers = 2});
  bool perm_restarted = false, trans_stays_down = false, trans_shutdown_down = false,
       trans_restarted_on_crash = false, temp_gone = false, temp_crash_gone = false;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "p"_a), probe(me, "t"_a, Restart::kTransient),
                                    probe(me, "tmp"_a, Restart::kTemporary),
                                    probe(me, "tmp2"_a, Restart::kTemporary)};
    auto sup = co_await supervisor::start_link(self, children);
    co_await events(self, 4);
    auto kids = co_await supervisor::which_children(self, sup.pid());
    Pid sp = sup.pid();
    auto no_restart = [&](Term id) -> Co<bool> {
      auto m = co_await self.receive(match(tuple("started"_a, id, _))).after(50ms);
      co_return m.timed_out();
    };

    self.send(*kids[0].pid, tuple("exit"_a, "normal"_a));  // permanent: even normal restarts
    perm_restarted = (co_await started(self, "p"_a)).valid();

    self.send(*kids[1].pid, tuple("exit"_a, "normal"_a));
    auto s1 = co_await children_when(self, sp, [](auto& c) { return !c[1].pid; });
    trans_stays_down = s1.size() == 4 && !s1[1].pid && co_await no_restart("t"_a);
    co_await supervisor::restart_child(self, sp, "t"_a);
    Pid t2 = co_await started(self, "t"_a);
    self.send(t2, tuple("exit"_a, tuple("shutdown"_a, "done"_a)));
    auto s2 = co_await children_when(self, sp, [](auto& c) { return !c[1].pid; });
    trans_shutdown_down = !s2[1].pid && co_await no_restart("t"_a);
    co_await supervisor::restart_child(self, sp, "t"_a);
    Pid t3 = co_await started(self, "t"_a);
    self.send(t3, tuple("exit"_a, "boom"_a));
    trans_restarted_on_crash = (co_await started(self, "t"_a)).valid();

    self.send(*kids[2].pid, tuple("exit"_a, "normal"_a));
    auto s3 = co_await children_when(self, sp, [](auto& c) { return c.size() == 3; });
    temp_gone = s3.size() == 3 && co_await no_restart("tmp"_a);
    self.send(*kids[3].pid, "crash"_a);
    auto s4 = co_await children_when(self, sp, [](auto& c) { return c.size() == 2; });
    temp_crash_gone = s4.size() == 2 && co_await no_restart("tmp2"_a);
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(perm_restarted);
  CHECK(trans_stays_down);
  CHECK(trans_shutdown_down);
  CHECK(trans_restarted_on_crash);
  CHECK(temp_gone);
  CHECK(temp_crash_gone);
}

// ":shutdown - ... :brutal_kill - the child process is unconditionally and immediately
// terminated using Process.exit(child, :kill). any integer >= 0 - the amount of time in
// milliseconds that the supervisor will wait for its children to terminate after emitting
// a Process.exit(child, :shutdown) signal. If the child process is not trapping exits, the
// initial :shutdown signal will terminate the child process immediately. If the child
// process is trapping exits, it has the given amount of time to terminate. If it doesn't
// terminate within the specified time, the child process is unconditionally terminated by
// the supervisor via Process.exit(child, :kill)."
TEST_CASE(
    "Supervisor: shutdown in reverse order, and a child ignoring shutdown is killed after its "
    "timeout") {
  Runtime rt({.workers = 2});
  std::string order;
  Term a_reason, deaf_reason, brutal_reason, plain_reason;
  std::chrono::milliseconds deaf_took{0};
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    ChildSpec deaf = probe(me, "deaf"_a, Restart::kPermanent, Ear::kDeaf);
    deaf.shutdown = milliseconds(200);
    ChildSpec brutal = probe(me, "brutal"_a);
    brutal.shutdown = Shutdown::brutal_kill();
    ChildSpec plain = supervisor::worker("plain"_a, [](Self w) -> Proc {
      co_await w.receive(match("never"_a));  // not trapping: shutdown ends it at once
    });
    self.trap_exit(true);  // the test is the supervisor's parent
    std::vector<ChildSpec> children{probe(me, "a"_a), deaf, plain, brutal};
    auto sup = co_await supervisor::start_link(self, children);
    co_await events(self, 3);
    auto kids = co_await supervisor::which_children(self, sup.pid());
    Ref ma = self.monitor(*kids[0].pid), md = self.monitor(*kids[1].pid),
        mp = self.monitor(*kids[2].pid), mb = self.monitor(*kids[3].pid);
    auto t0 = std::chrono::steady_clock::now();
    Ref msup = self.monitor(sup.pid());
    self.exit(sup.pid(), "shutdown"_a);  // as its own supervisor would stop it
    // Reverse order: brutal (killed), plain, deaf (killed after 200 ms), a (stopped).
    brutal_reason = co_await down_of(self, mb);
    plain_reason = co_await down_of(self, mp);
    deaf_reason = co_await down_of(self, md);
    deaf_took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
    a_reason = co_await down_of(self, ma);
    order = describe(co_await events(self, 1));
    co_await down_of(self, msup);
  });
  CHECK(brutal_reason == Term("killed"_a));
  CHECK(plain_reason == Term("shutdown"_a));
  CHECK(deaf_reason == Term("killed"_a));
  CHECK(deaf_took >= 200ms);
  CHECK(a_reason == Term("shutdown"_a));
  CHECK(order == "stopped a shutdown");
}

// "start_child/2 ... If a child specification with the specified ID already exists,
// child_spec is discarded and this function returns an error with :already_started or
// :already_present"; terminate_child keeps the spec (restart_child/delete_child act on it);
// count_children: %{specs, active, supervisors, workers}.
TEST_CASE("Supervisor: dynamic children: start, terminate, restart, delete, which and count") {
  Runtime rt({.workers = 2});
  Term dup_running, dup_present, term_missing, del_running, del_ok, restart_running, restarted,
      after_delete;
  std::size_t n_before = 0, n_after = 0;
  ChildCounts counts, counts_after;
  bool pid_gone = false;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    std::vector<ChildSpec> children{probe(me, "a"_a)};
    auto sup = co_await supervisor::start_link(self, children, {}, {.name = "dyn"_a});
    co_await events(self, 1);
    auto b = co_await supervisor::start_child(self, "dyn"_a, probe(me, "b"_a));
    co_await started(self, "b"_a);
    dup_running = (co_await supervisor::start_child(self, "dyn"_a, probe(me, "b"_a))).term();
    counts = co_await supervisor::count_children(self, "dyn"_a);
    n_before = (co_await supervisor::which_children(self, "dyn"_a)).size();
    restart_running = (co_await supervisor::restart_child(self, "dyn"_a, "b"_a)).term();
    del_running = co_await supervisor::delete_child(self, "dyn"_a, "b"_a);
    co_await supervisor::terminate_child(self, "dyn"_a, "b"_a);
    pid_gone = !self.runtime().alive(b.pid());
    dup_present = (co_await supervisor::start_child(self, "dyn"_a, probe(me, "b"_a))).term();
    counts_after = co_await supervisor::count_children(self, "dyn"_a);
    auto r = co_await supervisor::restart_child(self, "dyn"_a, "b"_a);
    restarted = Term(r.ok() && r.pid() != b.pid());
    co_await supervisor::terminate_child(self, "dyn"_a, "b"_a);
    del_ok = co_await supervisor::delete_child(self, "dyn"_a, "b"_a);
    after_delete = (co_await supervisor::restart_child(self, "dyn"_a, "b"_a)).term();
    n_after = (co_await supervisor::which_children(self, "dyn"_a)).size();
    term_missing = co_await supervisor::terminate_child(self, "dyn"_a, "zzz"_a);
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(text(dup_running).rfind("{error,{already_started,<", 0) == 0);
  CHECK(counts.specs == 2);
  CHECK(counts.active == 2);
  CHECK(counts.workers == 2);
  CHECK(counts.supervisors == 0);
  CHECK(n_before == 2);
  CHECK(text(restart_running) == "{error,running}");
  CHECK(text(del_running) == "{error,running}");
  CHECK(pid_gone);
  CHECK(text(dup_present) == "{error,already_present}");
  CHECK(counts_after.specs == 2);
  CHECK(counts_after.active == 1);
  CHECK(restarted == Term(true));
  CHECK(del_ok == Term("ok"_a));
  CHECK(text(after_delete) == "{error,not_found}");
  CHECK(n_after == 1);
  CHECK(text(term_missing) == "{error,not_found}");
}

// A supervisor child is restarted by its supervisor like any other child; the tree stops
// from the leaves of the last child up.
TEST_CASE(
    "Supervisor: nested trees: a sub-supervisor's restarts stay inside it until it gives up") {
  Runtime rt({.workers = 2});
  std::string inner, gave_up, stopped;
  bool sub_same = false, w3_same = false, sub_new = false;
  Term root_reason;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    ChildSpec sub = supervisor::supervisor_child(
        "sub"_a, {probe(me, "w1"_a), probe(me, "w2"_a)},
        {.strategy = Strategy::kOneForAll, .intensity = 1, .period = 10s});
    self.trap_exit(true);  // the test is the root's parent
    std::vector<ChildSpec> children{sub, probe(me, "w3"_a)};
    auto root = co_await supervisor::start_link(self, children);
    Ref mroot = self.monitor(root.pid());
    co_await events(self, 3);
    auto top = co_await supervisor::which_children(self, root.pid());
    REQUIRE(top.size() == 2);
    CHECK(top[0].type == ChildType::kSupervisor);
    auto kids = co_await supervisor::which_children(self, *top[0].pid);
    self.send(*kids[0].pid, "crash"_a);  // one restart: within the sub's intensity
    inner = describe(co_await events(self, 3));
    auto top2 = co_await supervisor::which_children(self, root.pid());
    sub_same = top2[0].pid == top[0].pid;
    w3_same = top2[1].pid == top[1].pid;
    kids = co_await supervisor::which_children(self, *top[0].pid);
    self.send(*kids[1].pid, "crash"_a);  // a second: the sub gives up, the root restarts it
    gave_up = describe(co_await events(self, 3));
    auto top3 = co_await supervisor::which_children(self, root.pid());
    sub_new = top3[0].pid && top3[0].pid != top[0].pid && top3[1].pid == top[1].pid;
    self.exit(root.pid(), "shutdown"_a);
    stopped = describe(co_await events(self, 3));
    root_reason = co_await down_of(self, mroot);
  });
  CHECK(inner == "stopped w2 shutdown, started w1, started w2");
  CHECK(sub_same);
  CHECK(w3_same);
  CHECK(gave_up == "stopped w1 shutdown, started w1, started w2");
  CHECK(sub_new);
  CHECK(stopped == "stopped w3 shutdown, stopped w2 shutdown, stopped w1 shutdown");
  CHECK(root_reason == Term("shutdown"_a));
}

// OTP: if a child fails to start, the supervisor stops the ones started and start_link
// returns {error, {shutdown, {failed_to_start_child, Id, Reason}}}.
TEST_CASE("Supervisor: a child that fails to start stops the supervisor's start") {
  Runtime rt({.workers = 2});
  Term result;
  std::string seen;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    ChildSpec bad{.id = "bad"_a,
                  .start = [](Self) -> Co<StartResult> { return StartResult::error("no_db"_a); }};
    self.trap_exit(true);
    std::vector<ChildSpec> children{probe(me, "a"_a), bad, probe(me, "c"_a)};
    result = (co_await supervisor::start_link(self, children)).term();
    seen = describe(co_await events(self, 2));
  });
  CHECK(text(result) == "{error,{shutdown,{failed_to_start_child,bad,no_db}}}");
  CHECK(seen == "started a, stopped a shutdown");
}

// OTP: a restart that fails is tried again (each try counting towards the intensity) and
// the child is shown as restarting meanwhile.
TEST_CASE("Supervisor: a failed restart is retried") {
  Runtime rt({.workers = 2});
  auto starts = std::make_shared<std::atomic<int>>(0);
  bool back = false;
  rt.run([&](Self self) -> Proc {
    ChildSpec flaky;
    flaky.id = "flaky"_a;
    flaky.start = [starts](Self sup) -> Co<StartResult> {
      int n = ++*starts;
      if (n == 2) return StartResult::error("not_yet"_a);  // the first restart fails
      return StartResult::ok(sup.spawn_link([](Self w) -> Proc {
        co_await w.receive(match("crash"_a));
        throw std::runtime_error("crash");
      }));
    };
    std::vector<ChildSpec> children{flaky};
    auto sup = co_await supervisor::start(self, children, {.intensity = 5});
    auto kids = co_await supervisor::which_children(self, sup.pid());
    self.send(*kids[0].pid, "crash"_a);
    for (int i = 0; i < 500 && !back; ++i) {
      auto now = co_await supervisor::which_children(self, sup.pid());
      back = now[0].pid && now[0].pid != kids[0].pid;
      if (!back) co_await self.sleep(10ms);
    }
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(back);
  CHECK(starts->load() == 3);
}

TEST_CASE("Supervisor: GenServer children, and a name for the supervisor") {
  Runtime rt({.workers = 2});
  Term before, after;
  bool renamed = false;
  rt.run([&](Self self) -> Proc {
    class Counter : public GenServer {
      std::int64_t n_ = 0;
      Co<Result> handle_call(Self, Term request, From) override {
        if (request.is("crash"_a)) throw std::runtime_error("counter crash");
        return reply(++n_);
      }
    };
    ChildSpec counter{.id = "counter"_a,
                      .start = supervisor::gen_server_child(
                          [] { return std::make_unique<Counter>(); }, {.name = "counter"_a})};
    std::vector<ChildSpec> children{counter};
    auto sup = co_await supervisor::start(self, children, {}, {.name = "sup"_a});
    co_await gen_server::call(self, "counter"_a, "inc"_a);
    before = co_await gen_server::call(self, "counter"_a, "inc"_a);
    Pid old = *self.whereis("counter"_a);
    co_await gen_server::try_call(self, "counter"_a, "crash"_a);
    // The restarted server registers the name again, with a fresh state.
    for (int i = 0; i < 500 && !renamed; ++i) {
      auto p = self.whereis("counter"_a);
      renamed = p && *p != old;
      if (!renamed) co_await self.sleep(10ms);
    }
    after = co_await gen_server::call(self, "counter"_a, "inc"_a);
    co_await gen_server::stop(self, "sup"_a);
  });
  CHECK(before == Term(2));
  CHECK(renamed);
  CHECK(after == Term(1));
}
