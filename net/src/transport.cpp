// The libuv side: loop thread, listener, connections (handshake, framing, batched writes).
#include "ember/net/transport.hpp"

#include <poll.h>
#include <uv.h>

#include <cerrno>
#include <csignal>

#include <kj/exception.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "ember/net/frame_encoder.hpp"
#include "ember/net/http_client.hpp"
#include "ember/net/term_codec.hpp"

namespace ember::net {

namespace {

std::string uv_text(int status) {
  return std::string(uv_err_name(status)) + ": " + uv_strerror(status);
}

std::string peer_address(uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char ip[64] = "?";
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    uv_ip4_name(in, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(in->sin_port));
  }
  return ip;
}

// A Transport::after() callback and its timer, listed in `pending` (the loop thread's) until
// it runs, so shutdown closes it instead of waiting for it.
struct Delayed {
  uv_timer_t timer;
  std::function<void()> fn;
  std::unordered_set<Delayed*>* pending;
};
void free_delayed(uv_handle_t* h) {
  delete static_cast<Delayed*>(h->data);
}

}  // namespace

struct Connection;

// Room offered to each read of a socket, straight into its FrameDecoder.
constexpr std::size_t kReadBytes = 64u << 10;

// A worker that polled (Transport::poll) this recently is taken to be polling still.
constexpr std::uint64_t kPollerGoneNs = 1'000'000;

// The read side of a connection, shared by the loop thread and workers that have nothing
// to run (Transport::poll): whoever holds `mutex` reads the socket and owns the
// connection's decoder (which the socket is read into) and `partial`, so frames are
// handled in order, by one thread at a time. It outlives the Connection; `c` is cleared
// when that closes.
struct ReadGate {
  std::recursive_mutex mutex;  // recursive: the loop thread closes inside its own read
  Connection* c = nullptr;     // while workers may read (up, not closing); under mutex
  int fd = -1;
  bool handed_off = false;         // the next frame is for the loop thread only; under mutex
  bool failed = false;             // a worker met bad input: the loop thread closes; under mutex
  std::atomic<bool> fresh{false};  // a worker read bytes since the last tick
};

// Set while a worker handles frames: its sends must not wait on the loop thread.
thread_local bool tl_worker_reading = false;

// The outboxes a running process corked (Outbox::push_corked), written when it suspends.
struct Corked {
  std::shared_ptr<Outbox> outbox;
  Transport::Impl* impl;
  ConnectionId id;
};
thread_local std::vector<Corked> tl_corked;
void uncork_all();

// The frames a running process sends to a connection that was busy when it began: gathered
// here and pushed in one go (one lock, one copy into the outbox) when the process suspends
// or kGatherBytes have gathered, instead of taking the outbox's lock against the loop
// thread's once per frame. One connection and one sender at a time; any other frame from
// this thread pushes what was gathered first, so per-pair order holds.
// Messages between the two ends' own processes (batch_local) are gathered as terms and
// go after the bytes as one LocalSends frame, encoded when anything else comes next.
struct Gathered {
  std::shared_ptr<Outbox> outbox;
  Transport::Impl* impl = nullptr;
  ConnectionId id = 0;
  std::uint64_t sender = 0;
  std::uint32_t frames = 0;
  std::vector<std::byte> bytes;
  std::shared_ptr<LinkCounters> counters;  // the channel's: messages_out, once per batch
  std::uint64_t batch_from = 0;
  std::vector<std::uint64_t> batch_to;
  std::vector<Term> batch;
  std::size_t batch_bytes = 0;  // a guess at their encoded size, to bound the frame
};
thread_local Gathered tl_gathered;
constexpr std::size_t kGatherBytes = 32u << 10;
void push_gathered(Outbox::Mode mode);
void push_gathered_bytes(Gathered& g, Outbox::Mode mode);

// A term that small nests less deep than write_term allows (each level is a box of two
// words at least), so encoding a batch cannot fail where no sender would hear of it.
static_assert((Transport::kBatchableHeapBytes - sizeof(detail::TermHeap)) / 16 < kMaxWireDepth);

// The gathered terms become one frame at the end of the bytes.
void seal_batch(Gathered& g) {
  if (g.batch.empty()) return;
  thread_local FrameEncoder encoder(kGatherBytes / sizeof(capnp::word) * 2);
  if (g.batch.size() == 1)
    encoder.encode_local_send(g.bytes, g.batch_from, g.batch_to[0], g.batch[0]);
  else
    encoder.encode_local_sends(g.bytes, g.batch_from, g.batch_to, g.batch);
  ++g.frames;
  // One add per batch: senders on other workers count on the same cache line.
  if (g.counters) g.counters->messages_out.fetch_add(g.batch.size(), std::memory_order_relaxed);
  g.batch_to.clear();
  g.batch.clear();
  g.batch_bytes = 0;
}

// One TCP connection. Owned by Transport::Impl::connections; freed in its close callback.
struct Connection {
  Transport::Impl* owner = nullptr;
  ConnectionId id = 0;
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  std::string address;
  Handshake handshake;
  FrameDecoder decoder;
  FrameEncoder encoder{256};
  std::shared_ptr<Outbox> outbox;  // frames waiting for the next write
  std::shared_ptr<LinkCounters> counters = std::make_shared<LinkCounters>();
  Outbox::Buffers in_flight;  // the buffers of the current write, in order
  struct Partial {            // a fragmented frame being reassembled
    std::vector<capnp::word> words;
    std::uint32_t next = 0, count = 0;
  };
  std::map<std::uint64_t, Partial> partial;
  std::shared_ptr<ReadGate> gate = std::make_shared<ReadGate>();
  bool writing = false;
  bool up = false;
  bool closing = false;
  bool asked = false;        // acceptor: on_hello has been consulted
  bool resolving = false;    // a host name lookup is in flight (it must end before we free)
  bool closed = false;       // the handle's close callback has run
  bool read_paused = false;  // the loop thread stepped back: workers read it (step_back)
  uv_getaddrinfo_t resolve_req{};
  std::uint16_t port = 0;
  std::uint64_t opened = 0;  // uv_now() at creation, for the handshake timeout
  std::uint64_t last_read = 0;
  std::uint64_t last_write = 0;

  Connection(Handshake::Role role, const PeerInfo& self, const Cookie& cookie,
             const TransportConfig& config)
      : handshake(role, self, cookie),
        decoder(config.limits),
        outbox(std::make_shared<Outbox>(config.outbox)) {}
};

struct Transport::Impl {
  TransportConfig config;
  TransportHandler handler;
  Cookie cookie;
  uv_loop_t loop{};
  uv_async_t wakeup{};
  uv_tcp_t listener{};
  uv_timer_t ticker{};
  std::unordered_set<Delayed*> delayed;  // after() timers not yet run; loop thread
  std::thread thread;

  std::mutex mutex;  // guards `tasks` and `port`
  std::condition_variable ready_cv;
  bool ready = false;
  std::string start_error;
  std::vector<std::function<void()>> tasks;
  std::vector<ConnectionId> flushable;  // outboxes with frames for the loop thread
  std::unordered_map<ConnectionId, std::shared_ptr<Outbox>> outboxes;  // for channel()
  // Connections that are up, for connection_stats(): added in on_up, gone at close.
  struct Live {
    PeerInfo peer;
    std::string address;
    std::shared_ptr<Outbox> outbox;
    std::shared_ptr<LinkCounters> counters;
    std::uint64_t up_ms = 0;  // uv_now() when it came up
    std::int64_t up_unix_ms = 0;
  };
  std::unordered_map<ConnectionId, Live> live;  // under `mutex`
  std::thread::id loop_thread;
  std::uint64_t last_tick = 0;  // uv_now() at the previous on_tick
  std::uint16_t bound_port = 0;

  std::map<ConnectionId, std::unique_ptr<Connection>> connections;  // loop thread only
  std::atomic<ConnectionId> next_id{1};
  std::vector<std::byte> tick_frame;
  bool stopping = false;
  std::unique_ptr<HttpClient> http;              // made on first use, under `mutex`
  std::mutex gates_mutex;                        // guards `gates`
  std::vector<std::shared_ptr<ReadGate>> gates;  // of the connections that are up
  // While workers poll, the loop thread does not read the connections (step_back).
  std::atomic<std::uint64_t> last_poll_ns{0};  // uv_hrtime() of the latest poll; 0: a park
  std::atomic<bool> any_paused{false};         // written by the loop thread only
  int paused = 0;                              // connections stepped back from; loop thread
  uv_timer_t pause_timer{};

  Impl(TransportConfig c, TransportHandler h)
      : config(std::move(c)), handler(std::move(h)), cookie(config.cookie) {}

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex);
      tasks.push_back(std::move(task));
    }
    uv_async_send(&wakeup);
  }

  void run_tasks() {
    std::vector<std::function<void()>> batch;
    std::vector<ConnectionId> flush_ids;
    {
      std::lock_guard lock(mutex);
      batch.swap(tasks);
      flush_ids.swap(flushable);
    }
    for (auto& t : batch) t();
    for (ConnectionId id : flush_ids) {
      auto it = connections.find(id);
      if (it != connections.end()) flush(it->second.get());
    }
  }

  void schedule(ConnectionId id) {
    {
      std::lock_guard lock(mutex);
      flushable.push_back(id);
    }
    uv_async_send(&wakeup);
  }

  void start_listening() {
    sockaddr_in addr{};
    int rc = uv_ip4_addr(config.listen_host.c_str(), config.listen_port, &addr);
    if (rc != 0) {  // a host name: resolved once, synchronously, before the loop runs
      uv_getaddrinfo_t req{};
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_STREAM;
      rc = uv_getaddrinfo(&loop, &req, nullptr, config.listen_host.c_str(), nullptr, &hints);
      if (rc == 0) {
        addr = *reinterpret_cast<const sockaddr_in*>(req.addrinfo->ai_addr);
        addr.sin_port = htons(config.listen_port);
        uv_freeaddrinfo(req.addrinfo);
      }
    }
    if (rc == 0) rc = uv_tcp_init(&loop, &listener);
    if (rc == 0) rc = uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 128, on_connection);
    if (rc != 0) {
      start_error = "cannot listen on " + config.listen_host + ":" +
                    std::to_string(config.listen_port) + ": " + uv_text(rc);
      return;
    }
    listener.data = this;
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
    bound_port = ntohs(bound.sin_port);
  }

  Connection* make_connection(Handshake::Role role, ConnectionId id) {
    auto c = std::make_unique<Connection>(role, config.self, cookie, config);
    c->owner = this;
    c->id = id;
    c->opened = c->last_read = c->last_write = uv_now(&loop);
    {
      std::lock_guard lock(mutex);
      outboxes.emplace(id, c->outbox);
    }
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c.get();
    Connection* raw = c.get();
    connections.emplace(raw->id, std::move(c));
    return raw;
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0) {
      spdlog::warn("ember: accept failed: {}", uv_text(status));
      return;
    }
    Connection* c = self->make_connection(Handshake::Role::kAcceptor, self->next_id++);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      self->close(c, "accept failed");
      return;
    }
    c->address = peer_address(&c->tcp);
    self->start_reading(c);
  }

  void connect_to(ConnectionId id, const std::string& host, std::uint16_t port) {
    Connection* c = make_connection(Handshake::Role::kInitiator, id);
    c->address = host + ":" + std::to_string(port);
    sockaddr_in addr{};
    if (uv_ip4_addr(host.c_str(), port, &addr) == 0) return connect_addr(c, addr);
    // A host name (a Docker Compose service, say): resolved off the loop by libuv.
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    c->resolve_req.data = c;
    c->port = port;
    c->resolving = true;
    int rc = uv_getaddrinfo(&loop, &c->resolve_req, on_resolved, host.c_str(), nullptr, &hints);
    if (rc != 0) {
      c->resolving = false;
      close(c, "cannot resolve " + host + ": " + uv_text(rc));
    }
  }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* c = static_cast<Connection*>(req->data);
    c->resolving = false;
    Impl* self = c->owner;
    if (c->closing) {  // closed meanwhile: the close callback left the freeing to us
      if (res) uv_freeaddrinfo(res);
      if (c->closed) self->connections.erase(c->id);
      return;
    }
    if (status < 0 || !res) {
      if (res) uv_freeaddrinfo(res);
      return self->close(c, "cannot resolve " + c->address + ": " + uv_text(status));
    }
    sockaddr_in addr = *reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    addr.sin_port = htons(c->port);
    uv_freeaddrinfo(res);
    self->connect_addr(c, addr);
  }

  void connect_addr(Connection* c, const sockaddr_in& addr) {
    c->connect_req.data = c;
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&addr),
                            on_connected);
    if (rc != 0) close(c, "cannot connect: " + uv_text(rc));
  }

  static void on_connected(uv_connect_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    if (status < 0) {
      if (status != UV_ECANCELED) c->owner->close(c, "cannot connect: " + uv_text(status));
      return;
    }
    c->owner->start_reading(c);
    std::vector<std::byte> hello;
    c->handshake.start(c->encoder, hello);
    c->owner->write(c, hello);
  }

  void start_reading(Connection* c) {
    uv_tcp_nodelay(&c->tcp, 1);
    read_start(c);
  }

  static void read_start(Connection* c) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          auto* conn = static_cast<Connection*>(h->data);
          conn->gate->mutex.lock();  // until the end of on_read, which libuv always calls
          std::span<std::byte> room = conn->decoder.space(kReadBytes);  // read in place
          *buf = uv_buf_init(reinterpret_cast<char*>(room.data()), unsigned(room.size()));
        },
        on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    std::shared_ptr<ReadGate> gate = c->gate;  // the close below may free c, not the gate
    // libuv reports EOF after a partial read (POLLHUP) without calling alloc_cb first, with
    // an empty buffer: then the gate is not held yet.
    if (!buf->base) gate->mutex.lock();
    std::lock_guard held(gate->mutex, std::adopt_lock);
    if (gate->failed) return;  // a worker found bad input; the close is on its way
    if (n < 0) {
      c->owner->close(c, n == UV_EOF ? "closed by peer" : "read failed: " + uv_text(int(n)));
      return;
    }
    if (n == 0 || c->closing) return;
    c->last_read = uv_now(&c->owner->loop);
    bump(c->counters->bytes_in, std::uint64_t(n));
    c->counters->last_read_ms.store(c->last_read, std::memory_order_relaxed);
    c->decoder.commit(std::size_t(n));  // libuv read into the decoder's space()
    c->owner->process_frames(c);
    if (c->owner->handler.on_frames_end) c->owner->handler.on_frames_end();
    c->owner->step_back(c);
  }

  // --- the loop thread steps back while workers poll ---
  // A socket being read by epoll_wait wakes that waiter at every segment, only for it to
  // find the bytes taken by a polling worker: the wake-up was 13% of the sender's time in
  // a remote ping-pong and a context switch of the loop thread each time (round trip
  // 50 -> 22 us). So while workers poll, the loop thread stops reading up connections,
  // and starts again when a worker parks (on_worker_park), when workers have not polled
  // for a millisecond (all busy running processes: on_pause_timer), when a worker hands
  // a connection back (resume_on_loop) or finds it closed or failed (poll_one).
  bool pollers_active() const {
    std::uint64_t last = last_poll_ns.load(std::memory_order_seq_cst);
    return last != 0 && uv_hrtime() - last < kPollerGoneNs;
  }

  // any_paused is set before pollers are looked at and a parking worker clears
  // last_poll_ns before it looks at any_paused (both seq_cst): it either sees the pause
  // and asks the loop thread back, or this sees it gone and does not pause.
  void step_back(Connection* c) {
    if (!c->up || c->closing || c->read_paused || c->gate->handed_off) return;
    any_paused.store(true, std::memory_order_seq_cst);
    if (!pollers_active()) {
      if (paused == 0) any_paused.store(false, std::memory_order_relaxed);
      return;
    }
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->read_paused = true;
    c->counters->workers_only.store(true, std::memory_order_relaxed);
    if (paused++ == 0)
      uv_timer_start(
          &pause_timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_pause_timer(); }, 1, 1);
  }

  void step_in(Connection* c) {
    if (!c->read_paused) return;
    c->read_paused = false;
    c->counters->workers_only.store(false, std::memory_order_relaxed);
    if (--paused == 0) {
      uv_timer_stop(&pause_timer);
      any_paused.store(false, std::memory_order_relaxed);
    }
    if (!c->closing) read_start(c);
  }

  void step_in_all() {
    for (auto& entry : connections) step_in(entry.second.get());
  }

  void on_pause_timer() {
    if (!pollers_active()) step_in_all();
  }

  // A worker is about to sleep: it will not read what comes next.
  void on_worker_park() {
    last_poll_ns.store(0, std::memory_order_seq_cst);
    if (any_paused.load(std::memory_order_seq_cst)) post([this] { step_in_all(); });
  }

  // Decodes what arrived; a bad frame or a failed handshake closes this connection only.
  void process_frames(Connection* c) {
    try {
      while (!c->closing) {
        auto words = c->decoder.next();
        if (!words) return;
        FrameReader reader(*words, config.limits);
        auto frame = reader.root();
        if (!frame.isFragment()) count_inbound(c, frame);  // a whole one counts when complete
        if (!c->up) {
          std::vector<std::byte> reply;
          auto status = c->handshake.on_frame(frame, c->encoder, reply);
          if (status == Handshake::Status::kFailed) return refuse(c, c->handshake.error());
          if (auto verdict = accepted(c); verdict != TransportHandler::Verdict::kAccept)
            return turn_down(c, verdict);
          // The reply is queued, not yet written, and on_up runs before it leaves: the
          // acceptor's last reply (ChallengeAck) is what makes the initiator up, so when
          // the initiator's connect returns this side already counts the peer as up (a
          // registration here then includes it, as in Erlang, where the acceptor is up
          // first). Frames on_up sends queue behind the reply.
          if (!reply.empty()) {
            bool wake;
            c->outbox->push(reply, 0, Outbox::Mode::kForce, wake);
          }
          if (status == Handshake::Status::kDone) {
            c->up = true;
            uv_os_fd_t fd;
            if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
              c->outbox->attach(fd);
              open_gate(c, fd);
            }
            went_live(c);
            if (handler.on_up) handler.on_up(c->id, c->handshake.peer());
          }
          flush(c);
          continue;
        }
        if (frame.isTick()) {  // liveness only: last_read is already fresh
          c->counters->last_tick_ms.store(c->last_read, std::memory_order_relaxed);
          continue;
        }
        if (frame.isFragment()) {
          reassemble(c, frame.getFragment());
          continue;
        }
        if (handler.on_frame) handler.on_frame(c->id, frame);
      }
    } catch (const WireError& e) {
      bad_input(c, e.what());
    } catch (const kj::Exception& e) {
      bad_input(c, e.getDescription().cStr());
    }
  }

  // Collects the pieces of a fragmented frame; the whole one is handled like any other.
  void reassemble(Connection* c, wire::Fragment::Reader f) {
    auto bytes = f.getBytes();
    if (bytes.size() % sizeof(capnp::word) != 0 || f.getCount() == 0)
      throw WireError("fragment of " + std::to_string(bytes.size()) + " bytes is not whole words");
    auto [it, fresh] = c->partial.try_emplace(f.getSequence());
    Connection::Partial& p = it->second;
    if (fresh) p.count = f.getCount();
    if (c->partial.size() > 8) throw WireError("more than 8 fragmented frames in progress");
    if (f.getIndex() != p.next || f.getCount() != p.count) throw WireError("fragment out of order");
    if (p.words.size() * sizeof(capnp::word) + bytes.size() > config.max_message_bytes)
      throw WireError("fragmented frame larger than " + std::to_string(config.max_message_bytes) +
                      " bytes");
    // The whole is reserved at the first piece (all but the last are the same size): a
    // vector doubling its way to 100 MiB copied and zeroed the frame over again, while
    // every frame behind the fragment waited on this thread.
    if (fresh)
      p.words.reserve(
          std::min<std::size_t>(std::size_t(p.count) * bytes.size(), config.max_message_bytes) /
          sizeof(capnp::word));
    const auto* piece = reinterpret_cast<const capnp::word*>(bytes.begin());  // word-aligned
    p.words.insert(p.words.end(), piece, piece + bytes.size() / sizeof(capnp::word));
    if (++p.next < p.count) return;
    Connection::Partial whole = std::move(p);
    c->partial.erase(it);
    DecoderLimits limits = config.limits;
    limits.max_frame_bytes =
        std::uint32_t(std::min<std::size_t>(config.max_message_bytes, UINT32_MAX));
    FrameReader reader(kj::ArrayPtr<const capnp::word>(whole.words.data(), whole.words.size()),
                       limits);
    auto frame = reader.root();
    if (frame.isFragment() || frame.isTick())
      throw WireError("a fragment cannot carry a fragment or a tick");
    count_inbound(c, frame);
    if (handler.on_frame) handler.on_frame(c->id, frame);
  }

  static void count_inbound(Connection* c, wire::Frame::Reader frame) {
    bump(c->counters->frames_in);
    if (frame.isSend() || frame.isLocalSend() || frame.isRegSend()) bump(c->counters->messages_in);
    if (frame.isLocalSends())
      bump(c->counters->messages_in, frame.getLocalSends().getToIds().size());
  }

  // The handshake is done: from now on connection_stats() lists it.
  void went_live(Connection* c) {
    auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    // Where the peer listens says which node it is; an accepted socket's far end is only
    // an ephemeral port. A peer that does not listen (a tool) has only the latter.
    const PeerInfo& peer = c->handshake.peer();
    std::string address = peer.listen_address.empty() ? c->address : peer.listen_address;
    std::lock_guard lock(mutex);
    live[c->id] = {peer,        std::move(address), c->outbox,
                   c->counters, uv_now(&loop),      std::int64_t(wall.count())};
  }

  // Each side asks the node layer once, as soon as the other's Hello has been read.
  TransportHandler::Verdict accepted(Connection* c) {
    using Verdict = TransportHandler::Verdict;
    if (c->asked || c->handshake.peer().name.empty()) return Verdict::kAccept;
    c->asked = true;
    if (!c->handshake.initiator())
      return handler.on_hello ? handler.on_hello(c->id, c->handshake.peer()) : Verdict::kAccept;
    if (handler.on_answer && !handler.on_answer(c->id, c->handshake.peer()))
      return Verdict::kRefuse;
    return Verdict::kAccept;
  }

  void turn_down(Connection* c, TransportHandler::Verdict verdict) {
    if (verdict == TransportHandler::Verdict::kRefuse)
      return refuse(c, c->handshake.initiator()
                           ? "already connected to that node through another connection"
                           : "refused by this node (its own name, a bad name or a blocked node)");
    // Tell the peer why, so it waits for our connection instead of giving up on us: one
    // small frame, written before the close (best effort; the close follows at once).
    std::vector<std::byte> hello;
    c->handshake.refuse_simultaneous(c->encoder, hello);
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0)
      (void)!::send(fd, hello.data(), hello.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    refuse(c, "simultaneous connect: keeping our own connection");
  }

  void bad_input(Connection* c, const std::string& what) {
    if (!c->up) return refuse(c, what);
    spdlog::warn("ember: closing connection to {} ({}): {}", c->handshake.peer().name, c->address,
                 what);
    close(c, what);
  }

  void refuse(Connection* c, const std::string& why) {
    spdlog::warn("ember: refused connection with {}: {}", c->address, why);
    close(c, why);
  }

  // The connection's own frames (handshake, ticks): never held back by the busy limit.
  void write(Connection* c, const std::vector<std::byte>& bytes) {
    if (c->closing || bytes.empty()) return;
    bool wake;
    c->outbox->push(bytes, 0, Outbox::Mode::kForce, wake);
    flush(c);
  }

  // One write at a time per connection; whatever queued meanwhile goes in the next one.
  std::vector<uv_buf_t> bufs;  // flush's, reused
  void flush(Connection* c) {
    if (c->writing || c->closing) return;
    if (!c->outbox->take(c->in_flight, c->encoder)) return;
    c->writing = true;
    c->last_write = uv_now(&loop);
    bufs.clear();
    for (auto& b : c->in_flight)
      bufs.push_back(uv_buf_init(reinterpret_cast<char*>(b.data()), unsigned(b.size())));
    c->write_req.data = c;
    // libuv copies the buf array; the buffers stay in in_flight until the callback.
    int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), bufs.data(),
                      unsigned(bufs.size()), [](uv_write_t* req, int status) {
                        auto* conn = static_cast<Connection*>(req->data);
                        conn->writing = false;
                        std::size_t bytes = 0;
                        for (auto& b : conn->in_flight) bytes += b.size();
                        conn->outbox->write_done(conn->in_flight);
                        if (status >= 0) bump(conn->counters->bytes_written, bytes);
                        if (status < 0) {
                          if (status != UV_ECANCELED)
                            conn->owner->close(conn, "write failed: " + uv_text(status));
                          return;
                        }
                        conn->owner->flush(conn);
                      });
    if (rc != 0) {
      c->writing = false;
      c->outbox->write_done(c->in_flight);
      close(c, "write failed: " + uv_text(rc));
    }
  }

  // --- reading on a worker (Transport::poll) ---

  void open_gate(Connection* c, int fd) {
    {
      std::lock_guard g(c->gate->mutex);
      c->gate->c = c;
      c->gate->fd = fd;
    }
    std::lock_guard lock(gates_mutex);
    gates.push_back(c->gate);
  }

  // After this no worker touches c: one that is reading it finishes first.
  void shut_gate(Connection* c) {
    {
      std::lock_guard g(c->gate->mutex);
      c->gate->c = nullptr;
    }
    std::lock_guard lock(gates_mutex);
    std::erase(gates, c->gate);
  }

  // One poll(2) over every connection first: it reads the sockets' state without their
  // lock, where a recv on each takes the lock that the peer's sends into it hold (under
  // perf, spinning workers' recvs were 8% of a remote call's time, spinning on it).
  bool poll() {
    if (!handler.on_any_thread) return false;
    last_poll_ns.store(uv_hrtime(), std::memory_order_relaxed);
    std::unique_lock lock(gates_mutex, std::try_to_lock);
    if (!lock || gates.empty()) return false;
    thread_local std::vector<pollfd> fds;
    fds.resize(gates.size());
    for (std::size_t i = 0; i < gates.size(); ++i) fds[i] = {gates[i]->fd, POLLIN, 0};
    if (::poll(fds.data(), nfds_t(fds.size()), 0) <= 0) return false;
    bool got = false;
    for (std::size_t i = 0; i < gates.size(); ++i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) got |= poll_one(*gates[i]);
    return got;
  }

  // One non-blocking read of a connection nobody else is reading. EOF and errors are left
  // to the loop thread, which may have stepped back from reading it: it is handed back.
  bool poll_one(ReadGate& g) {
    std::unique_lock lock(g.mutex, std::try_to_lock);
    if (!lock || !g.c || g.handed_off || g.failed) return false;
    Connection* c = g.c;
    std::span<std::byte> room = c->decoder.space(kReadBytes);
    ssize_t n = ::recv(g.fd, room.data(), room.size(), MSG_DONTWAIT);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) hand_back(g);
      return false;
    }
    c->decoder.commit(std::size_t(n));
    g.fresh.store(true, std::memory_order_relaxed);
    bump(c->counters->bytes_in, std::uint64_t(n));
    std::uint64_t now_ms = uv_hrtime() / 1000000;  // uv_now()'s clock, not the loop's copy
    c->counters->last_read_ms.store(now_ms, std::memory_order_relaxed);
    tl_worker_reading = true;
    process_on_worker(g, now_ms);
    tl_worker_reading = false;
    if (handler.on_frames_end) handler.on_frames_end();
    return true;
  }

  // Like process_frames, for the frames the handler takes on any thread; at the first
  // other one (or a fragment) the rest of the stream goes back to the loop thread.
  void process_on_worker(ReadGate& g, std::uint64_t now_ms) {
    Connection* c = g.c;
    try {
      while (auto words = c->decoder.peek()) {
        FrameReader reader(*words, config.limits);
        auto frame = reader.root();
        if (frame.isTick()) {
          c->decoder.pop();
          count_inbound(c, frame);
          c->counters->last_tick_ms.store(now_ms, std::memory_order_relaxed);
          continue;
        }
        if (!handler.on_any_thread || !handler.on_any_thread(frame.which())) return hand_back(g);
        c->decoder.pop();
        count_inbound(c, frame);
        handler.on_frame(c->id, frame);
      }
    } catch (const WireError& e) {
      fail_on_worker(g, e.what());
    } catch (const kj::Exception& e) {
      fail_on_worker(g, e.getDescription().cStr());
    }
  }

  // The rest of the stream is the loop thread's until resume_on_loop has run.
  void hand_back(ReadGate& g) {
    g.handed_off = true;
    post([this, id = g.c->id] { resume_on_loop(id); });
  }

  void resume_on_loop(ConnectionId id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection* c = it->second.get();
    std::lock_guard held(c->gate->mutex);
    c->gate->handed_off = false;
    process_frames(c);
    if (handler.on_frames_end) handler.on_frames_end();
    step_in(c);
  }

  void fail_on_worker(ReadGate& g, std::string what) {
    g.failed = true;
    post([this, id = g.c->id, what = std::move(what)] {
      auto it = connections.find(id);
      if (it != connections.end()) bad_input(it->second.get(), what);
    });
  }

  void close(Connection* c, const std::string& reason) {
    if (c->closing) return;
    c->closing = true;
    step_in(c);
    shut_gate(c);
    c->outbox->close();
    {
      std::lock_guard lock(mutex);
      outboxes.erase(c->id);
      live.erase(c->id);
    }
    if (c->up && handler.on_down) handler.on_down(c->id, reason);
    if (!c->up && !stopping && handler.on_refused) handler.on_refused(c->id, c->address, reason);
    if (c->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolve_req));
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
      auto* conn = static_cast<Connection*>(h->data);
      conn->closed = true;
      if (!conn->resolving) conn->owner->connections.erase(conn->id);
    });
  }

  // Every tick interval: ticks out on quiet connections, silent ones closed, handshakes that
  // take too long refused.
  void on_tick() {
    std::uint64_t now = uv_now(&loop);
    auto silence = std::uint64_t(config.silence_timeout.count());
    auto interval = std::uint64_t(config.tick_interval.count());
    auto handshake = std::uint64_t(config.handshake_timeout.count());
    // This thread was held up (a huge frame decoded, a loaded machine): what it did not
    // read meanwhile says nothing about the peers, so their silence starts over.
    bool stalled = last_tick && now - last_tick > interval;
    last_tick = now;
    std::vector<Connection*> all;
    for (auto& [id, c] : connections) all.push_back(c.get());
    for (Connection* c : all) {
      if (c->closing) continue;
      if (stalled || c->gate->fresh.exchange(false, std::memory_order_relaxed)) c->last_read = now;
      if (!c->up) {
        if (now - c->opened > handshake)
          refuse(c, "handshake not completed in " + std::to_string(handshake) + " ms");
        continue;
      }
      if (silence && now - c->last_read > silence) {
        spdlog::warn("ember: connection to {} ({}) silent for {} ms: down",
                     c->handshake.peer().name, c->address, now - c->last_read);
        close(c, "no data or tick for " + std::to_string(now - c->last_read) + " ms");
      } else if (!c->writing && c->outbox->queued() == 0 && now - c->last_write >= interval) {
        write(c, tick_frame);
      }
    }
  }

  void loop_main() {
    loop_thread = std::this_thread::get_id();
    uv_loop_init(&loop);
    uv_async_init(&loop, &wakeup, [](uv_async_t* a) { static_cast<Impl*>(a->data)->run_tasks(); });
    wakeup.data = this;
    FrameEncoder encoder(64);
    encoder.encode(tick_frame, [](wire::Frame::Builder b) { b.initTick(); });
    uv_timer_init(&loop, &ticker);
    ticker.data = this;
    uv_timer_init(&loop, &pause_timer);
    pause_timer.data = this;
    if (auto period = std::uint64_t(config.tick_interval.count()))
      uv_timer_start(
          &ticker, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_tick(); }, period / 2,
          period / 2);
    if (config.listen) start_listening();
    {
      std::lock_guard lock(mutex);
      ready = true;
    }
    ready_cv.notify_all();
    if (start_error.empty()) uv_run(&loop, UV_RUN_DEFAULT);
    // Close whatever is left, then let the close callbacks run.
    close_delayed();
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  // Loop thread: no more connections, no more accepting.
  void close_connections_and_listener() {
    stopping = true;
    std::vector<Connection*> all;
    for (auto& [id, c] : connections) all.push_back(c.get());
    for (Connection* c : all) close(c, "transport stopped");
    HttpClient* client;
    {
      std::lock_guard lock(mutex);
      client = http.get();
    }
    if (client) client->close();
    if (config.listen && start_error.empty() &&
        !uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener)))
      uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
  }

  // Closes every connection and stops accepting; returns once done. Not on the loop thread.
  void close_all() {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    post([&] {
      close_connections_and_listener();
      std::lock_guard lock(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done; });
  }

  // A pending after() must not hold the loop open: the node's simultaneous-connect check
  // waits seconds, and a SIGTERM'ed node once took that long to stop.
  void close_delayed() {
    for (Delayed* d : delayed) uv_close(reinterpret_cast<uv_handle_t*>(&d->timer), free_delayed);
    delayed.clear();
  }

  void shutdown() {
    post([this] {
      close_connections_and_listener();
      close_delayed();
      uv_close(reinterpret_cast<uv_handle_t*>(&wakeup), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
    });
  }
};

Transport::Transport(TransportConfig config, TransportHandler handler)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(handler))) {
  // A peer closing while we write must be an error code, not a signal that kills the
  // program (libuv leaves SIGPIPE to the application); a handler someone set stays.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  // spdlog's registry is a function-local static inside the (uninstrumented) shared
  // library: make it here, before the loop thread exists, not racily on first use.
  spdlog::default_logger_raw();
  impl_->thread = std::thread([this] { impl_->loop_main(); });
  std::unique_lock lock(impl_->mutex);
  impl_->ready_cv.wait(lock, [&] { return impl_->ready; });
  if (!impl_->start_error.empty()) {
    lock.unlock();
    impl_->thread.join();
    throw std::runtime_error(impl_->start_error);
  }
}

Transport::~Transport() {
  impl_->shutdown();
  impl_->thread.join();
}

std::uint16_t Transport::port() const {
  return impl_->bound_port;
}

ConnectionId Transport::connect(const std::string& host, std::uint16_t port) {
  ConnectionId id = impl_->next_id++;
  impl_->post([impl = impl_.get(), id, host, port] { impl->connect_to(id, host, port); });
  return id;
}

void Transport::send(ConnectionId id, std::vector<std::byte> frame) {
  impl_->post([impl = impl_.get(), id, frame = std::move(frame)] {
    auto it = impl->connections.find(id);
    if (it != impl->connections.end() && it->second->up) impl->write(it->second.get(), frame);
  });
}

// The loop thread, and a worker reading a connection, are what drain the queues: a send
// from there must not wait for one.
Outbox::Mode Transport::mode_here(Outbox::Mode mode) const {
  if (mode == Outbox::Mode::kWait && (tl_worker_reading || on_loop_thread()))
    return Outbox::Mode::kNoWait;
  return mode;
}

Outbox::Result Transport::send(const Channel& channel, std::span<const std::byte> frame,
                               std::uint64_t sender, Outbox::Mode mode) {
  mode = mode_here(mode);
  bool wake = false;
  Outbox::Result result;
  Gathered& g = tl_gathered;
  // Anything but the next small frame of the same run to the same queue, while it is not
  // over its limit, pushes what was gathered first: nothing may overtake it.
  bool gather = g.outbox == channel.outbox && g.sender == sender && mode == Outbox::Mode::kWait &&
                frame.size() < kGatherBytes && !channel.outbox->busy_hint();
  if (g.outbox && !gather) push_gathered(Outbox::Mode::kForce);
  if (impl_->config.at_slice_end && mode != Outbox::Mode::kForce &&
      impl_->config.at_slice_end(uncork_all)) {
    if (gather) {
      seal_batch(g);
      g.bytes.insert(g.bytes.end(), frame.begin(), frame.end());
      ++g.frames;
      if (g.bytes.size() >= kGatherBytes) push_gathered(Outbox::Mode::kWait);
      return Outbox::Result::kQueued;
    }
    // About to wait for a busy queue: what this run corked goes first.
    if (mode == Outbox::Mode::kWait && !tl_corked.empty() && channel.outbox->busy()) uncork_all();
    Outbox::Cork cork = Outbox::Cork::kNo;
    result = channel.outbox->push_corked(frame, sender, mode, wake, &tl_corked, cork);
    if (cork == Outbox::Cork::kStarted)
      tl_corked.push_back({channel.outbox, impl_.get(), channel.id});
    if (cork == Outbox::Cork::kNo && mode == Outbox::Mode::kWait &&
        result == Outbox::Result::kQueued && frame.size() < kGatherBytes) {
      g.outbox = channel.outbox;  // the queue is busy: gather what this run sends next
      g.counters = channel.counters;
      g.impl = impl_.get();
      g.id = channel.id;
      g.sender = sender;
    }
  } else {
    result = channel.outbox->push(frame, sender, mode, wake);
  }
  if (wake) impl_->schedule(channel.id);
  return result;
}

Outbox::Result Transport::send_owned(const Channel& channel, std::vector<std::byte>& frame,
                                     std::uint64_t sender, Outbox::Mode mode) {
  if (frame.size() < impl_->config.outbox.bulk_bytes)
    return send(channel, std::span<const std::byte>(frame), sender, mode);
  mode = mode_here(mode);
  // As in send(): what this run gathered or corked was sent first, so it goes first.
  if (tl_gathered.outbox) push_gathered(Outbox::Mode::kForce);
  if (mode == Outbox::Mode::kWait && !tl_corked.empty() && channel.outbox->busy()) uncork_all();
  bool wake = false;
  Outbox::Result result = channel.outbox->push_batch(frame, 1, sender, mode, wake);
  if (wake) impl_->schedule(channel.id);
  return result;
}

// At the end of a process's run, or before it waits: first the corks (their frames were
// sent before any gathered ones), then what was gathered, which must not wait here.
void uncork_all() {
  for (std::size_t i = 0; i < tl_corked.size(); ++i) {
    Corked& c = tl_corked[i];
    bool wake = false;
    c.outbox->uncork(wake);
    if (wake) c.impl->schedule(c.id);
  }
  tl_corked.clear();
  push_gathered(Outbox::Mode::kForce);
}

bool Transport::batch_local(const Channel& channel, std::uint64_t sender, std::uint64_t from_id,
                            std::uint64_t to_id, const Term& message) {
  Gathered& g = tl_gathered;
  // Only while this run gathers for the channel (send() started it: the queue was busy
  // and at_slice_end will push it). A batch does not start once the queue is over its
  // limit: then the caller's send waits, after pushing what was gathered. Within a batch
  // the push at kGatherBytes waits instead (the queue's depth is a cache line the loop
  // thread writes: not read per message).
  if (!g.outbox || g.outbox != channel.outbox || g.sender != sender) return false;
  if (g.batch.empty() && channel.outbox->busy_hint()) return false;
  if (!g.batch.empty() && g.batch_from != from_id) seal_batch(g);
  g.batch_from = from_id;
  g.batch_to.push_back(to_id);
  g.batch.push_back(message);
  g.batch_bytes += message.heap_bytes() + kBatchedSendBytes;
  if (g.bytes.size() + g.batch_bytes >= kGatherBytes) push_gathered_bytes(g, Outbox::Mode::kWait);
  return true;
}

// What was gathered goes to the queue; the run goes on gathering there.
void push_gathered_bytes(Gathered& g, Outbox::Mode mode) {
  seal_batch(g);
  if (g.frames) {
    bool wake = false;
    g.outbox->push_batch(g.bytes, g.frames, g.sender, mode, wake);
    if (wake) g.impl->schedule(g.id);
  }
  g.bytes.clear();
  g.frames = 0;
}

void push_gathered(Outbox::Mode mode) {
  Gathered& g = tl_gathered;
  if (!g.outbox) return;
  push_gathered_bytes(g, mode);
  g.outbox.reset();
  g.counters.reset();
}

Channel Transport::channel(ConnectionId id) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->outboxes.find(id);
  if (it != impl_->outboxes.end()) {
    auto l = impl_->live.find(id);
    return {id, it->second,
            l != impl_->live.end() ? l->second.counters : std::make_shared<LinkCounters>()};
  }
  auto closed = std::make_shared<Outbox>(impl_->config.outbox);
  closed->close();
  return {id, closed, std::make_shared<LinkCounters>()};
}

std::vector<ConnectionStats> Transport::connection_stats() const {
  // uv_now() is CLOCK_MONOTONIC in milliseconds, as uv_hrtime() is in nanoseconds: the
  // loop's timestamps compare with this thread's clock.
  auto now_ms = uv_hrtime() / 1000000;
  auto age = [now_ms](std::uint64_t then) {
    return std::chrono::milliseconds(now_ms > then ? now_ms - then : 0);
  };
  std::vector<ConnectionStats> out;
  std::lock_guard lock(impl_->mutex);
  out.reserve(impl_->live.size());
  for (const auto& [id, l] : impl_->live) {
    const LinkCounters& k = *l.counters;
    ConnectionStats s;
    s.id = id;
    s.peer = l.peer.name;
    s.creation = l.peer.creation;
    s.hidden = l.peer.hidden;
    s.address = l.address;
    s.up_since_unix_ms = l.up_unix_ms;
    s.uptime = age(l.up_ms);
    s.bytes_in = k.bytes_in.load(std::memory_order_relaxed);
    s.bytes_out = k.bytes_written.load(std::memory_order_relaxed) + l.outbox->bytes_direct();
    s.frames_in = k.frames_in.load(std::memory_order_relaxed);
    s.frames_out = l.outbox->frames_pushed();
    s.messages_in = k.messages_in.load(std::memory_order_relaxed);
    s.messages_out = k.messages_out.load(std::memory_order_relaxed);
    s.queued_bytes = l.outbox->depth();
    s.since_last_read = age(k.last_read_ms.load(std::memory_order_relaxed));
    if (auto tick = k.last_tick_ms.load(std::memory_order_relaxed)) s.since_last_tick = age(tick);
    s.read_by_workers_only = k.workers_only.load(std::memory_order_relaxed);
    out.push_back(std::move(s));
  }
  return out;
}

void Transport::close_all() {
  impl_->close_all();
}

void Transport::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  impl_->post([impl = impl_.get(), delay, fn = std::move(fn)]() mutable {
    if (impl->stopping) return;
    auto* d = new Delayed{{}, std::move(fn), &impl->delayed};
    uv_timer_init(&impl->loop, &d->timer);
    d->timer.data = d;
    impl->delayed.insert(d);
    uv_timer_start(
        &d->timer,
        [](uv_timer_t* t) {
          auto* d = static_cast<Delayed*>(t->data);
          d->pending->erase(d);
          d->fn();
          uv_close(reinterpret_cast<uv_handle_t*>(t), free_delayed);
        },
        std::uint64_t(delay.count()), 0);
  });
}

void Transport::post(std::function<void(uv_loop_t*)> fn) {
  impl_->post([impl = impl_.get(), fn = std::move(fn)] { fn(&impl->loop); });
}

HttpClient& Transport::http() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->http) impl_->http = std::make_unique<HttpClient>(*this);
  return *impl_->http;
}

bool Transport::poll() {
  return impl_->poll();
}

void Transport::parking() {
  impl_->on_worker_park();
}

bool Transport::on_loop_thread() const {
  return std::this_thread::get_id() == impl_->loop_thread;
}

void Transport::close(ConnectionId id) {
  impl_->post([impl = impl_.get(), id] {
    auto it = impl->connections.find(id);
    if (it != impl->connections.end()) impl->close(it->second.get(), "closed locally");
  });
}

}  // namespace ember::net
