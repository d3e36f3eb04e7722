// The runtime's internals: process table, scheduler, timers, registry. Private to core/src.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ember/core/co.hpp"
#include "ember/core/detail/process.hpp"
#include "ember/core/detail/timer_wheel.hpp"
#include "ember/core/runtime.hpp"
#include "spin_lock.hpp"

namespace ember::detail {

// Type-stable slots in fixed chunks: a lookup is two loads and never takes a lock.
class ProcessTable {
 public:
  static constexpr std::uint32_t kChunk = 4096;

  explicit ProcessTable(std::uint32_t capacity);
  ~ProcessTable();

  // A free slot with a fresh generation, or null when the table is full.
  Process* allocate();
  void release(Process* p);
  // The slot a pid names, whether or not that incarnation still lives; null if the slot
  // was never used.
  Process* slot(std::uint32_t index) const;
  std::uint32_t used() const { return used_.load(std::memory_order_acquire); }

 private:
  Process* slot_unchecked(std::uint32_t index) const;

  std::uint32_t capacity_;
  std::unique_ptr<std::atomic<Process*>[]> chunks_;
  std::atomic<std::uint32_t> used_{0};  // slots ever handed out
  SpinLock free_lock_;                  // free_ only: exits push here while spawns pop
  std::vector<Process*> free_;
  std::mutex grow_mutex_;  // used_ and new chunks, whose page faults must not hold free_lock_
};

// A FIFO of runnable processes linked through Process::run_next.
struct RunQueue {
  SpinLock lock;
  Process* head = nullptr;
  Process* tail = nullptr;
  std::atomic<std::size_t> length{0};

  void push(Process* p);
  Process* pop();
};

// Messages the running process sent to one other process, pushed as one chain when it
// suspends, sends anything else, or fills the batch (RuntimeImpl::flush_sends). Each push
// onto an inbox takes its cache line from the core that pushed last; with producers on
// both cores of a many-to-one that line moving was most of a send.
struct SendBatch {
  static constexpr std::uint32_t kMax = 64;
  Process* to = nullptr;
  std::uint64_t to_bits = 0;
  Signal* first = nullptr;
  Signal* last = nullptr;
  std::uint32_t count = 0;
};

struct Worker {
  std::uint32_t index = 0;
  SendBatch batch;  // only while a process runs here
  RunQueue queue;
  Process* next = nullptr;  // woken by the process running here: runs next, on this worker
  std::uint32_t next_streak = 0;
  std::int64_t last_yield_ns = 0;  // steady_clock, of the last yield with nothing else to run
  std::thread thread;
  // For the watchdog: bumped at every run, and the pid being run (0 between runs).
  std::atomic<std::uint64_t> runs{0};
  std::atomic<std::uint64_t> running{0};
  std::uint64_t seen_runs = 0;  // watchdog's last sample (timer thread only)
  bool reported = false;
};

struct ExitWaiter {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  Term reason;
};

// Returns an inbox entry to this thread's cache (see make_signal).
void free_signal(Signal* s);
// Frees an entry taken out of p's queues, keeping p's message count.
void discard(Process* p, Signal* s);

// Set by a send to a congested process (RuntimeImpl::check_congestion); Self::send makes
// its sender yield at the next opportunity. A function, not an `extern thread_local`: g++
// 12's UBSan reads such a variable of another file through a null pointer (self.cpp:67).
bool& send_penalty() noexcept;

class RuntimeImpl {
 public:
  RuntimeImpl(Runtime& rt, RuntimeConfig config);
  ~RuntimeImpl();

  void stop();

  // --- processes ---
  Process* allocate();
  void start(Process* p, Proc::Handle coro, Closure closure, const SpawnOptions& options);
  Process* live(Pid pid) const;  // the process if that incarnation is alive (a hint)

  // --- signals ---
  Signal* make_signal(SignalKind kind, Pid from, Pid to);
  void deliver(Signal* s);
  void send(Pid from, Pid to, Term message);
  void deliver_message(Process* p, Signal* s);
  void push_messages(Process* p, Signal* first, Signal* last, std::uint32_t count);
  // The batch of the process running on this thread, if one runs here.
  SendBatch* batch_here() const noexcept;
  // Pushes the running process's batched messages: before anything else it does that
  // another process could observe, so no one sees its effects out of order.
  void flush_sends();
  static std::uint64_t due_at(std::uint64_t now, std::uint64_t ms);
  static void check_congestion(Process* p, std::uint64_t arrived);
  static constexpr std::uint64_t kCongestionCheckEvery = 256;  // a power of two
  static constexpr std::uint64_t kCongestedAbove = 20000;      // queued messages
  void route_remote(Signal* s);
  void send_named(Pid from, RemoteName to, Term message);
  void set_distribution(Distribution* d) { dist_.store(d, std::memory_order_release); }
  Distribution* distribution() const { return dist_.load(std::memory_order_acquire); }
  void send_exit(Pid from, Pid to, Term reason, bool linked);
  // monitor(process, {Name, Node}) on, or off: the watcher holds it under name_marker(to).
  void monitor_name(Pid watcher, RemoteName to, Ref ref, bool on);
  // Tells a monitor's target (a pid, or the holder of a name) that `watcher` no longer
  // watches it under `ref`.
  void send_demonitor(Pid watcher, Pid target, Ref ref);
  bool trace(Pid target, Pid tracer, bool on);

  // --- receive (called on the process's worker) ---
  void drain(Process* p);
  bool scan(Process* p, PendingReceive& pending);
  void arm_timeout(Process* p, std::uint64_t ms);
  bool timer_must_wake(std::uint64_t ms) const;
  void cancel_timeout(Process* p);

  // --- scheduler ---
  void enqueue(Process* p);
  void wake(Process* p);
  static void mark_running(Process* p);

  // --- blocking pool ---
  void submit_blocking(std::function<void()> job);

  // --- timers ---
  std::uint64_t send_after(std::uint64_t ms, Pid to, Term message);
  bool cancel_timer(std::uint64_t id);

  Ref make_ref() { return Ref{node_, next_ref_.fetch_add(1, std::memory_order_relaxed)}; }
  std::uint32_t node() const { return node_; }

  // --- registry ---
  void register_name(Atom name, Pid pid);
  bool unregister_name(Atom name);
  std::optional<Pid> whereis(Atom name) const;
  std::optional<Atom> name_of(Pid pid) const;
  std::vector<Atom> registered() const;

  std::optional<ProcessInfo> info(Pid pid) const;
  std::vector<Pid> processes() const;
  RuntimeStats stats() const;
  std::size_t live_count() const { return live_.load(std::memory_order_acquire); }
  void set_idle_poll(const IdlePoll* poll);

 private:
  void worker_loop(Worker* w);
  Process* find_work(Worker* w);
  void park(Worker* w);
  bool poll_idle();
  void idle_poll_parks();
  bool nothing_else_queued() const;
  void yield_core();
  void run(Worker* w, Process* p);
  void run_slices(Process* p);
  bool try_complete(Process* p);
  void terminate(Process* p);
  void handle_exit_signal(Process* p, Signal* s);
  void append_saved(Process* p, Signal* s);
  void trace_receive(Process* p, const Term& message);
  void bounce(Signal* s, const Atom& reason = noproc_atom());
  static const Atom& noproc_atom() {
    static const Atom a("noproc");
    return a;
  }
  void timer_loop();
  void watchdog();
  void blocking_loop();
  std::uint64_t now_ms() const;

  Runtime& rt_;
  RuntimeConfig config_;
  std::uint32_t node_;
  ProcessTable table_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::uint64_t> next_ref_{1};
  std::atomic<Distribution*> dist_{nullptr};

  std::vector<std::unique_ptr<Worker>> workers_;
  RunQueue injection_;
  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  std::atomic<std::uint64_t> work_epoch_{0};
  std::atomic<int> idle_{0};
  std::atomic<const IdlePoll*> idle_poll_{nullptr};  // see set_idle_poll
  std::atomic<int> idle_polling_{0};                 // workers inside idle_poll_
  std::atomic<bool> workers_stop_{false};

  std::mutex live_mutex_;
  std::condition_variable live_cv_;
  bool stopped_ = false;

  mutable std::shared_mutex registry_mutex_;
  std::unordered_map<std::uint32_t, Pid> names_;
  std::unordered_map<std::uint64_t, Atom> name_of_;

  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  TimerWheel wheel_;
  std::unordered_map<std::uint64_t, SendTimer*> send_timers_;
  std::uint64_t next_timer_id_ = 1;
  bool timer_stop_ = false;
  std::chrono::steady_clock::time_point epoch_;
  std::atomic<bool> timer_sleeping_{false};
  std::uint64_t last_watchdog_ = 0;
  std::atomic<std::uint64_t> long_runs_{0};
  std::atomic<std::uint64_t> os_yields_{0};  // see yield_core
  std::thread timer_thread_;

  std::mutex blocking_mutex_;
  std::condition_variable blocking_cv_;
  std::deque<std::function<void()>> blocking_jobs_;
  std::vector<std::thread> blocking_threads_;
  std::size_t blocking_idle_ = 0;
  bool blocking_stop_ = false;
};

}  // namespace ember::detail
