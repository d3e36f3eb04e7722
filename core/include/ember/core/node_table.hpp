// The process-wide table of node identities that Pid and Ref node indexes point into.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "ember/core/atom.hpp"

namespace ember {

// One node incarnation: its name and its creation number. A restarted node gets a new
// creation, hence a new index, so pids of its previous life never reach its new processes.
struct NodeIdentity {
  Atom name;
  std::uint32_t creation = 0;
};

// Index 0 is `nonode@nohost`, creation 0: the identity of a runtime with no network.
// Entries are never removed, so an index stays meaningful for the life of the OS process.
class NodeTable {
 public:
  static constexpr std::uint32_t kLocal = 0;

  // The index for (name, creation), adding it if new; nullopt when the table is full.
  static std::optional<std::uint32_t> intern(Atom name, std::uint32_t creation) noexcept;
  static NodeIdentity identity(std::uint32_t index);
  static std::uint32_t size();
};

}  // namespace ember
