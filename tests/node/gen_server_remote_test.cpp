// GenServer, Agent and Supervisor calls across two Node objects in one test binary, on
// loopback: by pid, by {Name, Node} and by {global, Name}; a server whose node halts
// fails the call at once with {nodedown, Node} (gen.erl's mapping of DOWN noconnection).
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

#include "ember/core/agent.hpp"
#include "ember/core/blocking.hpp"
#include "ember/core/errors.hpp"
#include "ember/core/supervisor.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/global.hpp"
#include "ember/node/global_server.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

NodeConfig config(const char* name) {
  return ember::testing::loopback_node(name, "gencookie");
}

// Answers X with {X, NodeName}; `hang` and {hang, Notify} (which tells Notify `hanging`)
// are never answered.
class Where : public GenServer {
 public:
  Co<Result> handle_call(Self self, Term request, From) override {
    if (request.is("hang"_a)) return noreply();
    if (request.is_tuple(2) && request[0].is("hang"_a)) {
      self.send(request[1].pid(), "hanging"_a);
      return noreply();
    }
    return reply(tuple(request, Node::of(self)->name()));
  }
  Co<Result> handle_cast(Self self, Term message) override {
    if (message.is_tuple(2)) self.send(message[1].pid(), tuple("cast_seen"_a, message[0]));
    return noreply();
  }
};

// Starts a Where on `node` (not linked, so it outlives the starter) and returns its pid.
Pid start_where(Node& node, std::optional<Atom> name = std::nullopt) {
  Pid pid;
  node.runtime().run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Where>(), {.name = name});
    pid = s.pid();
  });
  return pid;
}

std::string text(const Term& t) {
  return print_term(t);
}

}  // namespace

TEST_CASE("GenServer remote: call and cast by pid and by {Name, Node}") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Pid server = start_where(peer, "where"_a);
  Term by_pid, by_name, cast_seen;
  bool remote = false;
  origin.runtime().run([&](Self self) -> Proc {
    remote = server.node() != self.pid().node();
    by_pid = co_await gen_server::call(self, server, "a"_a);
    by_name = co_await gen_server::call(self, RemoteName{"where"_a, peer.name()}, "b"_a);
    gen_server::cast(self, RemoteName{"where"_a, peer.name()}, tuple("c"_a, self.pid()));
    cast_seen = (co_await self.receive("{cast_seen, _}"_p).after(5s)).term();
    co_await gen_server::stop(self, RemoteName{"where"_a, peer.name()});
  });
  CHECK(remote);
  CHECK(by_pid == tuple("a"_a, peer.name()));
  CHECK(by_name == tuple("b"_a, peer.name()));
  CHECK(text(cast_seen) == "{cast_seen,c}");
  CHECK_FALSE(peer.runtime().alive(server));
}

TEST_CASE("GenServer remote: a dead remote server is noproc and a timeout is a timeout") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Pid server = start_where(peer), other = start_where(peer);
  Term noproc, timeout;
  origin.runtime().run([&](Self self) -> Proc {
    co_await gen_server::stop(self, server);
    CallResult r = co_await gen_server::try_call(self, server, "a"_a);
    noproc = r.term();
    CallResult t = co_await gen_server::try_call(self, other, "hang"_a, 100ms);
    timeout = t.term();
  });
  CHECK(text(noproc) == "{error,noproc}");
  CHECK(text(timeout) == "{error,timeout}");
}

TEST_CASE("GenServer remote: a call to {Name, Node} that nothing holds is noproc at once") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Term reason, stop_reason;
  std::chrono::milliseconds took{0};
  origin.runtime().run([&](Self self) -> Proc {
    auto t0 = Clock::now();
    CallResult r =
        co_await gen_server::try_call(self, RemoteName{"nobody_here"_a, peer.name()}, "a"_a, 30s);
    took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    reason = r.reason();
    try {
      co_await gen_server::stop(self, RemoteName{"nobody_here"_a, peer.name()}, "normal"_a, 30s);
    } catch (const ErlangError& e) {
      stop_reason = e.reason();
    }
  });
  CHECK(reason == "noproc"_a);       // gen:do_call's monitor of {Name, Node}: DOWN noproc
  CHECK(took < 10000ms);             // not the call's 30 s timeout
  CHECK(stop_reason == "noproc"_a);  // proc_lib:stop's monitor, likewise
}

TEST_CASE(
    "GenServer remote: a call to a server on a node that halts fails at once with {nodedown, "
    "Node}") {
  Node origin(config("gsorigin"));
  std::optional<Node> peer(std::in_place, config("gspeer"));
  Atom peer_name = peer->name();
  Pid server = start_where(*peer, "where"_a);
  Term by_pid, by_name;
  std::chrono::milliseconds took_pid{0}, took_name{0};
  origin.runtime().run([&](Self self) -> Proc {
    Pid me = self.pid();
    // Two callers wait on calls with a 30 s timeout; then the peer halts.
    self.spawn([me, server](Self c) -> Proc {
      auto t0 = Clock::now();
      CallResult r = co_await gen_server::try_call(c, server, tuple("hang"_a, me), 30s);
      c.send(
          me,
          tuple("by_pid"_a, r.term(),
                std::int64_t(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count())));
    });
    self.spawn([me, peer_name](Self c) -> Proc {
      auto t0 = Clock::now();
      CallResult r = co_await gen_server::try_call(c, RemoteName{"where"_a, peer_name},
                                                   tuple("hang"_a, me), 30s);
      c.send(
          me,
          tuple("by_name"_a, r.term(),
                std::int64_t(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count())));
    });
    co_await self.receive(match("hanging"_a)).after(10s);  // both calls are in the server
    co_await self.receive(match("hanging"_a)).after(10s);
    co_await blocking(self, [&] { peer.reset(); });  // halt the peer
    auto a = co_await self.receive("{by_pid, _, _}"_p).after(10s);
    auto b = co_await self.receive("{by_name, _, _}"_p).after(10s);
    if (!a.timed_out()) by_pid = a[1], took_pid = milliseconds(a[2].integer());
    if (!b.timed_out()) by_name = b[1], took_name = milliseconds(b[2].integer());
  });
  CHECK(by_pid == tuple("error"_a, tuple("nodedown"_a, peer_name)));
  CHECK(by_name == tuple("error"_a, tuple("nodedown"_a, peer_name)));
  // Well inside the tick bound (silence_timeout 2 s): a halted node closes its connections.
  CHECK(took_pid < 3000ms);
  CHECK(took_name < 3000ms);
}

TEST_CASE("GenServer remote: a cut connection (block) fails the call with {nodedown, Node}") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Pid server = start_where(peer);
  Term reason;
  std::chrono::milliseconds took{0};
  origin.runtime().run([&](Self self) -> Proc {
    co_await gen_server::call(self, server, "warm"_a);  // connected
    Pid cutter = self.spawn([&origin, &peer](Self c) -> Proc {
      co_await c.receive(match("hanging"_a)).after(10s);  // the call is in the server
      origin.block(peer.name());
    });
    auto t0 = Clock::now();
    CallResult r = co_await gen_server::try_call(self, server, tuple("hang"_a, cutter), 30s);
    took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    reason = r.reason();
  });
  CHECK(reason == tuple("nodedown"_a, peer.name()));
  CHECK(took < 3000ms);
}

TEST_CASE("GenServer remote: {global, Name}: start, call and cast from another node") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  REQUIRE(origin.connect(peer.name()));
  Term got, missing, taken;
  peer.runtime().run([&](Self self) -> Proc {
    auto s = co_await gen_server::start_global(self, "gwhere"_a, std::make_unique<Where>());
    REQUIRE(s.ok());
  });
  Term why = origin.runtime().run([&](Self self) -> Proc {
    got = co_await gen_server::call_global(self, "gwhere"_a, "x"_a);
    CallResult m = co_await gen_server::try_call_global(self, "nobody"_a, "x"_a);
    missing = m.term();
    taken = (co_await gen_server::start_global(self, "gwhere"_a, std::make_unique<Where>())).term();
    gen_server::cast_global(self, "gwhere"_a, tuple("y"_a, self.pid()));
    co_await self.receive("{cast_seen, y}"_p).after(5s);
  });
  INFO(text(why));
  CHECK(got == tuple("x"_a, peer.name()));
  CHECK(text(missing) == "{error,noproc}");
  CHECK(text(taken).rfind("{error,{already_started,<", 0) == 0);
}

TEST_CASE("Agent remote: named functions run in an agent on another node") {
  agent::register_function("remote_test_add"_a, [](const Term& s, const Term& a) {
    return Term(s.integer() + a.integer());
  });
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Pid a;
  peer.runtime().run([&](Self self) -> Proc {
    a = (co_await agent::start(self, [] { return Term(1); }, {.name = "acc"_a})).pid();
  });
  Term got;
  bool closure_refused = false;
  origin.runtime().run([&](Self self) -> Proc {
    co_await agent::update(self, RemoteName{"acc"_a, peer.name()},
                           agent::Named("remote_test_add"_a, Term(41)));
    got = co_await agent::get(self, a, agent::Named("remote_test_add"_a, Term(0)));
    try {
      co_await agent::get(self, a, [](const Term& s) { return s; });
    } catch (const ErlangError& e) {
      closure_refused = e.reason().is("badarg"_a);
    }
    co_await agent::stop(self, a);
  });
  CHECK(got == Term(42));
  CHECK(closure_refused);
}

TEST_CASE("Supervisor remote: which_children and terminate_child of a supervisor on another node") {
  Node origin(config("gsorigin")), peer(config("gspeer"));
  Pid sup;
  peer.runtime().run([&](Self self) -> Proc {
    std::vector<ChildSpec> children{
        supervisor::worker("w"_a, [](Self w) -> Proc { co_await w.receive(match("never"_a)); })};
    sup = (co_await supervisor::start(self, children)).pid();
  });
  std::size_t n = 0;
  Term terminated;
  bool remote_child = false, start_child_refused = false;
  origin.runtime().run([&](Self self) -> Proc {
    auto kids = co_await supervisor::which_children(self, sup);
    n = kids.size();
    remote_child = kids.size() == 1 && kids[0].pid && kids[0].pid->node() == sup.node();
    terminated = co_await supervisor::terminate_child(self, sup, "w"_a);
    try {
      co_await supervisor::start_child(self, sup, supervisor::worker("v"_a, [](Self) {}));
    } catch (const ErlangError& e) {
      start_child_refused = e.reason().is("badarg"_a);
    }
    co_await gen_server::stop(self, sup);
  });
  CHECK(n == 1);
  CHECK(remote_child);
  CHECK(terminated == Term("ok"_a));
  CHECK(start_child_refused);
}
