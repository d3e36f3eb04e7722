// A hashed timing wheel: O(1) insert and cancel, 1 ms resolution.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember::detail {

struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  std::uint64_t deadline = 0;  // in ticks (ms since the runtime started)
  bool armed = false;
  // What firing does: a receive timeout for `target` (token = its receive number), or
  // delivering `message` to `target` (send_after; the node is then owned by the wheel).
  bool is_send = false;
  Pid target;
  std::uint64_t token = 0;
  Term message;
};

// Not thread-safe: the runtime guards it with one mutex. Slots hold intrusive lists; a
// timer more than one revolution away stays in its slot and is skipped until its turn.
class TimerWheel {
 public:
  static constexpr std::size_t kSlots = 4096;

  explicit TimerWheel(std::uint64_t now) : now_(now), slots_(kSlots) {}

  void insert(TimerNode* n, std::uint64_t deadline);
  void cancel(TimerNode* n);
  std::size_t size() const { return size_; }

  // Moves time to `now`, collecting every timer due into `due` (unlinked, disarmed).
  void advance(std::uint64_t now, std::vector<TimerNode*>& due);

 private:
  struct Slot {
    TimerNode* head = nullptr;
  };
  std::uint64_t now_;
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace ember::detail
