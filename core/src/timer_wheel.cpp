#include "ember/core/detail/timer_wheel.hpp"

namespace ember::detail {

TimerNode*& TimerWheel::slot_for(std::uint64_t deadline) {
  std::uint64_t delta = deadline - now_;
  for (unsigned level = 0; level < kLevels; ++level) {
    if (delta < (std::uint64_t(1) << (kBits * (level + 1))) || level == kLevels - 1) {
      std::uint64_t index = (deadline >> (kBits * level)) & (kSlots - 1);
      return slots_[level][index];
    }
  }
  return slots_[kLevels - 1][kSlots - 1];  // not reached
}

void TimerWheel::link(TimerNode* n) {
  TimerNode*& head = slot_for(n->deadline);
  n->prev = nullptr;
  n->next = head;
  if (head) head->prev = n;
  head = n;
  n->slot = &head;
}

void TimerWheel::insert(TimerNode* n, std::uint64_t deadline, std::uint64_t now) {
  if (size_ == 0 && now > now_) now_ = now;
  std::uint64_t limit = now_ + (std::uint64_t(1) << (kBits * kLevels)) - 1;
  if (deadline <= now_) deadline = now_ + 1;  // fires at the next tick, never in the past
  if (deadline > limit) deadline = limit;
  n->deadline = deadline;
  n->armed.store(true, std::memory_order_relaxed);
  link(n);
  ++size_;
}

void TimerWheel::cancel(TimerNode* n) {
  if (!n->armed.load(std::memory_order_relaxed)) return;
  if (n->prev)
    n->prev->next = n->next;
  else
    *n->slot = n->next;
  if (n->next) n->next->prev = n->prev;
  n->prev = n->next = nullptr;
  n->slot = nullptr;
  n->armed.store(false, std::memory_order_relaxed);
  --size_;
}

// Re-files the timers of the current slot of `level` one level down (or more).
void TimerWheel::cascade(unsigned level) {
  std::uint64_t index = (now_ >> (kBits * level)) & (kSlots - 1);
  TimerNode* n = slots_[level][index];
  slots_[level][index] = nullptr;
  while (n) {
    TimerNode* next = n->next;
    link(n);
    n = next;
  }
}

void TimerWheel::advance(std::uint64_t now, std::vector<TimerNode*>& due) {
  while (now_ < now) {
    if (size_ == 0) {  // nothing to fire: jump
      now_ = now;
      return;
    }
    ++now_;
    // Entering a new slot at a level means its timers are now within reach below.
    for (unsigned level = 1; level < kLevels; ++level) {
      if ((now_ & ((std::uint64_t(1) << (kBits * level)) - 1)) != 0) break;
      cascade(level);
    }
    TimerNode*& head = slots_[0][now_ & (kSlots - 1)];
    while (TimerNode* n = head) {
      cancel(n);
      due.push_back(n);
    }
  }
}

}  // namespace ember::detail
