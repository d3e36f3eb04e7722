// Co<T>: a coroutine a process awaits, e.g. a helper that receives (Task await, a call).
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
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
//
// A function returning Co<T> that has nothing to wait for may `return value;` instead of
// being a coroutine (as a kj::Promise<T> is made from a T): no frame is allocated and the
// awaiting process continues at once. GenServer's callbacks rely on it: a handle_call
// that only computes a reply costs no allocation.
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

  // A ready value (see above). Not for Co<void>.
  template <class U>
  requires(!std::is_void_v<T> && !std::is_same_v<std::remove_cvref_t<U>, Co> &&
           std::is_convertible_v<U&&, T>) Co(U&& value)
      : ready_(std::in_place, std::forward<U>(value)) {}

  // Co<void>'s ready value: `return Co<>::done();` from a function with nothing to wait for.
  static Co done() requires std::is_void_v<T> { return Co(Handle{}); }

  Co(Co&& o) noexcept : handle_(std::exchange(o.handle_, {})), ready_(std::move(o.ready_)) {}
  Co(const Co&) = delete;
  Co& operator=(const Co&) = delete;
  ~Co() {
    if (handle_) handle_.destroy();
  }

  bool await_ready() const noexcept { return !handle_; }
  void await_suspend(std::coroutine_handle<>) {
    detail::Process* p = detail::current_process();
    p->helpers.push_back(handle_);
  }
  T await_resume() {
    if (!handle_) {
      if constexpr (std::is_void_v<T>)
        return;
      else
        return std::move(*ready_);
    }
    if (handle_.promise().exception) std::rethrow_exception(handle_.promise().exception);
    return handle_.promise().take();
  }

 private:
  struct Nothing {};
  using Ready = std::conditional_t<std::is_void_v<T>, Nothing, T>;

  explicit Co(Handle h) noexcept : handle_(h) {}
  Handle handle_;
  std::optional<Ready> ready_;
};

}  // namespace ember
