// Two transports on loopback: authentication, ordered delivery, and bad peers refused
// without disturbing the listener.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"
#include "ember/net/transport.hpp"

using namespace ember;
using namespace ember::net;
using namespace std::chrono_literals;

namespace {

// What one transport saw, with a way to wait for it.
struct Events {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> up, refused, down;
  ConnectionId last_up = 0;
  std::vector<std::int64_t> seqs;

  TransportHandler handler() {
    TransportHandler h;
    h.on_up = [this](ConnectionId id, const PeerInfo& peer) { add(up, peer.name, id); };
    h.on_refused = [this](ConnectionId, const std::string& peer, const std::string& why) {
      add(refused, peer + " " + why, 0);
    };
    h.on_down = [this](ConnectionId, const std::string& why) { add(down, why, 0); };
    h.on_frame = [this](ConnectionId, wire::Frame::Reader f) {
      Term t = read_term(f.getSend().getMessage());
      std::lock_guard lock(mutex);
      seqs.push_back(t[1].integer());
      cv.notify_all();
    };
    return h;
  }
  void add(std::vector<std::string>& v, std::string s, ConnectionId id) {
    std::lock_guard lock(mutex);
    v.push_back(std::move(s));
    if (id) last_up = id;
    cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, pred);
  }
};

TransportConfig config(const std::string& name, const std::string& cookie) {
  TransportConfig c;
  c.self.name = name;
  c.self.creation = 1;
  c.cookie = cookie;
  return c;
}

}  // namespace

TEST_CASE("two transports authenticate and deliver 10,000 frames in order") {
  Events ea, eb;
  Transport a(config("a@127.0.0.1", "cookie"), ea.handler());
  Transport b(config("b@127.0.0.1", "cookie"), eb.handler());
  b.connect("127.0.0.1", a.port());
  REQUIRE(ea.wait([&] { return !ea.up.empty(); }));
  REQUIRE(eb.wait([&] { return !eb.up.empty(); }));
  CHECK(ea.up[0] == "b@127.0.0.1");
  CHECK(eb.up[0] == "a@127.0.0.1");

  FrameEncoder enc;
  for (std::int64_t i = 0; i < 10000; ++i) {
    std::vector<std::byte> frame;
    enc.encode_send(frame, Pid(), Pid(), tuple("seq"_a, i));
    b.send(eb.last_up, std::move(frame));
  }
  REQUIRE(ea.wait([&] { return ea.seqs.size() == 10000; }));
  bool in_order = true;
  for (std::int64_t i = 0; i < 10000; ++i) in_order &= ea.seqs[std::size_t(i)] == i;
  CHECK(in_order);
}

// Transport::poll, as a node's idle worker calls it: Send frames are handled on the polling
// thread, a RegSend (not on_any_thread here) and whatever follows it go to the loop thread,
// and the stream stays in order whichever thread reads.
TEST_CASE("a polling thread reads frames in order and leaves other kinds to the loop thread") {
  Events ea, eb;
  TransportHandler h = ea.handler();
  std::atomic<int> polled{0}, misplaced{0};
  std::atomic<Transport*> at{nullptr};  // set before any frame can arrive
  h.on_any_thread = [](wire::Frame::Which w) { return w == wire::Frame::SEND; };
  h.on_frame = [&](ConnectionId, wire::Frame::Reader f) {
    bool on_loop = at.load()->on_loop_thread();
    if (f.isRegSend() && !on_loop) ++misplaced;
    if (f.isSend() && !on_loop) ++polled;
    Term t = read_term(f.isSend() ? f.getSend().getMessage() : f.getRegSend().getMessage());
    std::lock_guard lock(ea.mutex);
    ea.seqs.push_back(t[1].integer());
    ea.cv.notify_all();
  };
  Transport a(config("a@127.0.0.1", "cookie"), h);
  at = &a;
  Transport b(config("b@127.0.0.1", "cookie"), eb.handler());
  b.connect("127.0.0.1", a.port());
  REQUIRE(eb.wait([&] { return !eb.up.empty(); }));

  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop.load()) a.poll();
  });
  FrameEncoder enc;
  std::int64_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  // Rounds until the poller has read some (the loop thread races it for every read).
  while ((sent < 3000 || polled.load() == 0) && std::chrono::steady_clock::now() < deadline) {
    for (int k = 0; k < 100; ++k, ++sent) {
      std::vector<std::byte> frame;
      if (sent % 50 == 49)
        enc.encode_reg_send(frame, Pid(), "someone"_a, tuple("seq"_a, sent));
      else
        enc.encode_send(frame, Pid(), Pid(), tuple("seq"_a, sent));
      b.send(eb.last_up, std::move(frame));
    }
    std::int64_t expect = sent;
    REQUIRE(ea.wait([&] { return std::int64_t(ea.seqs.size()) == expect; }));
  }
  stop = true;
  poller.join();
  CHECK(polled.load() > 0);
  CHECK(misplaced.load() == 0);
  std::lock_guard lock(ea.mutex);
  bool in_order = true;
  for (std::int64_t i = 0; i < sent; ++i) in_order &= ea.seqs[std::size_t(i)] == i;
  CHECK(in_order);
}

// While a thread polls, the loop thread stops reading the connection (each segment would
// wake it only to find the bytes taken) and reads it again when polling stops: after a
// millisecond without a poll (every worker busy), at a parking(), and to see a close that
// the poller found.
TEST_CASE("the loop thread steps back while a thread polls and reads again when it stops") {
  Events ea, eb;
  TransportHandler h = ea.handler();
  h.on_any_thread = [](wire::Frame::Which w) { return w == wire::Frame::SEND; };
  TransportConfig ca = config("a@127.0.0.1", "cookie");
  ca.tick_interval = 0ms;  // no tick write to find the close: only the read side can
  Transport a(ca, h);
  std::optional<Transport> b(std::in_place, config("b@127.0.0.1", "cookie"), eb.handler());
  b->connect("127.0.0.1", a.port());
  REQUIRE(eb.wait([&] { return !eb.up.empty(); }));
  REQUIRE(ea.wait([&] { return !ea.up.empty(); }));

  auto workers_only = [&] {
    auto stats = a.connection_stats();
    return !stats.empty() && stats[0].read_by_workers_only;
  };
  FrameEncoder enc;
  std::int64_t sent = 0;
  auto send_and_wait = [&](int n) {
    for (int k = 0; k < n; ++k, ++sent) {
      std::vector<std::byte> frame;
      enc.encode_send(frame, Pid(), Pid(), tuple("seq"_a, sent));
      b->send(eb.last_up, std::move(frame));
    }
    std::int64_t expect = sent;
    return ea.wait([&] { return std::int64_t(ea.seqs.size()) == expect; });
  };
  std::atomic<bool> stop{false};
  std::thread poller;
  auto start_polling = [&] {
    stop = false;
    poller = std::thread([&] {
      while (!stop.load()) a.poll();
    });
  };
  auto stop_polling = [&] {
    stop = true;
    poller.join();
  };
  // Traffic until the loop thread has read once after a poll, which is when it steps back.
  auto until_stepped_back = [&] {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!workers_only() && std::chrono::steady_clock::now() < deadline)
      if (!send_and_wait(10)) return false;
    return workers_only();
  };

  start_polling();
  REQUIRE(until_stepped_back());
  stop_polling();  // as a worker that runs processes for long: it stops polling, unparked
  CHECK(send_and_wait(100));
  CHECK(ea.wait([&] { return !workers_only(); }));

  start_polling();
  REQUIRE(until_stepped_back());
  stop_polling();
  a.parking();
  CHECK(send_and_wait(100));
  CHECK(ea.wait([&] { return !workers_only(); }));

  start_polling();
  REQUIRE(until_stepped_back());
  b.reset();  // the poller reads the EOF and hands it to the loop thread, which closes
  CHECK(ea.wait([&] { return !ea.down.empty(); }));
  stop_polling();
  std::lock_guard lock(ea.mutex);
  bool in_order = true;
  for (std::int64_t i = 0; i < sent; ++i) in_order &= ea.seqs[std::size_t(i)] == i;
  CHECK(in_order);
}

TEST_CASE("a wrong cookie is refused on both sides and the listener keeps serving") {
  Events ea, eb, ec;
  Transport a(config("a@127.0.0.1", "right"), ea.handler());
  Transport bad(config("bad@127.0.0.1", "wrong"), eb.handler());
  bad.connect("127.0.0.1", a.port());
  REQUIRE(ea.wait([&] { return !ea.refused.empty(); }));
  CHECK(ea.refused[0].find("wrong cookie") != std::string::npos);
  REQUIRE(eb.wait([&] { return !eb.refused.empty(); }));
  CHECK(ea.up.empty());
  CHECK(eb.up.empty());

  Transport good(config("good@127.0.0.1", "right"), ec.handler());
  good.connect("127.0.0.1", a.port());
  REQUIRE(ec.wait([&] { return !ec.up.empty(); }));
}

// The node layer abandons its own dial there when another connection to that peer came up
// while it was on the way (the peer would let the new one replace it).
TEST_CASE("an initiator that says no at the acceptor's Hello abandons the connection") {
  Events ea, eb;
  std::atomic<int> asked{0};
  TransportHandler hb = eb.handler();
  hb.on_answer = [&](ConnectionId, const PeerInfo& peer) {
    ++asked;
    return peer.name != "a@127.0.0.1";
  };
  Transport a(config("a@127.0.0.1", "c"), ea.handler());
  Transport b(config("b@127.0.0.1", "c"), hb);
  b.connect("127.0.0.1", a.port());
  REQUIRE(eb.wait([&] { return !eb.refused.empty(); }));
  CHECK(eb.refused[0].find("already connected") != std::string::npos);
  REQUIRE(ea.wait([&] { return !ea.refused.empty(); }));  // it never proved itself to a
  CHECK(ea.up.empty());
  CHECK(eb.up.empty());
  CHECK(asked == 1);

  Events ed;  // b says yes to anyone else
  Transport d(config("d@127.0.0.1", "c"), ed.handler());
  b.connect("127.0.0.1", d.port());
  REQUIRE(eb.wait([&] { return !eb.up.empty(); }));
  REQUIRE(ed.wait([&] { return !ed.up.empty(); }));
  CHECK(asked == 2);
}

TEST_CASE("garbage and an oversized length on the port close that connection only") {
  Events ea, ec;
  Transport a(config("a@127.0.0.1", "c"), ea.handler());
  auto raw_send = [&](const std::vector<unsigned char>& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(a.port());
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd, bytes.data(), bytes.size(), 0) == ssize_t(bytes.size()));
    return fd;
  };
  std::mt19937 rng(3);
  std::vector<unsigned char> junk(300);
  for (auto& b : junk) b = static_cast<unsigned char>(rng());
  junk[4] = junk[5] = junk[6] = junk[7] = 0;  // no flags, so the length is what fails
  int fd1 = raw_send(junk);
  std::vector<unsigned char> huge = {0, 0, 0, 0x40, 0, 0, 0, 0};  // claims 1 GiB
  int fd2 = raw_send(huge);
  REQUIRE(ea.wait([&] { return ea.refused.size() >= 2; }));
  ::close(fd1);
  ::close(fd2);

  Transport c(config("c@127.0.0.1", "c"), ec.handler());
  c.connect("127.0.0.1", a.port());
  REQUIRE(ec.wait([&] { return !ec.up.empty(); }));
}

TEST_CASE("connecting to a closed port is reported, not fatal") {
  Events eb;
  std::uint16_t closed_port;
  {
    Transport tmp(config("tmp@127.0.0.1", "c"), Events().handler());
    closed_port = tmp.port();
  }
  Transport b(config("b@127.0.0.1", "c"), eb.handler());
  b.connect("127.0.0.1", closed_port);
  REQUIRE(eb.wait([&] { return !eb.refused.empty(); }));
  CHECK(eb.refused[0].find("ECONNREFUSED") != std::string::npos);
}

TEST_CASE("a peer given by host name is resolved, listening and connecting") {
  Events ea, eb;
  TransportConfig ca = config("a@localhost", "cookie");
  ca.listen_host = "localhost";
  Transport a(ca, ea.handler());
  Transport b(config("b@127.0.0.1", "cookie"), eb.handler());
  b.connect("localhost", a.port());
  REQUIRE(eb.wait([&] { return !eb.up.empty(); }));
  Transport c(config("c@127.0.0.1", "cookie"), eb.handler());
  c.connect("no-such-host.invalid", a.port());
  REQUIRE(eb.wait([&] { return !eb.refused.empty(); }));
  CHECK(eb.refused[0].find("cannot resolve") != std::string::npos);
}
