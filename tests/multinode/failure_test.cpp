// Losing a node in the middle of traffic: kill -9 (the connection closes at once) and
// SIGSTOP (it goes silent; ticks find out). Links and monitors on the survivors fire
// noconnection, the survivors keep talking, and the lost node comes back.
#include "support.hpp"

using namespace multinode;

namespace {

// Streams {echo, Seq, Self} to `node`'s echo service, 100 in flight, watching the node;
// tells `owner` {client_stream, flowing} after the first 100 replies and
// {client_stream, nodedown, Acknowledged} when the node is lost.
Proc client_streamer(Self self, Atom node, Pid owner) {
  Node::of(self)->monitor_node(self, node);
  std::int64_t acked = 0;
  for (;;) {
    for (std::int64_t i = 0; i < 100; ++i)
      co_await self.send(RemoteName{"echo"_a, node}, tuple("echo"_a, acked + i, self.pid()));
    for (std::int64_t want = acked + 100; acked < want;) {
      auto m = co_await self.receive(match(tuple("ok"_a, acked)), match(tuple("nodedown"_a, node)))
                   .after(30s);
      if (m.timed_out() || m.clause() == 1) {
        self.send(owner,
                  tuple("client_stream"_a, m.timed_out() ? "timeout"_a : "nodedown"_a, acked));
        co_return;
      }
      if (++acked == 100) self.send(owner, tuple("client_stream"_a, "flowing"_a));
    }
  }
}

// What the survivors report when the victim's node is lost, and when.
struct Event {
  std::string what;
  Term term;
  double ms;  // after the kill or stop
};

std::string describe(const std::vector<Event>& events) {
  std::string s;
  for (const auto& e : events)
    s += e.what + " " + print_term(e.term) + " after " + std::to_string(int(e.ms)) + " ms\n";
  return s;
}

// Everything that hears of the victim node's loss: the test process (linked to and
// monitoring a process there), watchers on a and c (each linked and monitoring), a stream
// from a, and a stream from this node.
struct Observers {
  Pid victim;
  Ref monitor;
  bool ready = false;
};

Co<Observers> watch_victim(Self self, ThreeNodes& t) {
  Observers o;
  auto s =
      co_await spawn_remote(self, t.b.name(), "sleeper", Term(), {.link = true, .monitor = true});
  o.victim = s.pid;
  o.monitor = s.ref;
  int watching = 0;
  for (NodeProcess* w : {&t.a, &t.c}) {
    Term args = tuple(o.victim, self.pid());
    co_await spawn_remote(self, w->name(), "watch", args);
    auto m = co_await self.receive(match(tuple("watching"_a, _, o.victim))).after(10s);
    watching += !m.timed_out();
  }
  Term stream_args = tuple(t.b.name(), self.pid());
  co_await spawn_remote(self, t.a.name(), "streamer", stream_args);
  auto a_stream = co_await self.receive("{streaming, _}"_p).after(10s);
  Atom b = t.b.name();
  Pid me = self.pid();
  self.spawn([b, me](Self l) { return client_streamer(l, b, me); });
  auto our_stream = co_await self.receive(match(tuple("client_stream"_a, "flowing"_a))).after(10s);
  o.ready = watching == 2 && !a_stream.timed_out() && !our_stream.timed_out();
  co_return o;
}

// Collects the eight reports of the loss (or what came before `deadline`).
Co<std::vector<Event>> collect_loss(Self self, const Observers& o, Clock::time_point since,
                                    Clock::time_point deadline) {
  std::vector<Event> events;
  while (events.size() < 8) {
    auto m = co_await self
                 .receive(match(tuple(kExit, o.victim, _)), match(tuple(kDown, o.monitor, _, _, _)),
                          "{watch, _, _, _}"_p, "{streamer, _, _, _}"_p, "{client_stream, _, _}"_p)
                 .after(left_until(deadline));
    if (m.timed_out()) break;
    static const char* names[] = {"link EXIT here", "monitor DOWN here", "watcher", "stream from a",
                                  "stream from here"};
    events.push_back({names[m.clause()], m.term(), ms_since(since)});
  }
  co_return events;
}

// The reason each report carries.
Term reason_of(const Event& e) {
  const Term& t = e.term;
  if (t[0].is(kExit)) return t[2];
  if (t[0].is(kDown)) return t[4];
  if (t[0].is("watch"_a)) return t[3];
  return t[1];  // streams: nodedown
}

void check_loss(const std::vector<Event>& events, double bound_ms) {
  INFO(describe(events));
  CHECK(events.size() == 8);
  for (const Event& e : events) {
    INFO(e.what << " " << print_term(e.term));
    Term reason = reason_of(e);
    CHECK((reason == Term(kNoconnection) || reason == Term("nodedown"_a)));
    CHECK(e.ms < bound_ms);
  }
}

// One round trip from node `from` through `to`'s echo service.
Co<Term> hop(Self self, Atom from, Atom to) {
  Ref tag = self.make_ref();
  Term args = tuple(to, tag, self.pid());
  try {
    co_await spawn_remote(self, from, "echo_via", args);
  } catch (const ErlangError& e) {
    co_return e.reason();
  }
  auto m = co_await self.receive(match(tuple("echo_via"_a, to, _))).after(15s);
  co_return m.timed_out() ? Term("no_answer"_a) : m[2];
}

// One send to `node`'s echo service from here, and its reply.
Co<Term> echo(Self self, Atom node, Term payload, milliseconds timeout) {
  self.send(RemoteName{"echo"_a, node}, tuple("echo"_a, payload, self.pid()));
  auto m = co_await self.receive(match(tuple("ok"_a, payload))).after(timeout);
  co_return m.timed_out() ? Term("timeout"_a) : m.term();
}

bool ok_reply(const Term& t) {
  return t.is_tuple(2) && t[0].is("ok"_a);
}

}  // namespace

TEST_CASE(
    "kill -9 of a node during a stream: noconnection at once, survivors go on, it comes back") {
  ThreeNodes t;
  pid_t a_pid = t.a.os_pid(), c_pid = t.c.os_pid();
  bool ready = false;
  std::vector<Event> events;
  Term a_to_c, c_to_a, a_pong, fresh, a_to_b, old_pid;
  t.cluster.run([&](Self self) -> Proc {
    self.trap_exit(true);
    Observers o = co_await watch_victim(self, t);
    ready = o.ready;
    if (!ready) co_return;

    auto killed = Clock::now();
    co_await blocking(self, [&] { t.b.kill(); });
    events = co_await collect_loss(self, o, killed, killed + 15s);

    a_to_c = co_await hop(self, t.a.name(), t.c.name());
    c_to_a = co_await hop(self, t.c.name(), t.a.name());
    a_pong = co_await testing::admin_call(self, t.a.name(), "ping"_a);

    co_await blocking(self, [&] { t.b.restart(); });
    fresh = co_await echo(self, t.b.name(), "after restart", 10s);
    a_to_b = co_await hop(self, t.a.name(), t.b.name());
    // A pid of the killed incarnation names nobody in the new one.
    Ref late = self.monitor(o.victim);
    auto d = co_await self.receive(match(tuple(kDown, late, _, _, _))).after(10s);
    old_pid = d.timed_out() ? Term("no_down"_a) : d[4];
  });
  REQUIRE(ready);
  check_loss(events, 2000);
  CHECK(ok_reply(a_to_c));
  CHECK(ok_reply(c_to_a));
  CHECK(a_pong == Term("pong"_a));
  CHECK(fresh == tuple("ok"_a, "after restart"));
  CHECK(ok_reply(a_to_b));
  CHECK((old_pid == Term(kNoconnection) || old_pid == Term("noproc"_a)));
  // Nobody else was restarted.
  CHECK(t.a.os_pid() == a_pid);
  CHECK(t.c.os_pid() == c_pid);
  CHECK(t.b.incarnation() == 2);
  CHECK(t.cluster.wait_for_mesh());
  t.teardown();
}

TEST_CASE("SIGSTOP of a node: noconnection within the tick bound, survivors go on, it rejoins") {
  ThreeNodes t;  // default ticktime: silent for 2 s means down
  bool ready = false, rejoined = false, a_rejoined = false;
  std::vector<Event> events;
  Term a_to_c, c_to_a, fresh, a_to_b;
  t.cluster.run([&](Self self) -> Proc {
    self.trap_exit(true);
    Observers o = co_await watch_victim(self, t);
    ready = o.ready;
    if (!ready) co_return;

    auto stopped = Clock::now();
    co_await blocking(self, [&] { t.b.stop(); });
    events = co_await collect_loss(self, o, stopped, stopped + 20s);

    a_to_c = co_await hop(self, t.a.name(), t.c.name());
    c_to_a = co_await hop(self, t.c.name(), t.a.name());

    co_await blocking(self, [&] {
      t.b.cont();
      // Connecting again succeeds once b has caught up with what happened while it slept.
      rejoined = eventually([&] { return t.cluster.client().connect(t.b.name(), 2s); }, 20s);
      a_rejoined = eventually(
          [&] {
            return t.cluster.admin(t.a.name(), "connect"_a, {Term(t.b.name())}) == Term(true);
          },
          20s);
    });
    fresh = co_await echo(self, t.b.name(), "after SIGCONT", 10s);
    a_to_b = co_await hop(self, t.a.name(), t.b.name());
  });
  REQUIRE(ready);
  check_loss(events, 6000);
  CHECK(ok_reply(a_to_c));
  CHECK(ok_reply(c_to_a));
  CHECK(rejoined);
  CHECK(a_rejoined);
  CHECK(fresh == tuple("ok"_a, "after SIGCONT"));
  CHECK(ok_reply(a_to_b));
  CHECK(t.b.incarnation() == 1);  // the same process, thawed
  CHECK(t.cluster.wait_for_mesh());
  t.teardown();
}

TEST_CASE("a shorter ticktime makes a stopped node down sooner") {
  ember::testing::ClusterOptions o;
  o.ticktime = 1.0;  // every node and the client: down after 1 s of silence
  ThreeNodes t(o);
  bool ready = false;
  std::vector<Event> events;
  t.cluster.run([&](Self self) -> Proc {
    self.trap_exit(true);
    Observers obs = co_await watch_victim(self, t);
    ready = obs.ready;
    if (!ready) co_return;
    auto stopped = Clock::now();
    co_await blocking(self, [&] { t.b.stop(); });
    events = co_await collect_loss(self, obs, stopped, stopped + 20s);
    co_await blocking(self, [&] { t.b.cont(); });
  });
  REQUIRE(ready);
  check_loss(events, 3000);
  for (const Event& e : events) CHECK(e.ms > 500);  // silence, not a closed connection
  t.teardown();
}
