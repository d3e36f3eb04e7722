// Transport: one libuv loop on its own thread, a listener, and authenticated connections
// that carry frames. Everything libuv happens on the loop thread; the public calls are
// thread-safe and hand work over through a queue and uv_async_send (coalesced).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ember/net/connection_stats.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/handshake.hpp"
#include "ember/net/outbox.hpp"

struct uv_loop_s;
using uv_loop_t = uv_loop_s;

namespace ember::net {

class HttpClient;

using ConnectionId = std::uint64_t;

struct TransportConfig {
  PeerInfo self;  // name, creation, flags, hidden, listen address
  std::string cookie;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: any free port (see Transport::port())
  bool listen = true;
  DecoderLimits limits;
  // Liveness: a Tick goes out on a connection that has written nothing for tick_interval,
  // and one that has received nothing (data or tick) for silence_timeout is closed as
  // down. Any received byte counts, so a saturated connection never looks silent.
  // Zero turns ticks off.
  std::chrono::milliseconds tick_interval{500};
  std::chrono::milliseconds silence_timeout{2000};
  // A connection whose handshake has not completed by then is refused (slow peers).
  std::chrono::milliseconds handshake_timeout{5000};
  OutboxLimits outbox;
  // Largest message reassembled from fragments (the sender refuses larger ones first).
  std::size_t max_message_bytes = 64u << 20;
  // Set (by the node, to the runtime's detail::at_slice_end): a running process's frames to
  // an idle connection are held until it suspends and written in one syscall
  // (Outbox::push_corked): one segment, one read at the peer. It registers a function to
  // run when the sending process suspends, or returns false outside a process.
  bool (*at_slice_end)(void (*fn)()) = nullptr;
};

// A connection's outbound queue, for senders on any thread. Taken in on_up; after the
// connection closes, sends return kClosed.
struct Channel {
  ConnectionId id = 0;
  std::shared_ptr<Outbox> outbox;
  std::shared_ptr<LinkCounters> counters;  // for senders counting messages_out
};

// Callbacks run on the loop thread (on_frame and on_frames_end also in Transport::poll,
// see on_any_thread). A frame reader is valid only during the call.
struct TransportHandler {
  // The acceptor side heard the peer's Hello (not yet authenticated) and may refuse the
  // connection before answering (the node layer resolves duplicates and simultaneous
  // connects here). kKeepOurs tells the peer so (kHelloKeepsOwnConnection). Unset: accept.
  enum class Verdict { kAccept, kRefuse, kKeepOurs };
  std::function<Verdict(ConnectionId, const PeerInfo&)> on_hello;
  // The initiator side heard the acceptor's Hello (not yet authenticated); false abandons
  // the connection before it proves itself. The node layer says false when it is already
  // up with that peer through another connection: an acceptor that still has a connection
  // with us lets a new one replace it, trusting that we dial only when we have none.
  // Unset: go on.
  std::function<bool(ConnectionId, const PeerInfo&)> on_answer;
  std::function<void(ConnectionId, const PeerInfo&)> on_up;
  std::function<void(ConnectionId, wire::Frame::Reader)> on_frame;
  // The kinds of frame on_frame may also be called with on a worker thread that reads in
  // Transport::poll (one thread at a time per connection, in order). Unset: none, and a
  // worker reads nothing.
  std::function<bool(wire::Frame::Which)> on_any_thread;
  // After the frames of one read have gone through on_frame: what they delivered may have
  // been gathered (one push per target process) and must go out now.
  std::function<void()> on_frames_end;
  std::function<void(ConnectionId, const std::string& reason)> on_down;  // after on_up only
  // A connection that never came up: connect failed, handshake failed, or garbage.
  std::function<void(ConnectionId, const std::string& peer, const std::string& reason)> on_refused;
};

class Transport {
 public:
  Transport(TransportConfig config, TransportHandler handler);
  ~Transport();  // closes every connection and joins the loop thread
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::uint16_t port() const;  // the listening port, once bound
  // Starts a connection; on_up or on_refused reports how it went, under the id returned.
  ConnectionId connect(const std::string& host, std::uint16_t port);
  // Appends an encoded frame (header included) to the connection's outbound buffer;
  // frames queued while a write is in flight go out together in the next write.
  void send(ConnectionId id, std::vector<std::byte> frame);
  // The fast path: straight into the connection's outbox from the calling thread. kWait
  // on the loop thread (a callback) is treated as kNoWait.
  Outbox::Result send(const Channel& channel, std::span<const std::byte> frame,
                      std::uint64_t sender, Outbox::Mode mode);
  // The same, except that a frame of bulk_bytes or more is taken, not copied: `frame` is
  // left empty then (a 100 MiB copy under the queue's lock held up the loop thread's writes,
  // and every other message with them, for as long as it took).
  Outbox::Result send_owned(const Channel& channel, std::vector<std::byte>& frame,
                            std::uint64_t sender, Outbox::Mode mode);
  // A message from this node's process `from_id` (a pid id, see wire.capnp) to the peer's
  // `to_id`, sent by `sender` from inside its run: joins the frames this thread gathers
  // for that channel and sender, to go out with the next ones of the run as one
  // LocalSends frame (encoded then: the term must stay unchanged, as terms do), and counted
  // in the channel's messages_out when the batch is sealed. False if
  // nothing is being gathered there now (the queue was idle, or is over its limit): the
  // caller sends the message as a frame of its own, with send().
  // The encoding must not fail later: only for terms of at most kBatchableHeapBytes (so
  // nested less deep than kMaxWireDepth) whose encoded size fits the message limit.
  bool batch_local(const Channel& channel, std::uint64_t sender, std::uint64_t from_id,
                   std::uint64_t to_id, const Term& message);
  static constexpr std::size_t kBatchableHeapBytes = 3072;
  // Encoded bytes of a batched message beyond its heap, roughly (a Term and its id).
  static constexpr std::size_t kBatchedSendBytes = 24;
  // The connection's channel (any thread); a closed one for an unknown connection.
  Channel channel(ConnectionId id);
  bool on_loop_thread() const;
  // For a scheduler worker that has nothing to run: reads whatever is waiting on the
  // connections that are up (without blocking, skipping one another thread is reading)
  // and hands the frames to on_frame there. True if it read anything. A frame that is not
  // on_any_thread, and every frame after it, is left to the loop thread.
  bool poll();
  // For a worker that polled and is about to sleep: the loop thread, which does not read
  // connections while workers poll them, reads them again.
  void parking();
  void close(ConnectionId id);
  // Runs `fn` on the loop thread after `delay` (not if the transport stops first).
  void after(std::chrono::milliseconds delay, std::function<void()> fn);
  // Closes every connection and the listener, and waits until that is done: afterwards
  // nothing more leaves. Call from outside the loop thread.
  void close_all();
  // Runs `fn` on the loop thread with the loop, for code beside the transport that owns
  // libuv handles of its own (HttpClient). Not after the transport has stopped.
  void post(std::function<void(uv_loop_t*)> fn);
  // Every connection that is up, with its counters (any thread). It holds the transport's
  // mutex while it copies them; a sender takes that mutex only to wake the loop thread.
  std::vector<ConnectionStats> connection_stats() const;
  // The HTTP client driven by this loop, made on first use (any thread). It closes with
  // the connections (close_all or the destructor), on the loop thread, before the loop
  // stops: its curl and uv handles never outlive the loop.
  HttpClient& http();

  struct Impl;

 private:
  Outbox::Mode mode_here(Outbox::Mode mode) const;

  std::unique_ptr<Impl> impl_;
};

}  // namespace ember::net
