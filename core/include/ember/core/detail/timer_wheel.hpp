// A hashed timing wheel: O(1) insert and cancel, 1 ms resolution.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember::detail {

struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  TimerNode** slot = nullptr;  // the list head it hangs from, for O(1) cancel
  std::uint64_t deadline =
      0;  // in ticks (ms since the runtime started)
          // Written under the wheel's lock; a process reads its own receive timer's without it
  // (RuntimeImpl::cancel_timeout skips the lock when nothing is armed), hence atomic.
  std::atomic<bool> armed{false};
  // What firing does: a receive timeout for `target` (token = its receive number), or,
  // for a SendTimer, delivering its message to `target`.
  bool is_send = false;
  Pid target;
  std::uint64_t token = 0;
};

// A send_after: owned by the wheel's owner until it fires or is cancelled.
struct SendTimer : TimerNode {
  Term message;
};

// A hierarchical timing wheel (Varghese & Lauck): four levels of 256 slots, 1 ms apart at
// the bottom, 256 times coarser at each level up (reaching ~49 days). Insert and cancel are
// O(1) (intrusive lists); a timer is moved down a level at most three times before it
// fires, so a million pending timeouts cost their nodes and little else. Not thread-safe:
// the runtime guards it with a mutex.
class TimerWheel {
 public:
  static constexpr unsigned kLevels = 4, kBits = 8, kSlots = 1u << kBits;

  explicit TimerWheel(std::uint64_t now) : now_(now) {}

  // `now` lets an empty wheel catch up with the clock at once instead of ticking through
  // the time it spent idle.
  void insert(TimerNode* n, std::uint64_t deadline, std::uint64_t now);
  void cancel(TimerNode* n);
  std::size_t size() const { return size_; }
  std::uint64_t now() const { return now_; }

  // Moves time to `now`, collecting every timer due into `due` (unlinked, disarmed).
  void advance(std::uint64_t now, std::vector<TimerNode*>& due);

 private:
  TimerNode*& slot_for(std::uint64_t deadline);
  void link(TimerNode* n);
  void cascade(unsigned level);

  std::uint64_t now_;
  TimerNode* slots_[kLevels][kSlots] = {};
  std::size_t size_ = 0;
};

}  // namespace ember::detail
