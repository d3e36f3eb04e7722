// One entry of a process inbox: a message or a signal, in the order it was sent.
#pragma once

#include <atomic>
#include <cstdint>

#include "ember/core/detail/message_memory.hpp"
#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember::detail {

enum class SignalKind : std::uint8_t {
  kMessage,    // payload: the message
  kLink,       // from wants a link
  kUnlink,     // from drops its link
  kExit,       // from exited (linked) or called exit(to, payload); flag: linked
  kMonitor,    // from monitors the target under ref
  kDemonitor,  // from drops the monitor ref
  kTimeout,    // a receive timeout fired; ref.id: the receive it belongs to
  kDown,       // a monitored process went down: ref, payload = reason
  kTrace,      // from becomes the target's tracer (linked) or stops being it (!linked)
};

struct SignalLink {
  std::atomic<SignalLink*> next{nullptr};
};

struct Signal : SignalLink {
  static void* operator new(std::size_t bytes) { return message_alloc(bytes); }
  static void operator delete(void* p) noexcept { message_free(p); }

  SignalKind kind = SignalKind::kMessage;
  bool linked = false;  // kExit: sent because of a link (vs exit/2)
  Pid from;
  Pid to;  // the exact incarnation addressed: a recycled slot drops stale entries
  Ref ref;
  Term payload;
  std::uint64_t seq = 0;  // position in the saved queue, for the receive mark
};

// Inbox entries allocated so far, process-wide (the rest were recycled): for tests.
std::uint64_t signals_made();

}  // namespace ember::detail
