// A process's links and monitors, in hash tables so that a process linked to or watching
// a million others still adds and removes each in O(1). Allocated on first use: most
// processes have none, and pay one pointer. The first two monitors and watchers live
// inline: a gen_server call monitors its server and drops the monitor at once, and a
// hash node allocated and freed on each side was a tenth of the call's cost.
#pragma once

#include <array>
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

  void add_monitor(Ref ref, Pid target) { monitors_.add(MonitorEntry{ref, target}); }
  // Removes the monitor `ref` this process holds; its target in `target` if found.
  bool remove_monitor(Ref ref, Pid* target = nullptr) { return monitors_.take(ref, target); }

  void add_watcher(Ref ref, Pid watcher) { watchers_.add(MonitorEntry{ref, watcher}); }
  bool remove_watcher(Ref ref) { return watchers_.take(ref, nullptr); }

  bool empty() const { return links_.empty() && monitors_.empty() && watchers_.empty(); }

  std::vector<Pid> links() const {
    std::vector<Pid> out;
    for (auto bits : links_) out.push_back(Pid::from_bits(bits));
    return out;
  }
  std::vector<MonitorEntry> monitors() const { return monitors_.values(); }
  std::vector<MonitorEntry> watchers() const { return watchers_.values(); }
  std::size_t memory() const {
    return sizeof(*this) +
           (links_.size() + monitors_.spilled() + watchers_.spilled()) * 48;  // nodes, roughly
  }

 private:
  struct RefHash {
    std::size_t operator()(const std::pair<std::uint32_t, std::uint64_t>& k) const {
      return std::hash<std::uint64_t>()(k.second * 0x9E3779B97F4A7C15ull ^ k.first);
    }
  };
  using RefKey = std::pair<std::uint32_t, std::uint64_t>;
  using Table = std::unordered_map<RefKey, MonitorEntry, RefHash>;

  // Monitors by ref: kInline entries in place, the rest in a hash table.
  class Monitors {
   public:
    void add(MonitorEntry e) {
      if (inline_used_ < kInline) {
        inline_[inline_used_++] = e;
        return;
      }
      table_.emplace(key(e.ref), e);
    }
    bool take(Ref ref, Pid* pid) {
      for (std::uint32_t i = 0; i < inline_used_; ++i) {
        if (inline_[i].ref != ref) continue;
        if (pid) *pid = inline_[i].pid;
        inline_[i] = inline_[--inline_used_];
        return true;
      }
      auto it = table_.find(key(ref));
      if (it == table_.end()) return false;
      if (pid) *pid = it->second.pid;
      table_.erase(it);
      return true;
    }
    bool empty() const { return inline_used_ == 0 && table_.empty(); }
    std::size_t spilled() const { return table_.size(); }
    std::vector<MonitorEntry> values() const {
      std::vector<MonitorEntry> out(inline_.begin(), inline_.begin() + inline_used_);
      for (const auto& [k, v] : table_) out.push_back(v);
      return out;
    }

   private:
    static constexpr std::uint32_t kInline = 2;
    std::array<MonitorEntry, kInline> inline_{};
    std::uint32_t inline_used_ = 0;
    Table table_;
  };

  static RefKey key(Ref r) { return {r.node, r.id}; }

  std::unordered_set<std::uint64_t> links_;
  Monitors monitors_;
  Monitors watchers_;
};

}  // namespace ember::detail
