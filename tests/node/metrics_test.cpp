// Observability: per-connection counters (Node::connection_stats, ember_admin's
// `connections`) and the metrics endpoint (NodeConfig::metrics_port), scraped over real
// HTTP: http_get (libcurl) from another node, and a raw socket for what curl never sends.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "ember/node/admin.hpp"
#include "ember/node/http.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

NodeConfig config(const char* name, std::uint16_t metrics_port = 0) {
  NodeConfig c = ember::testing::loopback_node(name, "metricscookie");
  c.metrics_port = metrics_port;
  return c;
}

using ember::testing::free_port;

// ember::testing::eventually, with this file's default deadline.
bool eventually(const std::function<bool()>& f, std::chrono::milliseconds within = 10s) {
  return ember::testing::eventually(f, within, 5ms);
}

std::optional<net::ConnectionStats> stats_for(const Node& node, Atom peer) {
  for (auto& s : node.connection_stats())
    if (s.peer == peer.text()) return s;
  return std::nullopt;
}

Proc echo(Self self) {
  for (;;) {
    auto m = co_await self.receive();
    if (m.term().is("stop"_a)) co_return;
    if (m.term().is_tuple(2) && m.term()[0].is_pid()) self.send(m.term()[0].pid(), m.term()[1]);
  }
}

// `count` round trips from a process on `from` to an echo process on `to`; the number of
// replies that came back.
int round_trips(Node& from, Node& to, int count, std::size_t payload_bytes = 16) {
  Pid e = to.runtime().spawn(echo);
  int replies = 0;
  std::string payload(payload_bytes, 'x');
  from.runtime().run([&](Self self) -> Proc {
    for (int i = 0; i < count; ++i) self.send(e, tuple(self.pid(), std::string_view(payload)));
    for (int i = 0; i < count; ++i) {
      auto m = co_await self.receive().after(10s);
      if (m.timed_out()) break;
      ++replies;
    }
    self.send(e, "stop"_a);
  });
  return replies;
}

HttpResult get(Node& node, const std::string& url) {
  HttpResult result;
  node.runtime().run([&](Self self) -> Proc { result = co_await http_get(self, url, 10s); });
  return result;
}

// Sends `request` as is on a fresh connection and reads until the server closes it (or
// 5 s pass: then `closed` is false).
struct RawReply {
  std::string text;
  bool closed = false;
};
RawReply raw_http(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  RawReply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) r.closed = true;
    if (n <= 0) break;
    r.text.append(buf, std::size_t(n));
  }
  ::close(fd);
  return r;
}

// The Prometheus text format 0.0.4, line by line: HELP and TYPE before a family's samples,
// each sample `name{label="value",...} number`. Returns what failed, or "" and fills
// `samples` (name{labels} -> value) and `types` (family -> type).
std::string parse_prometheus(const std::string& text, std::map<std::string, double>& samples,
                             std::map<std::string, std::string>& types) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")"
      R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? ([-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))");
  if (text.empty() || text.back() != '\n') return "the text does not end with a newline";
  std::istringstream in(text);
  std::string line;
  std::set<std::string> helped;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      helped.insert(m[1]);
    } else if (std::regex_match(line, m, type)) {
      if (!helped.count(m[1])) return "line " + std::to_string(n) + ": TYPE before HELP: " + line;
      if (types.count(m[1])) return "line " + std::to_string(n) + ": second TYPE: " + line;
      types[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample)) {
      if (!types.count(m[1]))
        return "line " + std::to_string(n) + ": a sample without its TYPE: " + line;
      std::string key = m[1].str() + m[2].str();
      if (samples.count(key)) return "line " + std::to_string(n) + ": a repeated sample: " + line;
      samples[key] = std::stod(m[3]);
    } else {
      return "line " + std::to_string(n) + " is malformed: '" + line + "'";
    }
  }
  return "";
}

}  // namespace

TEST_CASE("connection stats: bytes, frames and messages grow with traffic, and both ends agree") {
  Node a(config("stats_a")), b(config("stats_b"));
  REQUIRE(a.connect(b.name()));
  REQUIRE(eventually([&] { return stats_for(a, b.name()) && stats_for(b, a.name()); }));
  net::ConnectionStats before = *stats_for(a, b.name());
  CHECK(before.creation == b.creation());
  CHECK_FALSE(before.hidden);
  CHECK(before.address == "127.0.0.1:" + std::to_string(b.port()));  // where b listens
  CHECK(stats_for(b, a.name())->address == "127.0.0.1:" + std::to_string(a.port()));
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  CHECK(before.up_since_unix_ms <= now_ms);
  CHECK(before.up_since_unix_ms > now_ms - 60'000);
  CHECK(before.frames_in >= 3);  // the handshake at least
  CHECK(before.frames_out >= 2);

  REQUIRE(round_trips(a, b, 200) == 200);
  // One message of 1 MiB goes in fragments: it counts as one frame and one message.
  REQUIRE(round_trips(a, b, 1, 1u << 20) == 1);
  net::ConnectionStats after = *stats_for(a, b.name());
  CHECK(after.messages_out - before.messages_out == 203);  // and a `stop` per round_trips
  CHECK(after.messages_in - before.messages_in == 201);
  CHECK(after.bytes_out - before.bytes_out > 201 * 16 + (1u << 20));
  CHECK(after.bytes_in - before.bytes_in > 201 * 16 + (1u << 20));
  // Messages sent in one run may share a LocalSends frame, so frames are fewer than
  // messages; each of the two runs sends one at least.
  CHECK(after.frames_out - before.frames_out >= 2);
  CHECK(after.frames_in - before.frames_in >= 2);
  CHECK(after.since_last_read < 5s);
  CHECK(after.uptime >= before.uptime);
  // What a wrote, b read, to the byte and the frame (compared at a moment when no tick
  // is on the way between the two snapshots).
  bool agree = eventually([&] {
    auto ab = stats_for(a, b.name()), ba = stats_for(b, a.name());
    auto ab2 = stats_for(a, b.name());
    return ab && ba && ab2 && ab->bytes_out == ab2->bytes_out && ab->bytes_out == ba->bytes_in &&
           ab->frames_out == ba->frames_in && ab->messages_out == ba->messages_in &&
           ab->queued_bytes == 0;
  });
  CHECK(agree);
}

TEST_CASE("connection stats: ticks on an idle connection, and the age of the last one") {
  NodeConfig ca = config("tick_a"), cb = config("tick_b");
  for (NodeConfig* c : {&ca, &cb}) {
    c->tick_interval = 50ms;
    c->silence_timeout = 2s;
  }
  Node a(ca), b(cb);
  REQUIRE(a.connect(b.name()));
  // An idle connection hears a tick every interval: its age stays well under the timeout.
  bool ticked = eventually([&] {
    auto s = stats_for(a, b.name());
    return s && s->since_last_tick >= 0ms && s->since_last_tick < 1s;
  });
  CHECK(ticked);
  auto s = stats_for(a, b.name());
  REQUIRE(s);
  CHECK(s->since_last_read < 1s);
}

TEST_CASE("connection stats: ember_admin's connections request answers them, hidden peers too") {
  NodeConfig tool = config("stats_tool");
  tool.listen = false;
  tool.hidden = true;
  tool.name = "stats_tool@127.0.0.1";
  Node node(config("stats_node")), other(config("stats_other")), cli(tool);
  REQUIRE(node.connect(other.name()));
  REQUIRE(round_trips(node, other, 10) == 10);
  Term rows;
  cli.runtime().run([&](Self self) -> Proc {
    Ref ref = self.make_ref();
    self.send(RemoteName{admin_name(), node.name()}, tuple("connections"_a, self.pid(), ref));
    auto m = co_await self.receive(match(tuple(ref, _))).after(5s);
    rows = m.timed_out() ? Term("timeout"_a) : m[1];
  });
  REQUIRE(rows.is_list());
  std::map<std::string, Term> by_node;
  for (const Term& r : rows) by_node[std::string(r.get("node"_a)->atom().text())] = r;
  REQUIRE(by_node.count(std::string(other.name().text())));
  REQUIRE(by_node.count(std::string(cli.name().text())));
  const Term& o = by_node[std::string(other.name().text())];
  CHECK(o.get("hidden"_a) == std::optional<Term>(Term(false)));
  CHECK(by_node[std::string(cli.name().text())].get("hidden"_a) == std::optional<Term>(Term(true)));
  CHECK(o.get("creation"_a) == std::optional<Term>(Term(std::int64_t(other.creation()))));
  for (const char* key : {"bytes_in", "bytes_out", "frames_in", "frames_out", "messages_in",
                          "messages_out", "up_since_ms"}) {
    INFO(key);
    auto v = o.get(Atom(key));
    REQUIRE(v);
    REQUIRE(v->is_integer());
    CHECK(v->as<std::int64_t>() > 0);
  }
  CHECK(o.get("messages_out"_a)->as<std::int64_t>() >= 10);
  for (const char* key : {"uptime_ms", "queue_bytes", "last_read_ms", "last_tick_ms", "address"}) {
    INFO(key);
    CHECK(o.get(Atom(key)));
  }
}

TEST_CASE("metrics endpoint: /metrics is Prometheus text with per-peer counters after traffic") {
  std::uint16_t port = free_port();
  Node a(config("prom_a", port)), scraper(config("prom_scraper"));
  auto b_node = std::make_unique<Node>(config("prom_b"));
  Node& b = *b_node;
  REQUIRE(a.metrics_port() == port);
  REQUIRE(a.connect(b.name()));
  REQUIRE(round_trips(a, b, 50) == 50);
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  HttpResult r = get(scraper, url + "/metrics");
  INFO(r.message);
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string error = parse_prometheus(r.body, samples, types);
  INFO(r.body);
  REQUIRE(error == "");
  for (const char* name :
       {"ember_node_info", "ember_uptime_seconds", "ember_processes", "ember_run_queue_length",
        "ember_process_memory_bytes", "ember_resident_memory_bytes", "ember_os_yields_total",
        "ember_connected_nodes", "ember_node_downs_total", "ember_global_names", "ember_pg_groups",
        "ember_peer_messages_in_total", "ember_peer_messages_out_total",
        "ember_peer_bytes_in_total", "ember_peer_bytes_out_total", "ember_peer_frames_in_total",
        "ember_peer_frames_out_total", "ember_peer_queue_bytes", "ember_peer_uptime_seconds"}) {
    INFO(name);
    CHECK(types.count(name));
  }
  CHECK(types["ember_node_downs_total"] == "counter");
  CHECK(types["ember_os_yields_total"] == "counter");
  CHECK(types["ember_processes"] == "gauge");
  CHECK(samples["ember_processes"] >= 1);
  CHECK(samples["ember_resident_memory_bytes"] > 0);
  CHECK(samples["ember_connected_nodes"] == 1);  // b; the scraper talks HTTP, not Ember
  CHECK(samples["ember_node_downs_total"] == 0);
  CHECK(samples["ember_pg_groups{scope=\"pg\"}"] == 0);
  CHECK(samples.count("ember_run_queue_length{queue=\"0\"}"));
  CHECK(samples.count("ember_run_queue_length{queue=\"injection\"}"));
  std::string peer = "{peer=\"" + std::string(b.name().text()) + "\"}";
  CHECK(samples["ember_peer_messages_out_total" + peer] >= 50);
  CHECK(samples["ember_peer_messages_in_total" + peer] >= 50);
  for (const char* name : {"ember_peer_bytes_in_total", "ember_peer_bytes_out_total",
                           "ember_peer_frames_in_total", "ember_peer_frames_out_total"}) {
    INFO(name);
    CHECK(samples[name + peer] > 0);
  }
  CHECK(samples.count(std::string("ember_node_info{node=\"") + std::string(a.name().text()) +
                      "\",creation=\"" + std::to_string(a.creation()) + "\"}"));

  // A global name, a pg group and a lost node show up in the next scrape.
  Pid holder = a.runtime().spawn([](Self self) -> Proc {
    co_await register_global(self, "prom_name"_a, self.pid());
    pg::join(self, "prom_group"_a);
    co_await self.receive(match("stop"_a));
  });
  REQUIRE(eventually([&] { return a.whereis_global("prom_name"_a).has_value(); }));
  REQUIRE(
      eventually([&] { return !a.groups().which_groups(ProcessGroups::default_scope()).empty(); }));
  std::string b_name(b.name().text());
  b_node.reset();
  REQUIRE(eventually([&] { return a.node_downs() == 1; }));
  samples.clear();
  types.clear();
  r = get(scraper, url + "/metrics");
  REQUIRE(parse_prometheus(r.body, samples, types) == "");
  CHECK(samples["ember_global_names"] == 1);
  CHECK(samples["ember_pg_groups{scope=\"pg\"}"] == 1);
  CHECK(samples["ember_node_downs_total"] == 1);
  CHECK(samples["ember_connected_nodes"] == 0);
  CHECK_FALSE(samples.count("ember_peer_messages_in_total{peer=\"" + b_name +
                            "\"}"));  // its connection is gone
  a.runtime().send(holder, "stop"_a);
}

TEST_CASE("metrics endpoint: /health is ok, other paths 404, other methods 405") {
  std::uint16_t port = free_port();
  Node a(config("health_a", port)), scraper(config("health_scraper"));
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  HttpResult health = get(scraper, url + "/health");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  HttpResult query = get(scraper, url + "/metrics?name[]=ember_processes");  // queries ignored
  CHECK(query.status == 200);
  CHECK(query.body.find("ember_processes ") != std::string::npos);
  HttpResult missing = get(scraper, url + "/nope");
  CHECK(missing.status == 404);
  HttpResult root = get(scraper, url + "/");
  CHECK(root.status == 404);
  RawReply post = raw_http(port,
                           "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                           "Connection: close\r\n\r\nabc");
  CHECK(post.text.rfind("HTTP/1.1 405 ", 0) == 0);
  CHECK(post.text.find("Allow: GET, HEAD") != std::string::npos);
  CHECK(post.closed);
  RawReply head = raw_http(port, "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.text.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(head.text.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(head.text.substr(head.text.size() - 4) == "\r\n\r\n");  // no body after HEAD
  // Two requests on one keep-alive connection, pipelined: two answers, in order.
  RawReply two = raw_http(port,
                          "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto second = two.text.find("HTTP/1.1 404 ");
  CHECK(two.text.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(second != std::string::npos);
  CHECK(two.closed);
}

TEST_CASE(
    "metrics endpoint: a malformed request gets 400 and its connection closed, nothing else") {
  std::uint16_t port = free_port();
  Node a(config("bad_a", port)), scraper(config("bad_scraper"));
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  // A keep-alive client, connected before the bad one, keeps being served after it.
  int keep = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::connect(keep, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  for (const char* bad :
       {"GARBAGE\r\n\r\n", "GET /metrics HTTP/9.x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
        "GET /health HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"}) {
    INFO(bad);
    RawReply r = raw_http(port, bad);
    CHECK(r.text.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(r.text.find("Connection: close") != std::string::npos);
    CHECK(r.closed);
  }
  std::string huge = "GET /" + std::string(10000, 'a') + " HTTP/1.1\r\n\r\n";
  RawReply too_long = raw_http(port, huge);
  CHECK(too_long.text.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(too_long.text.find("URL longer than 8192 bytes") != std::string::npos);
  std::string ask = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::send(keep, ask.data(), ask.size(), MSG_NOSIGNAL) == ssize_t(ask.size()));
  timeval tv{5, 0};
  ::setsockopt(keep, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[1024];
  while (got.find("ok\n") == std::string::npos) {
    ssize_t n = ::recv(keep, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, std::size_t(n));
  }
  ::close(keep);
  CHECK(got.rfind("HTTP/1.1 200 OK", 0) == 0);
  HttpResult after = get(scraper, url + "/metrics");
  CHECK(after.status == 200);
  CHECK(a.nodes().empty());  // the node itself carries on: no peer lost, none gained
  CHECK(a.node_downs() == 0);
}

TEST_CASE("metrics endpoint: many concurrent scrapes all get whole pages") {
  std::uint16_t port = free_port();
  Node a(config("many_a", port)), b(config("many_b")), scraper(config("many_scraper"));
  REQUIRE(a.connect(b.name()));
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  constexpr int kScrapes = 64;
  std::vector<HttpResult> results(kScrapes);
  scraper.runtime().run([&](Self self) -> Proc {
    for (int i = 0; i < kScrapes; ++i)
      self.spawn([&, i, parent = self.pid()](Self s) -> Proc {
        results[std::size_t(i)] = co_await http_get(s, url, 20s);
        s.send(parent, "done"_a);
      });
    for (int i = 0; i < kScrapes; ++i) co_await self.receive(match("done"_a)).after(30s);
  });
  int whole = 0;
  for (const HttpResult& r : results) {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;
    if (r.status == 200 && parse_prometheus(r.body, samples, types).empty() &&
        samples.count("ember_processes"))
      ++whole;
  }
  CHECK(whole == kScrapes);
}

TEST_CASE("metrics endpoint: off by default, and a port in use fails the node with the address") {
  Node off(config("metrics_off"));
  CHECK(off.metrics_port() == 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::uint16_t taken = ntohs(a.sin_port);
  std::string expected = "metrics endpoint: cannot listen on 127.0.0.1:" + std::to_string(taken);
  CHECK_THROWS_WITH(Node(config("metrics_taken", taken)),
                    Catch::Contains(expected) && Catch::Contains("EADDRINUSE"));
  ::close(fd);
}
