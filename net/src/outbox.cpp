#include "ember/net/outbox.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>

namespace ember::net {

Outbox::Result Outbox::push(std::span<const std::byte> frame, std::uint64_t sender, Mode mode,
                            bool& wake, std::uint32_t frames) {
  std::unique_lock lock(mutex_);
  return push_locked(frame, sender, mode, wake, frames, nullptr, nullptr, lock);
}

Outbox::Result Outbox::push_batch(std::vector<std::byte>& bytes, std::uint32_t frames,
                                  std::uint64_t sender, Mode mode, bool& wake) {
  std::unique_lock lock(mutex_);
  Result r = push_locked(bytes, sender, mode, wake, frames, nullptr, nullptr, lock, &bytes);
  bytes.clear();
  return r;
}

Outbox::Result Outbox::push_corked(std::span<const std::byte> frame, std::uint64_t sender,
                                   Mode mode, bool& wake, const void* owner, Cork& cork) {
  std::unique_lock lock(mutex_);
  cork = Cork::kNo;
  return push_locked(frame, sender, mode, wake, 1, owner, &cork, lock);
}

Outbox::Result Outbox::push_locked(std::span<const std::byte> frame, std::uint64_t sender,
                                   Mode mode, bool& wake, std::uint32_t frames, const void* owner,
                                   Cork* cork, std::unique_lock<std::mutex>& lock,
                                   std::vector<std::byte>* owned) {
  wake = false;
  if (closed_) return Result::kClosed;
  if (mode != Mode::kForce && counted_locked() >= limits_.busy_bytes) {
    if (mode == Mode::kNoWait) return Result::kBusy;
    drained_.wait(lock, [&] { return closed_ || counted_locked() < limits_.busy_bytes / 2; });
    if (closed_) return Result::kClosed;
  }
  frames_pushed_.store(frames_pushed_.load(std::memory_order_relaxed) + frames,
                       std::memory_order_relaxed);
  if (cork && cork_locked(frame, owner, *cork)) return Result::kQueued;
  if (write_now_locked(frame, wake)) return Result::kQueued;
  bool behind_bulk = bulk_senders_.count(sender) > 0;
  if (frame.size() >= limits_.bulk_bytes || behind_bulk) {
    bulk_.push_back({owned ? std::move(*owned) : std::vector<std::byte>(frame.begin(), frame.end()),
                     0, sender, next_sequence_++});
    ++bulk_senders_[sender];
  } else if (owned) {
    // The batch's memory becomes the queue's (`frame` still spans it): the new tail.
    if (!small_.empty()) chunks_.push_back(std::move(small_));
    small_ = std::move(*owned);
    *owned = spare_locked();
  } else {
    small_.insert(small_.end(), frame.begin(), frame.end());
  }
  bytes_ += frame.size();
  count_locked();
  if (!scheduled_) wake = scheduled_ = true;
  return Result::kQueued;
}

// Held back only while the loop thread has nothing of this queue: frames it was told of
// go with its next write, in order, and a corked run is never behind them.
bool Outbox::cork_locked(std::span<const std::byte> frame, const void* owner, Cork& cork) {
  if (fd_ < 0 || writing_ || scheduled_ || !bulk_.empty() || frame.size() >= limits_.bulk_bytes)
    return false;
  if (corked_ ? cork_owner_ != owner : !small_.empty()) return false;
  if (!chunks_.empty()) return false;
  if (small_.size() + frame.size() > kCorkBytes) return false;
  cork = corked_ ? Cork::kJoined : Cork::kStarted;
  corked_ = true;
  cork_owner_ = owner;
  small_.insert(small_.end(), frame.begin(), frame.end());
  bytes_ += frame.size();
  count_locked();
  return true;
}

void Outbox::uncork(bool& wake) {
  std::lock_guard lock(mutex_);
  wake = false;
  if (!corked_) return;  // the loop thread took it along
  corked_ = false;
  if (closed_ || small_.empty()) return;
  if (!writing_ && !scheduled_ && bulk_.empty() && chunks_.empty() && fd_ >= 0 &&
      direct_allowed_locked()) {
    ssize_t n = ::send(fd_, small_.data(), small_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      bytes_direct_.store(bytes_direct_.load(std::memory_order_relaxed) + std::uint64_t(n),
                          std::memory_order_relaxed);
      small_.erase(small_.begin(), small_.begin() + n);
      bytes_ -= std::size_t(n);
      count_locked();
    }
    if (small_.empty()) return;
  }
  if (!scheduled_) wake = scheduled_ = true;
}

std::size_t Outbox::queued() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

bool Outbox::busy() const {
  std::lock_guard lock(mutex_);
  return counted_locked() >= limits_.busy_bytes;
}

// The bulk frame being written does not count: small frames keep flowing past a 100 MiB
// message. So the queue holds at most busy_bytes, plus that one message, plus one frame.
std::size_t Outbox::counted_locked() const {
  return bytes_ - (bulk_.empty() ? 0 : bulk_.front().frame.size());
}

// Idle queue, no write in flight: the frame goes to the socket from this thread. A short
// write leaves the rest queued for the loop thread, in order.
// Only a few after a quiet spell: a stream of sends is better batched by the loop thread
// (one syscall per write) than written one syscall per frame; a lone request or reply,
// or a call's monitor and request, are not.
bool Outbox::write_now_locked(std::span<const std::byte> frame, bool& wake) {
  if (fd_ < 0 || writing_ || !idle_locked() || !bulk_.empty() || frame.size() >= limits_.bulk_bytes)
    return false;
  if (!direct_allowed_locked()) return false;
  ssize_t n = ::send(fd_, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0)
    bytes_direct_.store(bytes_direct_.load(std::memory_order_relaxed) + std::uint64_t(n),
                        std::memory_order_relaxed);
  if (n == ssize_t(frame.size())) return true;
  if (n > 0) {
    small_.insert(small_.end(), frame.begin() + n, frame.end());
    bytes_ += frame.size() - std::size_t(n);
    count_locked();
    if (!scheduled_) wake = scheduled_ = true;
    return true;
  }
  return false;  // EAGAIN or an error: queue it; the loop thread's write reports errors
}

bool Outbox::direct_allowed_locked() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_direct_ > kQuiet) burst_ = 0;
  last_direct_ = now;
  if (burst_ == kBurst) return false;
  ++burst_;
  return true;
}

void Outbox::attach(int fd) {
  std::lock_guard lock(mutex_);
  fd_ = fd;
}

void Outbox::write_done(Buffers& written) {
  std::lock_guard lock(mutex_);
  writing_ = false;
  for (auto& b : written) {
    if (spares_.size() == kSpares) break;
    b.clear();
    spares_.push_back(std::move(b));
  }
  written.clear();
}

std::vector<std::byte> Outbox::spare_locked() {
  if (spares_.empty()) return {};
  std::vector<std::byte> b = std::move(spares_.back());
  spares_.pop_back();
  return b;
}

bool Outbox::take(Buffers& out, FrameEncoder& encoder) {
  std::lock_guard lock(mutex_);
  scheduled_ = false;
  corked_ = false;
  if (idle_locked() && bulk_.empty()) return false;
  writing_ = true;
  for (auto& c : chunks_) {
    bytes_ -= c.size();
    out.push_back(std::move(c));
  }
  chunks_.clear();
  bytes_ -= small_.size();
  if (!small_.empty()) {
    out.push_back(std::move(small_));  // no copy: the buffer itself is written
    small_ = spare_locked();
  }
  // Bulk frames queued behind another bulk frame of the same sender (or a small frame
  // queued behind one) go whole once they reach the front and are small.
  if (!bulk_.empty() && out.empty()) out.push_back(spare_locked());
  while (!bulk_.empty()) {
    Bulk& b = bulk_.front();
    if (b.sent == 0 && b.frame.size() < limits_.bulk_bytes) {
      out.back().insert(out.back().end(), b.frame.begin(), b.frame.end());
    } else {
      fragment(b, out.back(), encoder);
      if (b.sent + kFrameHeaderBytes < b.frame.size()) break;
    }
    bytes_ -= b.frame.size();
    if (--bulk_senders_[b.sender] == 0) bulk_senders_.erase(b.sender);
    bulk_.pop_front();
  }
  count_locked();
  drained_locked();
  return true;
}

// One Fragment frame with the next piece of a bulk frame's message (its header dropped:
// the receiver knows the length from the fragment count and sizes).
void Outbox::fragment(Bulk& b, std::vector<std::byte>& out, FrameEncoder& encoder) {
  std::size_t message = b.frame.size() - kFrameHeaderBytes;
  std::size_t piece = std::min(limits_.fragment_bytes, message - b.sent);
  auto count = std::uint32_t((message + limits_.fragment_bytes - 1) / limits_.fragment_bytes);
  auto index = std::uint32_t(b.sent / limits_.fragment_bytes);
  const auto* data = reinterpret_cast<const kj::byte*>(b.frame.data() + kFrameHeaderBytes + b.sent);
  encoder.encode(out, [&](wire::Frame::Builder f) {
    auto frag = f.initFragment();
    frag.setSequence(b.sequence);
    frag.setIndex(index);
    frag.setCount(count);
    frag.setBytes(kj::ArrayPtr<const kj::byte>(data, piece));
  });
  b.sent += piece;
}

void Outbox::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  drained_.notify_all();
}

void Outbox::drained_locked() {
  if (counted_locked() < limits_.busy_bytes / 2) drained_.notify_all();
}

}  // namespace ember::net
