// Node identities: appended under a mutex, read without one.
#include "ember/core/node_table.hpp"

#include <atomic>
#include <mutex>
#include <new>

#include "ember/core/pid.hpp"

namespace ember {
namespace {

// The entries are raw memory, each constructed when it is added: value-initialised, all
// 512 KiB of them were resident in every OS process, which uses a handful.
struct Table {
  static constexpr std::uint32_t kCapacity = Pid::kMaxNode + 1;
  std::mutex mutex;
  std::atomic<std::uint32_t> count{0};
  alignas(NodeIdentity) unsigned char storage[kCapacity * sizeof(NodeIdentity)];

  Table() {
    add(0, NodeIdentity{Atom("nonode@nohost"), 0});
    count.store(1, std::memory_order_release);
  }
  // Only below count.
  const NodeIdentity& entry(std::uint32_t i) const {
    return std::launder(reinterpret_cast<const NodeIdentity*>(storage))[i];
  }
  void add(std::uint32_t i, NodeIdentity id) {
    new (storage + i * sizeof(NodeIdentity)) NodeIdentity(id);
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
    if (t.entry(i).name == name && t.entry(i).creation == creation) return i;
  std::lock_guard lock(t.mutex);
  std::uint32_t n = t.count.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i)
    if (t.entry(i).name == name && t.entry(i).creation == creation) return i;
  if (n == Table::kCapacity) return std::nullopt;
  t.add(n, NodeIdentity{name, creation});
  t.count.store(n + 1, std::memory_order_release);
  return n;
}

NodeIdentity NodeTable::identity(std::uint32_t index) {
  Table& t = node_table();
  if (index >= t.count.load(std::memory_order_acquire)) return NodeIdentity{};
  return t.entry(index);
}

std::uint32_t NodeTable::size() {
  return node_table().count.load(std::memory_order_acquire);
}

}  // namespace ember
