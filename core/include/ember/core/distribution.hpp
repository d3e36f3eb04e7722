// The runtime's door to other nodes. Core knows nothing of the network: the node layer
// (ember_node's Node) implements Distribution and installs it on its Runtime, which then
// hands it every signal addressed to a pid of another node.
#pragma once

#include "ember/core/atom.hpp"
#include "ember/core/detail/signal.hpp"
#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember {

class Self;

// {Name, Node} ! Message: a name registered on a (possibly remote) node.
struct RemoteName {
  Atom name;
  Atom node;
};

class Distribution {
 public:
  virtual ~Distribution() = default;
  // A message, link, unlink, exit, monitor, demonitor or DOWN whose target lives on
  // another node (s.to.node() is not the runtime's). Runs on the sender's thread; must not
  // block except as flow control. The runtime frees `s` afterwards: copy what you keep.
  virtual void route(const detail::Signal& s) = 0;
  // A message to a name on `to.node`, which may be this node.
  virtual void send_named(Pid from, RemoteName to, Term message) = 0;
  // erlang:monitor_node(Node, On) for code in core (gen_server's call to {Name, Node},
  // which cannot monitor a name on another node): while on, {nodedown, Node} arrives
  // when the connection to `node` is lost, or at once if it cannot be made. Stackable.
  // Node's monitor_node overrides it; this default (no network) sends nodedown at once.
  virtual bool monitor_node(Self self, Atom node, bool on);
};

}  // namespace ember
