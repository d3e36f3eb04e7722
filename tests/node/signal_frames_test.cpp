// Process signals on the wire (node/src/signal_frames.cpp): the LocalSend form of a message
// between the two ends' own processes, its batched form (LocalSends), alone and between
// two Nodes on loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

#include "../support/one_frame.hpp"
#include "ember/core/node_table.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/term_codec.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"
#include "signal_frames.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

std::uint32_t node_index(const char* name, std::uint32_t creation) {
  return *NodeTable::intern(Atom(name), creation);
}

// Fills `s` as a message (Signal is not movable: it lives in a mailbox list).
void message(detail::Signal& s, Pid from, Pid to, Term payload) {
  s.kind = detail::SignalKind::kMessage;
  s.from = from;
  s.to = to;
  s.payload = std::move(payload);
}

NodeConfig config(const char* name) {
  return ember::testing::loopback_node(name, "framescookie");
}

std::optional<net::ConnectionStats> stats_for(const Node& node, Atom peer) {
  for (auto& s : node.connection_stats())
    if (s.peer == peer.text()) return s;
  return std::nullopt;
}

// A process on `node` that takes `{seq, I}` for I = 0, 1, ... `count` - 1 and counts those
// that come in order; `done` once it has them all or one is missing or late.
struct SeqSink {
  std::atomic<int> in_order{0};
  std::atomic<bool> done{false};
  const int count;
  Pid pid;
  SeqSink(Node& node, int n) : count(n) {
    pid = node.runtime().spawn([this](Self self) -> Proc {
      for (int i = 0; i < count; ++i) {
        auto m = co_await self.receive("{seq, _}"_p).after(10s);
        if (m.timed_out() || m[1].integer() != i) break;
        in_order.fetch_add(1);
      }
      done = true;
    });
  }
};

// One process on `node` sends `sink` {seq, 0} ... {seq, count - 1}.
void send_seq(Node& node, Pid sink, int count) {
  node.runtime().run([&](Self self) -> Proc {
    for (int i = 0; i < count; ++i) co_await self.send(sink, tuple("seq"_a, i));
  });
}

// Connects `a` to `b` first (so the stream is all LocalSend: what is sent before goes whole),
// then streams `count` {seq, I} from one process of a's to one of b's, which gets them all,
// in order. The connection's counters at both ends, before and after.
struct Stream {
  Pid sink;
  net::ConnectionStats in_before, in_after, out_before, out_after;  // b's side, a's side
};
Stream stream_seq(Node& a, Node& b, int count) {
  SeqSink seq(b, count);
  REQUIRE(a.connect(b.name(), 10s));
  auto in_before = stats_for(b, a.name()), out_before = stats_for(a, b.name());
  REQUIRE(in_before);
  REQUIRE(out_before);
  send_seq(a, seq.pid, count);
  REQUIRE(ember::testing::eventually([&] { return seq.done.load(); }, 30s, 5ms));
  CHECK(seq.in_order == count);
  auto in_after = stats_for(b, a.name()), out_after = stats_for(a, b.name());
  REQUIRE(in_after);
  REQUIRE(out_after);
  return {seq.pid, *in_before, *in_after, *out_before, *out_after};
}

}  // namespace

TEST_CASE("a LocalSend carries both pids without node names and reads back whole") {
  std::uint32_t a = node_index("frames_a@127.0.0.1:4370", 7), b = node_index("frames_b@h:4370", 9);
  detail::Signal s;
  message(s, Pid(a, 12, 3), Pid(b, 40, 1), tuple("seq"_a, 12345));
  net::FrameEncoder encoder;
  std::vector<std::byte> local, full;
  detail::encode_local_send(encoder, local, s);
  detail::encode_signal(encoder, full, s);
  CHECK(local.size() + 64 < full.size());  // two node names and creations left out
  ember::testing::with_one_frame(local, [&](wire::Frame::Reader f) {
    REQUIRE(f.isLocalSend());
    CHECK_NOTHROW(net::validate_frame(f));
    detail::InboundSignal m = detail::decode_local_send(f.getLocalSend(), a, b);
    CHECK(m.kind == detail::SignalKind::kMessage);
    CHECK(m.from == s.from);
    CHECK(m.to == s.to);
    CHECK(m.payload == s.payload);
  });
}

TEST_CASE("a LocalSend with a pid id out of range is a malformed frame") {
  net::FrameEncoder encoder;
  std::vector<std::byte> bytes;
  encoder.encode(bytes, [](wire::Frame::Builder f) {
    auto b = f.initLocalSend();
    b.setFromId(~std::uint64_t(0));
    b.setToId(1);
    b.initMessage().setInt(1);
  });
  ember::testing::with_one_frame(bytes, [&](wire::Frame::Reader f) {
    CHECK_THROWS_AS(net::validate_frame(f), net::WireError);
    CHECK_THROWS_AS(detail::decode_local_send(f.getLocalSend(), 0, 0), net::WireError);
  });
}

TEST_CASE("a LocalSends frame carries one sender's run of messages and reads back whole") {
  std::vector<std::uint64_t> to = {5, 6, 5};
  std::vector<Term> messages = {tuple("seq"_a, 1), Term(Bytes(std::vector<std::byte>(300))),
                                tuple("seq"_a, 3, "x"_a)};
  net::FrameEncoder encoder;
  std::vector<std::byte> bytes;
  encoder.encode_local_sends(bytes, 77, to, messages);
  ember::testing::with_one_frame(bytes, [&](wire::Frame::Reader f) {
    REQUIRE(f.isLocalSends());
    CHECK_NOTHROW(net::validate_frame(f));
    auto b = f.getLocalSends();
    CHECK(b.getFromId() == 77);
    REQUIRE(b.getToIds().size() == 3);
    REQUIRE(b.getMessages().size() == 3);
    for (unsigned i = 0; i < 3; ++i) {
      CHECK(b.getToIds()[i] == to[i]);
      CHECK(net::read_term(b.getMessages()[i]) == messages[i]);
    }
  });
}

TEST_CASE("a LocalSends frame with fewer targets than messages is a malformed frame") {
  net::FrameEncoder encoder;
  std::vector<std::byte> bytes;
  encoder.encode(bytes, [](wire::Frame::Builder f) {
    auto b = f.initLocalSends();
    b.setFromId(1);
    b.initToIds(1).set(0, 2);
    auto m = b.initMessages(2);
    m[0].setInt(1);
    m[1].setInt(2);
  });
  ember::testing::with_one_frame(bytes, [&](wire::Frame::Reader f) {
    CHECK_THROWS_AS(net::validate_frame(f), net::WireError);
  });
}

// How many share a frame depends on how far the stream outruns the socket (the transport's
// test with a stalled peer, tests/net/outbox_test.cpp, pins that down); here every message
// arrives once, in order, and both ends count it.
TEST_CASE("a stream from one process to a busy connection arrives whole, in order, counted") {
  Node a(config("frames_a")), b(config("frames_b"));
  constexpr int kCount = 50000;
  Stream st = stream_seq(a, b, kCount);
  CHECK(st.in_after.messages_in - st.in_before.messages_in == kCount);
  CHECK(st.out_after.messages_out - st.out_before.messages_out == kCount);  // batches count all
  CHECK(st.in_after.frames_in - st.in_before.frames_in <= std::uint64_t(kCount));
}

TEST_CASE("messages between two nodes' processes travel as LocalSend and arrive in order") {
  Node a(config("frames_a")), b(config("frames_b"));
  constexpr int kCount = 2000;
  Stream st = stream_seq(a, b, kCount);
  // What the same message takes as a Send with both pids whole.
  detail::Signal s;
  message(s, Pid(NodeTable::intern(a.name(), 1).value(), 1, 1), st.sink, tuple("seq"_a, kCount));
  net::FrameEncoder encoder;
  std::vector<std::byte> full;
  detail::encode_signal(encoder, full, s);
  double per_message = double(st.in_after.bytes_in - st.in_before.bytes_in) / kCount;
  CHECK(per_message + 64 < double(full.size()));
}
