// A process's links and monitors, in hash tables so that a process linked to or watching
// a million others still adds and removes each in O(1). Allocated on first use: most
// processes have none, and pay one pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ember/core/pid.hpp"

namespace ember::detail {

struct MonitorEntry {
  Ref ref;
  Pid pid;  // the watched process (in monitors) or the watcher (in watchers)
};

class Relations {
 public:
  bool add_link(Pid p) { return links_.insert(p.bits()).second; }
  bool remove_link(Pid p) { return links_.erase(p.bits()) > 0; }

  void add_monitor(Ref ref, Pid target) { monitors_.emplace(key(ref), MonitorEntry{ref, target}); }
  // Removes the monitor `ref` this process holds; its target in `target` if found.
  bool remove_monitor(Ref ref, Pid* target = nullptr) { return take(monitors_, ref, target); }

  void add_watcher(Ref ref, Pid watcher) {
    watchers_.emplace(key(ref), MonitorEntry{ref, watcher});
  }
  bool remove_watcher(Ref ref) { return take(watchers_, ref, nullptr); }

  bool empty() const { return links_.empty() && monitors_.empty() && watchers_.empty(); }

  std::vector<Pid> links() const {
    std::vector<Pid> out;
    for (auto bits : links_) out.push_back(Pid::from_bits(bits));
    return out;
  }
  std::vector<MonitorEntry> monitors() const { return values(monitors_); }
  std::vector<MonitorEntry> watchers() const { return values(watchers_); }
  std::size_t memory() const {
    return sizeof(*this) +
           (links_.size() + monitors_.size() + watchers_.size()) * 48;  // nodes, roughly
  }

 private:
  struct RefHash {
    std::size_t operator()(const std::pair<std::uint32_t, std::uint64_t>& k) const {
      return std::hash<std::uint64_t>()(k.second * 0x9E3779B97F4A7C15ull ^ k.first);
    }
  };
  using RefKey = std::pair<std::uint32_t, std::uint64_t>;
  using Table = std::unordered_map<RefKey, MonitorEntry, RefHash>;

  static RefKey key(Ref r) { return {r.node, r.id}; }
  static bool take(Table& t, Ref ref, Pid* pid) {
    auto it = t.find(key(ref));
    if (it == t.end()) return false;
    if (pid) *pid = it->second.pid;
    t.erase(it);
    return true;
  }
  static std::vector<MonitorEntry> values(const Table& t) {
    std::vector<MonitorEntry> out;
    for (const auto& [k, v] : t) out.push_back(v);
    return out;
  }

  std::unordered_set<std::uint64_t> links_;
  Table monitors_;
  Table watchers_;
};

}  // namespace ember::detail
