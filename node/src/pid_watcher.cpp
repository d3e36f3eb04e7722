#include "pid_watcher.hpp"

#include <unordered_set>

namespace ember::detail {

namespace {

const Atom& atom_watch() {
  static const Atom a("watch");
  return a;
}

Proc watch_loop(Self self, PidWatcher::OnDown on_down) {
  static const Atom down("DOWN");
  std::unordered_set<std::uint64_t> watched;
  for (;;) {
    auto m = co_await self.receive();
    const Term& t = m.term();
    if (t.is_tuple(2) && t[0].is(atom_watch()) && t[1].is_pid()) {
      if (watched.insert(t[1].pid().bits()).second) self.monitor(t[1].pid());
    } else if (t.is_tuple(5) && t[0].is(down) && t[3].is_pid()) {
      watched.erase(t[3].pid().bits());
      on_down(t[3].pid());
    }
  }
}

}  // namespace

void PidWatcher::start(Runtime& runtime, OnDown on_down) {
  runtime_ = &runtime;
  pid_ = runtime.spawn([f = std::move(on_down)](Self s) { return watch_loop(s, f); });
}

void PidWatcher::watch(Pid pid) {
  runtime_->send(pid_, tuple(atom_watch(), pid));
}

}  // namespace ember::detail
