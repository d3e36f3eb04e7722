// The runtime's door to other nodes. Core knows nothing of the network: the node layer
// (ember_node's Node) implements Distribution and installs it on its Runtime, which then
// hands it every signal addressed to a pid of another node.
#pragma once

#include "ember/core/atom.hpp"
#include "ember/core/detail/signal.hpp"
#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember {

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
  // erlang:monitor(process, {Name, Node}) (on) and its demonitor (off) for `watcher`,
  // under `ref`. The node asks `to.node` to watch whatever holds the name there; the DOWN
  // (noproc when nothing does, noconnection when the node is lost or cannot be reached)
  // comes back to `watcher`. Returns false when `to.node` is this node: the runtime
  // resolves the name itself, as it does for every name when this default is not
  // overridden.
  virtual bool monitor_name(Pid watcher, RemoteName to, Ref ref, bool on);
};

namespace detail {

// A monitor of {Name, Node} is held under this pseudo pid: generation 0, which no process
// has, with the node in its node bits and the name's atom in its slot, so the DOWN can
// name {Name, Node} as Erlang's does.
Pid name_marker(RemoteName to);
constexpr bool is_name_marker(Pid p) {
  return p.valid() && p.generation() == 0;
}
RemoteName marker_name(Pid marker);

}  // namespace detail

}  // namespace ember
