#include "ember/node/detail/global_table.hpp"

#include <xxhash.h>

#include <algorithm>
#include <mutex>
#include <tuple>

#include "ember/core/node_table.hpp"

namespace ember::detail {

namespace {

// What names a pid on every node: its node's name and creation, then its slot and
// generation (the bits' node index differs from node to node).
auto pid_key(Pid p) {
  NodeIdentity id = NodeTable::identity(p.node());
  return std::make_tuple(id.name.text(), id.creation, p.slot(), p.generation());
}

}  // namespace

bool global_pid_less(Pid a, Pid b) {
  return pid_key(a) < pid_key(b);
}

Pid GlobalTable::older(Pid a, std::uint64_t va, Pid b, std::uint64_t vb) {
  if (va != vb) return va < vb ? a : b;
  return global_pid_less(b, a) ? b : a;
}

std::optional<Pid> GlobalTable::whereis(Atom name) const {
  std::shared_lock lock(mutex_);
  auto it = table_.find(name.index());
  if (it == table_.end()) return std::nullopt;
  return it->second.pid;
}

std::vector<GlobalEntry> GlobalTable::entries() const {
  std::vector<GlobalEntry> out;
  {
    std::shared_lock lock(mutex_);
    out.reserve(table_.size());
    for (auto& [name, h] : table_) out.push_back({Atom::from_index(name), h.pid, h.version});
  }
  std::sort(out.begin(), out.end(), [](const GlobalEntry& a, const GlobalEntry& b) {
    return a.name.text() < b.name.text();
  });
  return out;
}

std::vector<Atom> GlobalTable::names_of(Pid pid) const {
  std::shared_lock lock(mutex_);
  std::vector<Atom> out;
  auto [b, e] = by_pid_.equal_range(pid.bits());
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::size_t GlobalTable::size() const {
  std::shared_lock lock(mutex_);
  return table_.size();
}

std::uint64_t GlobalTable::digest() const {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const GlobalEntry& e : entries()) {
    auto [node, creation, slot, gen] = pid_key(e.pid);
    std::string_view name = e.name.text();
    std::uint64_t sizes[2] = {name.size(), node.size()};
    std::uint32_t numbers[3] = {creation, slot, gen};
    XXH3_64bits_update(st, sizes, sizeof sizes);
    XXH3_64bits_update(st, name.data(), name.size());
    XXH3_64bits_update(st, node.data(), node.size());
    XXH3_64bits_update(st, numbers, sizeof numbers);
  }
  std::uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

void GlobalTable::erase_locked(Atom name) {
  auto it = table_.find(name.index());
  if (it == table_.end()) return;
  auto [b, e] = by_pid_.equal_range(it->second.pid.bits());
  for (auto p = b; p != e; ++p)
    if (p->second == name) {
      by_pid_.erase(p);
      break;
    }
  table_.erase(it);
}

std::optional<GlobalEntry> GlobalTable::claim(Atom name, Pid pid) {
  std::unique_lock lock(mutex_);
  if (dead_.contains(pid.bits())) return std::nullopt;
  auto it = table_.find(name.index());
  if (it != table_.end() && it->second.pid != pid) return std::nullopt;
  std::uint64_t version = ++clock_;
  if (it == table_.end()) {
    table_.emplace(name.index(), Held{pid, version});
    by_pid_.emplace(pid.bits(), name);
  } else {
    it->second.version = version;
  }
  return GlobalEntry{name, pid, version};
}

std::optional<GlobalEntry> GlobalTable::release(Atom name, Pid pid) {
  std::unique_lock lock(mutex_);
  auto it = table_.find(name.index());
  if (it == table_.end() || (pid.valid() && it->second.pid != pid)) return std::nullopt;
  GlobalEntry gone{name, it->second.pid, ++clock_};
  erase_locked(name);
  return gone;
}

bool GlobalTable::apply(const GlobalEntry& e) {
  std::unique_lock lock(mutex_);
  see(e.version);
  if (dead_.contains(e.pid.bits())) return false;
  auto it = table_.find(e.name.index());
  if (it == table_.end()) {
    table_.emplace(e.name.index(), Held{e.pid, e.version});
    by_pid_.emplace(e.pid.bits(), e.name);
    return true;
  }
  if (it->second.version > e.version) return false;  // a later change got here first
  if (it->second.pid == e.pid) {
    it->second.version = e.version;
    return false;
  }
  erase_locked(e.name);
  table_.emplace(e.name.index(), Held{e.pid, e.version});
  by_pid_.emplace(e.pid.bits(), e.name);
  return true;
}

bool GlobalTable::apply_removal(Atom name, Pid pid, std::uint64_t version) {
  std::unique_lock lock(mutex_);
  see(version);
  auto it = table_.find(name.index());
  if (it == table_.end() || it->second.pid != pid) return false;
  erase_locked(name);
  return true;
}

GlobalTable::Merged GlobalTable::merge(const std::vector<GlobalEntry>& theirs,
                                       const GlobalResolver& resolve) {
  Merged out;
  std::unique_lock lock(mutex_);
  for (const GlobalEntry& e : theirs) {
    see(e.version);
    if (dead_.contains(e.pid.bits())) continue;
    auto it = table_.find(e.name.index());
    if (it == table_.end()) {
      table_.emplace(e.name.index(), Held{e.pid, e.version});
      by_pid_.emplace(e.pid.bits(), e.name);
      out.added.push_back(e);
      continue;
    }
    Held ours = it->second;
    if (ours.pid == e.pid) {
      it->second.version = std::max(ours.version, e.version);
      continue;
    }
    // Both orders of the same two entries must reach the resolver alike.
    Pid first = older(ours.pid, ours.version, e.pid, e.version);
    Pid second = first == ours.pid ? e.pid : ours.pid;
    Pid kept = resolve ? resolve(e.name, first, second) : first;
    if (kept != first && kept != second) kept = Pid();
    GlobalConflict c{e.name, kept, {}};
    for (Pid p : {first, second})
      if (p != kept) c.losers.push_back(p);
    // The kept entry keeps its own version: raised to the loser's, it would tie with that
    // pid's entry on a node that has not merged yet, and there the pid order would decide.
    std::uint64_t version = kept == ours.pid ? ours.version : e.version;
    erase_locked(e.name);
    if (kept.valid()) {
      table_.emplace(e.name.index(), Held{kept, version});
      by_pid_.emplace(kept.bits(), e.name);
      if (kept != ours.pid) out.added.push_back({e.name, kept, version});
    }
    out.conflicts.push_back(std::move(c));
  }
  return out;
}

std::vector<GlobalEntry> GlobalTable::drop_node(Atom node_name) {
  std::unique_lock lock(mutex_);
  std::vector<GlobalEntry> gone;
  for (auto& [name, h] : table_)
    if (NodeTable::identity(h.pid.node()).name == node_name)
      gone.push_back({Atom::from_index(name), h.pid, h.version});
  for (const GlobalEntry& e : gone) erase_locked(e.name);
  return gone;
}

std::vector<Atom> GlobalTable::bury(Pid pid) {
  std::unique_lock lock(mutex_);
  forget_old_dead_locked();
  if (dead_.insert(pid.bits()).second) {
    dead_order_.emplace_back(std::chrono::steady_clock::now(), pid);
    if (dead_order_.size() > kDeadLimit) {
      dead_.erase(dead_order_.front().second.bits());
      dead_order_.pop_front();
    }
  }
  std::vector<Atom> names;
  auto [b, e] = by_pid_.equal_range(pid.bits());
  for (auto it = b; it != e; ++it) names.push_back(it->second);
  for (Atom n : names) erase_locked(n);
  return names;
}

std::uint64_t GlobalTable::next_version() {
  std::unique_lock lock(mutex_);
  return ++clock_;
}

bool GlobalTable::buried(Pid pid) const {
  std::shared_lock lock(mutex_);
  return dead_.contains(pid.bits());
}

std::vector<Pid> GlobalTable::dead_owners() const {
  std::shared_lock lock(mutex_);
  std::vector<Pid> out;
  out.reserve(dead_order_.size());
  for (auto& [when, pid] : dead_order_) out.push_back(pid);
  return out;
}

void GlobalTable::forget_old_dead_locked() {
  auto horizon = std::chrono::steady_clock::now() - kDeadMemory;
  while (!dead_order_.empty() && dead_order_.front().first < horizon) {
    dead_.erase(dead_order_.front().second.bits());
    dead_order_.pop_front();
  }
}

}  // namespace ember::detail
