// Self: a process's handle on the runtime, and the receive awaitable.
#pragma once

#include <chrono>
#include <coroutine>
#include <optional>
#include <tuple>
#include <utility>

#include "ember/core/detail/process.hpp"
#include "ember/core/distribution.hpp"
#include "ember/core/pattern.hpp"
#include "ember/core/term.hpp"

namespace ember {

class Runtime;
namespace detail {
struct SpawnOptions;
}

using std::chrono::milliseconds;

// Reductions a process may use in one run before it must let others run.
inline constexpr std::uint32_t kReductionBudget = 2000;

// What a receive returned: the message and which clause took it, or a timeout.
class Message {
 public:
  Message() = default;
  Message(std::size_t clause, Term term)
      : clause_(clause), term_(std::move(term)), timed_out_(false) {}
  static Message timeout() { return Message(); }

  bool timed_out() const { return timed_out_; }
  std::size_t clause() const { return clause_; }
  const Term& term() const { return term_; }
  Term operator[](std::size_t i) const { return term_[i]; }
  bool is(Atom a) const { return term_.is(a); }
  template <class T>
  T as() const {
    return term_.as<T>();
  }
  Pid pid(std::size_t i) const { return term_[i].pid(); }

 private:
  std::size_t clause_ = 0;
  Term term_;
  bool timed_out_ = true;
};

namespace detail {
// The non-template half of a receive, in runtime.cpp.
bool receive_ready(Process* p, PendingReceive& pending, const std::optional<milliseconds>& timeout,
                   const std::optional<Ref>& since);
void receive_suspend(Process* p, PendingReceive& pending,
                     const std::optional<milliseconds>& timeout);
}  // namespace detail

// `co_await self.receive(clause...)` with `.after(ms)` for a timeout. Clauses are tried in
// order for each message, oldest message first; the first match is taken out of the
// mailbox and the rest stay, in order.
template <class... Clauses>
class Receive {
 public:
  Receive(detail::Process* p, Clauses... clauses) : p_(p), clauses_(std::move(clauses)...) {}

  // Gives up after `t` (after(0ms) polls) and returns a Message whose timed_out() is true.
  Receive& after(milliseconds t) & {
    timeout_ = t;
    return *this;
  }
  Receive&& after(milliseconds t) && {
    timeout_ = t;
    return std::move(*this);
  }
  // Only messages that arrived after `ref` was made can match (the BEAM's receive mark):
  // a reply is found without rescanning older messages.
  Receive&& since(Ref ref) && {
    since_ = ref;
    return std::move(*this);
  }

  bool await_ready() {
    pending_.match = &Receive::match;
    pending_.self = this;  // set here, not at construction: the awaitable may have moved
    return detail::receive_ready(p_, pending_, timeout_, since_);
  }
  void await_suspend(std::coroutine_handle<>) { detail::receive_suspend(p_, pending_, timeout_); }
  Message await_resume() {
    if (!pending_.matched) return Message::timeout();
    return Message(pending_.clause, std::move(pending_.message));
  }

 private:
  static bool match(void* self, const Term& m, std::size_t& clause) {
    auto* r = static_cast<Receive*>(self);
    if constexpr (sizeof...(Clauses) == 0) {
      return false;
    } else {
      return std::apply(
          [&](const auto&... c) {
            std::size_t i = 0;
            return ((c(m) ? (clause = i, true) : (++i, false)) || ...);
          },
          r->clauses_);
    }
  }

  detail::Process* p_;
  std::tuple<Clauses...> clauses_;
  std::optional<milliseconds> timeout_;
  std::optional<Ref> since_;
  detail::PendingReceive pending_;
};

// What send returns: awaiting it yields only if the budget is spent.
struct Sent {
  detail::Process* p;
  bool await_ready() const noexcept { return p->budget_used < kReductionBudget; }
  void await_suspend(std::coroutine_handle<>) const noexcept { p->yield_requested = true; }
  void await_resume() const noexcept {}
};

struct Yield {
  detail::Process* p;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {
    p->yield_requested = p->yield_called = true;
  }
  void await_resume() const noexcept {}
};

// A timer started by send_after; cancel_timer takes it back.
struct TimerRef {
  std::uint64_t id = 0;
};

class Self {
 public:
  Self(Runtime* rt, detail::Process* p) : rt_(rt), p_(p) {}

  Pid pid() const { return p_->pid(); }
  Runtime& runtime() const { return *rt_; }

  // Never blocks, never fails for a dead pid. The message is sent when send returns;
  // `co_await self.send(...)` also makes the send a preemption point: a process that has
  // used its reduction budget lets others run there (a loop that only sends should
  // await its sends, as Erlang would preempt it).
  Sent send(Pid to, Term message) const;
  // Throws ErlangError(badarg) when no process has that name.
  Sent send(Atom name, Term message) const;
  // {Name, Node} ! Message: never fails, whether or not the name exists there.
  Sent send(RemoteName to, Term message) const;

  template <class F>
  Pid spawn(F&& f) const;
  template <class F>
  Pid spawn_link(F&& f) const;
  template <class F>
  std::pair<Pid, Ref> spawn_monitor(F&& f) const;

  // Throws ErlangError(noproc) for a dead pid when not trapping exits; when trapping, an
  // {'EXIT', Pid, noproc} message arrives instead.
  void link(Pid pid) const;
  void unlink(Pid pid) const;
  Ref monitor(Pid pid) const;
  // Monitors under a ref made earlier with make_ref() (Task tags its reply with it).
  void monitor(Pid pid, Ref ref) const;
  // erlang:monitor(process, {Name, Node}): watches whatever holds the name on that node
  // (this one or another) when the monitor arrives. The DOWN names {Name, Node}; its
  // reason is noproc when nothing holds the name, noconnection when the node is lost.
  Ref monitor(RemoteName to) const;
  void monitor(RemoteName to, Ref ref) const;
  // Removes the monitor; with flush, also a DOWN for it already in the mailbox. Either
  // way no DOWN for `ref` is received afterwards. Returns true, as Erlang's does.
  bool demonitor(Ref ref, bool flush = false) const;
  bool trap_exit(bool on) const;  // returns the old value
  [[noreturn]] void exit(Term reason) const;
  void exit(Pid pid, Term reason) const;
  Ref make_ref() const;
  // Runtime::trace with this process as the tracer: {trace, Target, 'receive', Msg} for
  // every message Target receives until untrace or this process's end.
  bool trace(Pid target) const;
  void untrace(Pid target) const;

  void register_name(Atom name) const;
  std::optional<Pid> whereis(Atom name) const;
  std::size_t message_queue_len() const;

  template <class... Clauses>
  Receive<Clauses...> receive(Clauses... clauses) const {
    return Receive<Clauses...>(p_, std::move(clauses)...);
  }
  // Any message.
  Receive<AnyMessage> receive() const { return Receive<AnyMessage>(p_, any); }
  // Suspends for `t`, leaving every message in the mailbox.
  Receive<> sleep(milliseconds t) const { return Receive<>(p_).after(t); }
  // Lets other processes run; the process continues at once if nothing else is runnable.
  // Yields in quick succession with nothing else to run (a polling loop) also let the OS
  // run other threads of the machine, such as the node's I/O thread.
  Yield yield() const { return Yield{p_}; }

  TimerRef send_after(milliseconds t, Pid to, Term message) const;
  bool cancel_timer(TimerRef timer) const;

  detail::Process* process() const { return p_; }

 private:
  Runtime* rt_;
  detail::Process* p_;
};

}  // namespace ember
