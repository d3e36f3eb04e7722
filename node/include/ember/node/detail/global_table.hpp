// GlobalTable: one node's copy of the cluster-wide name table, and the rules that keep the
// copies equal. It does no I/O: GlobalService (node/src/global_service.cpp) feeds it what
// arrives and sends what it decides.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ember/core/atom.hpp"
#include "ember/core/pid.hpp"
#include "ember/node/global.hpp"

namespace ember::detail {

struct GlobalEntry {
  Atom name;
  Pid pid;
  std::uint64_t version = 0;  // Lamport clock of the change that made it
};

// A name held by two pids when two tables met, and what the resolver made of it.
struct GlobalConflict {
  Atom name;
  Pid kept;                 // Pid() when the resolver dropped the name
  std::vector<Pid> losers;  // one, or both
};

class GlobalTable {
 public:
  // Lookups take a shared lock only: they run on every whereis_global and send_global.
  std::optional<Pid> whereis(Atom name) const;
  std::vector<GlobalEntry> entries() const;  // sorted by name text
  std::vector<Atom> names_of(Pid pid) const;
  std::size_t size() const;
  // xxHash of the sorted (name, pid) pairs, pids spelled by node name, creation and serial,
  // so equal tables on different nodes give equal digests.
  std::uint64_t digest() const;

  // The arbiter's decisions. A claim of a free name, or of a name `pid` already holds,
  // succeeds with a fresh version; a name held by another pid gives nullopt.
  std::optional<GlobalEntry> claim(Atom name, Pid pid);
  // Frees `name` if held (by `pid` only, when given); returns what was removed.
  std::optional<GlobalEntry> release(Atom name, Pid pid = Pid());

  // A commit from an arbiter: applied unless what we hold is newer. True when it changed.
  bool apply(const GlobalEntry& e);
  // A removal from an arbiter: applied if `pid` still holds `name`.
  bool apply_removal(Atom name, Pid pid, std::uint64_t version);

  // Another node's table: names new to us are added; a name held by another pid on each
  // side is a conflict, settled by `resolve` (the default when empty) the same way on
  // every node. Returns the entries added or changed, and the conflicts.
  struct Merged {
    std::vector<GlobalEntry> added;
    std::vector<GlobalConflict> conflicts;
  };
  Merged merge(const std::vector<GlobalEntry>& theirs, const GlobalResolver& resolve);

  // A node is lost: every name held by one of its pids goes. Returns them.
  std::vector<GlobalEntry> drop_node(Atom node_name);

  // An owner died: its names go, and for a while no commit or merged table brings them
  // back. A commit reaches only the peers its arbiter sees, so a node that joins that
  // arbiter later may still hold a dead owner's name; the dead owners travel in every
  // GlobalSync for that reason. A dead pid never comes back, so no version is needed.
  // Returns the names removed here.
  std::vector<Atom> bury(Pid pid);
  bool buried(Pid pid) const;
  std::uint64_t next_version();          // a fresh Lamport version, for a removal without an entry
  std::vector<Pid> dead_owners() const;  // the ones remembered, oldest first
  static constexpr std::size_t kDeadLimit = 16384;
  static constexpr std::chrono::seconds kDeadMemory{60};

  // The default resolver: the older registration (smaller version) wins, ties broken by
  // the pid's node name, creation and serial.
  static Pid older(Pid a, std::uint64_t va, Pid b, std::uint64_t vb);

 private:
  struct Held {
    Pid pid;
    std::uint64_t version;
  };
  void see(std::uint64_t version) { clock_ = std::max(clock_, version); }
  void erase_locked(Atom name);
  void forget_old_dead_locked();

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::uint32_t, Held> table_;  // by name atom index
  std::unordered_multimap<std::uint64_t, Atom> by_pid_;
  std::uint64_t clock_ = 0;
  std::unordered_set<std::uint64_t> dead_;  // pid bits
  std::deque<std::pair<std::chrono::steady_clock::time_point, Pid>> dead_order_;
};

// A total order on pids that every node agrees on (pid bits hold a node-local index).
bool global_pid_less(Pid a, Pid b);

}  // namespace ember::detail
