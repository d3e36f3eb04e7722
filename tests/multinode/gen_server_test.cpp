// GenServer calls to a server in a real ember-node OS process (its `where_server`
// function): calls and casts across processes, and a call that waits while the server's
// node is killed -9 or frozen with SIGSTOP fails with {nodedown, Node} — at once for a
// kill, within the tick bound for a freeze — instead of running into its 30 s timeout.
#include "ember/core/gen_server.hpp"
#include "support.hpp"

using namespace multinode;

namespace {

// Starts a where_server registered as `where` on `node`; its pid, or the null pid.
Co<Pid> start_where(Self self, Atom node) {
  co_await spawn_remote(self, node, "where_server", tuple("where"_a, self.pid()));
  auto m = co_await self.receive("{where_started, _}"_p, "{where_failed, _}"_p).after(10s);
  co_return !m.timed_out() && m.clause() == 0 ? m.pid(1) : Pid();
}

struct LostCall {
  Term reason;     // try_call's error, or nil if none came back in 20 s
  double ms = -1;  // from the loss to the error
  Term after;      // a call to another node afterwards: the caller's node goes on
};

// Two nodes; a call from the test's node to `where` on b waits in the server; then
// `lose(b)` runs; returns what the call gave back and when.
template <class Lose>
LostCall call_across_loss(ClusterTest& t, Lose lose) {
  auto& a = t.cluster.start("a");
  auto& b = t.cluster.start("b");
  REQUIRE(t.cluster.wait_for_mesh());
  LostCall out;
  t.cluster.run([&](Self self) -> Proc {
    Pid server = co_await start_where(self, b.name());
    if (!server.valid()) co_return;
    Pid me = self.pid();
    Clock::time_point lost;
    self.spawn([me, server](Self c) -> Proc {
      CallResult r = co_await gen_server::try_call(c, server, tuple("hang"_a, me), 30s);
      c.send(me, tuple("call_ended"_a, r.ok() ? Term("ok"_a) : r.reason()));
    });
    auto hanging = co_await self.receive(match("hanging"_a)).after(10s);
    if (hanging.timed_out()) co_return;
    lost = Clock::now();
    co_await blocking(self, [&] { lose(b); });
    auto ended = co_await self.receive("{call_ended, _}"_p).after(20s);
    if (ended.timed_out()) co_return;
    out.ms = ms_since(lost);
    out.reason = ended[1];
    Pid other = co_await start_where(self, a.name());
    if (other.valid()) out.after = co_await gen_server::call(self, other, "still_here"_a, 10s);
  });
  return out;
}

}  // namespace

TEST_CASE("gen_server: call and cast a server in another OS process, by pid and by name") {
  ClusterTest t;
  auto& b = t.cluster.start("b");
  REQUIRE(t.cluster.wait_for_mesh());
  Term by_pid, by_name, dead, unnamed;
  t.cluster.run([&](Self self) -> Proc {
    Pid server = co_await start_where(self, b.name());
    if (!server.valid()) co_return;
    by_pid = co_await gen_server::call(self, server, "hello"_a, 10s);
    by_name = co_await gen_server::call(self, RemoteName{"where"_a, b.name()}, 42, 10s);
    // A name nothing holds there, and a server that has stopped: noproc, from the DOWN of
    // the monitor of {Name, Node} and of the pid.
    CallResult n = co_await gen_server::try_call(self, RemoteName{"nobody"_a, b.name()}, 1, 30s);
    unnamed = n.ok() ? Term("ok"_a) : n.reason();
    co_await gen_server::stop(self, server);
    CallResult r = co_await gen_server::try_call(self, server, 1, 10s);
    dead = r.ok() ? Term("ok"_a) : r.reason();
  });
  CHECK(by_pid == tuple("hello"_a, b.name()));
  CHECK(by_name == tuple(42, b.name()));
  CHECK(dead == "noproc"_a);
  CHECK(unnamed == "noproc"_a);
  t.teardown();
}

TEST_CASE("gen_server: a call waiting on a node killed -9 fails at once with nodedown") {
  ClusterTest t;
  Atom b_name;
  LostCall r = call_across_loss(t, [&](NodeProcess& b) {
    b_name = b.name();
    b.kill();
  });
  INFO("reason " << print_term(r.reason) << " after " << r.ms << " ms");
  CHECK(r.reason == tuple("nodedown"_a, b_name));
  CHECK(r.ms >= 0);
  CHECK(r.ms < 3000);  // a closed connection is seen at once; generous for a loaded machine
  CHECK(r.after.is_tuple(2));
  t.teardown();
}

TEST_CASE("gen_server: a call waiting on a node frozen by SIGSTOP fails within the tick bound") {
  ClusterTest t;  // default ticktime: silent for 2 s means down
  Atom b_name;
  NodeProcess* frozen = nullptr;
  LostCall r = call_across_loss(t, [&](NodeProcess& b) {
    b_name = b.name();
    frozen = &b;
    b.stop();
  });
  if (frozen) frozen->cont();
  INFO("reason " << print_term(r.reason) << " after " << r.ms << " ms");
  CHECK(r.reason == tuple("nodedown"_a, b_name));
  CHECK(r.ms > 500);   // silence, not a closed connection
  CHECK(r.ms < 6000);  // the 2 s bound, with room for a loaded machine; not the 30 s timeout
  CHECK(r.after.is_tuple(2));
  t.teardown();
}
