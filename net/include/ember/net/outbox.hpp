// Outbox: one connection's outbound queue, filled by any thread, drained by the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "ember/net/frame_encoder.hpp"

namespace ember::net {

struct OutboxLimits {
  // Bytes queued past which senders wait (or hear kBusy) until half of it has drained:
  // Erlang's dist_buf_busy_limit. The bulk frame being written does not count, so the
  // queue holds at most this, plus that one message, plus one frame. 2 MiB, not more:
  // the buffers a stream cycles through stay in cache (docs/BENCHMARKS.md, 1 KiB stream).
  std::size_t busy_bytes = 2u << 20;
  // A frame at least this large travels in fragments, interleaved with smaller frames,
  // so one big message does not hold up everything behind it.
  std::size_t bulk_bytes = 256u << 10;
  std::size_t fragment_bytes = 64u << 10;
};

// Frames from one sender keep their order: once a sender has a bulk frame queued, its
// later frames queue behind it (small ones too); other senders' small frames pass it.
class Outbox {
 public:
  enum class Result { kQueued, kBusy, kClosed };
  // kWait: a process's send, waits while busy. kNoWait: reports kBusy instead. kForce:
  // the connection's own frames (handshake, ticks), never held back.
  enum class Mode { kWait, kNoWait, kForce };

  explicit Outbox(OutboxLimits limits) : limits_(limits) {}
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // What push_corked did with a frame: held it in a cork it started, added it to this
  // thread's cork, or queued it as push does.
  enum class Cork { kStarted, kJoined, kNo };

  // Queues one encoded frame (header included) from `sender` (any id that identifies the
  // sending process; 0 for the connection itself), or `frames` frames of one sender laid
  // end to end. Over the busy limit, kWait blocks until it drains or the connection
  // closes, kNoWait queues nothing and returns kBusy.
  // `wake` says whether the loop thread must be told (nothing was pending for it).
  Result push(std::span<const std::byte> frame, std::uint64_t sender, Mode mode, bool& wake,
              std::uint32_t frames = 1);
  // As push, for `frames` frames of one sender in `bytes`, whose memory the queue takes
  // instead of copying it (giving back an empty buffer of its own): `bytes` is left empty.
  Result push_batch(std::vector<std::byte>& bytes, std::uint32_t frames, std::uint64_t sender,
                    Mode mode, bool& wake);
  // As push, but a frame that finds the queue idle may be held back ("corked") with the
  // ones after it, up to kCorkBytes, for uncork() to write in one syscall: a call's
  // demonitor, monitor and request become one TCP segment and one read at the peer.
  // `cork` kStarted says the caller must see uncork() is called.
  // Only the thread that started a cork (`owner`, any address unique to it) adds to it.
  Result push_corked(std::span<const std::byte> frame, std::uint64_t sender, Mode mode, bool& wake,
                     const void* owner, Cork& cork);
  // Writes what was corked, or leaves it to the loop thread (`wake`) if the socket is
  // busy or the sender has been writing directly for too long.
  void uncork(bool& wake);
  static constexpr std::size_t kCorkBytes = 64u << 10;
  std::size_t queued() const;
  bool busy() const;
  // busy() without the mutex, from a moment ago: for a sender deciding whether to gather.
  bool busy_hint() const { return depth() >= limits_.busy_bytes; }

  // For statistics, from any thread without the mutex (relaxed: a little stale at most):
  // frames accepted by push, bytes senders wrote to the socket themselves (the loop
  // thread's writes are counted by the transport), and the bytes queued now.
  std::uint64_t frames_pushed() const { return frames_pushed_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_direct() const { return bytes_direct_.load(std::memory_order_relaxed); }
  std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }

  // --- loop thread ---
  // Moves what should be written next into `out` (empty), as buffers to write in order:
  // the small frames, then one fragment of the oldest bulk frame, and marks a write in
  // flight. False when there is nothing.
  using Buffers = std::vector<std::vector<std::byte>>;
  bool take(Buffers& out, FrameEncoder& encoder);
  // The write is over: its buffers (left empty) keep their memory for later batches.
  void write_done(Buffers& written);
  // From now on a sender finding the queue idle writes to `fd` itself (non-blocking),
  // sparing the loop thread a wake-up: one fewer thread hop per message.
  void attach(int fd);
  void close();

 private:
  struct Bulk {
    std::vector<std::byte> frame;  // header included
    std::size_t sent = 0;          // message bytes already sent in fragments
    std::uint64_t sender = 0;
    std::uint64_t sequence = 0;
  };
  void fragment(Bulk& b, std::vector<std::byte>& out, FrameEncoder& encoder);
  void drained_locked();
  std::size_t counted_locked() const;
  Result push_locked(std::span<const std::byte> frame, std::uint64_t sender, Mode mode, bool& wake,
                     std::uint32_t frames, const void* owner, Cork* cork,
                     std::unique_lock<std::mutex>& lock, std::vector<std::byte>* owned = nullptr);
  bool write_now_locked(std::span<const std::byte> frame, bool& wake);
  bool cork_locked(std::span<const std::byte> frame, const void* owner, Cork& cork);
  bool direct_allowed_locked();

  OutboxLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  // Frames queued, in order: whole buffers (gathered batches, handed over without a copy),
  // then small_, the tail that single frames are appended to.
  std::deque<std::vector<std::byte>> chunks_;
  std::vector<std::byte> small_;
  std::vector<std::vector<std::byte>> spares_;  // emptied buffers, for batches to trade
  static constexpr std::size_t kSpares = 8;
  std::deque<Bulk> bulk_;
  std::unordered_map<std::uint64_t, std::uint32_t> bulk_senders_;  // sender -> bulk frames queued
  std::size_t bytes_ = 0;
  std::uint64_t next_sequence_ = 1;
  bool scheduled_ = false;  // the loop thread has been told and has not looked yet
  bool closed_ = false;
  bool writing_ = false;  // the loop thread has a write in flight
  bool corked_ = false;   // small_ holds only held-back frames, for uncork()
  bool idle_locked() const { return chunks_.empty() && small_.empty(); }
  std::vector<std::byte> spare_locked();
  const void* cork_owner_ = nullptr;
  int fd_ = -1;
  // Written under mutex_ only (one writer at a time), read anywhere.
  std::atomic<std::uint64_t> frames_pushed_{0}, bytes_direct_{0};
  std::atomic<std::size_t> depth_{0};
  void count_locked() { depth_.store(bytes_, std::memory_order_relaxed); }
  static constexpr std::chrono::microseconds kQuiet{20};
  // Direct writes allowed after a quiet spell before the loop thread batches: a call's
  // monitor, request and demonitor each go at once, a stream does not.
  static constexpr int kBurst = 4;
  std::chrono::steady_clock::time_point last_direct_{};  // last push that found it idle
  int burst_ = 0;                                        // direct writes since the last quiet spell
};

}  // namespace ember::net
