// Process groups (pg) among Node objects in one binary: joins and leaves seen everywhere,
// members that die or whose node is lost leave by themselves, a rejoining node's members
// come back, scopes do not mix.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "ember/core/errors.hpp"
#include "ember/node/node.hpp"
#include "ember/node/process_groups.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig pg_config(const std::string& name) {
  NodeConfig c;
  c.name = name;
  c.cookie = "pgcookie";
  c.schedulers = 1;
  return c;
}

// Waits for a condition, polling every 2 ms (see ember/testing.hpp).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  return testing::eventually(condition, timeout, 2ms);
}

Pid spawn_idle(Node& n) {
  return n.runtime().spawn([](Self self) -> Proc { co_await self.receive("stop"_p); });
}

std::size_t count(const std::vector<Pid>& v, Pid p) {
  return std::size_t(std::count(v.begin(), v.end(), p));
}

const Atom kScope = ProcessGroups::default_scope();

}  // namespace

TEST_CASE("pg: joins and leaves are seen on every node and repeats count") {
  Node a(pg_config("pga@127.0.0.1:0")), b(pg_config("pgb@127.0.0.1:0")),
      c(pg_config("pgc@127.0.0.1:0"));
  REQUIRE(a.connect(b.name()));
  REQUIRE(a.connect(c.name()));
  REQUIRE(eventually([&] { return b.nodes().size() == 2 && c.nodes().size() == 2; }));
  Pid pa = spawn_idle(a), pb = spawn_idle(b);
  Term group = tuple("workers"_a, 1);
  a.groups().join(kScope, group, {pa, pa});
  b.groups().join(kScope, group, {pb});
  CHECK(eventually([&] {
    auto m = c.groups().members(kScope, group);
    return m.size() == 3 && count(m, pa) == 2 && count(m, pb) == 1;
  }));
  CHECK(a.groups().local_members(kScope, group) == std::vector<Pid>{pa, pa});
  CHECK(c.groups().local_members(kScope, group).empty());
  CHECK(c.groups().which_groups(kScope) == std::vector<Term>{group});
  CHECK(a.groups().leave(kScope, group, {pa}));
  CHECK(eventually([&] { return count(c.groups().members(kScope, group), pa) == 1; }));
  CHECK(a.groups().leave(kScope, group, {pa}));
  CHECK(!a.groups().leave(kScope, group, {pa}));  // not_joined
  CHECK(eventually([&] { return b.groups().members(kScope, group) == std::vector<Pid>{pb}; }));
  // Only local pids may join, as in pg.
  CHECK_THROWS_AS(a.groups().join(kScope, group, {pb}), ErlangError);
}

TEST_CASE("pg: a member that dies leaves everywhere") {
  Node a(pg_config("pda@127.0.0.1:0")), b(pg_config("pdb@127.0.0.1:0"));
  REQUIRE(a.connect(b.name()));
  Pid p = spawn_idle(a);
  a.groups().join(kScope, "g"_a, {p});
  REQUIRE(eventually([&] { return b.groups().members(kScope, "g"_a).size() == 1; }));
  a.runtime().send(p, "stop"_a);
  CHECK(eventually([&] {
    return b.groups().members(kScope, "g"_a).empty() && a.groups().members(kScope, "g"_a).empty();
  }));
  CHECK(b.groups().which_groups(kScope).empty());
}

TEST_CASE("pg: a lost node's members leave and when it comes back its members return") {
  Node a(pg_config("pla@127.0.0.1:0"));
  auto b = std::make_unique<Node>(pg_config("plb@127.0.0.1:0"));
  std::string b_name(b->name().text());
  REQUIRE(a.connect(b->name()));
  b->groups().join(kScope, "svc"_a, {spawn_idle(*b)});
  Pid pa = spawn_idle(a);
  a.groups().join(kScope, "svc"_a, {pa});
  REQUIRE(eventually([&] { return a.groups().members(kScope, "svc"_a).size() == 2; }));
  b.reset();  // the node halts
  CHECK(eventually([&] { return a.groups().members(kScope, "svc"_a) == std::vector<Pid>{pa}; }));
  // The same name again (a restart): it learns a's members on connect, and a learns its.
  b = std::make_unique<Node>(pg_config(b_name));
  Pid pb = spawn_idle(*b);
  b->groups().join(kScope, "svc"_a, {pb});
  REQUIRE(b->connect(a.name()));
  CHECK(eventually([&] {
    auto m = a.groups().members(kScope, "svc"_a);
    return m.size() == 2 && count(m, pb) == 1;
  }));
  CHECK(eventually([&] { return b->groups().members(kScope, "svc"_a).size() == 2; }));
}

TEST_CASE("pg: scopes are independent and broadcast reaches every member on every node") {
  Node a(pg_config("psa@127.0.0.1:0")), b(pg_config("psb@127.0.0.1:0"));
  REQUIRE(a.connect(b.name()));
  const Atom other("metrics_scope");
  std::atomic<int> got{0};
  auto receiver = [&](Node& n) {
    return n.runtime().spawn([&](Self self) -> Proc {
      co_await self.receive("{tick, _}"_p);
      got++;
      co_await self.receive("stop"_p);
    });
  };
  Pid ra = receiver(a), rb = receiver(b);
  a.groups().join(kScope, "all"_a, {ra});
  b.groups().join(kScope, "all"_a, {rb});
  b.groups().join(other, "all"_a, {spawn_idle(b)});
  REQUIRE(eventually([&] { return a.groups().members(kScope, "all"_a).size() == 2; }));
  CHECK(eventually([&] { return a.groups().members(other, "all"_a).size() == 1; }));
  std::size_t sent = 0;
  a.runtime().run([&](Self self) -> Proc {
    sent = pg::broadcast(self, "all"_a, tuple("tick"_a, 1));
    co_return;
  });
  CHECK(sent == 2);
  CHECK(eventually([&] { return got == 2; }));
}
