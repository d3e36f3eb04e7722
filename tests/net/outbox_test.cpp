// The outbound queue: busy limit, per-sender order around bulk frames, fragmentation, and
// what a stalled peer does to a sender.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/outbox.hpp"
#include "ember/net/term_codec.hpp"
#include "ember/net/transport.hpp"

using namespace ember;
using namespace ember::net;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> send_frame(std::int64_t seq, std::size_t payload = 0) {
  FrameEncoder enc;
  std::vector<std::byte> frame;
  enc.encode_send(frame, Pid(), Pid(), tuple("seq"_a, seq, std::string(payload, 'x')));
  return frame;
}

// The seq numbers of the Send frames in `bytes`, reassembling fragments as a receiver does.
// What one write carries, end to end.
std::vector<std::byte> joined(const Outbox::Buffers& buffers) {
  std::vector<std::byte> all;
  for (auto& b : buffers) all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::vector<std::int64_t> seqs_of(const std::vector<std::byte>& bytes) {
  std::vector<std::int64_t> out;
  FrameDecoder dec;
  dec.feed(bytes);
  std::vector<capnp::word> partial;
  while (auto words = dec.next()) {
    FrameReader reader(*words);
    auto f = reader.root();
    if (f.isFragment()) {
      auto piece = f.getFragment().getBytes();
      std::size_t at = partial.size();
      partial.resize(at + piece.size() / 8);
      std::memcpy(partial.data() + at, piece.begin(), piece.size());
      if (f.getFragment().getIndex() + 1 < f.getFragment().getCount()) continue;
      FrameReader whole(kj::ArrayPtr<const capnp::word>(partial.data(), partial.size()));
      out.push_back(read_term(whole.root().getSend().getMessage())[1].integer());
      partial.clear();
      continue;
    }
    out.push_back(read_term(f.getSend().getMessage())[1].integer());
  }
  return out;
}

// A stand-in for the runtime's detail::at_slice_end: while `tl_in_run` is set, this thread
// acts as a running process, and what the transport leaves for the run's end is kept here.
thread_local bool tl_in_run = false;
void (*g_slice_end)() = nullptr;
bool test_slice_end(void (*fn)()) {
  if (!tl_in_run) return false;
  g_slice_end = fn;
  return true;
}

}  // namespace

TEST_CASE("an outbox over its busy limit says busy, or makes the sender wait until it drains") {
  Outbox box({.busy_bytes = 4096, .bulk_bytes = 1 << 20, .fragment_bytes = 1024});
  auto frame = send_frame(1, 900);
  bool wake = false;
  int queued = 0;
  while (box.push(frame, 7, Outbox::Mode::kNoWait, wake) == Outbox::Result::kQueued) ++queued;
  CHECK(queued == 4);  // 4 x ~1 KiB reach the 4 KiB limit
  CHECK(box.busy());
  CHECK(box.push(frame, 7, Outbox::Mode::kForce, wake) == Outbox::Result::kQueued);

  std::atomic<bool> pushed{false};
  std::thread waiter([&] {
    bool w;
    pushed = box.push(frame, 8, Outbox::Mode::kWait, w) == Outbox::Result::kQueued;
  });
  FrameEncoder enc;
  Outbox::Buffers out;
  CHECK(box.take(out, enc));  // drains everything: the waiter may go on
  waiter.join();
  CHECK(pushed);
  box.close();
  CHECK(box.push(frame, 7, Outbox::Mode::kWait, wake) == Outbox::Result::kClosed);
}

TEST_CASE("small frames pass a bulk frame and a sender's own frames stay behind its bulk frame") {
  Outbox box({.busy_bytes = 1 << 30, .bulk_bytes = 64 << 10, .fragment_bytes = 16 << 10});
  bool wake;
  box.push(send_frame(1, 200 << 10), /*sender*/ 1, Outbox::Mode::kWait, wake);  // bulk
  box.push(send_frame(2), 1, Outbox::Mode::kWait, wake);  // behind sender 1's bulk
  box.push(send_frame(3), 2, Outbox::Mode::kWait, wake);  // another sender: passes it
  FrameEncoder enc;
  Outbox::Buffers first;
  REQUIRE(box.take(first, enc));
  std::vector<std::byte> all = joined(first);
  // The first write carries sender 2's frame and only one fragment of the bulk frame.
  CHECK(all.size() < (40 << 10));
  box.write_done(first);
  Outbox::Buffers more;
  while (box.take(more, enc)) {
    auto bytes = joined(more);
    all.insert(all.end(), bytes.begin(), bytes.end());
    box.write_done(more);
  }
  CHECK(seqs_of(all) == std::vector<std::int64_t>{3, 1, 2});
  CHECK(box.queued() == 0);
}

namespace {

// Transport a connected to b, whose loop thread stalls in the first frame it reads until
// thaw(): a peer frozen as by SIGSTOP, with its socket open. `tune` adjusts a's config.
struct StalledPeer {
  std::mutex m;
  std::condition_variable cv;
  bool frozen = true, up = false;
  std::vector<std::int64_t> seqs;  // of the messages b read, once thawed
  int batches = 0;                 // LocalSends frames among them
  ConnectionId conn = 0;
  std::unique_ptr<Transport> a, b;

  explicit StalledPeer(const std::function<void(TransportConfig&)>& tune) {
    TransportHandler hb, ha;
    hb.on_frame = [this](ConnectionId, wire::Frame::Reader f) {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return !frozen; });
      if (f.isLocalSends()) {
        ++batches;
        for (auto t : f.getLocalSends().getMessages()) seqs.push_back(read_term(t)[1].integer());
      } else {
        seqs.push_back(read_term(f.getSend().getMessage())[1].integer());
      }
      cv.notify_all();
    };
    ha.on_up = [this](ConnectionId id, const PeerInfo&) {
      std::lock_guard lock(m);
      conn = id;
      up = true;
      cv.notify_all();
    };
    TransportConfig ca, cb;
    ca.self.name = "a@127.0.0.1";
    cb.self.name = "b@127.0.0.1";
    ca.cookie = cb.cookie = "c";
    ca.tick_interval = cb.tick_interval = 0ms;  // a frozen test peer is not a dead one
    tune(ca);
    b = std::make_unique<Transport>(cb, hb);
    a = std::make_unique<Transport>(ca, ha);
    a->connect("127.0.0.1", b->port());
  }
  ~StalledPeer() {
    thaw();
    a.reset();
    b.reset();
  }
  // a's channel to b, once the connection is up.
  Channel channel() {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return up; }));
    return a->channel(conn);
  }
  void thaw() {
    std::lock_guard lock(m);
    frozen = false;
    cv.notify_all();
  }
  bool received(std::size_t n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, 20s, [&] { return seqs.size() == n; });
  }
  // The seqs b read besides 0 (the frame that kept the queue busy) are 1..last, in order.
  bool others_in_order(std::int64_t last) {
    std::lock_guard lock(m);
    std::vector<std::int64_t> others;
    for (std::int64_t s : seqs)
      if (s != 0) others.push_back(s);
    bool ok = others.size() == std::size_t(last);
    for (std::size_t i = 0; ok && i < others.size(); ++i) ok = others[i] == std::int64_t(i) + 1;
    return ok;
  }
};

}  // namespace

TEST_CASE("a stalled peer makes the sender's queue stop at the busy limit, then all arrives") {
  StalledPeer peer([](TransportConfig& c) { c.outbox.busy_bytes = 1 << 20; });
  Channel ch = peer.channel();
  auto frame = send_frame(0, 1000);
  std::size_t sent = 0, max_queued = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = peer.a->send(ch, frame, 1, Outbox::Mode::kNoWait);
    if (r == Outbox::Result::kBusy) break;
    REQUIRE(r == Outbox::Result::kQueued);
    ++sent;
    max_queued = std::max(max_queued, ch.outbox->queued());
  }
  CHECK(ch.outbox->busy());
  CHECK(max_queued <= (1u << 20) + frame.size());
  peer.thaw();
  CHECK(peer.received(sent));
}

// A sender finding the queue idle writes to the socket itself, a few frames in a row (a
// call's monitor and request), and a stream goes to the loop thread's batches.
TEST_CASE("an idle outbox is written by the sender for a few frames, then a stream queues") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  Outbox box(OutboxLimits{});
  box.attach(fds[0]);
  std::vector<std::byte> frame = send_frame(1);
  bool wake = false;
  for (int i = 0; i < 4; ++i) {  // the first frames always go straight out
    REQUIRE(box.push(frame, 7, Outbox::Mode::kNoWait, wake) == Outbox::Result::kQueued);
    CHECK_FALSE(wake);
  }
  CHECK(box.bytes_direct() == 4 * frame.size());
  CHECK(box.queued() == 0);
  // Back to back, a stream soon queues (every push would have to be 20 µs apart not to).
  for (int i = 0; i < 100 && box.queued() == 0; ++i)
    box.push(frame, 7, Outbox::Mode::kNoWait, wake);
  CHECK(box.queued() > 0);
  CHECK(wake);
  std::vector<std::byte> got(8 * frame.size());
  CHECK(::recv(fds[1], got.data(), got.size(), MSG_DONTWAIT) >= ssize_t(4 * frame.size()));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("a corked outbox holds one thread's frames and uncork writes them in one go") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  Outbox box(OutboxLimits{});
  box.attach(fds[0]);
  std::vector<std::byte> frame = send_frame(1);
  int me = 0, other = 0;  // two threads' cork owners
  bool wake = false;
  Outbox::Cork cork = Outbox::Cork::kNo;
  REQUIRE(box.push_corked(frame, 7, Outbox::Mode::kNoWait, wake, &me, cork) ==
          Outbox::Result::kQueued);
  CHECK(cork == Outbox::Cork::kStarted);
  CHECK_FALSE(wake);
  REQUIRE(box.push_corked(frame, 7, Outbox::Mode::kNoWait, wake, &me, cork) ==
          Outbox::Result::kQueued);
  CHECK(cork == Outbox::Cork::kJoined);
  CHECK_FALSE(wake);
  CHECK(box.queued() == 2 * frame.size());
  CHECK(box.bytes_direct() == 0);
  std::vector<std::byte> got(4 * frame.size());
  CHECK(::recv(fds[1], got.data(), got.size(), MSG_DONTWAIT) < 0);  // nothing written yet
  box.uncork(wake);
  CHECK_FALSE(wake);
  CHECK(box.queued() == 0);
  CHECK(box.bytes_direct() == 2 * frame.size());
  CHECK(::recv(fds[1], got.data(), got.size(), MSG_DONTWAIT) == ssize_t(2 * frame.size()));

  // Another thread's frame does not join a cork: it queues behind it for the loop thread,
  // which takes both, in order; the cork's own uncork then has nothing left to do.
  REQUIRE(box.push_corked(frame, 7, Outbox::Mode::kNoWait, wake, &me, cork) ==
          Outbox::Result::kQueued);
  CHECK(cork == Outbox::Cork::kStarted);
  REQUIRE(box.push_corked(send_frame(2), 8, Outbox::Mode::kNoWait, wake, &other, cork) ==
          Outbox::Result::kQueued);
  CHECK(cork == Outbox::Cork::kNo);
  CHECK(wake);
  FrameEncoder encoder;
  Outbox::Buffers out;
  REQUIRE(box.take(out, encoder));
  CHECK(seqs_of(joined(out)) == std::vector<std::int64_t>{1, 2});
  box.write_done(out);
  box.uncork(wake);
  CHECK_FALSE(wake);
  CHECK(box.queued() == 0);
  ::close(fds[0]);
  ::close(fds[1]);
}

// A running process that sends to a busy connection gathers its frames and pushes them in
// one go when it suspends (or every 32 KiB), not one lock per frame; all arrive, in order.
TEST_CASE("a process's frames to a busy connection are gathered and pushed at its run's end") {
  StalledPeer peer([](TransportConfig& c) {
    c.outbox.busy_bytes = 64u << 20;  // the 40 MiB frame below is not "busy"
    c.at_slice_end = test_slice_end;
  });
  Channel ch = peer.channel();
  Transport& a = *peer.a;
  // A 40 MiB frame from another sender, more than the kernel's buffers take while the peer
  // stalls: the queue is never idle from here (no cork, no direct write) until it reads.
  std::int64_t seq = 0;
  REQUIRE(a.send(ch, send_frame(seq++, 40u << 20), 1, Outbox::Mode::kNoWait) ==
          Outbox::Result::kQueued);

  std::uint64_t before = ch.outbox->frames_pushed();
  constexpr int kRun = 1000;
  tl_in_run = true;
  for (int i = 0; i < kRun; ++i)
    REQUIRE(a.send(ch, send_frame(seq++), 2, Outbox::Mode::kWait) == Outbox::Result::kQueued);
  tl_in_run = false;
  std::uint64_t pushed = ch.outbox->frames_pushed() - before;
  CHECK(pushed > 0);     // every 32 KiB went on the way
  CHECK(pushed < kRun);  // the rest waits for the run's end
  // A bulk frame is not gathered and does not overtake what was; the next small one is.
  tl_in_run = true;
  REQUIRE(a.send(ch, send_frame(seq++, 300000), 2, Outbox::Mode::kWait) == Outbox::Result::kQueued);
  REQUIRE(a.send(ch, send_frame(seq++), 2, Outbox::Mode::kWait) == Outbox::Result::kQueued);
  tl_in_run = false;
  REQUIRE(g_slice_end);
  g_slice_end();
  CHECK(ch.outbox->frames_pushed() - before == kRun + 2);
  peer.thaw();
  REQUIRE(peer.received(std::size_t(seq)));
  // The run's frames (sender 2) in order; sender 1's bulk frame may be passed by them.
  CHECK(peer.others_in_order(seq - 1));
}

// While a run gathers for a busy connection, its messages between the two ends' processes
// stay terms and leave as LocalSends frames, in order behind what was gathered before.
TEST_CASE("a run's messages to a busy connection leave as LocalSends frames, in order") {
  StalledPeer peer([](TransportConfig& c) {
    c.outbox.busy_bytes = 64u << 20;
    c.at_slice_end = test_slice_end;
  });
  Channel ch = peer.channel();
  Transport& a = *peer.a;
  std::int64_t seq = 0;
  REQUIRE(a.send(ch, send_frame(seq++, 40u << 20), 1, Outbox::Mode::kNoWait) ==
          Outbox::Result::kQueued);  // the queue is busy from here, as above
  std::uint64_t before = ch.outbox->frames_pushed();
  tl_in_run = true;
  CHECK_FALSE(a.batch_local(ch, 2, 2, 1, tuple("seq"_a, seq)));  // nothing gathered yet
  REQUIRE(a.send(ch, send_frame(seq++), 2, Outbox::Mode::kWait) == Outbox::Result::kQueued);
  constexpr int kRun = 5000;  // more than 32 KiB: one push on the way, the rest at the end
  for (int i = 0; i < kRun; ++i) REQUIRE(a.batch_local(ch, 2, 2, 1, tuple("seq"_a, seq++)));
  REQUIRE(a.send(ch, send_frame(seq++), 2, Outbox::Mode::kWait) == Outbox::Result::kQueued);
  CHECK_FALSE(a.batch_local(ch, 3, 3, 1, tuple("seq"_a, 0)));  // another sender's run
  tl_in_run = false;
  REQUIRE(g_slice_end);
  g_slice_end();
  std::uint64_t frames = ch.outbox->frames_pushed() - before;
  CHECK(frames >= 4);              // the frame before, two batches at least, the frame after
  CHECK(frames < 2 + kRun / 100);  // not one per message (about one per 32 KiB)
  peer.thaw();
  REQUIRE(peer.received(std::size_t(seq)));
  CHECK(peer.batches >= 2);
  CHECK(peer.others_in_order(seq - 1));
}

// A 1 MiB frame is at least bulk_bytes: the queue keeps the caller's buffer (a copy under
// its lock held the loop thread's writes up) and writes it in fragments; a small frame
// of another sender passes it, and one of the same sender stays behind it.
TEST_CASE("send_owned takes a bulk frame's buffer, and the frame arrives whole and in order") {
  StalledPeer peer([](TransportConfig&) {});
  Channel ch = peer.channel();
  Transport& a = *peer.a;
  REQUIRE(a.send(ch, send_frame(0), 1, Outbox::Mode::kNoWait) == Outbox::Result::kQueued);
  std::vector<std::byte> big = send_frame(1, 1u << 20);
  REQUIRE(a.send_owned(ch, big, 1, Outbox::Mode::kNoWait) == Outbox::Result::kQueued);
  CHECK(big.empty());  // taken, not copied
  std::vector<std::byte> same = send_frame(2), other = send_frame(3);
  REQUIRE(a.send_owned(ch, same, 1, Outbox::Mode::kNoWait) == Outbox::Result::kQueued);
  REQUIRE(a.send_owned(ch, other, 2, Outbox::Mode::kNoWait) == Outbox::Result::kQueued);
  CHECK_FALSE(same.empty());  // a small frame is copied: the caller's buffer is its own
  peer.thaw();
  REQUIRE(peer.received(4));
  auto at = [&](std::int64_t s) { return std::find(peer.seqs.begin(), peer.seqs.end(), s); };
  CHECK(at(0) < at(1));
  CHECK(at(1) < at(2));
  CHECK(at(3) != peer.seqs.end());
}

TEST_CASE("a gathered batch joins the queue without a copy, in order with single frames") {
  Outbox box({.busy_bytes = 1 << 30});
  bool wake;
  box.push(send_frame(1), 1, Outbox::Mode::kWait, wake);
  std::vector<std::byte> batch = send_frame(2);
  batch.reserve(4096);  // as a gather's buffer has room: frame 4 joins it in place
  auto three = send_frame(3);
  batch.insert(batch.end(), three.begin(), three.end());
  const std::byte* memory = batch.data();
  box.push_batch(batch, 2, 1, Outbox::Mode::kWait, wake);
  CHECK(batch.empty());
  box.push(send_frame(4), 1, Outbox::Mode::kWait, wake);
  FrameEncoder enc;
  Outbox::Buffers out;
  REQUIRE(box.take(out, enc));
  CHECK(seqs_of(joined(out)) == std::vector<std::int64_t>{1, 2, 3, 4});
  REQUIRE(out.size() == 2);
  CHECK(out[1].data() == memory);  // the batch's own buffer is what gets written
  CHECK(box.queued() == 0);
  box.write_done(out);
  CHECK(out.empty());
}
