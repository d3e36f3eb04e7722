// A process inbox: many senders, one receiver (whichever worker runs the process).
#pragma once

#include <atomic>

#include "ember/core/detail/signal.hpp"

namespace ember::detail {

// Dmitry Vyukov's intrusive MPSC queue: a push is one exchange and one store, a pop
// touches only the consumer's end. A push racing with the consumer may be briefly
// invisible (pop returns null while it links in); the scheduler's state machine makes
// the pusher wake the process after the push completes, so nothing is lost (the fences
// in RuntimeImpl::wake and run_slices order the push against the worker's last look).
class Mailbox {
 public:
  Mailbox() : head_(&stub_), tail_(&stub_) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread.
  void push(Signal* s) noexcept { push_link(s); }
  // Any thread: first..last already linked through `next`, last's next null.
  void push_chain(Signal* first, Signal* last) noexcept {
    SignalLink* prev = head_.exchange(last, std::memory_order_acq_rel);
    prev->next.store(first, std::memory_order_release);
  }

  // Owner only. Null when empty (or when a push is still linking in).
  Signal* pop() noexcept {
    SignalLink* tail = tail_;
    SignalLink* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (!next) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next) {
      tail_ = next;
      return static_cast<Signal*>(tail);
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // push in progress
    push_link(&stub_);
    next = tail->next.load(std::memory_order_acquire);
    if (next) {
      tail_ = next;
      return static_cast<Signal*>(tail);
    }
    return nullptr;
  }

 private:
  void push_link(SignalLink* s) noexcept {
    s->next.store(nullptr, std::memory_order_relaxed);
    SignalLink* prev = head_.exchange(s, std::memory_order_acq_rel);
    prev->next.store(s, std::memory_order_release);
  }

  std::atomic<SignalLink*> head_;  // producers
  SignalLink* tail_;               // consumer
  SignalLink stub_;
};

}  // namespace ember::detail
