// Three ember-node processes on loopback, reached from this test through a hidden node:
// remote send to the hosted services, remote spawn, links and monitors across nodes.
#include <fstream>

#include "support.hpp"

using namespace multinode;

TEST_CASE("three ember-nodes mesh, answer ember_admin and host the seed's services") {
  ThreeNodes t;
  for (NodeProcess* n : {&t.a, &t.b, &t.c}) {
    INFO(n->name().text());
    CHECK(t.cluster.ping(*n));
    auto seen = t.cluster.nodes_of(*n);
    for (NodeProcess* m : {&t.a, &t.b, &t.c})
      if (m != n) CHECK(has(seen, m->name()));
    CHECK_FALSE(has(seen, t.cluster.client().name()));  // the client is hidden
    Term registry = t.cluster.admin(n->name(), "registry"_a);
    REQUIRE(registry.is_list());
    std::vector<Atom> names;
    for (std::size_t i = 0; i < registry.size(); ++i) names.push_back(registry[i][0].as<Atom>());
    for (const char* service :
         {"echo", "counter", "status_collector", "metric_collector", "health_checker"})
      CHECK(has(names, Atom(service)));
  }
  t.teardown();
}

TEST_CASE("a send to a service on another node gets its reply") {
  ThreeNodes t;
  Term echo_a, echo_c, count, health, statuses, average;
  t.cluster.run([&](Self self) -> Proc {
    self.send(RemoteName{"echo"_a, t.a.name()}, tuple("echo"_a, "hello", self.pid()));
    echo_a = (co_await self.receive("{ok, _}"_p).after(5s)).term();
    self.send(RemoteName{"echo"_a, t.c.name()}, tuple("echo"_a, 42, self.pid()));
    echo_c = (co_await self.receive("{ok, _}"_p).after(5s)).term();

    RemoteName counter{"counter"_a, t.b.name()};
    self.send(counter, tuple("inc"_a, self.pid()));
    self.send(counter, tuple("inc"_a, self.pid()));
    self.send(counter, tuple("get"_a, self.pid()));
    for (int i = 0; i < 3; ++i) count = (co_await self.receive().after(5s)).term();

    self.send(RemoteName{"health_checker"_a, t.c.name()}, tuple("check"_a, "database", self.pid()));
    health = (co_await self.receive("{result, _}"_p).after(5s)).term();

    RemoteName status{"status_collector"_a, t.a.name()};
    self.send(status, tuple("report"_a, "database", "up"_a));
    self.send(status, tuple("get_all"_a, self.pid()));
    statuses = (co_await self.receive("{statuses, _}"_p).after(5s)).term();

    RemoteName metrics{"metric_collector"_a, t.b.name()};
    self.send(metrics, tuple("record"_a, "latency", 2.0, std::int64_t(1)));
    self.send(metrics, tuple("record"_a, "latency", 4.0, std::int64_t(2)));
    self.send(metrics, tuple("get_average"_a, "latency", self.pid()));
    average = (co_await self.receive("{average, _}"_p).after(5s)).term();
  });
  CHECK(echo_a == tuple("ok"_a, "hello"));
  CHECK(echo_c == tuple("ok"_a, 42));
  CHECK(count == Term(2));  // per-pair order: both incs before the get
  CHECK(health == tuple("result"_a, "healthy"_a));
  CHECK(statuses == tuple("statuses"_a, map({{Term("database"), Term("up"_a)}})));
  CHECK(average == tuple("average"_a, 3.0));
  t.teardown();
}

TEST_CASE("remote spawn starts a named function on the node asked") {
  ThreeNodes t;
  Pid echo, counter;
  Term echoed, counted, undef, via_admin, remote_hop;
  t.cluster.run([&](Self self) -> Proc {
    echo = (co_await spawn_remote(self, t.b.name(), "echo", Term())).pid;
    self.send(echo, tuple("echo"_a, "spawned", self.pid()));
    echoed = (co_await self.receive("{ok, _}"_p).after(5s)).term();

    counter = (co_await spawn_remote(self, t.c.name(), "counter", 41)).pid;
    self.send(counter, tuple("inc"_a, self.pid()));
    counted = (co_await self.receive().after(5s)).term();

    try {
      co_await spawn_remote(self, t.a.name(), "no_such_function", Term());
    } catch (const ErlangError& e) {
      undef = e.reason();
    }
    // ember_admin's spawn, as the CLI does it.
    std::vector<Term> spawn_args{Term("sleeper"), Term()};  // (GCC: no init list in a co_await)
    via_admin = co_await testing::admin_call(self, t.a.name(), "spawn"_a, spawn_args);
    if (via_admin.is_tuple(2) && via_admin[1].is_pid()) self.send(via_admin[1].pid(), "stop"_a);

    // A daemon talks to another one: a asks c's echo service.
    Term hop = tuple(t.c.name(), "hop", self.pid());  // (GCC: no string literal in a co_await)
    co_await spawn_remote(self, t.a.name(), "echo_via", hop);
    remote_hop = (co_await self.receive("{echo_via, _, _}"_p).after(10s)).term();
  });
  CHECK(NodeTable::identity(echo.node()).name == t.b.name());
  CHECK(echoed == tuple("ok"_a, "spawned"));
  CHECK(NodeTable::identity(counter.node()).name == t.c.name());
  CHECK(counted == Term(42));
  CHECK(undef == tuple("undef"_a, "no_such_function"));
  REQUIRE(via_admin.is_tuple(2));
  CHECK(via_admin[0] == Term("ok"_a));
  CHECK(NodeTable::identity(via_admin[1].pid().node()).name == t.a.name());
  CHECK(remote_hop == tuple("echo_via"_a, t.c.name(), tuple("ok"_a, "hop")));
  t.teardown();
}

TEST_CASE("links and monitors across nodes carry the exit reason") {
  ThreeNodes t;
  Term linked_exit, down, watched_exit, watched_down, client_side, noproc;
  Pid sleeper_c, sleeper_b;
  t.cluster.run([&](Self self) -> Proc {
    self.trap_exit(true);
    // This node links to a process on c.
    sleeper_c = (co_await spawn_remote(self, t.c.name(), "sleeper", Term(), {.link = true})).pid;
    self.send(sleeper_c, tuple("exit"_a, "boom"_a));
    linked_exit = (co_await self.receive(match(tuple(kExit, sleeper_c, _))).after(5s)).term();

    // A monitor on b, and a watcher on a (a link and a monitor from daemon to daemon).
    sleeper_b = (co_await spawn_remote(self, t.b.name(), "sleeper", Term())).pid;
    Ref ref = self.monitor(sleeper_b);
    co_await spawn_remote(self, t.a.name(), "watch", tuple(sleeper_b, self.pid()));
    co_await self.receive(match(tuple("watching"_a, _, sleeper_b))).after(5s);
    self.send(sleeper_b, tuple("exit"_a, "bang"_a));
    down = (co_await self.receive(match(tuple(kDown, ref, _, _, _))).after(5s)).term();
    for (int i = 0; i < 2; ++i) {
      auto m = co_await self.receive(match(tuple("watch"_a, _, sleeper_b, _))).after(5s);
      if (m.timed_out()) break;
      (m[1].is("exit"_a) ? watched_exit : watched_down) = m[3];
    }

    // The other way: a watcher on c links to and monitors a process of this node.
    Pid local = self.spawn([](Self l) -> Proc {
      co_await l.receive(match("go"_a));
      l.exit("local_reason"_a);
    });
    co_await spawn_remote(self, t.c.name(), "watch", tuple(local, self.pid()));
    co_await self.receive(match(tuple("watching"_a, _, local))).after(5s);
    self.send(local, "go"_a);
    std::vector<Term> reports;
    for (int i = 0; i < 2; ++i) {
      auto m = co_await self.receive(match(tuple("watch"_a, _, local, _))).after(5s);
      if (!m.timed_out()) reports.push_back(tuple(m[1], m[3]));
    }
    client_side = list_of(reports);

    // A monitor of a process that has ended: DOWN noproc at once.
    Ref late = self.monitor(sleeper_c);
    noproc = (co_await self.receive(match(tuple(kDown, late, _, _, _))).after(5s)).term();
  });
  CHECK(linked_exit == tuple(kExit, sleeper_c, "boom"_a));
  CHECK(down.is_tuple(5));
  CHECK(down[4] == Term("bang"_a));
  CHECK(watched_exit == Term("bang"_a));
  CHECK(watched_down == Term("bang"_a));
  INFO(print_term(client_side));
  REQUIRE(client_side.size() == 2);
  CHECK(client_side[0][1] == Term("local_reason"_a));
  CHECK(client_side[1][1] == Term("local_reason"_a));
  REQUIRE(noproc.is_tuple(5));
  CHECK(noproc[4] == Term("noproc"_a));
  t.teardown();
}

TEST_CASE("SIGTERM stops a node cleanly and its peers see it go") {
  ThreeNodes t;
  Term reason;
  testing::ExitStatus stopped;
  t.cluster.run([&](Self self) -> Proc {
    Pid s = (co_await spawn_remote(self, t.b.name(), "sleeper", Term())).pid;
    Ref ref = self.monitor(s);
    co_await blocking(self, [&] { stopped = t.b.terminate(); });
    reason = (co_await self.receive(match(tuple(kDown, ref, _, _, _))).after(5s)).term();
  });
  INFO(stopped.text());
  CHECK(stopped.clean());
  REQUIRE(reason.is_tuple(5));
  CHECK(reason[4] == Term(kNoconnection));
  CHECK(t.b.log().find("stopping (SIGTERM)") != std::string::npos);
  CHECK(eventually([&] { return !has(t.cluster.nodes_of(t.a), t.b.name()); }, 5s));
  t.teardown();
}

TEST_CASE("nodes named by host name (not an IPv4 address) reach each other") {
  // As in a Docker Compose file, where nodes are named after their services (a@node_a):
  // the transport resolves the host of a node's name (78affbc; before it, only dotted IPv4
  // literals could be connected to).
  ember::testing::ClusterOptions o;
  o.host = "localhost";
  ClusterTest t(o);
  auto& a = t.cluster.start("a");
  CHECK(std::string(a.name().text()).starts_with("a@localhost:"));
  CHECK(t.cluster.ping(a, 3s));
  ember::testing::NodeOptions joins;
  auto& b = t.cluster.start("b", joins);
  CHECK(eventually([&] { return has(t.cluster.nodes_of(b, 1s), a.name()); }, 5s));
  t.teardown();
}

namespace {

// A line of /proc/PID/status, in kB ("RssAnon:    4096 kB"); -1 if absent.
long status_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

}  // namespace

// The atom index (8 MiB) is mapped, not zeroed: resident, it made every node 8 MiB
// heavier, and a killed one slower to exit and so to be noticed (core/src/atom.cpp).
TEST_CASE("an idle ember-node keeps under 8 MiB of anonymous memory resident") {
#ifdef EMBER_MULTINODE_SANITIZED
  SUCCEED("sanitizers' shadow memory makes resident sizes meaningless");
#else
  ClusterTest t;
  auto& a = t.cluster.start("a");
  REQUIRE(t.cluster.ping(a));
  long anon_kb = status_kb(a.os_pid(), "RssAnon");
  INFO("RssAnon " << anon_kb << " kB");
  REQUIRE(anon_kb > 0);
  CHECK(anon_kb < 8 * 1024);
  t.teardown();
#endif
}
