// Process signals <-> wire frames: what crosses a connection when a pid is remote.
#pragma once

#include <cstddef>
#include <vector>

#include "ember/core/detail/signal.hpp"
#include "ember/net/frame_encoder.hpp"
#include "wire.capnp.h"

namespace ember::detail {

// Appends the frame for `s` (a message, link, unlink, exit, monitor, demonitor or DOWN).
void encode_signal(net::FrameEncoder& encoder, std::vector<std::byte>& out, const Signal& s);

// Appends `s`, a message from a process of this node to one of the receiving node's current
// incarnation, as a LocalSend: the pids without their node names (~90 bytes fewer, and no
// node lookups at the receiver). Only for a connection known to lead to that incarnation.
void encode_local_send(net::FrameEncoder& encoder, std::vector<std::byte>& out, const Signal& s);

// Appends a monitor (on) or demonitor (off) of the name `name` on the receiving node.
void encode_name_monitor(net::FrameEncoder& encoder, std::vector<std::byte>& out, Pid watcher,
                         Atom name, Ref ref, bool on);

// A decoded process-signal frame, ready for deliver_signal. Throws WireError (via the
// term codec) for hostile content.
struct InboundSignal {
  SignalKind kind = SignalKind::kMessage;
  Pid from, to;
  Ref ref;
  Term payload;
  bool linked = false;
};
// False for frames that are not process signals (handled elsewhere).
bool decode_signal(wire::Frame::Reader frame, InboundSignal& out);
// A LocalSend from the connection to the node at NodeTable index `peer`, received by the
// node at index `self`.
InboundSignal decode_local_send(wire::LocalSend::Reader in, std::uint32_t peer, std::uint32_t self);

}  // namespace ember::detail
