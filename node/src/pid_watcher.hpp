// PidWatcher: a process that monitors pids (local or remote) on behalf of a service (the global
// registry's owners, process group members) and reports each one's death once.
#pragma once

#include <functional>

#include "ember/core/runtime.hpp"

namespace ember::detail {

class PidWatcher {
 public:
  using OnDown = std::function<void(Pid)>;

  // Spawns the process on `runtime`; `on_down` runs in it, once per watched pid's death.
  void start(Runtime& runtime, OnDown on_down);
  void watch(Pid pid);  // any thread; repeated calls for one pid watch it once
  Pid pid() const { return pid_; }

 private:
  Runtime* runtime_ = nullptr;
  Pid pid_;
};

}  // namespace ember::detail
