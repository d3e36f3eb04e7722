// Node identities: appended under a mutex, read without one.
#include "ember/core/node_table.hpp"

#include <array>
#include <atomic>
#include <mutex>

#include "ember/core/pid.hpp"

namespace ember {
namespace {

struct Table {
  static constexpr std::uint32_t kCapacity = Pid::kMaxNode + 1;
  std::mutex mutex;
  std::atomic<std::uint32_t> count{0};
  std::array<NodeIdentity, kCapacity> entries{};

  Table() {
    entries[0] = NodeIdentity{Atom("nonode@nohost"), 0};
    count.store(1, std::memory_order_release);
  }
};

Table& node_table() {
  static Table* t = new Table();  // never destroyed: indexes outlive every static
  return *t;
}

}  // namespace

std::optional<std::uint32_t> NodeTable::intern(Atom name, std::uint32_t creation) noexcept {
  Table& t = node_table();
  // Published entries never change, so the common case (a known node) takes no lock.
  std::uint32_t seen = t.count.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < seen; ++i)
    if (t.entries[i].name == name && t.entries[i].creation == creation) return i;
  std::lock_guard lock(t.mutex);
  std::uint32_t n = t.count.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i)
    if (t.entries[i].name == name && t.entries[i].creation == creation) return i;
  if (n == Table::kCapacity) return std::nullopt;
  t.entries[n] = NodeIdentity{name, creation};
  t.count.store(n + 1, std::memory_order_release);
  return n;
}

NodeIdentity NodeTable::identity(std::uint32_t index) {
  Table& t = node_table();
  if (index >= t.count.load(std::memory_order_acquire)) return NodeIdentity{};
  return t.entries[index];
}

std::uint32_t NodeTable::size() {
  return node_table().count.load(std::memory_order_acquire);
}

}  // namespace ember
