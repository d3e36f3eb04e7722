// Term <-> Cap'n Proto (wire::Term).
#pragma once

#include <cstddef>

#include "ember/core/term.hpp"
#include "ember/net/wire_error.hpp"
#include "wire.capnp.h"

namespace ember::net {

// Deepest term the wire carries. The decoder enforces it (with Cap'n Proto's own nesting
// limit behind it); the encoder refuses deeper terms so the sender hears of it first.
inline constexpr std::size_t kMaxWireDepth = 200;

// Writes `t` into a builder inside a message; allocates only from the message's segments.
// Throws WireError for a term nested deeper than kMaxWireDepth.
void write_term(wire::Term::Builder out, const Term& t);
void write_pid(wire::Pid::Builder out, Pid pid);
void write_ref(wire::Ref::Builder out, Ref ref);

// Reads a term into one fresh heap. Throws WireError for anything hostile: bad atoms,
// non-finite floats, pids of unknown shape, nesting past kMaxWireDepth, a full atom or
// node table. Cap'n Proto's own limits (kj::Exception) surface as WireError too.
Term read_term(wire::Term::Reader in);
Pid read_pid(wire::Pid::Reader in);
Ref read_ref(wire::Ref::Reader in);
// The pid `id` (Pid.id on the wire) of the node at NodeTable index `node`, for frames whose
// pids leave their node implied. Throws WireError for an id out of range.
Pid pid_on(std::uint32_t node, std::uint64_t id);
// What Pid.id carries for `pid`: its slot and generation.
std::uint64_t pid_id(Pid pid);

}  // namespace ember::net
