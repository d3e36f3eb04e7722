// The seed's "check 100 services" and "record metrics from every node" as broadcasts to a
// pg group (examples/pg_patterns.hpp), on three Nodes in one binary: every member answers
// once, what a member says is what its service is, and members that die or whose node is
// lost are no longer asked.
#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "../node/local_http_server.hpp"
#include "ember/node/node.hpp"
#include "ember/node/process_groups.hpp"
#include "ember/testing.hpp"
#include "pg_patterns.hpp"
#include "seed.hpp"

using namespace ember;
using namespace ember::examples;
using namespace std::chrono_literals;

namespace {

NodeConfig pg_node(const std::string& name) {
  NodeConfig c;
  c.name = name + "@127.0.0.1:0";
  c.cookie = "pgpatterns";
  c.schedulers = 1;
  return c;
}

// Three connected nodes.
struct Three {
  std::unique_ptr<Node> a, b, c;
  explicit Three(const std::string& prefix)
      : a(std::make_unique<Node>(pg_node(prefix + "a"))),
        b(std::make_unique<Node>(pg_node(prefix + "b"))),
        c(std::make_unique<Node>(pg_node(prefix + "c"))) {
    REQUIRE(a->connect(b->name()));
    REQUIRE(a->connect(c->name()));
    REQUIRE(
        testing::eventually([&] { return b->nodes().size() == 2 && c->nodes().size() == 2; }, 10s));
  }
  Node& operator[](std::size_t i) { return i == 0 ? *a : i == 1 ? *b : *c; }
};

std::size_t members_on(Node& n, const Term& group) {
  return n.groups().members(ProcessGroups::default_scope(), group).size();
}

}  // namespace

TEST_CASE("pg patterns: check 100 services with one broadcast to their checkers on 3 nodes") {
  ember::test::LocalHttpServer server;
  Three nodes("pgsvc");
  std::map<std::string, Term> want;
  std::vector<Pid> checkers;
  for (int i = 0; i < 100; ++i) {
    // Every tenth service fails, one has nothing listening, two are not URLs (the stub).
    std::string url = i == 42   ? "http://127.0.0.1:1/health"
                      : i >= 98 ? "api-" + std::to_string(i)
                                : server.url(i % 10 == 3 ? "/fail" : "/ok?n=" + std::to_string(i));
    want[url] = i % 10 == 3 || i == 42 ? Term("down"_a) : Term("healthy"_a);
    Term service(url);
    checkers.push_back(nodes[std::size_t(i % 3)].runtime().spawn(
        [service](Self s) { return service_checker(s, service); }));
  }
  REQUIRE(testing::eventually([&] { return members_on(*nodes.a, service_checkers_group()) == 100; },
                              10s));

  GroupCheck all, fewer, hung;
  nodes.a->runtime().run([&](Self self) -> Proc { all = co_await check_group(self); });
  CHECK(all.asked == 100);
  CHECK(all.unanswered() == 0);
  std::map<std::string, Term> got;
  for (const Term& r : all.results) got[r[0].as<std::string>()] = r[1];
  CHECK(got == want);

  // Checkers that end leave the group by themselves: the next broadcast asks the rest.
  for (int i = 0; i < 10; ++i) nodes[std::size_t(i % 3)].runtime().send(checkers[i], "stop"_a);
  REQUIRE(testing::eventually([&] { return members_on(*nodes.b, service_checkers_group()) == 90; },
                              10s));
  nodes.b->runtime().run([&](Self self) -> Proc { fewer = co_await check_group(self); });
  CHECK(fewer.asked == 90);
  CHECK(fewer.results.size() == 90);

  // A member that never answers is counted as such once the timeout passes.
  Pid silent = nodes.c->runtime().spawn([](Self s) -> Proc {
    pg::join(s, service_checkers_group());
    co_await s.receive(match("stop"_a));
  });
  REQUIRE(testing::eventually([&] { return members_on(*nodes.a, service_checkers_group()) == 91; },
                              10s));
  nodes.a->runtime().run(
      [&](Self self) -> Proc { hung = co_await check_group(self, service_checkers_group(), 2s); });
  CHECK(hung.asked == 91);
  CHECK(hung.results.size() == 90);
  CHECK(hung.unanswered() == 1);
  nodes.c->runtime().send(silent, "stop"_a);
  for (int i = 10; i < 100; ++i) nodes[std::size_t(i % 3)].runtime().send(checkers[i], "stop"_a);
}

TEST_CASE(
    "pg patterns: record metrics from every node with one broadcast and a lost node drops out") {
  Three nodes("pgmet");
  // Each node's reporter samples something of its own: here 10, 20 and 30.
  for (std::size_t i = 0; i < 3; ++i) {
    double value = 10.0 * double(i + 1);
    nodes[i].runtime().spawn(
        [value](Self s) { return metric_reporter(s, "load", [value](Self) { return value; }); });
  }
  Pid collector = nodes.a->runtime().spawn(metric_collector);
  REQUIRE(testing::eventually(
      [&] {
        return members_on(*nodes.a, metric_reporters_group()) == 3 &&
               nodes.a->runtime().whereis("metric_collector"_a);
      },
      10s));
  std::size_t reported = 0, after_loss = 0;
  Term avg, avg_after;
  nodes.a->runtime().run([&](Self self) -> Proc {
    reported = co_await record_from_every_node(self, collector);
    avg = co_await metric_average(self, "load");
  });
  CHECK(reported == 3);
  REQUIRE(avg.is_tuple(2));
  CHECK(avg[0] == Term("ok"_a));
  CHECK(avg[1].as<double>() == Approx(20.0));

  nodes.c.reset();  // c halts: its reporter leaves the group on a and b
  REQUIRE(testing::eventually([&] { return members_on(*nodes.a, metric_reporters_group()) == 2; },
                              10s));
  nodes.a->runtime().run([&](Self self) -> Proc {
    after_loss = co_await record_from_every_node(self, collector);
    avg_after = co_await metric_average(self, "load");  // 10, 20, 30, then 10, 20
    self.send(collector, "stop"_a);
  });
  CHECK(after_loss == 2);
  REQUIRE(avg_after.is_tuple(2));
  CHECK(avg_after[1].as<double>() == Approx(18.0));
}
