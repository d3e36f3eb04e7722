// Big messages between nodes: a size limit the sender hears of, and fragmentation that lets
// small messages pass a 100 MiB one on the same connection.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "ember/core/errors.hpp"
#include "ember/net/transport.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig config(const char* name, std::size_t max_message = 64u << 20) {
  NodeConfig c = ember::testing::loopback_node(name, "flowcookie");
  c.max_message_bytes = max_message;
  return c;
}

}  // namespace

TEST_CASE("a message over the size limit is refused at the sender with a clean error") {
  Node origin(config("origin", 1u << 20)), peer(config("peer"));
  Pid sink =
      peer.runtime().spawn([](Self self) -> Proc { co_await self.receive(match("never"_a)); });
  Term error, after;
  origin.runtime().run([&](Self self) -> Proc {
    try {
      self.send(sink, tuple("big"_a, std::string(2u << 20, 'x')));
    } catch (const ErlangError& e) {
      error = e.reason();
    }
    // The connection is fine afterwards.
    Pid echo = peer.runtime().spawn([](Self s) -> Proc {
      auto m = co_await s.receive("{ping, _}"_p);
      s.send(m.pid(1), "pong"_a);
    });
    self.send(echo, tuple("ping"_a, self.pid()));
    auto m = co_await self.receive(match("pong"_a)).after(5s);
    after = m.timed_out() ? Term() : m.term();
  });
  REQUIRE(error.is_tuple(3));
  CHECK(error[0] == Term("message_too_large"_a));
  CHECK(error[2] == Term(std::int64_t(1u << 20)));
  CHECK(after == Term("pong"_a));
}

TEST_CASE("a small message sent after a 100 MiB one by another process arrives first") {
  const std::size_t kBig = 100u << 20;
  // Sanitizer builds take seconds over 100 MiB: a generous silence bound keeps a slow
  // machine from looking like a dead peer.
  NodeConfig oc = config("origin", kBig + (1u << 20)), pc = config("peer", kBig + (1u << 20));
  oc.silence_timeout = pc.silence_timeout = 20s;
  Node origin(oc), peer(pc);
  std::vector<std::string> arrivals;
  std::size_t big_bytes = 0;
  Pid receiver = peer.runtime().spawn([&](Self self) -> Proc {
    for (int i = 0; i < 2; ++i) {
      auto m = co_await self.receive();
      arrivals.emplace_back(m[0].as<Atom>().text());
      if (m[0].is("big"_a)) big_bytes = m[1].as<std::string>().size();
    }
  });
  Term done;
  origin.runtime().run([&](Self self) -> Proc {
    Pid me = self.pid();
    self.spawn([receiver, me, kBig](Self s) {
      s.send(receiver, tuple("big"_a, std::string(kBig, 'b')));
      s.send(me, "queued"_a);  // the big frame is in the connection's queue now
    });
    co_await self.receive(match("queued"_a)).after(60s);
    self.spawn([receiver](Self s) { s.send(receiver, tuple("small"_a)); });
    Ref ref = self.monitor(receiver);
    auto d = co_await self.receive(match(tuple("DOWN"_a, ref, _, _, _))).after(60s);
    done = d.timed_out() ? Term() : d[4];
  });
  CHECK(done == Term("normal"_a));
  CHECK(arrivals == std::vector<std::string>{"small", "big"});
  CHECK(big_bytes == kBig);
}

TEST_CASE("a stalled peer: try_send reports busy and a plain send waits until it drains") {
  // The peer is a bare transport whose loop thread stalls in the first frame it reads.
  std::mutex m;
  std::condition_variable cv;
  bool frozen = true;
  std::size_t received = 0;
  net::TransportHandler h;
  h.on_frame = [&](net::ConnectionId, wire::Frame::Reader f) {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return !frozen; });
    received += f.isSend();
    cv.notify_all();
  };
  net::TransportConfig tc;
  tc.cookie = "flowcookie";
  tc.tick_interval = 0ms;
  std::uint16_t port;
  {  // the port must be known before the name is: take a free one
    net::Transport probe(tc, {});
    port = probe.port();
  }
  tc.listen_port = port;
  tc.self.name = "stalled@127.0.0.1:" + std::to_string(port);
  tc.self.creation = 7;
  net::Transport stalled(tc, h);
  Pid target(*NodeTable::intern(Atom(tc.self.name), 7), 5, 1);

  NodeConfig oc = config("origin");
  oc.busy_bytes = 1u << 20;
  oc.tick_interval = 0ms;
  Node origin(oc);
  std::size_t sent = 0;
  bool busy = false, waited_send_done = false;
  origin.runtime().run([&](Self self) -> Proc {
    Node& node = *Node::of(self);
    std::string payload(1000, 'p');
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (node.try_send(self, target, tuple("m"_a, payload)) == Node::SendResult::kBusy) {
        busy = true;
        break;
      }
      ++sent;
      if (sent % 64 == 0) co_await self.yield();
    }
    // Unstall the peer from another thread a little later; this send waits for it.
    std::thread release([&] {
      std::this_thread::sleep_for(50ms);
      std::lock_guard lock(m);
      frozen = false;
      cv.notify_all();
    });
    self.send(target, tuple("m"_a, payload));
    waited_send_done = true;
    release.join();
  });
  CHECK(busy);
  CHECK(sent > 100);
  CHECK(waited_send_done);
  std::unique_lock lock(m);
  CHECK(cv.wait_for(lock, 30s, [&] { return received == sent + 1; }));
}
