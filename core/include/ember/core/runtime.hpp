// Runtime: one node's processes, scheduler, timers and local names.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/core/atom.hpp"
#include "ember/core/detail/process.hpp"
#include "ember/core/distribution.hpp"
#include "ember/core/node_table.hpp"
#include "ember/core/pid.hpp"
#include "ember/core/proc.hpp"
#include "ember/core/term.hpp"

namespace ember {

class Self;

struct RuntimeConfig {
  unsigned workers = 0;                    // scheduler threads; 0 means one per core
  std::uint32_t node = NodeTable::kLocal;  // node index the pids carry
  std::uint32_t max_processes = 1u << 26;  // slots; Erlang's default limit is 2^20
  unsigned blocking_threads = 4;           // most threads the blocking pool grows to
};

enum class ProcessStatus { kRunning, kRunnable, kWaiting, kExiting };

struct ProcessInfo {
  ProcessStatus status;
  std::size_t message_queue_len;
  std::vector<Pid> links;
  std::vector<Ref> monitors;  // refs of the monitors this process holds
  std::vector<Pid> monitored_by;
  std::optional<Atom> registered_name;
  std::size_t memory;  // bytes: control block, queued messages, bookkeeping
  std::uint64_t reductions;
  bool trap_exit;
  Pid tracer;  // the null pid when not traced (Runtime::trace)
};

struct RuntimeStats {
  std::size_t processes;
  std::vector<std::size_t> run_queue_lengths;  // per worker, then the injection queue
  std::size_t memory;                          // bytes held by process slots
  std::uint64_t long_runs;  // times the watchdog saw a process hold a worker > 100 ms
  // yield()s in a polling loop, with nothing else to run, that let the OS run its threads
  std::uint64_t os_yields;
};

namespace detail {
class RuntimeImpl;
struct SpawnOptions {
  Process* link_to = nullptr;     // the parent, for spawn_link
  Process* monitor_by = nullptr;  // the parent, for spawn_monitor
  Ref monitor_ref;
  Pid remote_parent;  // a parent on another node (remote spawn), linked and/or monitoring
  bool remote_link = false;
  bool remote_monitor = false;
};
}  // namespace detail

// Starting a Runtime starts its workers; destroying it (or stop()) kills every process
// and frees everything. Several may live in one program.
class Runtime {
 public:
  explicit Runtime(RuntimeConfig config = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Spawns `f`: a callable taking Self and returning Proc (a coroutine) or void (runs
  // once). The callable is kept alive for as long as the process runs.
  template <class F>
  Pid spawn(F&& f) {
    return spawn_with(std::forward<F>(f), {});
  }

  // Runs `f` as a process and blocks the calling (non-worker) thread until it exits;
  // returns its exit reason.
  template <class F>
  Term run(F&& f);

  // Sends from outside any process (the sender pid is the null pid).
  void send(Pid to, Term message);
  // Throws ErlangError(badarg) when no process has that name.
  void send(Atom name, Term message);
  // exit(Pid, Reason) from outside any process.
  void exit(Pid pid, Term reason);

  // erlang:trace(Target, true, ['receive', {tracer, Tracer}]): every message Target
  // receives from now on (in its inbox order, trapped EXITs and DOWNs included) is also
  // sent to Tracer as {trace, Target, 'receive', Msg}, a copy. Tracing stops at untrace,
  // when Tracer dies (seen at Target's next message) or when Target exits. A newer
  // tracer replaces an older one. Both must be local and differ (Erlang's tracers are
  // local too; a tool elsewhere uses a relay, see ember_admin's trace): else badarg.
  // False when Target is not alive.
  bool trace(Pid target, Pid tracer);
  // Stops tracing of Target by `tracer` (by any tracer when null).
  void untrace(Pid target, Pid tracer = Pid());

  // Throws ErlangError(badarg) if the name is taken, the pid is dead or already named.
  void register_name(Atom name, Pid pid);
  bool unregister_name(Atom name);
  std::optional<Pid> whereis(Atom name) const;
  std::vector<Atom> registered() const;

  bool alive(Pid pid) const;
  std::optional<ProcessInfo> info(Pid pid) const;
  std::vector<Pid> processes() const;
  RuntimeStats stats() const;
  std::size_t process_count() const;

  // Kills every process (reason `shutdown`, untrappable), then stops the workers.
  // Idempotent; the destructor calls it.
  void stop();

  Ref make_ref();
  std::uint32_t node() const;
  // Installs the node layer (null removes it). Without one, a signal to a pid of another
  // node is dropped, and a link or monitor to it fires at once with noconnection.
  void set_distribution(Distribution* d);
  Distribution* distribution() const;
  detail::RuntimeImpl& impl() { return *impl_; }

  // spawn with link/monitor options; Self's spawn_link/spawn_monitor and the node
  // layer's remote spawn use it.
  template <class F>
  Pid spawn_with(F&& f, detail::SpawnOptions options);

 private:
  std::unique_ptr<detail::RuntimeImpl> impl_;
};

namespace detail {
Process* allocate_process(Runtime& rt);
void start_process(Runtime& rt, Process* p, Proc::Handle coro, Closure closure,
                   const SpawnOptions& options);
struct ExitWaiter;
Term run_and_wait(Runtime& rt, Process* p, Proc::Handle coro, Closure closure);
Self make_self(Runtime& rt, Process* p);
// For the node layer: a signal that arrived from another node, into a local inbox (or
// bounced as for any dead target).
void deliver_signal(Runtime& rt, SignalKind kind, Pid from, Pid to, Ref ref, Term payload,
                    bool linked = false);
// For a thread that is not a worker (the transport's loop thread): between these two, its
// messages to one process go in as one chain, as a running process's sends do; any other
// signal still goes at once, after what was gathered. Nothing may wait between them for
// an answer to what was sent.
void begin_delivery_batch(Runtime& rt);
void end_delivery_batch(Runtime& rt);
// For the node layer: called by a worker that has nothing to run, on each round of its
// spin before it parks. `poll` reads the node's connections and delivers what came
// (returning true if it read anything), so a reply reaches a spinning worker without a
// wake-up of the loop thread. It runs on a worker outside any process. Passing nullptr
// removes it and returns once no worker is inside the old one. `park` (may be null) runs
// once when a worker's spin found nothing, right before it sleeps: it stops polling.
struct IdlePoll {
  bool (*poll)(void* context);
  void* context;
  void (*park)(void* context) = nullptr;
};
void set_idle_poll(Runtime& rt, const IdlePoll* poll);
// For the node layer: work that a running process's sends leave for the moment it suspends
// (the transport holds the frames of one run back, to write them in one go). Returns
// false outside a process's run, where the caller must do the work itself. `fn` runs once
// on this thread, right after the run; registering it again in the same run is a no-op.
bool at_slice_end(void (*fn)());

template <class F>
Proc run_plain(F* f, Self self);
}  // namespace detail

}  // namespace ember

#include "ember/core/self.hpp"

namespace ember {

namespace detail {

template <class F>
Proc run_plain(F* f, Self self) {
  (*f)(self);
  co_return;
}

// Heap-allocates the callable next to the process and starts the coroutine from it.
template <class F>
std::pair<Proc::Handle, Closure> make_body(F&& f, Self self) {
  using Fn = std::decay_t<F>;
  auto* obj = new Fn(std::forward<F>(f));
  Closure c{obj, [](void* o) { delete static_cast<Fn*>(o); }};
  if constexpr (std::is_same_v<std::invoke_result_t<Fn&, Self>, Proc>) {
    return {(*obj)(self).release(), c};
  } else {
    return {run_plain(obj, self).release(), c};
  }
}

}  // namespace detail

template <class F>
Pid Runtime::spawn_with(F&& f, detail::SpawnOptions options) {
  detail::Process* p = detail::allocate_process(*this);
  auto [coro, closure] = detail::make_body(std::forward<F>(f), detail::make_self(*this, p));
  Pid pid = p->pid();
  detail::start_process(*this, p, coro, closure, options);
  return pid;
}

template <class F>
Term Runtime::run(F&& f) {
  detail::Process* p = detail::allocate_process(*this);
  auto [coro, closure] = detail::make_body(std::forward<F>(f), detail::make_self(*this, p));
  return detail::run_and_wait(*this, p, coro, closure);
}

template <class F>
Pid Self::spawn(F&& f) const {
  return rt_->spawn_with(std::forward<F>(f), {});
}

template <class F>
Pid Self::spawn_link(F&& f) const {
  detail::SpawnOptions o;
  o.link_to = p_;
  return rt_->spawn_with(std::forward<F>(f), o);
}

template <class F>
std::pair<Pid, Ref> Self::spawn_monitor(F&& f) const {
  detail::SpawnOptions o;
  o.monitor_by = p_;
  o.monitor_ref = rt_->make_ref();
  Pid pid = rt_->spawn_with(std::forward<F>(f), o);
  return {pid, o.monitor_ref};
}

}  // namespace ember
