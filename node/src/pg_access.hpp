// The Node's side of ProcessGroups: connection events and pg frames.
#pragma once

#include "ember/node/process_groups.hpp"
#include "wire.capnp.h"

namespace ember::detail {

struct PgAccess {
  static void start(ProcessGroups& g);
  static void on_peer_up(ProcessGroups& g, Atom node);
  static void on_peer_down(ProcessGroups& g, Atom node);
  static void on_frame(ProcessGroups& g, Atom from, wire::Frame::Reader f);
};

}  // namespace ember::detail
