#include "join_keeper.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ember::daemon {

JoinKeeper::JoinKeeper(Node& node, std::vector<Atom> targets, std::chrono::milliseconds interval)
    : node_(node), targets_(std::move(targets)), interval_(interval), thread_([this] { run(); }) {}

JoinKeeper::~JoinKeeper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool JoinKeeper::up(Atom target) const {
  std::vector<Atom> now = node_.nodes();
  return std::find(now.begin(), now.end(), target) != now.end();
}

void JoinKeeper::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // The Node dialled every target at start; look again after one interval.
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    for (Atom target : targets_) {
      if (target == node_.name() || up(target)) continue;
      lock.unlock();
      // A dial that outlives the wait goes on in the background; the next round sees it.
      bool ok = node_.connect(target, interval_);
      if (ok) spdlog::info("ember-node: rejoined {}", target.text());
      lock.lock();
      if (stopping_) return;
    }
  }
}

}  // namespace ember::daemon
