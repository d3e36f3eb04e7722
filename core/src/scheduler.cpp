// The scheduler: workers, run queues, parking, the run loop of one process, timers.
#include <chrono>

#include <spdlog/spdlog.h>

#include "ember/core/errors.hpp"
#include "runtime_impl.hpp"

namespace ember::detail {

namespace {

constexpr std::uint32_t kBudget = kReductionBudget;
// Consecutive hand-offs through a worker's `next` slot before its queue gets a turn, so
// a ping-pong pair cannot starve the rest.
constexpr std::uint32_t kNextStreak = 64;
constexpr int kSpinRounds = 200;
// Yields closer together than this are a polling loop (see yield_core).
constexpr std::int64_t kPollingYieldNs = 20000;
constexpr std::uint64_t kWatchdogMs = 100;

thread_local Worker* tl_worker = nullptr;
thread_local RuntimeImpl* tl_runtime = nullptr;
thread_local Process* tl_process = nullptr;
// A thread outside the workers gathering its deliveries (begin_delivery_batch).
thread_local RuntimeImpl* tl_batching = nullptr;
thread_local SendBatch tl_outside_batch;
// What at_slice_end registered during the current run (a handful of layers at most).
constexpr int kSliceEndSlots = 4;
thread_local void (*tl_slice_end[kSliceEndSlots])() = {};
thread_local int tl_slice_end_count = 0;

void run_slice_end() {
  for (int i = 0; i < tl_slice_end_count; ++i) tl_slice_end[i]();
  tl_slice_end_count = 0;
}

Term reason_of(Proc::promise_type& promise) {
  if (!promise.exception) return atoms::normal();
  try {
    std::rethrow_exception(promise.exception);
  } catch (const ProcessExit& e) {
    return e.reason;
  } catch (const ErlangError& e) {
    return e.reason();
  } catch (const std::exception& e) {
    return tuple(Atom("exception"), std::string_view(e.what()));
  } catch (...) {
    return tuple(Atom("exception"), "unknown exception");
  }
}

}  // namespace

Process* current_process() noexcept {
  return tl_process;
}

bool at_slice_end(void (*fn)()) {
  if (!tl_process) return false;
  for (int i = 0; i < tl_slice_end_count; ++i)
    if (tl_slice_end[i] == fn) return true;
  if (tl_slice_end_count == kSliceEndSlots) return false;
  tl_slice_end[tl_slice_end_count++] = fn;
  return true;
}

SendBatch* RuntimeImpl::batch_here() const noexcept {
  if (tl_process) return tl_runtime == this ? &tl_worker->batch : nullptr;
  return tl_batching == this ? &tl_outside_batch : nullptr;
}

void begin_delivery_batch(Runtime& rt) {
  RuntimeImpl* impl = &rt.impl();
  if (tl_batching == impl || tl_process) return;
  if (tl_batching) tl_batching->flush_sends();  // another node's: its gathering ends here
  tl_batching = impl;
}

void end_delivery_batch(Runtime& rt) {
  if (tl_batching != &rt.impl()) return;
  tl_batching->flush_sends();
  tl_batching = nullptr;
}

void RunQueue::push(Process* p) {
  p->run_next = nullptr;
  std::lock_guard guard(lock);
  if (tail)
    tail->run_next = p;
  else
    head = p;
  tail = p;
  length.fetch_add(1, std::memory_order_relaxed);
}

Process* RunQueue::pop() {
  if (length.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard guard(lock);
  Process* p = head;
  if (!p) return nullptr;
  head = p->run_next;
  if (!head) tail = nullptr;
  length.fetch_sub(1, std::memory_order_relaxed);
  return p;
}

RuntimeImpl::RuntimeImpl(Runtime& rt, RuntimeConfig config)
    : rt_(rt),
      config_(config),
      node_(config.node),
      table_(config.max_processes),
      wheel_(0),
      epoch_(std::chrono::steady_clock::now()) {
  spdlog::default_logger_raw();  // see Transport: the logger exists before our threads do
  unsigned n = config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = i;
  }
  for (auto& w : workers_) w->thread = std::thread([this, w = w.get()] { worker_loop(w); });
  timer_thread_ = std::thread([this] { timer_loop(); });
}

RuntimeImpl::~RuntimeImpl() {
  stop();
}

void RuntimeImpl::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Kill until nothing lives: a dying supervisor may still spawn on its way out.
  static const Atom kill("kill");
  while (live_count() > 0) {
    for (Pid pid : processes()) send_exit(Pid(), pid, kill, false);
    std::unique_lock lock(live_mutex_);
    live_cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return live_count() == 0; });
  }
  workers_stop_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock(park_mutex_);
    park_cv_.notify_all();
  }
  for (auto& w : workers_) w->thread.join();
  {
    std::lock_guard lock(timer_mutex_);
    timer_stop_ = true;
    timer_cv_.notify_all();
  }
  timer_thread_.join();
  {
    std::lock_guard lock(blocking_mutex_);
    blocking_stop_ = true;
    blocking_cv_.notify_all();
  }
  for (auto& t : blocking_threads_) t.join();
  for (auto& [id, node] : send_timers_) delete node;
  send_timers_.clear();
}

// ---------------------------------------------------------------------------------------
// Waking and queueing

// A sender links its signal into the inbox, then reads `state`; the worker sets `state` to
// kRunning, then drains the inbox. Each is a store followed by a load of another location,
// which release/acquire (and x86's store buffer) lets both see stale: the sender reads
// kRunnable and leaves it to the run, the run misses the signal and goes to kWaiting,
// and the process sleeps with a message in its inbox (savina big hung once in ~25 runs).
// A seq_cst fence on each side (here and after each kRunning store) makes at least one of
// them see the other. A sender that finds the process waiting needs none: its CAS wins
// only once the run has given up, and the next run starts after the enqueue.
void RuntimeImpl::wake(Process* p) {
  ProcState s = p->state.load(std::memory_order_acquire);
  bool fenced = false;
  for (;;) {
    if (s == ProcState::kWaiting) {
      if (p->state.compare_exchange_weak(s, ProcState::kRunnable, std::memory_order_acq_rel)) {
        enqueue(p);
        return;
      }
    } else if (!fenced) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
      fenced = true;
      s = p->state.load(std::memory_order_acquire);
    } else if (s == ProcState::kRunning) {
      if (p->state.compare_exchange_weak(s, ProcState::kRunningNotified, std::memory_order_acq_rel))
        return;
    } else {
      return;  // already queued, already notified, or exiting
    }
  }
}

// Before a run looks at its inbox (see wake).
void RuntimeImpl::mark_running(Process* p) {
  p->state.store(ProcState::kRunning, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void RuntimeImpl::enqueue(Process* p) {
  Worker* w = tl_runtime == this ? tl_worker : nullptr;
  if (w) {
    // Woken by the process running here: it runs next, here, keeping pairs on one core.
    // Only this worker looks at `next`, so nobody else needs waking for it.
    Process* displaced = std::exchange(w->next, p);
    if (!displaced) return;
    w->queue.push(displaced);
  } else {
    injection_.push(p);
  }
  work_epoch_.fetch_add(1, std::memory_order_seq_cst);
  if (idle_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(park_mutex_);
    park_cv_.notify_one();
  }
}

Process* RuntimeImpl::find_work(Worker* w) {
  if (w->next && w->next_streak < kNextStreak) {
    ++w->next_streak;
    return std::exchange(w->next, nullptr);
  }
  w->next_streak = 0;
  if (w->next) w->queue.push(std::exchange(w->next, nullptr));
  if (Process* p = w->queue.pop()) return p;
  if (Process* p = injection_.pop()) return p;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    Worker* victim = workers_[(w->index + i) % workers_.size()].get();
    if (Process* p = victim->queue.pop()) return p;
  }
  return nullptr;
}

void RuntimeImpl::park(Worker* w) {
  // Spin briefly: waking a parked vCPU here costs 15-20 us, a spinning one 0.1 us.
  for (int i = 0; i < kSpinRounds; ++i) {
    if (injection_.length.load(std::memory_order_relaxed) ||
        w->queue.length.load(std::memory_order_relaxed) ||
        workers_stop_.load(std::memory_order_relaxed))  // a loaded machine makes yields slow
      return;
    if (poll_idle()) return;
    std::this_thread::yield();
  }
  std::uint64_t seen = work_epoch_.load(std::memory_order_seq_cst);
  if (Process* p = find_work(w)) {  // put it back where this worker will look first
    w->next = p;
    return;
  }
  idle_poll_parks();
  std::unique_lock lock(park_mutex_);
  idle_.fetch_add(1, std::memory_order_seq_cst);
  park_cv_.wait(lock, [&] {
    return work_epoch_.load(std::memory_order_seq_cst) != seen ||
           workers_stop_.load(std::memory_order_seq_cst);
  });
  idle_.fetch_sub(1, std::memory_order_seq_cst);
  lock.unlock();
  if (timer_sleeping_.load(std::memory_order_acquire)) {  // let the watchdog watch again
    std::lock_guard timer_lock(timer_mutex_);
    timer_cv_.notify_one();
  }
}

// The count is raised before the poll is looked at, and set_idle_poll clears the pointer
// before it looks at the count (both seq_cst): a worker either sees nullptr or is counted.
bool RuntimeImpl::poll_idle() {
  if (!idle_poll_.load(std::memory_order_relaxed)) return false;
  idle_polling_.fetch_add(1, std::memory_order_seq_cst);
  const IdlePoll* poll = idle_poll_.load(std::memory_order_seq_cst);
  bool got = poll && poll->poll(poll->context);
  idle_polling_.fetch_sub(1, std::memory_order_release);
  return got;
}

void RuntimeImpl::idle_poll_parks() {
  if (!idle_poll_.load(std::memory_order_relaxed)) return;
  idle_polling_.fetch_add(1, std::memory_order_seq_cst);
  const IdlePoll* poll = idle_poll_.load(std::memory_order_seq_cst);
  if (poll && poll->park) poll->park(poll->context);
  idle_polling_.fetch_sub(1, std::memory_order_release);
}

void RuntimeImpl::set_idle_poll(const IdlePoll* poll) {
  idle_poll_.store(poll, std::memory_order_seq_cst);
  if (poll) return;
  while (idle_polling_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void set_idle_poll(Runtime& rt, const IdlePoll* poll) {
  rt.impl().set_idle_poll(poll);
}

void RuntimeImpl::worker_loop(Worker* w) {
  tl_worker = w;
  tl_runtime = this;
  while (!workers_stop_.load(std::memory_order_acquire)) {
    if (Process* p = find_work(w))
      run(w, p);
    else
      park(w);
  }
  tl_worker = nullptr;
  tl_runtime = nullptr;
}

// ---------------------------------------------------------------------------------------
// Running one process

bool RuntimeImpl::try_complete(Process* p) {
  PendingReceive& pending = *p->pending;
  if (pending.complete) return true;
  if (scan(p, pending)) {
    cancel_timeout(p);
    return pending.complete = true;
  }
  return pending.complete = pending.timed_out || pending.poll;
}

void RuntimeImpl::run(Worker* w, Process* p) {
  w->running.store(p->pid_bits.load(std::memory_order_relaxed), std::memory_order_relaxed);
  w->runs.store(w->runs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  run_slices(p);
  w->running.store(0, std::memory_order_relaxed);
}

void RuntimeImpl::run_slices(Process* p) {
  mark_running(p);
  p->budget_used = 0;
  for (;;) {
    drain(p);
    if (p->has_exit) return terminate(p);
    if (p->pending && !p->yield_requested && !try_complete(p)) {
      ProcState expected = ProcState::kRunning;
      if (p->state.compare_exchange_strong(expected, ProcState::kWaiting,
                                           std::memory_order_acq_rel))
        return;
      mark_running(p);  // notified: look again
      continue;
    }
    if (p->yield_requested || p->budget_used >= kBudget) {
      p->yield_requested = false;
      p->budget_used = 0;
      bool alone = std::exchange(p->yield_called, false) && nothing_else_queued();
      p->state.store(ProcState::kRunnable, std::memory_order_release);
      injection_.push(p);
      work_epoch_.fetch_add(1, std::memory_order_seq_cst);
      if (alone) yield_core();
      return;
    }
    p->pending = nullptr;
    ++p->budget_used;
    add_owned(p->reductions, 1);
    std::coroutine_handle<> current = p->helpers.empty() ? p->coro : p->helpers.back();
    tl_process = p;
    current.resume();
    flush_sends();  // it suspended: what it sent goes out now
    tl_process = nullptr;
    if (tl_slice_end_count) run_slice_end();
    if (!p->helpers.empty() && p->helpers.back() == current && current.done()) {
      p->helpers.pop_back();  // a Co<> finished: its caller continues and reads the result
      continue;
    }
    if (p->coro.done()) {
      p->has_exit = true;
      p->exit_reason = reason_of(p->coro.promise());
      return terminate(p);
    }
    if (p->has_exit) return terminate(p);
  }
}

bool RuntimeImpl::nothing_else_queued() const {
  const Worker* w = tl_worker;
  return w && !w->next && !w->queue.length.load(std::memory_order_relaxed) &&
         !injection_.length.load(std::memory_order_relaxed);
}

// A process that yields again and again with nothing else to run here is polling for
// something another thread must produce, and this worker would run it again at once,
// never letting go of the core: two nodes' pollers kept both vCPUs of the machine, and a
// woken I/O thread waited up to a kernel tick (4 ms) for one (ember-bench global). So a
// yield that comes soon after this worker's last one also lets the OS run whoever waits
// (one syscall when nobody does). Erlang's yield stays inside its scheduler. A process
// that works between its yields keeps the core: giving it away at each of them cost
// send_global 20 %.
void RuntimeImpl::yield_core() {
  Worker* w = tl_worker;
  std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
  bool polling = now - w->last_yield_ns < kPollingYieldNs;
  w->last_yield_ns = now;
  if (!polling) return;
  os_yields_.fetch_add(1, std::memory_order_relaxed);
  std::this_thread::yield();
}

// ---------------------------------------------------------------------------------------
// Timers

std::uint64_t RuntimeImpl::now_ms() const {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - epoch_)
                           .count());
}

// now_ms() is truncated, so `now + ms` could fire up to 1 ms early; as in Erlang a timer
// never fires before its time, so a non-zero one waits for the next millisecond boundary.
std::uint64_t RuntimeImpl::due_at(std::uint64_t now, std::uint64_t ms) {
  return ms ? now + ms + 1 : now;
}

// Whether a timer of `ms` armed into an empty wheel must wake the timer thread (call with
// timer_mutex_ held). It need not when the thread is in its watchdog wait (workers busy):
// that ends within kWatchdogMs, before such a timer is due, and the thread then ticks
// every 1 ms while the wheel holds a timer. A gen_server call arms its 5 s timer into an
// empty wheel and cancels it microseconds later; waking the thread for each cost a futex
// call and a context switch per call (gen_server_call 1.7 us -> 1.0 us under load).
bool RuntimeImpl::timer_must_wake(std::uint64_t ms) const {
  return ms < kWatchdogMs || timer_sleeping_.load(std::memory_order_relaxed);
}

void RuntimeImpl::arm_timeout(Process* p, std::uint64_t ms) {
  std::lock_guard lock(timer_mutex_);
  p->timer.is_send = false;
  p->timer.target = p->pid();
  p->timer.token = p->receive_seq;
  bool was_empty = wheel_.size() == 0;
  std::uint64_t now = now_ms();
  wheel_.insert(&p->timer, due_at(now, ms), now);
  if (was_empty && timer_must_wake(ms)) timer_cv_.notify_one();
}

void RuntimeImpl::cancel_timeout(Process* p) {
  if (!p->timer.armed.load(std::memory_order_relaxed))
    return;  // only this process arms it; the timer thread disarms under the lock
  std::lock_guard lock(timer_mutex_);
  wheel_.cancel(&p->timer);
}

std::uint64_t RuntimeImpl::send_after(std::uint64_t ms, Pid to, Term message) {
  flush_sends();  // a 0 ms timer must not pass what was sent before it
  auto* node = new SendTimer;
  node->is_send = true;
  node->target = to;
  node->message = std::move(message);
  std::lock_guard lock(timer_mutex_);
  node->token = next_timer_id_++;
  send_timers_.emplace(node->token, node);
  bool was_empty = wheel_.size() == 0;
  std::uint64_t now = now_ms();
  wheel_.insert(node, due_at(now, ms), now);
  if (was_empty && timer_must_wake(ms)) timer_cv_.notify_one();
  return node->token;
}

bool RuntimeImpl::cancel_timer(std::uint64_t id) {
  std::lock_guard lock(timer_mutex_);
  auto it = send_timers_.find(id);
  if (it == send_timers_.end()) return false;
  wheel_.cancel(it->second);
  delete it->second;
  send_timers_.erase(it);
  return true;
}

void RuntimeImpl::timer_loop() {
  struct Fired {
    Pid target;
    std::uint64_t token;
    bool is_send;
    Term message;
  };
  std::vector<TimerNode*> due;
  std::vector<Fired> fired;
  std::unique_lock lock(timer_mutex_);
  while (!timer_stop_) {
    bool workers_busy = idle_.load(std::memory_order_seq_cst) < int(workers_.size());
    if (wheel_.size() > 0) {
      timer_cv_.wait_for(lock, std::chrono::milliseconds(1));
    } else if (workers_busy) {
      timer_cv_.wait_for(lock, std::chrono::milliseconds(kWatchdogMs));
    } else {
      timer_sleeping_.store(true, std::memory_order_release);
      timer_cv_.wait(lock);  // an idle node makes no wake-ups at all
      timer_sleeping_.store(false, std::memory_order_release);
    }
    watchdog();
    due.clear();
    wheel_.advance(now_ms(), due);
    for (TimerNode* n : due) {
      // Copy out under the lock: a receive timer node is re-armed by its process.
      if (n->is_send) {
        auto* send = static_cast<SendTimer*>(n);
        fired.push_back({n->target, n->token, true, std::move(send->message)});
        send_timers_.erase(n->token);
        delete send;
      } else {
        fired.push_back({n->target, n->token, false, Term()});
      }
    }
    if (fired.empty()) continue;
    lock.unlock();
    for (Fired& f : fired) {
      if (f.is_send) {
        send(Pid(), f.target, std::move(f.message));
      } else {
        Signal* s = make_signal(SignalKind::kTimeout, Pid(), f.target);
        s->seq = f.token;
        deliver(s);
      }
    }
    fired.clear();
    lock.lock();
  }
}

// Runs on the timer thread at most every 100 ms: a worker whose run counter has not moved
// since the last look, while it runs a process, has been held for 100 ms or more.
void RuntimeImpl::watchdog() {
  std::uint64_t now = now_ms();
  if (now - last_watchdog_ < kWatchdogMs) return;
  last_watchdog_ = now;
  for (auto& w : workers_) {
    std::uint64_t runs = w->runs.load(std::memory_order_relaxed);
    std::uint64_t pid = w->running.load(std::memory_order_relaxed);
    if (runs != w->seen_runs || pid == 0) {
      w->seen_runs = runs;
      w->reported = false;
      continue;
    }
    if (w->reported) continue;
    w->reported = true;
    long_runs_.fetch_add(1, std::memory_order_relaxed);
    Pid p = Pid::from_bits(pid);
    spdlog::warn(
        "ember: process <{}.{}.{}> has held scheduler worker {} for over {} ms without "
        "yielding; move blocking work to blocking()",
        p.node(), p.slot(), p.generation(), w->index, kWatchdogMs);
  }
}

// ---------------------------------------------------------------------------------------
// The blocking pool: like the BEAM's dirty schedulers, threads for calls that block, so a
// worker is never stalled by them. Threads start on demand, up to blocking_threads.

void RuntimeImpl::submit_blocking(std::function<void()> job) {
  std::lock_guard lock(blocking_mutex_);
  blocking_jobs_.push_back(std::move(job));
  if (blocking_idle_ == 0 && blocking_threads_.size() < std::max(1u, config_.blocking_threads))
    blocking_threads_.emplace_back([this] { blocking_loop(); });
  else
    blocking_cv_.notify_one();
}

void RuntimeImpl::blocking_loop() {
  std::unique_lock lock(blocking_mutex_);
  for (;;) {
    ++blocking_idle_;
    blocking_cv_.wait(lock, [&] { return blocking_stop_ || !blocking_jobs_.empty(); });
    --blocking_idle_;
    if (blocking_jobs_.empty()) return;  // stopping, and nothing left to run
    auto job = std::move(blocking_jobs_.front());
    blocking_jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

void wake_blocked(Runtime& rt, Pid pid, std::uint64_t token) {
  RuntimeImpl& impl = rt.impl();
  Signal* s = impl.make_signal(SignalKind::kTimeout, Pid(), pid);
  s->seq = token;
  impl.deliver(s);
}

void submit_blocking(Runtime& rt, std::function<void()> job) {
  rt.impl().submit_blocking(std::move(job));
}

}  // namespace ember::detail
