#include "ember/core/detail/timer_wheel.hpp"

namespace ember::detail {

void TimerWheel::insert(TimerNode* n, std::uint64_t deadline) {
  if (deadline <= now_) deadline = now_ + 1;  // fires at the next tick, never in the past
  Slot& s = slots_[deadline % kSlots];
  n->deadline = deadline;
  n->prev = nullptr;
  n->next = s.head;
  if (s.head) s.head->prev = n;
  s.head = n;
  n->armed = true;
  ++size_;
}

void TimerWheel::cancel(TimerNode* n) {
  if (!n->armed) return;
  if (n->prev)
    n->prev->next = n->next;
  else
    slots_[n->deadline % kSlots].head = n->next;
  if (n->next) n->next->prev = n->prev;
  n->prev = n->next = nullptr;
  n->armed = false;
  --size_;
}

void TimerWheel::advance(std::uint64_t now, std::vector<TimerNode*>& due) {
  // Walk at most one revolution: beyond that every slot has been visited once.
  std::uint64_t last = now_ + kSlots < now ? now_ + kSlots : now;
  for (std::uint64_t tick = now_ + 1; tick <= last; ++tick) {
    for (TimerNode* n = slots_[tick % kSlots].head; n;) {
      TimerNode* next = n->next;
      if (n->deadline <= now) {
        cancel(n);
        due.push_back(n);
      }
      n = next;
    }
  }
  if (now > now_) now_ = now;
}

}  // namespace ember::detail
