// The admin service (ember_admin) answers another node's requests.
#include <catch2/catch.hpp>

#include <chrono>

#include "ember/node/admin.hpp"
#include "ember/node/node.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig config(const char* name) {
  NodeConfig c;
  c.name = std::string(name) + "@127.0.0.1:0";
  c.cookie = "admincookie";
  c.schedulers = 2;
  return c;
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
