// Per-connection counters: what `ember nodes --verbose` and the metrics endpoint show.
// The counters are relaxed atomics with one writer each (the loop thread, or a sender
// holding the outbox's mutex it already takes), so counting costs the hot path no lock
// and no locked instruction, and any thread may read them (a snapshot a little stale).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace ember::net {

// Bumps a counter that has a single writer: a plain load and store, no lock prefix.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// The inbound side and the loop thread's writes: written by the loop thread only.
// messages_out is the exception: senders on any thread count their messages there with a
// relaxed fetch_add (the node layer knows which frames are messages; the transport does not).
struct LinkCounters {
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> frames_in{0};      // whole frames (a fragmented one counts once)
  std::atomic<std::uint64_t> messages_in{0};    // in Send, LocalSend(s) and RegSend frames
  std::atomic<std::uint64_t> bytes_written{0};  // by the loop thread's writes
  std::atomic<std::uint64_t> messages_out{0};
  std::atomic<std::uint64_t> last_read_ms{0};  // uv_now() of the last byte read
  std::atomic<std::uint64_t> last_tick_ms{0};  // uv_now() of the last Tick read (0: none yet)
  std::atomic<bool> workers_only{false};       // the loop thread stepped back from reading
};

// A snapshot of one connection that is up (Transport::connection_stats).
struct ConnectionStats {
  std::uint64_t id = 0;
  std::string peer;  // the peer's node name
  std::uint32_t creation = 0;
  bool hidden = false;  // a tool (the ember CLI), not a cluster member
  // The peer's listen address (host:port, from its Hello); for a peer that does not
  // listen, the far end of the socket.
  std::string address;
  std::int64_t up_since_unix_ms = 0;  // wall clock when the handshake completed
  std::chrono::milliseconds uptime{0};
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::uint64_t frames_in = 0, frames_out = 0;  // ticks and handshake frames included
  std::uint64_t messages_in = 0, messages_out = 0;
  std::uint64_t queued_bytes = 0;  // in the outbox, not yet handed to the socket
  std::chrono::milliseconds since_last_read{0};
  // Since the last Tick frame arrived; -1 when none has (a busy link sends none).
  std::chrono::milliseconds since_last_tick{-1};
  // Only polling workers read it for now: the I/O thread stepped back (docs/ARCHITECTURE.md,
  // "Workers read too").
  bool read_by_workers_only = false;
};

}  // namespace ember::net
