// Hostile input on a node's port: random bytes, garbage after a Hello, garbage after a
// complete handshake, an oversized length, a slow-loris peer. Each connection is dropped
// (this side sees EOF or a reset) with a log line naming the peer, while a concurrent ping
// through ember_admin keeps being answered and the node's other connection stays up.
#include <poll.h>

#include <atomic>
#include <cstring>
#include <random>

#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/handshake.hpp"
#include "support.hpp"

using namespace multinode;

namespace {

// Pings a node's ember_admin every 20 ms from the client until told to stop.
struct Pinger {
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false}, done{false};
  std::atomic<int> slowest_ms{0};

  void start(Cluster& cluster, Atom node) {
    cluster.client().runtime().spawn([this, node](Self self) -> Proc {
      while (!stop) {
        auto t0 = Clock::now();
        Term r = co_await testing::admin_call(self, node, "ping"_a, {}, 3s);
        (r == Term("pong"_a) ? ok : failed)++;
        slowest_ms = std::max(slowest_ms.load(), int(ms_since(t0)));
        co_await self.sleep(20ms);
      }
      done = true;
    });
  }
  void finish() {
    stop = true;
    eventually([&] { return done.load(); }, 10s);
  }
};

// Nodes a (the target) and b (its peer, whose connection must survive), and a pinger.
struct Target : ClusterTest {
  NodeProcess &a, &b;
  Pinger pinger;
  Target() : a(cluster.start("a")), b(cluster.start("b")) {
    REQUIRE(cluster.wait_for_mesh());
    pinger.start(cluster, a.name());
    REQUIRE(eventually([&] { return pinger.ok > 0; }, 10s));
  }
  ~Target() { pinger.finish(); }

  // The node served the pings throughout and kept its connection to b.
  void check_still_serving() {
    int before = pinger.ok;
    CHECK(eventually([&] { return pinger.ok > before; }, 5s));  // still answering now
    pinger.finish();
    INFO("pings answered " << pinger.ok << ", failed " << pinger.failed << ", slowest "
                           << pinger.slowest_ms << " ms");
    CHECK(pinger.failed == 0);
    CHECK(pinger.ok >= 2);
    CHECK(has(cluster.nodes_of(b), a.name()));
    CHECK(a.log().find("lost " + std::string(b.name().text())) == std::string::npos);
    Term reply;
    cluster.run([&](Self self) -> Proc {
      self.send(RemoteName{"echo"_a, a.name()}, tuple("echo"_a, "still here", self.pid()));
      reply = (co_await self.receive("{ok, _}"_p).after(5s)).term();
    });
    CHECK(reply == tuple("ok"_a, "still here"));
  }

  // The node dropped `peer` within `within` and logged a line naming it; `log_says`
  // defaults to the refusal of a connection that never came up.
  void check_dropped(RawPeer& peer, milliseconds within, std::string log_says = {}) {
    if (log_says.empty()) log_says = "refused connection with " + peer.address() + ":";
    auto t0 = Clock::now();
    CHECK(peer.wait_closed(t0 + within));
    INFO("peer " << peer.address() << "\n" << a.log_tail(20));
    CHECK(a.wait_for_log(log_says, 5s));
  }
};

std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::byte> b(n);
  for (auto& x : b) x = std::byte(rng() & 0xff);
  return b;
}

std::vector<std::byte> header(std::uint32_t length, std::uint32_t flags = 0) {
  std::vector<std::byte> h(8);
  std::memcpy(h.data(), &length, 4);  // little-endian on every machine Ember builds for
  std::memcpy(h.data() + 4, &flags, 4);
  return h;
}

net::PeerInfo intruder() {
  net::PeerInfo p;
  p.name = "intruder@127.0.0.1";
  p.creation = 7;
  p.hidden = true;
  return p;
}

// The initiator's Hello, as a real node would send it.
std::vector<std::byte> hello_frame() {
  net::Cookie cookie("whatever");
  net::Handshake hs(net::Handshake::Role::kInitiator, intruder(), cookie);
  net::FrameEncoder encoder;
  std::vector<std::byte> out;
  hs.start(encoder, out);
  return out;
}

// Runs the whole handshake over `peer`, as a hidden node that knows the cookie.
bool complete_handshake(RawPeer& peer, const std::string& cookie_text, Clock::time_point deadline) {
  net::Cookie cookie(cookie_text);
  net::Handshake hs(net::Handshake::Role::kInitiator, intruder(), cookie);
  net::FrameEncoder encoder;
  net::FrameDecoder decoder;
  std::vector<std::byte> out;
  hs.start(encoder, out);
  if (!peer.send(out)) return false;
  while (Clock::now() < deadline) {
    std::vector<std::byte> in;
    bool open = peer.drain(&in);
    decoder.feed(in);
    while (auto words = decoder.next()) {
      net::FrameReader reader(*words);
      out.clear();
      auto status = hs.on_frame(reader.root(), encoder, out);
      if (status == net::Handshake::Status::kFailed) return false;
      if (!out.empty() && !peer.send(out)) return false;
      if (status == net::Handshake::Status::kDone) return true;
    }
    if (!open) return false;
    pollfd pf{peer.fd(), POLLIN, 0};
    ::poll(&pf, 1, 100);
  }
  return false;
}

}  // namespace

TEST_CASE("random bytes on a node's port: each connection dropped, the node serves on") {
  Target t;
  std::uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 16; ++i) {
    peers.push_back(std::make_unique<RawPeer>(t.a.port()));
    peers.back()->send(random_bytes(rng, 1 + rng() % 4096));
  }
  // A header that happens to look sane waits for its frame until the handshake timeout
  // (5 s): the bound leaves room for that.
  for (auto& p : peers) t.check_dropped(*p, 15s);
  t.check_still_serving();
  peers.clear();
  t.teardown();
}

TEST_CASE("garbage after a TCP connect or after a Hello: dropped, the node serves on") {
  Target t;
  RawPeer http(t.a.port());
  std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  http.send(request.data(), request.size());

  std::mt19937_64 rng(42);
  RawPeer after_hello(t.a.port());
  auto bytes = hello_frame();
  auto junk = random_bytes(rng, 256);
  bytes.insert(bytes.end(), junk.begin(), junk.end());
  after_hello.send(bytes);

  RawPeer bad_frame(t.a.port());  // a well-formed header around a message that is not one
  auto frame = header(64);
  auto body = random_bytes(rng, 64);
  frame.insert(frame.end(), body.begin(), body.end());
  bad_frame.send(frame);

  t.check_dropped(http, 10s);
  t.check_dropped(after_hello, 10s);
  t.check_dropped(bad_frame, 10s);
  t.check_still_serving();
  t.teardown();
}

TEST_CASE("garbage after a completed handshake: dropped, the node serves on") {
  Target t;
  RawPeer peer(t.a.port());
  REQUIRE(complete_handshake(peer, t.cluster.cookie(), Clock::now() + 10s));
  std::mt19937_64 rng(7);
  auto junk = header(24);
  auto body = random_bytes(rng, 24);
  junk.insert(junk.end(), body.begin(), body.end());
  peer.send(junk);
  t.check_dropped(peer, 10s, "closing connection to intruder@127.0.0.1 (" + peer.address() + "):");
  t.check_still_serving();
  t.teardown();
}

TEST_CASE("a header with an oversized length: dropped at once, the node serves on") {
  Target t;
  RawPeer huge(t.a.port());
  huge.send(header(0xFFFFFFF8u));
  RawPeer just_over(t.a.port());
  just_over.send(header((64u << 20) + 8));
  RawPeer unaligned(t.a.port());
  unaligned.send(header(13));
  t.check_dropped(huge, 5s);
  t.check_dropped(just_over, 5s);
  t.check_dropped(unaligned, 5s);
  t.check_still_serving();
  t.teardown();
}

TEST_CASE("a slow-loris peer sending one byte a second: dropped, the node serves on") {
  Target t;
  RawPeer slow(t.a.port());
  auto hello = hello_frame();
  auto t0 = Clock::now();
  std::size_t sent = 0;
  bool dropped = false;
  // The pace is the attack itself; the drop is what the loop waits for.
  while (!dropped && sent < hello.size() && Clock::now() < t0 + 20s) {
    if (!slow.send(&hello[sent], 1)) break;
    ++sent;
    dropped = slow.wait_closed(Clock::now() + 1s);
  }
  dropped = dropped || slow.wait_closed(Clock::now() + 1s);
  double took = ms_since(t0);
  INFO("dropped after " << took << " ms and " << sent << " bytes");
  CHECK(dropped);
  CHECK(sent < hello.size());  // it never got to finish its Hello
  CHECK(took < 12000);         // the handshake timeout is 5 s
  CHECK(t.a.wait_for_log("refused connection with " + slow.address() + ": handshake not completed",
                         5s));
  t.check_still_serving();
  t.teardown();
}
