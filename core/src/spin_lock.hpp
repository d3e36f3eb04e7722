// A lock for critical sections of a few pointer moves (run queues, the free-slot list).
#pragma once

#include <atomic>
#include <thread>

namespace ember::detail {

// std::mutex sleeps in the kernel when contended and its unlock then makes a futex call
// to wake the sleeper: on this kind of VM each of those costs microseconds, for sections
// that hold the lock for nanoseconds (spawn_exit spent a fifth of its time there). This
// spins instead, and yields the CPU if the holder seems descheduled.
class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64)
          cpu_relax();
        else
          std::this_thread::yield();
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace ember::detail
