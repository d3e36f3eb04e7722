// Process lifecycle and signals: spawn, send, links, monitors, exits, names, info.
#include <algorithm>
#include <mutex>
#include <new>
#include <thread>

#include "ember/core/errors.hpp"
#include "runtime_impl.hpp"

namespace ember {
namespace detail {

namespace {

const Atom& kExitTag() {
  static const Atom a("EXIT");
  return a;
}
const Atom& kDownTag() {
  static const Atom a("DOWN");
  return a;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Process table

// A chunk is raw memory and its slots are constructed one by one as they are first handed
// out: built whole, the first chunk alone made 1.3 MiB resident in every node, most of it
// never used.
namespace {

constexpr std::align_val_t kProcessAlign{alignof(Process)};

}  // namespace

ProcessTable::ProcessTable(std::uint32_t capacity)
    : capacity_(std::min<std::uint32_t>(capacity, Pid::kMaxSlot)),
      chunks_(new std::atomic<Process*>[capacity_ / kChunk + 1]()) {}

ProcessTable::~ProcessTable() {
  std::uint32_t used = used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) slot_unchecked(i)->~Process();
  for (std::uint32_t i = 0; i <= capacity_ / kChunk; ++i)
    if (Process* chunk = chunks_[i].load()) ::operator delete(chunk, kProcessAlign);
}

Process* ProcessTable::allocate() {
  {
    std::lock_guard lock(free_lock_);
    if (!free_.empty()) {
      Process* p = free_.back();
      free_.pop_back();
      return p;
    }
  }
  std::lock_guard lock(grow_mutex_);
  std::uint32_t index = used_.load(std::memory_order_relaxed);
  // Slot 0 stays unused so that no live pid is ever all zero bits.
  if (index == 0) index = 1;
  if (index >= capacity_) return nullptr;
  if (!chunks_[index / kChunk].load(std::memory_order_relaxed)) {
    void* raw = ::operator new(sizeof(Process) * kChunk, kProcessAlign);
    chunks_[index / kChunk].store(static_cast<Process*>(raw), std::memory_order_release);
  }
  // Slot 0 is constructed with slot 1, so that every slot below used_ is a Process.
  if (index == 1) new (slot_unchecked(0)) Process();
  Process* p = new (slot_unchecked(index)) Process();
  p->slot = index;
  used_.store(index + 1, std::memory_order_release);
  return p;
}

void ProcessTable::release(Process* p) {
  std::lock_guard lock(free_lock_);
  free_.push_back(p);
}

Process* ProcessTable::slot(std::uint32_t index) const {
  if (index >= used_.load(std::memory_order_acquire)) return nullptr;
  return slot_unchecked(index);
}

Process* ProcessTable::slot_unchecked(std::uint32_t index) const {
  Process* chunk = chunks_[index / kChunk].load(std::memory_order_acquire);
  return chunk ? &chunk[index % kChunk] : nullptr;
}

// ---------------------------------------------------------------------------------------
// Spawning and ending

Process* RuntimeImpl::allocate() {
  Process* p = table_.allocate();
  if (!p) throw ErlangError(Atom("system_limit"));
  p->generation = (p->generation + 1) & Pid::kMaxGen;
  if (p->generation == 0) p->generation = 1;
  p->runtime = &rt_;
  // Messages that raced with the last incarnation's exit (deliver_message): nobody else
  // consumes this inbox while the slot is free.
  while (Signal* s = p->inbox.pop()) discard(p, s);
  p->pid_bits.store(Pid(node_, p->slot, p->generation).bits(), std::memory_order_release);
  // Clear only the closed bit: a stale sender may still be between its add and its sub.
  p->senders.fetch_and(~Process::kClosed, std::memory_order_acq_rel);
  return p;
}

void RuntimeImpl::start(Process* p, Proc::Handle coro, Closure closure, const SpawnOptions& o) {
  flush_sends();  // the child may run at once, elsewhere: what its parent sent goes first
  p->coro = coro;
  p->closure = closure;
  p->frame_bytes = coro.promise().frame_bytes;
  if (o.link_to) {
    {
      MetaLock lock(*p);
      p->rel().add_link(o.link_to->pid());
    }
    MetaLock lock(*o.link_to);
    o.link_to->rel().add_link(p->pid());
  }
  // A parent on another node: only this side's half here, the node layer does the other.
  if (o.remote_parent.valid()) {
    MetaLock lock(*p);
    if (o.remote_link) p->rel().add_link(o.remote_parent);
    if (o.remote_monitor) p->rel().add_watcher(o.monitor_ref, o.remote_parent);
  }
  if (o.monitor_by) {
    {
      MetaLock lock(*p);
      p->rel().add_watcher(o.monitor_ref, o.monitor_by->pid());
    }
    MetaLock lock(*o.monitor_by);
    o.monitor_by->rel().add_monitor(o.monitor_ref, p->pid());
  }
  live_.fetch_add(1, std::memory_order_acq_rel);
  p->state.store(ProcState::kRunnable, std::memory_order_release);
  enqueue(p);
}

Process* RuntimeImpl::live(Pid pid) const {
  if (pid.node() != node_) return nullptr;
  Process* p = table_.slot(pid.slot());
  if (!p || p->pid_bits.load(std::memory_order_acquire) != pid.bits()) return nullptr;
  if (p->senders.load(std::memory_order_acquire) & Process::kClosed) return nullptr;
  return p;
}

void RuntimeImpl::terminate(Process* p) {
  Pid self = p->pid();
  Term reason = p->exit_reason;
  p->helpers.clear();  // their frames go with the body's
  if (p->coro) p->coro.destroy();
  p->coro = {};
  if (p->closure.destroy) p->closure.destroy(p->closure.object);
  p->closure = {};
  cancel_timeout(p);

  // Close the inbox, then wait out senders already past the check: after this no new
  // signal can arrive, so the final drain below sees everything.
  p->senders.fetch_or(Process::kClosed, std::memory_order_acq_rel);
  while ((p->senders.load(std::memory_order_acquire) & ~Process::kClosed) != 0)
    std::this_thread::yield();
  p->state.store(ProcState::kExiting, std::memory_order_release);

  while (Signal* s = p->inbox.pop()) {
    if (s->to == self) {
      // A link or monitor that raced with the exit still hears the real reason.
      MetaLock lock(*p);
      if (s->kind == SignalKind::kLink)
        p->rel().add_link(s->from);
      else if (s->kind == SignalKind::kUnlink)
        p->rel().remove_link(s->from);
      else if (s->kind == SignalKind::kMonitor)
        p->rel().add_watcher(s->ref, s->from);
      else if (s->kind == SignalKind::kDemonitor)
        p->rel().remove_watcher(s->ref);
    }
    discard(p, s);
  }
  for (SignalLink* n = p->saved_head.next.load(std::memory_order_relaxed); n;) {
    SignalLink* next = n->next.load(std::memory_order_relaxed);
    discard(p, static_cast<Signal*>(n));
    n = next;
  }
  p->saved_head.next.store(nullptr, std::memory_order_relaxed);
  p->saved_tail = &p->saved_head;
  p->mark = nullptr;
  p->pending = nullptr;
  p->queue_bytes.store(0, std::memory_order_relaxed);

  if (auto name = name_of(self)) unregister_name(*name);

  std::unique_ptr<Relations> rel;
  {
    MetaLock lock(*p);
    rel = std::move(p->relations);
    p->trap_exit = false;
  }
  std::vector<Pid> links;
  std::vector<MonitorEntry> monitors, monitored_by;
  if (rel) {
    links = rel->links();
    monitors = rel->monitors();
    monitored_by = rel->watchers();
  }
  for (Pid l : links) send_exit(self, l, reason, true);
  for (const MonitorEntry& m : monitored_by) {
    Signal* s = make_signal(SignalKind::kDown, self, m.pid);
    s->ref = m.ref;
    s->payload = reason;
    deliver(s);
  }
  for (const MonitorEntry& m : monitors) send_demonitor(self, m.pid, m.ref);

  ExitWaiter* waiter = p->waiter;
  p->waiter = nullptr;
  p->has_exit = false;
  p->exit_reason = Term();
  p->yield_requested = p->yield_called = false;
  p->budget_used = 0;
  p->reductions.store(0, std::memory_order_relaxed);
  p->tracer.store(0, std::memory_order_relaxed);  // the slot's next incarnation is not traced
  p->pid_bits.store(0, std::memory_order_release);
  p->state.store(ProcState::kFree, std::memory_order_release);
  table_.release(p);

  if (waiter) {
    std::lock_guard lock(waiter->mutex);
    waiter->reason = reason;
    waiter->done = true;
    waiter->cv.notify_all();
  }
  if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(live_mutex_);
    live_cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------------------
// Signals

namespace {

// Spare inbox entries in batches, between threads: one that frees more entries than it
// makes (a worker running the receiver of a remote stream) hands its surplus to one that
// makes more than it frees (the loop thread decoding that stream). A lock per batch
// instead of an allocation here and a cross-thread free there per message.
class SignalPool {
 public:
  static constexpr std::size_t kBatch = 256;
  bool take(std::vector<Signal*>& into) {
    std::lock_guard lock(mutex_);
    if (batches_.empty()) return false;
    into.swap(batches_.back());
    batches_.pop_back();
    return true;
  }
  // Takes the last kBatch of `from`, unless the pool is full.
  bool give(std::vector<Signal*>& from) {
    std::vector<Signal*> batch(from.end() - kBatch, from.end());
    std::lock_guard lock(mutex_);
    if (batches_.size() >= kMaxBatches) return false;
    batches_.push_back(std::move(batch));
    from.resize(from.size() - kBatch);
    return true;
  }

 private:
  static constexpr std::size_t kMaxBatches = 64;
  std::mutex mutex_;
  std::vector<std::vector<Signal*>> batches_;
};

std::atomic<std::uint64_t> signals_made_{0};

SignalPool& signal_pool() {
  static SignalPool* pool = new SignalPool;  // never destroyed: threads may outlive statics
  return *pool;
}

// Inbox entries are recycled per thread: a ping-pong pair on one worker allocates none.
// An entry freed on another thread than it was made on joins that thread's cache; what a
// cache holds beyond kMax goes to the pool.
class SignalCache {
 public:
  ~SignalCache() {
    for (Signal* s : free_) delete s;
  }
  Signal* take() {
    if (free_.empty() && !signal_pool().take(free_)) {
      signals_made_.fetch_add(1, std::memory_order_relaxed);
      return new Signal;
    }
    Signal* s = free_.back();
    free_.pop_back();
    return s;
  }
  void give(Signal* s) {
    s->payload = Term();  // release the message's heap now, not on reuse
    s->ref = Ref{};
    s->linked = false;
    s->seq = 0;
    if (free_.size() >= kMax && !signal_pool().give(free_)) {
      delete s;
      return;
    }
    free_.push_back(s);
  }

 private:
  static constexpr std::size_t kMax = 1024;
  std::vector<Signal*> free_;
};

thread_local SignalCache tl_signals;

}  // namespace

bool& send_penalty() noexcept {
  static thread_local bool penalty = false;
  return penalty;
}

std::uint64_t signals_made() {
  return signals_made_.load(std::memory_order_relaxed);
}

void free_signal(Signal* s) {
  tl_signals.give(s);
}

// A message leaves the queue through here or through scan (see Process::queue_len).
void discard(Process* p, Signal* s) {
  if (s->kind == SignalKind::kMessage) add_owned(p->removed, 1);
  free_signal(s);
}

Signal* RuntimeImpl::make_signal(SignalKind kind, Pid from, Pid to) {
  Signal* s = tl_signals.take();
  s->kind = kind;
  s->from = from;
  s->to = to;
  return s;
}

void RuntimeImpl::deliver(Signal* s) {
  bool remote = s->to.node() != node_ && s->to.valid();
  if (s->kind != SignalKind::kMessage || remote) flush_sends();
  if (remote) return route_remote(s);
  Process* p = table_.slot(s->to.slot());
  if (!p) return bounce(s);
  if (s->kind == SignalKind::kMessage) return deliver_message(p, s);
  std::uint32_t before = p->senders.fetch_add(1, std::memory_order_acq_rel);
  if ((before & Process::kClosed) || p->pid_bits.load(std::memory_order_acquire) != s->to.bits()) {
    p->senders.fetch_sub(1, std::memory_order_release);
    return bounce(s);
  }
  p->inbox.push(s);
  wake(p);
  p->senders.fetch_sub(1, std::memory_order_release);
}

// A message from a running process to another joins that process's batch (SendBatch);
// a send to itself goes straight in, as its next receive must see it.
void RuntimeImpl::deliver_message(Process* p, Signal* s) {
  s->next.store(nullptr, std::memory_order_relaxed);  // the entry may be a reused one
  SendBatch* b = batch_here();
  if (!b || p == current_process()) return push_messages(p, s, s, 1);
  if (b->count && b->to == p && b->to_bits == s->to.bits()) {
    b->last->next.store(s, std::memory_order_relaxed);
  } else {
    flush_sends();
    b->to = p;
    b->to_bits = s->to.bits();
    b->first = s;
  }
  b->last = s;
  if (++b->count == SendBatch::kMax) flush_sends();
}

void RuntimeImpl::flush_sends() {
  SendBatch* b = batch_here();
  if (!b || !b->count) return;
  std::uint32_t count = std::exchange(b->count, 0);
  push_messages(b->to, b->first, b->last, count);
}

// A message skips the senders guard that holds terminate() back: nothing answers a message
// sent to a dead process, so one that races past the final drain may lie in the slot's
// inbox until the next incarnation drops it (drain, start) or the table is freed. That
// saves two read-modify-writes on the target's cache line per send, the hottest path.
void RuntimeImpl::push_messages(Process* p, Signal* first, Signal* last, std::uint32_t count) {
  if (p->pid_bits.load(std::memory_order_acquire) != first->to.bits() ||
      (p->senders.load(std::memory_order_acquire) & Process::kClosed)) {
    for (SignalLink* s = first; s;) {
      SignalLink* next = s->next.load(std::memory_order_relaxed);
      free_signal(static_cast<Signal*>(s));
      s = next;
    }
    return;
  }
  std::uint64_t before = p->arrived.fetch_add(count, std::memory_order_relaxed);
  std::uint64_t after = before + count;
  if ((after & ~(kCongestionCheckEvery - 1)) != (before & ~(kCongestionCheckEvery - 1)))
    check_congestion(p, after);
  if (p->congested.load(std::memory_order_relaxed)) send_penalty() = true;
  p->inbox.push_chain(first, last);
  wake(p);
}

// The BEAM makes a send to a process with a long queue cost the sender more reductions;
// here such a sender yields at its next send, so that on few cores the receiver gets to
// run instead of its queue growing by millions (8 producers, 1 consumer: 900 MB of page
// faults before this). Checked every kCongestionCheckEvery arrivals, as reading `removed`
// touches the owner's cache line.
void RuntimeImpl::check_congestion(Process* p, std::uint64_t arrived) {
  std::uint64_t queued = arrived - p->removed.load(std::memory_order_relaxed);
  bool was = p->congested.load(std::memory_order_relaxed);
  if (!was && queued > kCongestedAbove) p->congested.store(true, std::memory_order_relaxed);
  if (was && queued < kCongestedAbove / 2) p->congested.store(false, std::memory_order_relaxed);
}

void RuntimeImpl::route_remote(Signal* s) {
  if (Distribution* d = dist_.load(std::memory_order_acquire)) {
    std::unique_ptr<Signal, void (*)(Signal*)> owned(s, free_signal);  // route may throw
    return d->route(*s);
  }
  static const Atom noconnection("noconnection");
  bounce(s, noconnection);
}

// Erlang: {Name, Node} ! Msg never fails, whether or not the name exists.
void RuntimeImpl::send_named(Pid from, RemoteName to, Term message) {
  flush_sends();
  if (Distribution* d = dist_.load(std::memory_order_acquire))
    return d->send_named(from, to, std::move(message));
  if (to.node == NodeTable::identity(node_).name)
    if (auto pid = whereis(to.name)) send(from, *pid, std::move(message));
}

void RuntimeImpl::monitor_name(Pid watcher, RemoteName to, Ref ref, bool on) {
  flush_sends();
  Distribution* d = dist_.load(std::memory_order_acquire);
  if (d && d->monitor_name(watcher, to, ref, on)) return;
  // The name is this node's (or, with no network, the node is unreachable).
  const bool here = d || to.node == NodeTable::identity(node_).name;
  std::optional<Pid> holder = here ? whereis(to.name) : std::nullopt;
  if (holder) {
    Signal* s = make_signal(on ? SignalKind::kMonitor : SignalKind::kDemonitor, watcher, *holder);
    s->ref = ref;
    return deliver(s);
  }
  if (!on) return;
  static const Atom noproc("noproc"), noconnection("noconnection");
  Signal* down = make_signal(SignalKind::kDown, detail::name_marker(to), watcher);
  down->ref = ref;
  down->payload = here ? noproc : noconnection;
  deliver(down);
}

void RuntimeImpl::send_demonitor(Pid watcher, Pid target, Ref ref) {
  if (detail::is_name_marker(target))
    return monitor_name(watcher, detail::marker_name(target), ref, false);
  Signal* s = make_signal(SignalKind::kDemonitor, watcher, target);
  s->ref = ref;
  deliver(s);
}

// The target is gone (noproc) or out of reach (noconnection): a link or monitor learns it
// at once; the rest is dropped.
void RuntimeImpl::bounce(Signal* s, const Atom& reason) {
  if (s->kind == SignalKind::kLink) {
    send_exit(s->to, s->from, reason, true);
  } else if (s->kind == SignalKind::kMonitor) {
    Signal* down = make_signal(SignalKind::kDown, s->to, s->from);
    down->ref = s->ref;
    down->payload = reason;
    deliver(down);
  }
  free_signal(s);
}

void RuntimeImpl::send(Pid from, Pid to, Term message) {
  Signal* s = make_signal(SignalKind::kMessage, from, to);
  s->payload = std::move(message);
  deliver(s);
}

void RuntimeImpl::send_exit(Pid from, Pid to, Term reason, bool linked) {
  Signal* s = make_signal(SignalKind::kExit, from, to);
  s->payload = std::move(reason);
  s->linked = linked;
  deliver(s);
}

void RuntimeImpl::append_saved(Process* p, Signal* s) {
  s->kind = SignalKind::kMessage;
  s->seq = ++p->saved_seq;
  add_owned(p->queue_bytes, s->payload.heap_bytes());
  s->next.store(nullptr, std::memory_order_relaxed);
  p->saved_tail->next.store(s, std::memory_order_relaxed);
  p->saved_tail = s;
  // Every message (trapped EXITs and DOWNs too) enters the saved queue here, in the order
  // the process will see it: the one place a 'receive' trace needs, and while nobody
  // traces it costs one predictable branch on an owner-written field.
  if (p->tracer.load(std::memory_order_relaxed) != 0) [[unlikely]]
    trace_receive(p, s->payload);
}

// {trace, Pid, 'receive', Msg} to the tracer, a copy: the message itself stays queued.
// The tracer is local (trace() insists), so its death is seen here without a monitor:
// tracing stops at the first message after it.
void RuntimeImpl::trace_receive(Process* p, const Term& message) {
  static const Atom trace_tag("trace"), receive_tag("receive");
  Pid tracer = Pid::from_bits(p->tracer.load(std::memory_order_relaxed));
  if (!live(tracer)) {
    p->tracer.store(0, std::memory_order_relaxed);
    return;
  }
  send(p->pid(), tracer, tuple(trace_tag, p->pid(), receive_tag, message));
}

// erlang:trace(Target, On, ['receive', {tracer, Tracer}]) as a signal: it takes effect
// in the target's inbox order, so exactly the messages queued after it are traced, and
// only the target ever writes its `tracer` field.
bool RuntimeImpl::trace(Pid target, Pid tracer, bool on) {
  static const Atom badarg("badarg");
  if (target.node() != node_ || (on && (tracer.node() != node_ || tracer == target)))
    throw ErlangError(badarg);
  if (!live(target)) return false;
  Signal* s = make_signal(SignalKind::kTrace, tracer, target);
  s->linked = on;
  deliver(s);
  return true;
}

// Erlang's rules for an exit signal arriving at a live process.
void RuntimeImpl::handle_exit_signal(Process* p, Signal* s) {
  static const Atom kill("kill"), killed("killed");
  if (s->linked) {
    MetaLock lock(*p);
    if (!p->rel().remove_link(s->from)) {  // unlinked meanwhile: the signal is void
      free_signal(s);
      return;
    }
  }
  const Term& reason = s->payload;
  if (!s->linked && reason.is(kill)) {
    p->has_exit = true;
    p->exit_reason = killed;
  } else if (p->trap_exit) {
    s->payload = tuple(kExitTag(), s->from, reason);
    add_owned(p->removed, -1);  // a signal became a message
    append_saved(p, s);
    return;
  } else if (reason.is(atoms::normal())) {
    if (!s->linked && s->from == p->pid()) {
      p->has_exit = true;
      p->exit_reason = reason;
    }
  } else {
    p->has_exit = true;
    p->exit_reason = reason;
  }
  free_signal(s);
}

void RuntimeImpl::drain(Process* p) {
  Pid self = p->pid();
  while (!p->has_exit) {
    Signal* s = p->inbox.pop();
    if (!s) return;
    if (s->to != self) {  // addressed to an earlier incarnation of this slot
      discard(p, s);
      continue;
    }
    switch (s->kind) {
      case SignalKind::kMessage:
        append_saved(p, s);
        continue;
      case SignalKind::kExit:
        handle_exit_signal(p, s);
        continue;
      case SignalKind::kLink: {
        MetaLock lock(*p);
        p->rel().add_link(s->from);
        break;
      }
      case SignalKind::kUnlink: {
        MetaLock lock(*p);
        p->rel().remove_link(s->from);
        break;
      }
      case SignalKind::kMonitor: {
        MetaLock lock(*p);
        p->rel().add_watcher(s->ref, s->from);
        break;
      }
      case SignalKind::kDemonitor: {
        MetaLock lock(*p);
        p->rel().remove_watcher(s->ref);
        break;
      }
      case SignalKind::kDown: {
        bool active;
        Pid target;
        {
          MetaLock lock(*p);
          active = p->rel().remove_monitor(s->ref, &target);
        }
        if (active) {  // a demonitored ref's DOWN never shows up
          static const Atom process("process");
          Term object = s->from;
          if (detail::is_name_marker(target)) {
            RemoteName n = detail::marker_name(target);
            object = tuple(n.name, n.node);
          }
          s->payload = tuple(kDownTag(), s->ref, process, object, s->payload);
          add_owned(p->removed, -1);  // a signal became a message
          append_saved(p, s);
          continue;
        }
        break;
      }
      case SignalKind::kTimeout:
        if (p->pending && s->seq == p->receive_seq) p->pending->timed_out = true;
        break;
      case SignalKind::kTrace:
        // Off from a null pid: whoever traces; from a pid: only if that one still does
        // (a relay that ends must not cancel a newer tracer's trace).
        if (s->linked)
          p->tracer.store(s->from.bits(), std::memory_order_relaxed);
        else if (!s->from.valid() || p->tracer.load(std::memory_order_relaxed) == s->from.bits())
          p->tracer.store(0, std::memory_order_relaxed);
        break;
    }
    free_signal(s);
  }
}

bool RuntimeImpl::scan(Process* p, PendingReceive& pending) {
  SignalLink* prev = pending.cursor;
  for (SignalLink* n = prev->next.load(std::memory_order_relaxed); n;
       prev = n, n = n->next.load(std::memory_order_relaxed)) {
    auto* s = static_cast<Signal*>(n);
    std::size_t clause = 0;
    if (!pending.match(pending.self, s->payload, clause)) continue;
    SignalLink* next = n->next.load(std::memory_order_relaxed);
    prev->next.store(next, std::memory_order_relaxed);
    if (p->saved_tail == n) p->saved_tail = prev;
    if (p->mark == n) p->mark = prev;
    pending.cursor = prev;
    pending.clause = clause;
    pending.matched = true;
    add_owned(p->removed, 1);
    add_owned(p->queue_bytes, 0 - s->payload.heap_bytes());
    pending.message = std::move(s->payload);
    free_signal(s);
    return true;
  }
  pending.cursor = prev;
  return false;
}

// ---------------------------------------------------------------------------------------
// Registry

void RuntimeImpl::register_name(Atom name, Pid pid) {
  static const Atom badarg("badarg"), undefined("undefined");
  std::unique_lock lock(registry_mutex_);
  if (name == undefined || names_.count(name.index()) || name_of_.count(pid.bits()) || !live(pid))
    throw ErlangError(badarg);
  names_.emplace(name.index(), pid);
  name_of_.emplace(pid.bits(), name);
}

bool RuntimeImpl::unregister_name(Atom name) {
  std::unique_lock lock(registry_mutex_);
  auto it = names_.find(name.index());
  if (it == names_.end()) return false;
  name_of_.erase(it->second.bits());
  names_.erase(it);
  return true;
}

std::optional<Pid> RuntimeImpl::whereis(Atom name) const {
  std::shared_lock lock(registry_mutex_);
  auto it = names_.find(name.index());
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::optional<Atom> RuntimeImpl::name_of(Pid pid) const {
  std::shared_lock lock(registry_mutex_);
  auto it = name_of_.find(pid.bits());
  if (it == name_of_.end()) return std::nullopt;
  return it->second;
}

std::vector<Atom> RuntimeImpl::registered() const {
  std::shared_lock lock(registry_mutex_);
  std::vector<Atom> out;
  for (const auto& [index, pid] : names_) out.push_back(Atom::from_index(index));
  return out;
}

// ---------------------------------------------------------------------------------------
// Introspection

std::optional<ProcessInfo> RuntimeImpl::info(Pid pid) const {
  const_cast<RuntimeImpl*>(this)->flush_sends();  // the caller's sends count in the queue it reads
  Process* p = live(pid);
  if (!p) return std::nullopt;
  ProcessInfo info{};
  switch (p->state.load(std::memory_order_acquire)) {
    case ProcState::kWaiting:
      info.status = ProcessStatus::kWaiting;
      break;
    case ProcState::kRunnable:
      info.status = ProcessStatus::kRunnable;
      break;
    case ProcState::kExiting:
    case ProcState::kFree:
      info.status = ProcessStatus::kExiting;
      break;
    default:
      info.status = ProcessStatus::kRunning;
      break;
  }
  info.message_queue_len = p->queue_len();
  info.reductions = p->reductions.load(std::memory_order_relaxed);
  info.tracer = Pid::from_bits(p->tracer.load(std::memory_order_relaxed));
  info.registered_name = name_of(pid);
  std::size_t vectors;
  {
    MetaLock lock(*p);
    if (p->relations) {
      info.links = p->relations->links();
      for (const auto& m : p->relations->monitors()) info.monitors.push_back(m.ref);
      for (const auto& m : p->relations->watchers()) info.monitored_by.push_back(m.pid);
    }
    info.trap_exit = p->trap_exit;
    vectors = p->relations ? p->relations->memory() : 0;
  }
  info.memory = sizeof(Process) + p->frame_bytes + vectors + p->queue_len() * sizeof(Signal) +
                p->queue_bytes.load(std::memory_order_relaxed);
  // A process that exited between the lookup and now is reported as gone.
  if (p->pid_bits.load(std::memory_order_acquire) != pid.bits()) return std::nullopt;
  return info;
}

std::vector<Pid> RuntimeImpl::processes() const {
  std::vector<Pid> out;
  for (std::uint32_t i = 1; i < table_.used(); ++i) {
    Process* p = table_.slot(i);
    std::uint64_t bits = p ? p->pid_bits.load(std::memory_order_acquire) : 0;
    if (bits) out.push_back(Pid::from_bits(bits));
  }
  return out;
}

RuntimeStats RuntimeImpl::stats() const {
  RuntimeStats s{};
  s.processes = live_count();
  for (const auto& w : workers_)
    s.run_queue_lengths.push_back(w->queue.length.load(std::memory_order_relaxed));
  s.run_queue_lengths.push_back(injection_.length.load(std::memory_order_relaxed));
  s.memory = std::size_t(table_.used()) * sizeof(Process);
  s.long_runs = long_runs_.load(std::memory_order_relaxed);
  s.os_yields = os_yields_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Runtime: the public face

Runtime::Runtime(RuntimeConfig config)
    : impl_(std::make_unique<detail::RuntimeImpl>(*this, config)) {}
Runtime::~Runtime() {
  stop();
}

void Runtime::stop() {
  impl_->stop();
}
void Runtime::send(Pid to, Term message) {
  impl_->send(Pid(), to, std::move(message));
}
void Runtime::send(Atom name, Term message) {
  auto pid = whereis(name);
  if (!pid) throw ErlangError(Atom("badarg"));
  send(*pid, std::move(message));
}
void Runtime::exit(Pid pid, Term reason) {
  impl_->send_exit(Pid(), pid, std::move(reason), false);
}
bool Runtime::trace(Pid target, Pid tracer) {
  return impl_->trace(target, tracer, true);
}
void Runtime::untrace(Pid target, Pid tracer) {
  impl_->trace(target, tracer, false);
}
void Runtime::register_name(Atom name, Pid pid) {
  impl_->register_name(name, pid);
}
bool Runtime::unregister_name(Atom name) {
  return impl_->unregister_name(name);
}
std::optional<Pid> Runtime::whereis(Atom name) const {
  return impl_->whereis(name);
}
std::vector<Atom> Runtime::registered() const {
  return impl_->registered();
}
bool Runtime::alive(Pid pid) const {
  return impl_->live(pid) != nullptr;
}
std::optional<ProcessInfo> Runtime::info(Pid pid) const {
  return impl_->info(pid);
}
std::vector<Pid> Runtime::processes() const {
  return impl_->processes();
}
RuntimeStats Runtime::stats() const {
  return impl_->stats();
}
std::size_t Runtime::process_count() const {
  return impl_->live_count();
}
void Runtime::set_distribution(Distribution* d) {
  impl_->set_distribution(d);
}
Distribution* Runtime::distribution() const {
  return impl_->distribution();
}
Ref Runtime::make_ref() {
  return impl_->make_ref();
}
std::uint32_t Runtime::node() const {
  return impl_->node();
}

namespace detail {

Process* allocate_process(Runtime& rt) {
  return rt.impl().allocate();
}

void start_process(Runtime& rt, Process* p, Proc::Handle coro, Closure closure,
                   const SpawnOptions& options) {
  rt.impl().start(p, coro, closure, options);
}

Term run_and_wait(Runtime& rt, Process* p, Proc::Handle coro, Closure closure) {
  ExitWaiter waiter;
  p->waiter = &waiter;
  rt.impl().start(p, coro, closure, {});
  std::unique_lock lock(waiter.mutex);
  waiter.cv.wait(lock, [&] { return waiter.done; });
  return waiter.reason;
}

Self make_self(Runtime& rt, Process* p) {
  return Self(&rt, p);
}

void deliver_signal(Runtime& rt, SignalKind kind, Pid from, Pid to, Ref ref, Term payload,
                    bool linked) {
  RuntimeImpl& impl = rt.impl();
  Signal* s = impl.make_signal(kind, from, to);
  s->ref = ref;
  s->payload = std::move(payload);
  s->linked = linked;
  impl.deliver(s);
}

}  // namespace detail
}  // namespace ember
