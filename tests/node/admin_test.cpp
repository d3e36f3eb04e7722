// The admin service (ember_admin) answers another node's requests.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>

#include "ember/node/admin.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig config(const char* name) {
  return ember::testing::loopback_node(name, "admincookie");
}

// Asks `node`'s admin service and returns the result (or the atom timeout).
template <class... Args>
Co<Term> ask(Self self, Atom node, Atom command, Args... args) {
  Ref ref = self.make_ref();
  self.send(RemoteName{admin_name(), node}, tuple(command, self.pid(), ref, args...));
  auto m = co_await self.receive(match(tuple(ref, _))).after(5s);
  co_return m.timed_out() ? Term("timeout"_a) : m[1];
}

}  // namespace

TEST_CASE("ember_admin answers ping, ps, info, registry, nodes and kill from another node") {
  Node origin(config("origin")), peer(config("peer"));
  Pid victim =
      peer.runtime().spawn([](Self self) -> Proc { co_await self.receive(match("never"_a)); });
  peer.runtime().register_name("victim"_a, victim);
  Term pong, ps, info, registry, nodes, killed, unknown;
  origin.runtime().run([&](Self self) -> Proc {
    pong = co_await ask(self, peer.name(), "ping"_a);
    ps = co_await ask(self, peer.name(), "ps"_a);
    info = co_await ask(self, peer.name(), "info"_a, victim);
    registry = co_await ask(self, peer.name(), "registry"_a);
    nodes = co_await ask(self, peer.name(), "nodes"_a);
    Ref down = self.monitor(victim);
    killed = co_await ask(self, peer.name(), "kill"_a, victim, "bye"_a);
    auto d = co_await self.receive(match(tuple("DOWN"_a, down, _, _, _))).after(5s);
    killed = tuple(killed, d.timed_out() ? Term() : d[4]);
    unknown = co_await ask(self, peer.name(), "frobnicate"_a);
  });
  CHECK(pong == Term("pong"_a));
  REQUIRE(ps.is_list());
  bool saw_victim = false;
  for (std::size_t i = 0; i < ps.size(); ++i)
    saw_victim |= ps[i].get("name"_a) == std::optional<Term>(Term("victim"_a));
  CHECK(saw_victim);
  REQUIRE(info.is_map());
  CHECK(info.get("status"_a) == std::optional<Term>(Term("waiting"_a)));
  CHECK(registry.is_list());
  CHECK(nodes == list(origin.name()));
  CHECK(killed == tuple(true, "bye"_a));
  CHECK(unknown[0] == Term("error"_a));
}

TEST_CASE("ember_admin registers, finds, sends to and unregisters global names, and blocks") {
  Node origin(config("gorigin")), peer(config("gpeer")), third(config("gthird"));
  REQUIRE(origin.connect(peer.name()));
  REQUIRE(peer.connect(third.name()));
  Pid holder = peer.runtime().spawn([](Self self) -> Proc {
    auto m = co_await self.receive(match(tuple("hello"_a, _)));
    self.send(m.pid(1), tuple("got"_a, m.term()));
    co_await self.receive(match("never"_a));
  });
  Pid other =
      peer.runtime().spawn([](Self self) -> Proc { co_await self.receive(match("never"_a)); });
  Term yes, taken, where, nowhere, names, sent, got, unknown, digest, unreg, unreg_again, gone;
  Term blocked, unblocked, malformed;
  std::vector<Atom> nodes_while_blocked;
  origin.runtime().run([&](Self self) -> Proc {
    Atom p = peer.name();
    yes = co_await ask(self, p, "register_global"_a, "db"_a, holder);
    taken = co_await ask(self, p, "register_global"_a, "db"_a, other);
    where = co_await ask(self, p, "whereis_global"_a, "db"_a);
    nowhere = co_await ask(self, p, "whereis_global"_a, "nosuch"_a);
    names = co_await ask(self, p, "global_names"_a);
    sent = co_await ask(self, p, "send_global"_a, "db"_a, tuple("hello"_a, self.pid()));
    auto g = co_await self.receive(match(tuple("got"_a, _))).after(5s);
    got = g.timed_out() ? Term("timeout"_a) : g[1];
    unknown = co_await ask(self, p, "send_global"_a, "nosuch"_a, "hi"_a);
    digest = co_await ask(self, p, "global_digest"_a);
    unreg = co_await ask(self, p, "unregister_global"_a, "db"_a);
    unreg_again = co_await ask(self, p, "unregister_global"_a, "db"_a);
    gone = co_await ask(self, p, "whereis_global"_a, "db"_a);
    malformed = co_await ask(self, p, "register_global"_a, "db"_a, "not_a_pid"_a);
    blocked = co_await ask(self, p, "block"_a, third.name());
    nodes_while_blocked = peer.nodes();
    unblocked = co_await ask(self, p, "unblock"_a, third.name());
  });
  CHECK(yes == Term("yes"_a));
  CHECK(taken == Term("no"_a));
  CHECK(where == Term(holder));
  CHECK(nowhere == Term("undefined"_a));
  CHECK(names == list(tuple("db"_a, holder)));
  CHECK(sent == Term(holder));
  CHECK(got[0] == Term("hello"_a));
  CHECK(unknown == tuple("error"_a, tuple("badarg"_a, tuple("nosuch"_a, "hi"_a))));
  REQUIRE(digest.is_integer());
  // The digest was taken while db was registered; every node held the same table then.
  CHECK(unreg == Term("yes"_a));
  CHECK(unreg_again == Term("no"_a));
  CHECK(gone == Term("undefined"_a));
  CHECK(malformed[0] == Term("error"_a));
  CHECK(blocked == Term(true));
  CHECK(std::find(nodes_while_blocked.begin(), nodes_while_blocked.end(), third.name()) ==
        nodes_while_blocked.end());
  CHECK(unblocked == Term(true));
  CHECK(peer.connect(third.name()));
  CHECK(origin.global_digest() == peer.global_digest());
  CHECK(std::uint64_t(digest.as<std::int64_t>()) != peer.global_digest());  // db is gone now
}

TEST_CASE("ember_admin traces a process for a tracer on another node until told to stop") {
  Node origin(config("torigin")), peer(config("tpeer"));
  Pid target = peer.runtime().spawn([](Self self) -> Proc {
    for (;;) {
      auto m = co_await self.receive();
      if (m.term().is("stop"_a)) co_return;
    }
  });
  Term setup, refused, ended;
  std::vector<Term> copies;
  bool untraced = false, quiet_after_stop = false;
  origin.runtime().run([&](Self self) -> Proc {
    setup = co_await ask(self, peer.name(), "trace"_a, target, self.pid(), std::int64_t(10000));
    if (!setup.is_tuple(2) || !setup[1].is_pid()) co_return;
    Pid relay = setup[1].pid();
    for (int i = 0; i < 3; ++i) self.send(target, tuple("n"_a, i));
    for (int i = 0; i < 3; ++i) {
      auto m = co_await self.receive(match(tuple("trace"_a, _, "receive"_a, _))).after(5s);
      if (m.timed_out()) co_return;
      copies.push_back(m[3]);
    }
    // stop_trace: the relay untraces and ends; later messages make no copies.
    Ref gone = self.monitor(relay);
    self.send(relay, tuple("stop_trace"_a, self.pid()));
    auto d = co_await self.receive(match(tuple("DOWN"_a, gone, _, _, _))).after(5s);
    untraced = !d.timed_out();
    // Sent after the relay's untrace signal, so never copied (and the relay is gone).
    self.send(target, "after"_a);
    auto stray = co_await self.receive(match(tuple("trace"_a, _, _, _))).after(100ms);
    // The untrace is a signal the target takes when it runs: info shows it soon.
    bool traced = true;
    for (int i = 0; i < 250 && traced; ++i) {
      Term info = co_await ask(self, peer.name(), "info"_a, target);
      traced = !info.is_map() || info.get("tracer"_a).has_value();
      if (traced) co_await self.sleep(20ms);
    }
    quiet_after_stop = stray.timed_out() && !traced;
    // A process of another node cannot be traced there.
    refused = co_await ask(self, peer.name(), "trace"_a, self.pid(), self.pid(), std::int64_t(1));
    // A trace ends by itself when its time is up.
    Term again = co_await ask(self, peer.name(), "trace"_a, target, self.pid(), std::int64_t(100));
    if (!again.is_tuple(2)) co_return;
    auto e = co_await self.receive(match(tuple("trace_ended"_a, _, _))).after(5s);
    if (!e.timed_out()) ended = e[2];
    self.send(target, "stop"_a);
  });
  CHECK(setup[0] == Term("ok"_a));
  REQUIRE(copies.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(copies[std::size_t(i)] == tuple("n"_a, i));
  CHECK(untraced);
  CHECK(quiet_after_stop);
  CHECK(refused[0] == Term("error"_a));
  CHECK(ended == Term("timeout"_a));
}
