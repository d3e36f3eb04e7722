// erlang:monitor(process, {Name, Node}) across two Node objects on loopback: the DOWN
// names {Name, Node}; noproc when nothing holds the name, noconnection when the node is
// lost, and nothing after a demonitor. What Erlang/OTP 25 gives for each.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

#include "ember/core/blocking.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig config(const char* name) {
  return ember::testing::loopback_node(name, "namemoncookie");
}

// Starts a process registered as `name` on `node` that exits with the reason it is sent.
Pid start_named(Node& node, Atom name) {
  Pid pid;
  node.runtime().run([&](Self self) -> Proc {
    pid = self.spawn([](Self s) -> Proc {
      auto m = co_await s.receive("{exit, _}"_p);
      s.exit(m[1]);
    });
    co_return;
  });
  node.runtime().register_name(name, pid);
  return pid;
}

std::string text(const Term& t) {
  return print_term(t);
}

}  // namespace

TEST_CASE("monitor {Name, Node}: the holder's exit gives DOWN with {Name, Node} and its reason") {
  Node origin(config("nmorigin")), peer(config("nmpeer"));
  Pid holder = start_named(peer, "watched"_a);
  Term down;
  bool ref_matches = false;
  origin.runtime().run([&](Self self) -> Proc {
    Ref ref = self.monitor(RemoteName{"watched"_a, peer.name()});
    // A round trip over the same connection: the monitor is in place on the peer after it.
    self.send(RemoteName{"no_such_name"_a, peer.name()}, "x"_a);
    Ref probe = self.monitor(RemoteName{"no_such_name"_a, peer.name()});
    co_await self.receive([probe](const Term& m) { return m.is_tuple(5) && m[1] == Term(probe); })
        .after(10s);
    self.send(holder, tuple("exit"_a, "shutdown_now"_a));
    auto m = co_await self.receive("{'DOWN', _, process, _, _}"_p).after(10s);
    if (!m.timed_out()) {
      down = m.term();
      ref_matches = m[1] == Term(ref);
    }
  });
  CHECK(ref_matches);
  CHECK(down == tuple("DOWN"_a, down.is_tuple(5) ? down[1] : Term(), "process"_a,
                      tuple("watched"_a, peer.name()), "shutdown_now"_a));
}

TEST_CASE("monitor {Name, Node}: a name nothing holds gives DOWN noproc at once") {
  Node origin(config("nmorigin")), peer(config("nmpeer"));
  Term down;
  origin.runtime().run([&](Self self) -> Proc {
    Ref ref = self.monitor(RemoteName{"nobody"_a, peer.name()});
    auto m =
        co_await self.receive([ref](const Term& t) { return t.is_tuple(5) && t[1] == Term(ref); })
            .after(10s);
    if (!m.timed_out()) down = m.term();
  });
  REQUIRE(down.is_tuple(5));
  CHECK(text(down[3]) == "{nobody,'" + std::string(peer.name().text()) + "'}");
  CHECK(down[4] == "noproc"_a);
}

TEST_CASE("monitor {Name, Node}: a lost node gives DOWN noconnection, a demonitor gives nothing") {
  Node origin(config("nmorigin"));
  std::optional<Node> peer(std::in_place, config("nmpeer"));
  Atom peer_name = peer->name();
  start_named(*peer, "kept"_a);
  start_named(*peer, "dropped"_a);
  Term down;
  bool dropped_down = false;
  origin.runtime().run([&](Self self) -> Proc {
    Ref kept = self.monitor(RemoteName{"kept"_a, peer_name});
    Ref dropped = self.monitor(RemoteName{"dropped"_a, peer_name});
    self.demonitor(dropped);
    // The peer has both monitor frames (and the demonitor) once a later probe answers.
    Ref probe = self.monitor(RemoteName{"probe"_a, peer_name});
    co_await self.receive([probe](const Term& m) { return m.is_tuple(5) && m[1] == Term(probe); })
        .after(10s);
    co_await blocking(self, [&] { peer.reset(); });  // halt the peer
    auto m =
        co_await self.receive([kept](const Term& t) { return t.is_tuple(5) && t[1] == Term(kept); })
            .after(10s);
    if (!m.timed_out()) down = m.term();
    auto late =
        co_await self
            .receive([dropped](const Term& t) { return t.is_tuple(5) && t[1] == Term(dropped); })
            .after(300ms);
    dropped_down = !late.timed_out();
  });
  REQUIRE(down.is_tuple(5));
  CHECK(down[3] == tuple("kept"_a, peer_name));
  CHECK(down[4] == "noconnection"_a);
  CHECK_FALSE(dropped_down);
}

TEST_CASE("monitor {Name, Node}: a name on this node is watched locally") {
  Node origin(config("nmorigin"));
  Pid holder = start_named(origin, "here"_a);
  Term down, missing;
  origin.runtime().run([&](Self self) -> Proc {
    Ref none = self.monitor(RemoteName{"nothing_here"_a, origin.name()});
    auto n =
        co_await self.receive([none](const Term& t) { return t.is_tuple(5) && t[1] == Term(none); })
            .after(10s);
    if (!n.timed_out()) missing = n.term();
    self.monitor(RemoteName{"here"_a, origin.name()});
    self.send(holder, tuple("exit"_a, "bye"_a));
    auto m = co_await self.receive("{'DOWN', _, process, _, _}"_p).after(10s);
    if (!m.timed_out()) down = m.term();
  });
  REQUIRE(missing.is_tuple(5));
  CHECK(missing[4] == "noproc"_a);
  REQUIRE(down.is_tuple(5));
  CHECK(down[3] == tuple("here"_a, origin.name()));
  CHECK(down[4] == "bye"_a);
}
