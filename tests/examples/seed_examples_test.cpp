// The seed's examples, run: each asserts what the Elixir original would print or return.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "../node/local_http_server.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"
#include "seed.hpp"

using namespace ember;
using namespace ember::examples;
using namespace std::chrono_literals;

TEST_CASE("Echo answers and stops") {
  Runtime rt({.workers = 2});
  Term got;
  Pid echo;
  rt.run([&](Self self) -> Proc {
    echo = self.spawn(echo_loop);
    self.send(echo, tuple("echo"_a, "hello", self.pid()));
    got = (co_await self.receive("{ok, _}"_p))[1];
    Ref r = self.monitor(echo);
    self.send(echo, "stop"_a);
    co_await self.receive(match(tuple(Atom("DOWN"), r, _, _, _)));
  });
  CHECK(got == Term("hello"));
  CHECK_FALSE(rt.alive(echo));
}

TEST_CASE("StatusCollector keeps the latest status per service") {
  Runtime rt({.workers = 2});
  Term statuses;
  rt.run([&](Self self) -> Proc {
    Pid c = self.spawn(status_collector);
    self.send(c, tuple("report"_a, "api", "healthy"_a));
    self.send(c, tuple("report"_a, "db", "degraded"_a));
    self.send(c, tuple("report"_a, "api", "down"_a));
    self.send(c, tuple("get_all"_a, self.pid()));
    statuses = (co_await self.receive("{statuses, _}"_p))[1];
    self.send(c, "stop"_a);
  });
  CHECK(print_term(statuses) == "#{<<\"api\">> => down,<<\"db\">> => degraded}");
}

TEST_CASE("Supervisor with trap_exit restarts a crashing worker") {
  Runtime rt({.workers = 2});
  std::vector<Pid> workers;
  bool sup_alive = false;
  rt.run([&](Self self) -> Proc {
    Pid sup = self.spawn([me = self.pid()](Self s) { return examples::supervisor(s, me); });
    workers.push_back((co_await self.receive("{started, _}"_p)).pid(1));
    for (int i = 0; i < 3; ++i) {
      self.send(workers.back(), "crash"_a);
      workers.push_back((co_await self.receive("{restarted, _}"_p)).pid(1));
    }
    sup_alive = self.runtime().alive(sup);
    self.exit(sup, Atom("kill"));
  });
  CHECK(sup_alive);
  REQUIRE(workers.size() == 4);
  for (std::size_t i = 1; i < workers.size(); ++i) CHECK(workers[i] != workers[i - 1]);
}

TEST_CASE("Supervisor as a child spec restarts a crashing worker") {
  Runtime rt({.workers = 2});
  std::vector<Pid> workers;
  bool sup_alive = false;
  rt.run([&](Self self) -> Proc {
    auto sup = co_await start_worker_supervisor(self);
    workers.push_back(*(co_await supervisor::which_children(self, sup.pid()))[0].pid);
    for (int i = 0; i < 3; ++i) {  // three restarts: within the default 3 in 5 s
      self.send(workers.back(), "crash"_a);
      for (int k = 0; k < 1000; ++k) {  // until the new worker shows (5 s deadline)
        auto kids = co_await supervisor::which_children(self, sup.pid());
        if (kids[0].pid && *kids[0].pid != workers.back()) {
          workers.push_back(*kids[0].pid);
          break;
        }
        co_await self.sleep(5ms);
      }
    }
    sup_alive = self.runtime().alive(sup.pid());
    co_await gen_server::stop(self, sup.pid());
  });
  CHECK(sup_alive);
  REQUIRE(workers.size() == 4);
  for (std::size_t i = 1; i < workers.size(); ++i) CHECK(workers[i] != workers[i - 1]);
}

TEST_CASE("WorkerMonitor hears every worker's end") {
  Runtime rt({.workers = 2});
  int normal = 0, overloaded = 0;
  rt.run([&](Self self) -> Proc {
    Pid mon = self.spawn([me = self.pid()](Self s) { return worker_monitor(s, 6, me); });
    for (int i = 0; i < 6; ++i) {
      auto m = co_await self.receive("{worker_died, _}"_p);
      (m[1].is(atoms::normal()) ? normal : overloaded)++;
    }
    self.exit(mon, Atom("kill"));
  });
  CHECK(normal == 3);
  CHECK(overloaded == 3);
}

TEST_CASE("HealthChecker by name: answer, and the timeout path") {
  Runtime rt({.workers = 2});
  Term fast, slow;
  rt.run([&](Self self) -> Proc {
    Pid hc = self.spawn([](Self s) { return health_checker(s, 1ms); });
    while (!self.whereis("health_checker"_a)) co_await self.sleep(1ms);
    fast = co_await health_check(self, "api");
    self.exit(hc, Atom("kill"));
    while (self.whereis("health_checker"_a)) co_await self.sleep(1ms);
    Pid slow_hc = self.spawn([](Self s) { return health_checker(s, 2000ms); });
    while (!self.whereis("health_checker"_a)) co_await self.sleep(1ms);
    slow = co_await health_check(self, "api", 50ms);  // the 5 s default, shortened
    self.exit(slow_hc, Atom("kill"));
  });
  CHECK(fast == Term("healthy"_a));
  CHECK(print_term(slow) == "{error,timeout}");
}

// The health checkers against real endpoints: a python3 HTTP server (tests/node), a Node
// whose I/O loop runs the requests, and a port where nothing listens.
namespace {
NodeConfig http_node(const char* name) {
  return ember::testing::loopback_node(name, "seedcookie");
}
std::string nothing_listens() {
  return "http://127.0.0.1:1/health";
}
}  // namespace

TEST_CASE("HealthChecker by name checks a URL for real on a Node") {
  ember::test::LocalHttpServer server;
  Node node(http_node("seedhc"));
  Term up, failing, refused, stub;
  node.runtime().run([&](Self self) -> Proc {
    Pid hc = self.spawn([](Self s) { return health_checker(s, 1ms); });
    while (!self.whereis("health_checker"_a)) co_await self.sleep(1ms);
    up = co_await health_check(self, Term(server.url("/ok")));
    failing = co_await health_check(self, Term(server.url("/fail")));
    refused = co_await health_check(self, Term(nothing_listens()));
    stub = co_await health_check(self, "api");  // not a URL: the seed's stub
    self.exit(hc, Atom("kill"));
  });
  CHECK(up == Term("healthy"_a));
  CHECK(failing == Term("unhealthy"_a));
  CHECK(refused == Term("unhealthy"_a));
  CHECK(stub == Term("healthy"_a));
}

TEST_CASE("HealthChecker.check_services: a process per URL, each reports") {
  ember::test::LocalHttpServer server;
  Node node(http_node("seedservices"));
  std::map<std::string, Term> seen;
  node.runtime().run([&](Self self) -> Proc {
    check_services(
        self, {server.url("/ok"), server.url("/redirect"), server.url("/fail"), nothing_listens()},
        self.pid());
    for (int i = 0; i < 4; ++i) {
      auto m = co_await self.receive("{checked, _, _}"_p).after(30s);
      if (m.timed_out()) break;
      seen[m[1].as<std::string>()] = m[2];
    }
  });
  CHECK(seen.size() == 4);
  CHECK(seen[server.url("/ok")] == Term("healthy"_a));
  CHECK(seen[server.url("/redirect")] == Term("healthy"_a));
  CHECK(seen[server.url("/fail")] == Term("down"_a));
  CHECK(seen[nothing_listens()] == Term("down"_a));
}

TEST_CASE("ParallelHealthChecker.check_all: 100 services in parallel, results in order") {
  ember::test::LocalHttpServer server;
  Node node(http_node("seedparallel"));
  std::vector<std::string> urls;
  for (int i = 0; i < 100; ++i) urls.push_back(server.url(i % 10 == 3 ? "/fail" : "/ok"));
  std::vector<Term> results;
  node.runtime().run([&](Self self) -> Proc { results = co_await check_all(self, urls); });
  REQUIRE(results.size() == urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    INFO(i);
    CHECK(results[i] == tuple(urls[i], i % 10 == 3 ? "unhealthy"_a : "healthy"_a));
  }
}

TEST_CASE("API.call: response, error and timeout") {
  Runtime rt({.workers = 2});
  Term ok, err, timeout;
  rt.run([&](Self self) -> Proc {
    Pid service = self.spawn([](Self s) -> Proc {
      for (;;) {
        auto m = co_await s.receive("{_, _}"_p);
        if (m[0].is("ping"_a)) s.send(m.pid(1), tuple("response"_a, "pong"_a));
        if (m[0].is("bad"_a)) s.send(m.pid(1), tuple("error"_a, "invalid"_a));
      }
    });
    ok = co_await api_call(self, service, "ping"_a);
    err = co_await api_call(self, service, "bad"_a);
    timeout = co_await api_call(self, service, "ignored"_a, 30ms);
    self.exit(service, Atom("kill"));
  });
  CHECK(print_term(ok) == "{ok,pong}");
  CHECK(print_term(err) == "{error,invalid}");
  CHECK(print_term(timeout) == "{error,timeout}");
}

TEST_CASE("MetricCollector: 100 concurrent recorders, then the average") {
  Runtime rt({.workers = 2});
  Term avg, missing;
  double expected = 0;
  rt.run([&](Self self) -> Proc {
    self.spawn(metric_collector);
    while (!self.whereis("metric_collector"_a)) co_await self.sleep(1ms);
    std::vector<Task> recorders;
    for (int i = 1; i <= 100; ++i) {
      expected += i;
      recorders.push_back(task::async(self, [i](Self s) {
        metric_record(s, "cpu_usage", double(i));
        return "ok"_a;
      }));
    }
    for (Task& t : recorders) co_await task::await(self, t);
    avg = co_await metric_average(self, "cpu_usage");
    missing = co_await metric_average(self, "disk");
    self.send("metric_collector"_a, "stop"_a);
  });
  REQUIRE(avg.is_tuple(2));
  CHECK(avg[1].as<double>() == Approx(expected / 100));
  CHECK(print_term(missing) == "{error,not_found}");
}

TEST_CASE("Counter counts") {
  Runtime rt({.workers = 2});
  std::int64_t last = 0, got = 0;
  rt.run([&](Self self) -> Proc {
    Pid c = self.spawn([](Self s) { return counter(s, 0); });
    for (int i = 0; i < 10; ++i) {
      self.send(c, tuple("inc"_a, self.pid()));
      last = (co_await self.receive()).as<std::int64_t>();
    }
    self.send(c, tuple("get"_a, self.pid()));
    got = (co_await self.receive()).as<std::int64_t>();
    self.exit(c, Atom("kill"));
  });
  CHECK(last == 10);
  CHECK(got == 10);
}

TEST_CASE("Parallel.map keeps order") {
  Runtime rt({.workers = 2});
  std::vector<Term> out;
  rt.run([&](Self self) -> Proc {
    std::vector<Term> in;
    for (int i = 1; i <= 50; ++i) in.push_back(i);
    out = co_await parallel_map(self, in, [](Self, Term x) { return x.as<int>() * 2; });
  });
  REQUIRE(out.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(out[i] == Term((i + 1) * 2));
}

TEST_CASE("a worker pool shares 1000 jobs") {
  Runtime rt({.workers = 2});
  std::int64_t sum = 0;
  rt.run([&](Self self) -> Proc {
    auto pool = start_pool(self, 10);
    for (int n = 0; n < 1000; ++n) self.send(pool[n % pool.size()], tuple("job"_a, self.pid(), n));
    for (int n = 0; n < 1000; ++n)
      sum += (co_await self.receive("{done, _, _}"_p))[2].as<std::int64_t>();
    for (Pid w : pool) self.exit(w, Atom("kill"));
  });
  std::int64_t expected = 0;
  for (std::int64_t n = 0; n < 1000; ++n) expected += n * n;
  CHECK(sum == expected);
}
