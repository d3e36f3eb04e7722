// What the node's replicated services (the global registry, process groups) need of their
// Node: who is connected, a way to send, and whether a pid can still be alive.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "ember/core/atom.hpp"
#include "ember/core/pid.hpp"

namespace ember::detail {

// Implemented by Node::Impl. Called with none of the node's locks held.
class ClusterPeers {
 public:
  // Visible nodes whose connection is up now; empty on a hidden node.
  virtual std::vector<Atom> members() const = 0;
  // Queues a frame for `node` in order with earlier ones; never waits. Dropped if down.
  virtual void send_to(Atom node, std::span<const std::byte> frame) = 0;
  // False if `pid` belongs to an incarnation known to be gone; otherwise true, and its
  // node is connected to if it is not, so that a failure to reach it counts as its loss.
  virtual bool reachable(Pid pid) = 0;

 protected:
  ~ClusterPeers() = default;
};

}  // namespace ember::detail
