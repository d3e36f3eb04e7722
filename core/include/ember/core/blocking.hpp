// blocking(): run a call that blocks off the scheduler workers, like a dirty scheduler.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "ember/core/runtime.hpp"

namespace ember {

namespace detail {
void submit_blocking(Runtime& rt, std::function<void()> job);
void wake_blocked(Runtime& rt, Pid pid, std::uint64_t token);
bool receive_ready(Process* p, PendingReceive& pending, const std::optional<milliseconds>& timeout,
                   const std::optional<Ref>& since);
}  // namespace detail

// `auto r = co_await blocking(self, [] { return read_file(); });` The function runs on the
// runtime's blocking pool; the process waits (its messages stay queued, exit signals still
// act) and resumes with the result, or with the exception the function threw.
template <class F>
class Blocking {
  using R = std::invoke_result_t<F&>;
  struct State {  // shared with the pool thread, which may outlive a killed process
    F fn;
    std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
    std::exception_ptr error;
  };

 public:
  Blocking(Self self, F fn)
      : self_(self), state_(std::make_shared<State>(State{std::move(fn), {}, {}})) {}

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) {
    detail::Process* p = self_.process();
    pending_.match = [](void*, const Term&, std::size_t&) { return false; };
    pending_.cursor = &p->saved_head;
    pending_.timed_out = pending_.matched = pending_.complete = pending_.poll = false;
    p->pending = &pending_;
    std::uint64_t token = ++p->receive_seq;  // the pool's wake-up carries this receive's number
    Runtime* rt = &self_.runtime();
    Pid pid = self_.pid();
    detail::submit_blocking(*rt, [state = state_, rt, pid, token] {
      try {
        if constexpr (std::is_void_v<R>) {
          state->fn();
          state->result.emplace(true);
        } else {
          state->result.emplace(state->fn());
        }
      } catch (...) {
        state->error = std::current_exception();
      }
      detail::wake_blocked(*rt, pid, token);
    });
  }
  R await_resume() {
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<R>) return std::move(*state_->result);
  }

 private:
  Self self_;
  std::shared_ptr<State> state_;
  detail::PendingReceive pending_;
};

template <class F>
Blocking<std::decay_t<F>> blocking(Self self, F&& fn) {
  return Blocking<std::decay_t<F>>(self, std::forward<F>(fn));
}

}  // namespace ember
