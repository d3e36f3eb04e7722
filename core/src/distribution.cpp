// Distribution's defaults, for what a runtime without a network can still answer.
#include "ember/core/distribution.hpp"

#include "ember/core/node_table.hpp"
#include "ember/core/self.hpp"

namespace ember {

// No node layer: every other node is unreachable, as for a node that is not alive.
bool Distribution::monitor_node(Self self, Atom node, bool on) {
  static const Atom nodedown("nodedown");
  if (on) self.send(self.pid(), tuple(nodedown, node));
  return true;
}

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
