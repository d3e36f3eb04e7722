// Co<T>: a coroutine a process awaits, e.g. a helper that receives (Task await, a call).
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "ember/core/detail/process.hpp"

namespace ember {

namespace detail {
// The process whose coroutine a worker is running now (set around every resume).
Process* current_process() noexcept;

template <class T>
struct CoResult {
  std::optional<T> value;
  void return_value(T v) { value.emplace(std::move(v)); }
  T take() { return std::move(*value); }
};
template <>
struct CoResult<void> {
  void return_void() noexcept {}
  void take() noexcept {}
};
}  // namespace detail

// `co_await helper(self, ...)` from a process. The worker, not the awaiting coroutine,
// resumes the helper and then its caller (no symmetric transfer), so a process can call
// helpers in a loop forever without growing the thread's stack in debug builds.
template <class T = void>
class [[nodiscard]] Co {
 public:
  struct promise_type : detail::CoResult<T> {
    std::exception_ptr exception;

    Co get_return_object() noexcept { return Co(Handle::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
  };
  using Handle = std::coroutine_handle<promise_type>;

  Co(Co&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  Co(const Co&) = delete;
  Co& operator=(const Co&) = delete;
  ~Co() {
    if (handle_) handle_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) {
    detail::Process* p = detail::current_process();
    p->helpers.push_back(handle_);
  }
  T await_resume() {
    if (handle_.promise().exception) std::rethrow_exception(handle_.promise().exception);
    return handle_.promise().take();
  }

 private:
  explicit Co(Handle h) noexcept : handle_(h) {}
  Handle handle_;
};

}  // namespace ember
