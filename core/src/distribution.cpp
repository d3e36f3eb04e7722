// Distribution's defaults, for what a runtime without a network can still answer.
#include "ember/core/distribution.hpp"

#include "ember/core/self.hpp"

namespace ember {

// No node layer: every other node is unreachable, as for a node that is not alive.
bool Distribution::monitor_node(Self self, Atom node, bool on) {
  static const Atom nodedown("nodedown");
  if (on) self.send(self.pid(), tuple(nodedown, node));
  return true;
}

}  // namespace ember
