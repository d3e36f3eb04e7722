// What a process can do to itself and others: Self's operations and the receive halves.
#include "ember/core/self.hpp"

#include <algorithm>

#include "ember/core/errors.hpp"
#include "ember/core/runtime.hpp"
#include "runtime_impl.hpp"

namespace ember {

using detail::MetaLock;
using detail::Process;
using detail::Signal;
using detail::SignalKind;

namespace detail {

namespace {
constexpr std::uint32_t kReceiveBudget = kReductionBudget;
RuntimeImpl& impl_of(Process* p) {
  return p->runtime->impl();
}
}  // namespace

bool receive_ready(Process* p, PendingReceive& pending, const std::optional<milliseconds>& timeout,
                   const std::optional<Ref>& since) {
  RuntimeImpl& rt = impl_of(p);
  pending.cursor = since && p->mark && p->mark_ref == *since ? p->mark : &p->saved_head;
  pending.timed_out = pending.matched = pending.complete = false;
  pending.poll = timeout && timeout->count() <= 0;
  rt.drain(p);
  if (p->has_exit) return false;  // suspend: the worker ends the process
  if (++p->budget_used > kReceiveBudget) {
    p->yield_requested = true;  // fairness: scan on the next turn
    return false;
  }
  if (rt.scan(p, pending)) return pending.complete = true;
  return pending.complete = pending.poll;
}

void receive_suspend(Process* p, PendingReceive& pending,
                     const std::optional<milliseconds>& timeout) {
  p->pending = &pending;
  ++p->receive_seq;
  if (timeout && timeout->count() > 0 && !pending.complete)
    impl_of(p).arm_timeout(p, std::uint64_t(timeout->count()));
}

}  // namespace detail

namespace {
detail::RuntimeImpl& impl(Runtime* rt) {
  return rt->impl();
}
const Atom& noproc() {
  static const Atom a("noproc");
  return a;
}
}  // namespace

Sent Self::send(Pid to, Term message) const {
  detail::add_owned(p_->reductions, 1);
  ++p_->budget_used;
  detail::send_penalty() = false;
  impl(rt_).send(pid(), to, std::move(message));
  if (detail::send_penalty()) p_->budget_used = kReductionBudget;  // the receiver is swamped
  return Sent{p_};
}

Sent Self::send(Atom name, Term message) const {
  auto to = whereis(name);
  if (!to) throw ErlangError(Atom("badarg"));
  return send(*to, std::move(message));
}

Sent Self::send(RemoteName to, Term message) const {
  detail::add_owned(p_->reductions, 1);
  ++p_->budget_used;
  impl(rt_).send_named(pid(), to, std::move(message));
  return Sent{p_};
}

void Self::link(Pid other) const {
  if (other == pid()) return;
  if (other.node() == rt_->node() && !rt_->alive(other)) {
    if (!p_->trap_exit) throw ErlangError(noproc());
    Signal* s = impl(rt_).make_signal(SignalKind::kMessage, other, pid());
    s->payload = tuple(Atom("EXIT"), other, noproc());
    impl(rt_).deliver(s);
    return;
  }
  {
    MetaLock lock(*p_);
    if (!p_->rel().add_link(other)) return;
  }
  impl(rt_).deliver(impl(rt_).make_signal(SignalKind::kLink, pid(), other));
}

void Self::unlink(Pid other) const {
  {
    MetaLock lock(*p_);
    if (!p_->rel().remove_link(other)) return;
  }
  impl(rt_).deliver(impl(rt_).make_signal(SignalKind::kUnlink, pid(), other));
}

Ref Self::monitor(Pid other) const {
  Ref ref = rt_->make_ref();
  monitor(other, ref);
  return ref;
}

void Self::monitor(Pid other, Ref ref) const {
  {
    MetaLock lock(*p_);
    p_->rel().add_monitor(ref, other);
  }
  Signal* s = impl(rt_).make_signal(SignalKind::kMonitor, pid(), other);
  s->ref = ref;
  impl(rt_).deliver(s);
}

Ref Self::monitor(RemoteName to) const {
  Ref ref = rt_->make_ref();
  monitor(to, ref);
  return ref;
}

void Self::monitor(RemoteName to, Ref ref) const {
  {
    MetaLock lock(*p_);
    p_->rel().add_monitor(ref, detail::name_marker(to));
  }
  impl(rt_).monitor_name(pid(), to, ref, true);
}

bool Self::demonitor(Ref ref, bool flush) const {
  Pid target;
  bool active;
  {
    MetaLock lock(*p_);
    active = p_->rel().remove_monitor(ref, &target);
  }
  if (active) impl(rt_).send_demonitor(pid(), target, ref);
  if (flush) {
    // A DOWN already in the mailbox goes; one still in flight is dropped on arrival.
    impl(rt_).drain(p_);
    static const Atom down("DOWN");
    detail::PendingReceive pending;
    auto is_down = [](void* r, const Term& m, std::size_t& clause) {
      clause = 0;
      return m.is_tuple(5) && m[0].is(down) && m[1].is_ref() && m[1].ref() == *static_cast<Ref*>(r);
    };
    pending.match = is_down;
    pending.self = &ref;
    pending.cursor = &p_->saved_head;
    impl(rt_).scan(p_, pending);
  }
  return true;
}

bool Self::trap_exit(bool on) const {
  MetaLock lock(*p_);
  return std::exchange(p_->trap_exit, on);
}

void Self::exit(Term reason) const {
  throw ProcessExit{std::move(reason)};
}

void Self::exit(Pid target, Term reason) const {
  static const Atom kill("kill"), killed("killed");
  if (target == pid()) {
    // exit(self(), R) acts at once: it ends the caller unless it traps a trappable reason.
    if (reason.is(kill)) throw ProcessExit{killed};
    if (!p_->trap_exit) throw ProcessExit{std::move(reason)};
  }
  impl(rt_).send_exit(pid(), target, std::move(reason), false);
}

Ref Self::make_ref() const {
  Ref ref = rt_->make_ref();
  p_->mark = p_->saved_tail;  // a receive .since(ref) starts after today's messages
  p_->mark_ref = ref;
  return ref;
}

bool Self::trace(Pid target) const {
  return rt_->trace(target, pid());
}
void Self::untrace(Pid target) const {
  rt_->untrace(target, pid());
}

void Self::register_name(Atom name) const {
  rt_->register_name(name, pid());
}
std::optional<Pid> Self::whereis(Atom name) const {
  return rt_->whereis(name);
}
std::size_t Self::message_queue_len() const {
  return p_->queue_len();
}

TimerRef Self::send_after(milliseconds t, Pid to, Term message) const {
  return TimerRef{impl(rt_).send_after(std::uint64_t(std::max<std::int64_t>(0, t.count())), to,
                                       std::move(message))};
}

bool Self::cancel_timer(TimerRef timer) const {
  return impl(rt_).cancel_timer(timer.id);
}

}  // namespace ember
