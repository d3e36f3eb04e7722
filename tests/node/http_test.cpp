// http_get against a real HTTP server (python3's http.server, started per test): status
// and body, errors, timeouts, and what it must not cost: a thread per request, or a
// scheduler worker held while a response is slow.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "ember/node/http.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"
#include "local_http_server.hpp"

using namespace ember;
using namespace std::chrono_literals;
using ember::test::LocalHttpServer;
using Clock = std::chrono::steady_clock;

namespace {

NodeConfig config(const char* name, unsigned schedulers = 2) {
  NodeConfig c = ember::testing::loopback_node(name, "httpcookie");
  c.schedulers = schedulers;
  return c;
}

// One http_get from a process of `node`.
HttpResult get(Node& node, const std::string& url, std::chrono::milliseconds timeout = 10s) {
  HttpResult result;
  node.runtime().run([&](Self self) -> Proc { result = co_await http_get(self, url, timeout); });
  return result;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// A loopback port nothing listens on: bound, then closed, so it was free a moment ago.
int closed_port() {
  return ember::testing::free_port();
}

}  // namespace

TEST_CASE("http_get: 200 with its body") {
  LocalHttpServer server;
  Node node(config("http200"));
  HttpResult r = get(node, server.url("/ok"));
  CHECK(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  CHECK(r.term() == tuple("ok"_a, 200, "hello"));
}

TEST_CASE("http_get: a 500 is a response, not an error") {
  LocalHttpServer server;
  Node node(config("http500"));
  HttpResult r = get(node, server.url("/fail"));
  CHECK(r.ok());
  CHECK(r.status == 500);
  CHECK(r.body == "boom");
}

TEST_CASE("http_get: redirects are followed, endless ones are not") {
  LocalHttpServer server;
  Node node(config("httpredirect"));
  HttpResult r = get(node, server.url("/redirect"));
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  HttpResult loop = get(node, server.url("/loop"));
  REQUIRE(loop.error);
  CHECK(*loop.error == "too_many_redirects"_a);
  CHECK(loop.status == 0);
}

TEST_CASE("http_get: connection refused") {
  Node node(config("httprefused"));
  HttpResult r = get(node, "http://127.0.0.1:" + std::to_string(closed_port()) + "/health");
  REQUIRE(r.error);
  CHECK(*r.error == "econnrefused"_a);
  CHECK(r.term() == tuple("error"_a, "econnrefused"_a));
  CHECK_FALSE(r.message.empty());
}

TEST_CASE("http_get: bad URLs") {
  Node node(config("httpbadurl"));
  for (const char* url : {"not a url", "ftp://127.0.0.1/file", "file:///etc/passwd", ""}) {
    INFO(url);
    HttpResult r = get(node, url);
    REQUIRE(r.error);
    CHECK(*r.error == "bad_url"_a);
  }
}

TEST_CASE("http_get: a timeout returns in about the timeout") {
  LocalHttpServer server;
  Node node(config("httptimeout"));
  auto start = Clock::now();
  HttpResult r = get(node, server.url("/slow?ms=20000"), 300ms);
  auto took = Clock::now() - start;
  REQUIRE(r.error);
  CHECK(*r.error == "timeout"_a);
  CHECK(took >= 250ms);
  CHECK(took < 5s);  // generous for a loaded machine; the server would take 20 s
}

TEST_CASE("http_get: a host name is looked up (localhost)") {
  LocalHttpServer server;
  Node node(config("httpname"));
  HttpResult r = get(node, "http://localhost:" + std::to_string(server.port()) + "/ok");
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
}

TEST_CASE("http_get: TLS is spoken and verified (a self-signed certificate is refused)") {
  LocalHttpServer server(/*tls=*/true);
  Node node(config("httptls"));
  HttpResult r = get(node, server.url("/ok"));
  REQUIRE(r.error);
  CHECK(*r.error == "tls"_a);
  INFO(r.message);
  CHECK_FALSE(r.message.empty());
}

TEST_CASE("http_get: without a Node there is no I/O loop: no_node") {
  Runtime rt({.workers = 1});
  HttpResult r;
  rt.run([&](Self self) -> Proc { r = co_await http_get(self, "http://127.0.0.1:1/"); });
  REQUIRE(r.error);
  CHECK(*r.error == "no_node"_a);
}

TEST_CASE("http_get: a slow response does not hold the only worker") {
  LocalHttpServer server;
  Node node(config("httpworker", /*schedulers=*/1));
  std::string slow = server.url("/slow?ms=1500");
  Term first, second;
  node.runtime().run([&](Self self) -> Proc {
    Pid me = self.pid();
    self.spawn([me, slow](Self s) -> Proc {
      HttpResult r = co_await http_get(s, slow, 20s);
      s.send(me, tuple("http"_a, std::int64_t(r.status)));
    });
    // Meanwhile another process on the same (only) worker keeps running.
    self.spawn([me](Self s) -> Proc {
      for (int i = 0; i < 20; ++i) co_await s.sleep(5ms);
      s.send(me, "ticked"_a);
    });
    auto a = co_await self.receive(match("ticked"_a), "{http, _}"_p).after(30s);
    auto b = co_await self.receive(match("ticked"_a), "{http, _}"_p).after(30s);
    first = a.term();
    second = b.term();
  });
  CHECK(first == Term("ticked"_a));
  CHECK(second == tuple("http"_a, 200));
}

TEST_CASE("http_get: 1,000 concurrent checks on a flat number of OS threads") {
  // A thousand sockets at once: make sure the descriptor limit allows them.
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 4096 && lim.rlim_max > lim.rlim_cur) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  constexpr int kChecks = 1000;
  LocalHttpServer server;
  Node node(config("httpmany"));
  // Every check waits 300 ms at the server, so they can only finish in reasonable time if
  // they are in flight together.
  std::string url = server.url("/slow?ms=300");
  REQUIRE(get(node, server.url("/ok")).status == 200);  // the client and its handles exist
  const std::size_t before = thread_count();

  std::atomic<bool> done{false};
  std::atomic<int> in_flight{0}, most_in_flight{0}, healthy{0};
  auto start = Clock::now();
  node.runtime().spawn([&](Self self) -> Proc {
    Pid me = self.pid();
    for (int i = 0; i < kChecks; ++i)
      self.spawn([&, me](Self s) -> Proc {
        int now = ++in_flight;
        for (int m = most_in_flight; now > m && !most_in_flight.compare_exchange_weak(m, now);) {
        }
        HttpResult r = co_await http_get(s, url, 60s);
        --in_flight;
        s.send(me, tuple("checked"_a, r.status == 200 ? "healthy"_a : "down"_a));
      });
    for (int i = 0; i < kChecks; ++i) {
      auto m = co_await self.receive("{checked, _}"_p).after(120s);
      if (m.timed_out()) break;
      if (m[1] == Term("healthy"_a)) ++healthy;
    }
    done = true;
  });
  std::size_t most_threads = before;
  auto deadline = Clock::now() + 180s;
  while (!done && Clock::now() < deadline) {
    most_threads = std::max(most_threads, thread_count());
    std::this_thread::sleep_for(1ms);  // a sampling interval, not a wait for an outcome
  }
  auto took = Clock::now() - start;
  REQUIRE(done);
  CHECK(healthy == kChecks);
  CHECK(most_in_flight > kChecks * 9 / 10);
  INFO("threads before " << before << ", most during " << most_threads);
  CHECK(most_threads <= before + 1);
  CHECK(took < 60s);  // in sequence they would take 300 s
}

TEST_CASE("http_get: a caller killed while it waits leaves the node able to fetch") {
  LocalHttpServer server;
  Node node(config("httpkilled"));
  std::string slow = server.url("/slow?ms=20000");
  Pid waiter = node.runtime().spawn([slow](Self s) -> Proc { co_await http_get(s, slow, 30s); });
  // Waiting in its receive, with the request on the loop thread.
  for (auto deadline = Clock::now() + 30s; Clock::now() < deadline;) {
    auto info = node.runtime().info(waiter);
    if (info && info->status == ProcessStatus::kWaiting) break;
    std::this_thread::yield();
  }
  node.runtime().exit(waiter, "kill"_a);
  HttpResult r = get(node, server.url("/ok"));
  CHECK_FALSE(node.runtime().alive(waiter));
  CHECK(r.status == 200);
}
