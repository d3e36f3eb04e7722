#include <catch2/catch.hpp>

#include "ember/node/node_name.hpp"

using ember::NodeName;

TEST_CASE("node names parse as name@host with an optional port") {
  auto a = NodeName::parse("alpha@10.0.0.1:4370");
  CHECK(a.name == "alpha");
  CHECK(a.host == "10.0.0.1");
  CHECK(a.port == 4370);
  CHECK(a.to_string() == "alpha@10.0.0.1:4370");
  auto b = NodeName::parse("worker-2@node2");
  CHECK(b.port == 0);
  CHECK(b.to_string() == "worker-2@node2");
}

TEST_CASE("bad node names say what is wrong") {
  CHECK_THROWS_WITH(NodeName::parse("alpha"), Catch::Contains("no '@'"));
  CHECK_THROWS_WITH(NodeName::parse("@host"), Catch::Contains("empty name"));
  CHECK_THROWS_WITH(NodeName::parse("a@"), Catch::Contains("empty host"));
  CHECK_THROWS_WITH(NodeName::parse("a@h:0"), Catch::Contains("port"));
  CHECK_THROWS_WITH(NodeName::parse("a@h:70000"), Catch::Contains("port"));
  CHECK_THROWS_WITH(NodeName::parse("a b@h"), Catch::Contains("not allowed in the name"));
}
