// Distribution's default, and the name markers that monitors of {Name, Node} are held under.
#include "ember/core/distribution.hpp"

#include "ember/core/node_table.hpp"

namespace ember {

bool Distribution::monitor_name(Pid, RemoteName, Ref, bool) {
  return false;
}

namespace detail {

static_assert(Atom::kMaxAtoms - 1 <= Pid::kMaxSlot, "an atom index fits a pid's slot bits");

Pid name_marker(RemoteName to) {
  std::uint32_t node = NodeTable::intern(to.node, 0).value_or(0);
  return Pid(node, to.name.index(), 0);
}

RemoteName marker_name(Pid marker) {
  return {Atom::from_index(marker.slot()), NodeTable::identity(marker.node()).name};
}

}  // namespace detail
}  // namespace ember
