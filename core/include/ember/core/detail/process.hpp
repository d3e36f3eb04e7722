// The control block of one process. Users see it only through Self and Runtime.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <vector>

#include "ember/core/detail/mailbox.hpp"
#include "ember/core/detail/relations.hpp"
#include "ember/core/detail/timer_wheel.hpp"
#include "ember/core/proc.hpp"

namespace ember {
class Runtime;
}

namespace ember::detail {

enum class ProcState : std::uint8_t {
  kFree,             // slot unused
  kWaiting,          // suspended in receive, in no run queue
  kRunnable,         // in exactly one run queue
  kRunning,          // a worker is running it
  kRunningNotified,  // running, and a signal arrived meanwhile: do not go to waiting
  kExiting,          // terminating; no longer scheduled
};

// A receive in progress: the awaiter registers how to test a message against its
// clauses, so the worker can scan new messages without resuming the coroutine.
struct PendingReceive {
  bool (*match)(void* self, const Term& message, std::size_t& clause) = nullptr;
  void* self = nullptr;
  SignalLink* cursor = nullptr;  // last saved message already scanned
  bool timed_out = false;
  bool poll = false;  // after(0): give up as soon as the mailbox has been scanned
  bool matched = false;
  bool complete = false;  // decided (matched or timed out); the worker must not rescan
  std::size_t clause = 0;
  Term message;
};

struct Closure {
  void* object = nullptr;
  void (*destroy)(void*) = nullptr;
};

// Slots are type-stable: a Process object is never freed while its Runtime lives, only
// recycled with a new generation, so a sender holding a stale pointer can still read it
// and find out the process is gone.
//
// Layout: the first cache line holds what senders touch (pid check, wake-up state, the
// arrival count, the inbox's producer end); what the owner writes on every message (the
// inbox's consumer end, the saved queue, counters) starts on the next line, so a producer
// and a busy consumer do not fight over one line more than the queue itself needs.
struct alignas(64) Process {
  // --- line 0: senders (and read-mostly fields) ---
  std::atomic<std::uint64_t> pid_bits{0};  // current incarnation (0 when free)
  std::atomic<std::uint32_t> senders{0};   // non-message signals in flight; kClosed at exit
  std::atomic<ProcState> state{ProcState::kFree};
  // Guards what introspection reads from other threads: relations and trap_exit. Taken by
  // the owner only when it changes them (rare), never on send/receive.
  std::atomic_flag meta_lock = ATOMIC_FLAG_INIT;
  // Many messages wait here: senders are made to yield (see RuntimeImpl::deliver_message).
  std::atomic<bool> congested{false};
  std::atomic<std::uint64_t> arrived{0};  // messages ever pushed (senders add)
  Runtime* runtime = nullptr;
  Proc::Handle coro;  // the process body
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // of the current or last incarnation
  Process* run_next = nullptr;   // run queue link
  Mailbox inbox;                 // head_ ends line 0; tail_ and stub_ open line 1
  static constexpr std::uint32_t kClosed = 1u << 31;

  // --- owned by the worker running the process; other threads only read the atomics ---
  std::atomic<std::uint64_t> removed{0};      // messages taken out, less signals made messages
  std::atomic<std::uint64_t> queue_bytes{0};  // heap bytes of the saved messages
  std::atomic<std::uint64_t> reductions{0};
  // The pid bits of the tracer that gets a copy of every message (erlang:trace's
  // 'receive'); 0 when not traced, which is all the hot path looks at (append_saved).
  // Written by the owner only (a kTrace signal, or the tracer found dead); info() reads it.
  std::atomic<std::uint64_t> tracer{0};
  // Co<> helpers being awaited, innermost last; the worker resumes the innermost. Their
  // frames are owned by the Co<> objects in their callers' frames.
  std::vector<std::coroutine_handle<>> helpers;
  Closure closure;
  SignalLink saved_head;  // messages taken from the inbox, oldest first
  SignalLink* saved_tail = &saved_head;
  std::uint64_t saved_seq = 0;
  SignalLink* mark = nullptr;  // receive mark (the ref trick): messages after it
  Ref mark_ref;
  PendingReceive* pending = nullptr;
  std::uint64_t receive_seq = 0;
  TimerNode timer;
  std::unique_ptr<Relations> relations;  // links and monitors; null while there are none
  Term exit_reason;
  struct ExitWaiter* waiter = nullptr;
  std::uint32_t budget_used = 0;  // reductions in the current run, for fairness
  std::uint32_t frame_bytes = 0;  // the coroutine frame's size, for info()
  bool trap_exit = false;
  bool yield_requested = false;
  bool yield_called = false;  // by Self::yield, not by fairness (see RuntimeImpl::yield_core)
  bool has_exit = false;

  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Messages that arrived after the last incarnation's final drain (see deliver_message).
  ~Process() {
    while (Signal* s = inbox.pop()) delete s;
  }

  Pid pid() const { return Pid::from_bits(pid_bits.load(std::memory_order_relaxed)); }
  // Messages in the inbox and the saved queue. Read `removed` first: a message is counted
  // in `arrived` before anyone can take it, so the difference never goes negative.
  std::size_t queue_len() const {
    std::uint64_t out = removed.load(std::memory_order_acquire);
    return std::size_t(arrived.load(std::memory_order_acquire) - out);
  }
  // Call with meta_lock held.
  Relations& rel() {
    if (!relations) relations = std::make_unique<Relations>();
    return *relations;
  }
};

// Five cache lines: the bytes of an idle process are a benchmarked figure.
static_assert(sizeof(Process) <= 320);
static_assert(offsetof(Process, arrived) == 16, "the senders' fields share line 0");

// An owner-only counter that other threads read: a plain load and store, no locked RMW.
inline void add_owned(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

// Holds a Process's meta_lock for a scope.
class MetaLock {
 public:
  explicit MetaLock(Process& p) : p_(p) {
    while (p_.meta_lock.test_and_set(std::memory_order_acquire)) p_.meta_lock.wait(true);
  }
  ~MetaLock() {
    p_.meta_lock.clear(std::memory_order_release);
    p_.meta_lock.notify_one();
  }
  MetaLock(const MetaLock&) = delete;
  MetaLock& operator=(const MetaLock&) = delete;

 private:
  Process& p_;
};

}  // namespace ember::detail
