// Proc: the coroutine type of a process body.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <utility>

namespace ember {

// What a process function returns: `Proc worker(Self self) { ... co_await ...; }`.
// The process starts suspended and is resumed only by a scheduler worker, from its loop
// (never by symmetric transfer), so debug and sanitizer builds keep a flat stack.
class Proc {
 public:
  struct promise_type {
    std::exception_ptr exception;
    std::size_t frame_bytes = last_frame_bytes;

    // Frames are sized here so that info() can report a process's memory.
    static void* operator new(std::size_t n) {
      last_frame_bytes = n;
      return ::operator new(n);
    }
    static void operator delete(void* p) noexcept { ::operator delete(p); }

    Proc get_return_object() noexcept {
      return Proc(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { exception = std::current_exception(); }
  };
  using Handle = std::coroutine_handle<promise_type>;

  Proc(Proc&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  ~Proc() {
    if (handle_) handle_.destroy();
  }
  // Hands the coroutine to the runtime.
  Handle release() noexcept { return std::exchange(handle_, {}); }

 private:
  explicit Proc(Handle h) noexcept : handle_(h) {}
  static inline thread_local std::size_t last_frame_bytes = 0;
  Handle handle_;
};

}  // namespace ember
