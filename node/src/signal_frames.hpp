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

}  // namespace ember::detail
