// The node layer: routes signals for remote pids onto connections, turns frames back into
// signals, keeps one connection per peer, and makes a lost peer a local event.
#include "ember/node/node.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "ember/core/errors.hpp"
#include "ember/net/term_codec.hpp"
#include "ember/net/transport.hpp"
#include "ember/node/admin.hpp"
#include "ember/node/node_name.hpp"
#include "global_service.hpp"
#include "metrics.hpp"
#include "metrics_server.hpp"
#include "pg_access.hpp"
#include "signal_frames.hpp"

namespace ember {

using detail::InboundSignal;
using detail::Signal;
using detail::SignalKind;
using namespace std::chrono_literals;

namespace {

const Atom& atom_noconnection() {
  static const Atom a("noconnection");
  return a;
}
const Atom& atom_noproc() {
  static const Atom a("noproc");
  return a;
}
const Atom& spawn_reply_tag() {
  static const Atom a("$ember_spawn_reply");
  return a;
}

NodeName canonical(std::string_view text) {
  return NodeName::canonical(text);
}

std::uint16_t free_port(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)host;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::uint32_t fresh_creation() {
  std::random_device rd;
  std::uint32_t c = 0;
  while (c == 0) c = rd();
  return c;
}

std::map<std::string, RemoteFunction>& functions() {
  static std::map<std::string, RemoteFunction> f;
  return f;
}
std::mutex& functions_mutex() {
  static std::mutex m;
  return m;
}

// The frame being built on this thread, kept from send to send so that encoding allocates
// nothing; a big message's buffer is given back once it has been queued.
class FrameScratch {
 public:
  FrameScratch() { buffer().clear(); }
  ~FrameScratch() {
    if (buffer().capacity() > (1u << 20)) std::vector<std::byte>().swap(buffer());
  }
  std::vector<std::byte>& bytes() { return buffer(); }

 private:
  static std::vector<std::byte>& buffer() {
    thread_local std::vector<std::byte> b;
    return b;
  }
};

// A link or monitor that crosses to one peer: when the peer is lost it fires locally.
struct CrossRelation {
  enum Kind : std::uint8_t { kLink, kWatching, kWatchedBy } kind;
  Pid local, remote;
  Ref ref;  // monitors only
  friend bool operator==(const CrossRelation&, const CrossRelation&) = default;
};
struct CrossRelationHash {
  std::size_t operator()(const CrossRelation& r) const noexcept {
    return std::hash<std::uint64_t>()(r.local.bits() * 31 + r.remote.bits() * 7 + r.ref.id +
                                      r.kind);
  }
};

}  // namespace

void register_remote_function(const std::string& name, RemoteFunction f) {
  std::lock_guard lock(functions_mutex());
  functions()[name] = std::move(f);
}

// ---------------------------------------------------------------------------------------

struct Node::Impl final : detail::ClusterPeers {
  enum class PeerState { kIdle, kConnecting, kUp };

  struct Peer {
    Atom name;
    NodeName address;
    PeerState state = PeerState::kIdle;
    net::ConnectionId conn = 0;  // the connection in use, once up
    net::Channel channel;        // its outbound queue
    // Connections not up yet, and whether we dialed them (else the peer did).
    std::unordered_map<net::ConnectionId, bool> attempts;
    net::ConnectionId successor = 0;  // an attempt that replaces `conn` once it is up
    std::uint32_t creation = 0;
    std::uint32_t index = 0;  // NodeTable index of the current incarnation
    bool hidden = false;
    struct Pending {
      std::uint64_t sender;
      std::vector<std::byte> frame;
      bool message;  // counted in messages_out once it is handed to the connection
    };
    std::vector<Pending> pending;  // frames waiting for the connection, with their senders
    std::unordered_set<CrossRelation, CrossRelationHash> relations;
    std::vector<Pid> node_monitors;
    std::unordered_map<std::uint64_t, Pid> spawns;         // request id (= ref id) -> requester
    std::set<std::pair<std::uint64_t, Ref>> name_watches;  // (watcher, ref): {Name, peer}
    std::string last_error;  // why the last attempt to reach it failed
  };

  Node& node;
  NodeConfig config;
  NodeName self_name;
  Atom name;
  std::uint32_t creation;
  std::uint32_t index;
  Runtime runtime;
  std::unique_ptr<net::Transport> transport;
  // After `transport`, so destroyed first: its handles live on the transport's loop.
  std::unique_ptr<detail::MetricsServer> metrics;

  mutable std::mutex mutex;
  std::condition_variable changed;      // a peer came up or failed
  std::map<std::uint32_t, Peer> peers;  // by name atom index
  std::unordered_map<net::ConnectionId, std::uint32_t> conn_peer;
  std::unordered_set<std::uint32_t> blocked;  // fault injection: nodes we act cut off from
  bool stopping = false;
  std::atomic<std::uint64_t> node_downs{0};  // visible peers lost after they were up
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  detail::GlobalService global{runtime, name, *this};
  ProcessGroups groups{runtime, name, *this};

  Impl(Node& n, NodeConfig c)
      : node(n),
        config(std::move(c)),
        self_name(resolve_name(config)),
        name(self_name.to_string()),
        creation(fresh_creation()),
        index(intern(name, creation)),
        runtime(RuntimeConfig{.workers = config.schedulers, .node = index}) {}

  static NodeName resolve_name(const NodeConfig& c) {
    std::string text = c.name;
    bool any_port = text.size() > 2 && text.ends_with(":0");
    if (any_port) text.resize(text.size() - 2);
    NodeName n = NodeName::parse(text);
    if (any_port) n.port = c.listen ? free_port(n.host) : 0;
    if (n.port == 0 && c.listen) n.port = NodeName::kDefaultPort;
    return n;
  }

  static std::uint32_t intern(Atom name, std::uint32_t creation) {
    auto i = NodeTable::intern(name, creation);
    if (!i) throw std::runtime_error("node table full");
    return *i;
  }

  // The transport's loop thread listens before its constructor returns, so a peer that
  // dials that very moment (a cluster rejoining a restarted node does) reaches our
  // handlers before `transport` is assigned; they wait for it instead of calling through
  // null (ember-node segfaulted at start in tests/docker/netns_cluster_test.sh). Every
  // connection starts with on_hello or on_refused, so on_frame needs no wait of its own.
  std::atomic<bool> transport_set{false};
  std::mutex transport_mutex;
  std::condition_variable transport_cv;
  // Workers read the connections while they spin (NodeConfig::workers_read).
  const detail::IdlePoll idle_poll{
      [](void* self) { return static_cast<Impl*>(self)->transport->poll(); }, this,
      [](void* self) { static_cast<Impl*>(self)->transport->parking(); }};
  void await_transport() {
    if (transport_set.load(std::memory_order_acquire)) return;
    std::unique_lock lock(transport_mutex);
    transport_cv.wait(lock, [&] { return transport_set.load(std::memory_order_acquire); });
  }

  void start() {
    net::TransportConfig tc;
    tc.self = {std::string(name.text()), creation, 0, config.hidden,
               config.listen ? self_name.host + ":" + std::to_string(self_name.port) : ""};
    tc.cookie = config.cookie;
    tc.listen = config.listen;
    tc.listen_host = config.listen_host.empty() ? self_name.host : config.listen_host;
    tc.listen_port = self_name.port;
    tc.tick_interval = config.tick_interval;
    tc.silence_timeout = config.silence_timeout;
    tc.max_message_bytes = config.max_message_bytes;
    tc.outbox.busy_bytes = config.busy_bytes;
    if (config.cork_process_sends) tc.at_slice_end = detail::at_slice_end;
    net::TransportHandler h;
    h.on_hello = [this](net::ConnectionId id, const net::PeerInfo& p) {
      await_transport();
      return on_hello(id, p);
    };
    h.on_answer = [this](net::ConnectionId id, const net::PeerInfo&) {
      await_transport();
      return on_answer(id);
    };
    h.on_up = [this](net::ConnectionId id, const net::PeerInfo& p) {
      await_transport();
      on_up(id, p);
    };
    h.on_frame = [this](net::ConnectionId id, wire::Frame::Reader f) {
      detail::begin_delivery_batch(runtime);
      on_frame(id, f);
    };
    h.on_frames_end = [this] { detail::end_delivery_batch(runtime); };
    if (config.workers_read) h.on_any_thread = on_any_thread;
    h.on_down = [this](net::ConnectionId id, const std::string& why) {
      await_transport();
      on_down(id, why);
    };
    h.on_refused = [this](net::ConnectionId id, const std::string& addr, const std::string& why) {
      await_transport();
      on_refused(id, addr, why);
    };
    // The services' watcher processes first: once the transport listens, a peer's
    // GlobalSync or pg frames can arrive at any moment and need them.
    global.start();
    detail::PgAccess::start(groups);
    runtime.set_distribution(&node);
    transport = std::make_unique<net::Transport>(std::move(tc), std::move(h));
    {
      std::lock_guard lock(transport_mutex);
      transport_set.store(true, std::memory_order_release);
    }
    transport_cv.notify_all();
    // Before any process runs: a port that cannot be bound fails the constructor cleanly.
    if (config.metrics_port)
      metrics = std::make_unique<detail::MetricsServer>(
          *transport, config.listen_host.empty() ? self_name.host : config.listen_host,
          config.metrics_port,
          [this](const detail::HttpRequest& r) { return detail::metrics_route(node, r); });
    start_admin(node);
    for (const std::string& j : config.join) {
      std::lock_guard lock(mutex);
      Peer& p = peer_named(Atom(canonical(j).to_string()));
      if (p.state == PeerState::kIdle) start_connect(p);
    }
    if (config.workers_read) detail::set_idle_poll(runtime, &idle_poll);
  }

  // Like a halted Erlang node: connections go first, so peers see noconnection and
  // nodedown, not the exit reasons of processes killed on the way out.
  // Processes may still send while this runs: their frames meet closed outboxes, and the
  // transport lives until the workers have stopped.
  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    detail::set_idle_poll(runtime, nullptr);
    metrics.reset();  // scrapes stop before the node's parts do
    transport->close_all();
    runtime.stop();
    transport.reset();
    runtime.set_distribution(nullptr);
  }

  // --- peers (mutex held) ---

  Peer& peer_named(Atom peer_name) {
    auto [it, fresh] = peers.try_emplace(peer_name.index());
    if (fresh) {
      it->second.name = peer_name;
      it->second.address = canonical(peer_name.text());
    }
    return it->second;
  }

  void start_connect(Peer& p) {
    if (stopping || !transport || blocked.contains(p.name.index())) return;
    p.state = PeerState::kConnecting;
    add_attempt(p, transport->connect(p.address.host, p.address.port), true);
  }

  // Mutex held: a connection to or from the peer, not up yet.
  void add_attempt(Peer& p, net::ConnectionId id, bool ours) {
    p.attempts.emplace(id, ours);
    conn_peer[id] = p.name.index();
  }

  // Mutex held: queues the frame while the peer is connecting (connecting on first use;
  // the frame is moved, not copied, so a big one does not hold the mutex long), or
  // returns the channel to push it on once the mutex is released.
  std::optional<net::Channel> channel_or_queue(Peer& p, std::vector<std::byte>& frame,
                                               Pid sender = Pid(), bool message = false) {
    if (p.state == PeerState::kUp) return p.channel;
    if (blocked.contains(p.name.index())) return std::nullopt;  // lost, as on a cut cable
    p.pending.push_back({sender.bits(), std::move(frame), message});
    frame = {};
    if (p.state == PeerState::kIdle) start_connect(p);
    return std::nullopt;
  }
  void send_frame(Peer& p, std::vector<std::byte>& frame) {
    if (auto ch = channel_or_queue(p, frame))
      transport->send(*ch, frame, 0, net::Outbox::Mode::kForce);
  }

  // Mutex not held: a process's send waits here while the connection is busy (Erlang's
  // busy dist port), so a stalled peer cannot make this node's memory grow without bound.
  // A bulk frame's memory goes to the queue: `frame` may be left empty.
  net::Outbox::Result push(const net::Channel& ch, std::vector<std::byte>& frame, Pid sender,
                           net::Outbox::Mode mode = net::Outbox::Mode::kWait) {
    return transport->send_owned(ch, frame, sender.bits(), mode);
  }

  Node::SendResult try_send(Pid from, Pid to, Term message) {
    NodeIdentity id = NodeTable::identity(to.node());
    if (to.node() == index || id.name == name) {
      runtime.send(to, std::move(message));  // local, or a dead incarnation of this node
      return Node::SendResult::kSent;
    }
    check_size(message.heap_bytes());
    thread_local net::FrameEncoder encoder;
    FrameScratch scratch;
    std::vector<std::byte>& frame = scratch.bytes();
    encoder.encode_send(frame, from, to, message);
    check_size(frame.size());
    std::optional<net::Channel> ch;
    {
      std::lock_guard lock(mutex);
      if (stopping) return Node::SendResult::kSent;
      Peer& p = peer_named(id.name);
      if (p.state == PeerState::kUp && p.creation != id.creation) return Node::SendResult::kSent;
      ch = channel_or_queue(p, frame, from, true);
    }
    if (!ch) return Node::SendResult::kSent;
    auto r = push(*ch, frame, from, net::Outbox::Mode::kNoWait);
    if (r == net::Outbox::Result::kBusy) return Node::SendResult::kBusy;
    if (r == net::Outbox::Result::kQueued) count_message(*ch);
    return Node::SendResult::kSent;
  }

  // Senders of any thread count here: one relaxed add, no lock (the outbox push before it
  // already took the connection's mutex).
  static void count_message(const net::Channel& ch) {
    if (ch.counters) ch.counters->messages_out.fetch_add(1, std::memory_order_relaxed);
  }

  // Small enough to join a batch, encoded later, unchecked: its encoding stays within the
  // message limit however it is made (a heap word of its may become a pid of ~40 words).
  bool batchable(const Term& message) const {
    std::size_t bytes = message.heap_bytes();
    return bytes <= net::Transport::kBatchableHeapBytes &&
           bytes * 40 + 1024 <= config.max_message_bytes;
  }

  void check_size(std::size_t bytes) const {
    if (bytes > config.max_message_bytes)
      throw ErlangError(tuple(Atom("message_too_large"), std::int64_t(bytes),
                              std::int64_t(config.max_message_bytes)));
  }

  // --- the runtime's side: signals for remote pids ---

  // The channel this thread last sent a message on, valid while no peer has changed
  // state since (`peers_changed`): a stream of messages to one node takes no lock.
  struct RouteCache {
    const Impl* owner = nullptr;
    std::uint32_t index = 0;
    std::uint64_t generation = 0;
    net::Channel channel;
  };
  static RouteCache& route_cache() {
    thread_local RouteCache c;
    return c;
  }
  // Changed (mutex held) when a peer goes up or down. Values come from one process-wide
  // counter, so a thread's cache left over from a destroyed Node never matches.
  static std::uint64_t next_generation() {
    static std::atomic<std::uint64_t> counter{1};
    return counter.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> peers_changed{next_generation()};

  void route(const Signal& s) {
    check_size(s.payload.heap_bytes());  // before spending time encoding it
    thread_local net::FrameEncoder encoder;
    FrameScratch scratch;
    std::vector<std::byte>& frame = scratch.bytes();
    RouteCache& cache = route_cache();
    bool message = s.kind == SignalKind::kMessage;
    if (message && cache.owner == this && cache.index == s.to.node() &&
        cache.generation == peers_changed.load(std::memory_order_acquire)) {
      // The cache says the channel leads to the incarnation `s.to` names, so a local
      // sender's message may leave both node names out.
      if (s.from.valid() && s.from.node() == index) {
        if (batchable(s.payload) &&
            transport->batch_local(cache.channel, s.from.bits(), net::pid_id(s.from),
                                   net::pid_id(s.to), s.payload))
          return;  // counted with its batch
        detail::encode_local_send(encoder, frame, s);
      } else
        detail::encode_signal(encoder, frame, s);
      check_size(frame.size());
      if (push(cache.channel, frame, s.from) == net::Outbox::Result::kQueued)
        count_message(cache.channel);
      return;
    }
    NodeIdentity id = NodeTable::identity(s.to.node());
    if (id.name == name) return bounce(s, atom_noproc());  // an earlier life of this node
    detail::encode_signal(encoder, frame, s);
    check_size(frame.size());
    std::optional<net::Channel> ch;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      Peer& p = peer_named(id.name);
      if ((p.state == PeerState::kUp && p.creation != id.creation) ||
          blocked.contains(p.name.index())) {
        // The pid names an incarnation that is gone (its node restarted meanwhile), or a
        // node we are cut off from.
        return bounce_locked(s, atom_noconnection());
      }
      note_outbound(p, s);
      ch = channel_or_queue(p, frame, s.from, message);
      if (ch && message)
        cache = {this, s.to.node(), peers_changed.load(std::memory_order_relaxed), *ch};
    }
    if (ch && push(*ch, frame, s.from) == net::Outbox::Result::kQueued && message)
      count_message(*ch);
  }

  // Remembers the links and monitors that cross, so a lost peer can fire them here. A
  // signal going out runs from `local` (its sender) to `remote`; one coming in the other
  // way. A monitor set up by the local side is kWatching, by the remote side kWatchedBy.
  static void note(Peer& p, SignalKind kind, bool linked, Pid local, Pid remote, Ref ref,
                   bool outbound) {
    using R = CrossRelation;
    R::Kind set_here = outbound ? R::kWatching : R::kWatchedBy;
    switch (kind) {
      case SignalKind::kLink:
        p.relations.insert({R::kLink, local, remote, {}});
        break;
      case SignalKind::kUnlink:
        p.relations.erase({R::kLink, local, remote, {}});
        break;
      case SignalKind::kExit:
        if (linked) p.relations.erase({R::kLink, local, remote, {}});
        break;
      case SignalKind::kMonitor:
        p.relations.insert({set_here, local, remote, ref});
        break;
      case SignalKind::kDemonitor:
        p.relations.erase({set_here, local, remote, ref});
        break;
      case SignalKind::kDown:  // ends a watch set up by the other side
        p.relations.erase({outbound ? R::kWatchedBy : R::kWatching, local, remote, ref});
        break;
      default:
        break;
    }
  }
  static void note_outbound(Peer& p, const Signal& s) {
    note(p, s.kind, s.linked, s.from, s.to, s.ref, true);
  }
  static void note_inbound(Peer& p, const InboundSignal& s) {
    note(p, s.kind, s.linked, s.to, s.from, s.ref, false);
  }

  // The target cannot be reached: a link or monitor hears `reason` at once.
  void bounce(const Signal& s, const Atom& reason) {
    if (s.kind == SignalKind::kLink)
      detail::deliver_signal(runtime, SignalKind::kExit, s.to, s.from, {}, reason, true);
    else if (s.kind == SignalKind::kMonitor)
      detail::deliver_signal(runtime, SignalKind::kDown, s.to, s.from, s.ref, reason);
  }
  // deliver_signal may route back into us (a remote `from`), which takes the mutex.
  void bounce_locked(const Signal& s, const Atom& reason) {
    Signal copy;
    copy.kind = s.kind;
    copy.from = s.from;
    copy.to = s.to;
    copy.ref = s.ref;
    mutex.unlock();
    bounce(copy, reason);
    mutex.lock();
  }

  void send_named(Pid from, RemoteName to, Term message) {
    Atom target(canonical(to.node.text()).to_string());
    if (target == name) {
      if (auto pid = runtime.whereis(to.name))
        detail::deliver_signal(runtime, SignalKind::kMessage, from, *pid, {}, std::move(message));
      return;
    }
    check_size(message.heap_bytes());
    thread_local net::FrameEncoder encoder;
    FrameScratch scratch;
    std::vector<std::byte>& frame = scratch.bytes();
    encoder.encode_reg_send(frame, from, to.name, message);
    check_size(frame.size());
    std::optional<net::Channel> ch;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      ch = channel_or_queue(peer_named(target), frame, from, true);
    }
    if (ch && push(*ch, frame, from) == net::Outbox::Result::kQueued) count_message(*ch);
  }

  // monitor(process, {Name, Node}) on a peer: the watch is remembered here (not as a
  // CrossRelation, as the pid it ends up on is not known) so a lost peer fires its DOWN.
  bool monitor_name(Pid watcher, RemoteName to, Ref ref, bool on) {
    Atom target(canonical(to.node.text()).to_string());
    if (target == name) return false;
    thread_local net::FrameEncoder encoder;
    FrameScratch scratch;
    std::vector<std::byte>& frame = scratch.bytes();
    detail::encode_name_monitor(encoder, frame, watcher, to.name, ref, on);
    std::optional<net::Channel> ch;
    {
      std::unique_lock lock(mutex);
      if (stopping) return true;
      if (blocked.contains(target.index())) {
        lock.unlock();
        if (on)
          detail::deliver_signal(runtime, SignalKind::kDown, Pid(), watcher, ref,
                                 atom_noconnection());
        return true;
      }
      Peer& p = peer_named(target);
      auto key = std::pair{watcher.bits(), ref};
      if (on)
        p.name_watches.insert(key);
      else if (!p.name_watches.erase(key))
        return true;  // its DOWN has come already
      ch = channel_or_queue(p, frame, watcher);
    }
    if (ch) push(*ch, frame, watcher);
    return true;
  }

  // The watched side: the monitor goes to whatever holds the name now, noproc if nothing.
  // A demonitor finds the holder the same way; if the name has moved meanwhile, the old
  // holder keeps the watch until it exits, and its DOWN is dropped by the watcher.
  void on_monitor_name(net::ConnectionId id, wire::Frame::Reader f) {
    auto b = f.isMonitor() ? f.getMonitor() : f.getDemonitor();
    auto text = b.getTo().getName();
    Pid watcher = net::read_pid(b.getFrom());
    Ref ref = net::read_ref(b.getRef());
    std::optional<Pid> holder = runtime.whereis(Atom(std::string_view(text.cStr(), text.size())));
    if (!holder) {
      if (f.isMonitor())
        detail::deliver_signal(runtime, SignalKind::kDown, Pid(index, 0, 0), watcher, ref,
                               atom_noproc());
      return;
    }
    InboundSignal s{f.isMonitor() ? SignalKind::kMonitor : SignalKind::kDemonitor, watcher, *holder,
                    ref};
    {
      std::lock_guard lock(mutex);
      auto it = conn_peer.find(id);
      if (it == conn_peer.end()) return;
      note_inbound(peers.at(it->second), s);
    }
    detail::deliver_signal(runtime, s.kind, s.from, s.to, s.ref, {});
  }

  // --- the transport's side (loop thread) ---

  // What a worker reading in Transport::poll may handle: process signals, which only take
  // the mutex and the runtime, and the global registry's requests and commits, which take
  // GlobalService's mutex, then this one's, and never wait (their frames go kForce). Else
  // the worker that read one would hand it to the loop thread: one more wake-up for each
  // hop of a registration. Whole tables (GlobalSync), pg, spawns and peers stay there.
  static bool on_any_thread(wire::Frame::Which kind) {
    switch (kind) {
      case wire::Frame::SEND:
      case wire::Frame::LOCAL_SEND:
      case wire::Frame::LOCAL_SENDS:
      case wire::Frame::REG_SEND:
      case wire::Frame::LINK:
      case wire::Frame::UNLINK:
      case wire::Frame::EXIT:
      case wire::Frame::MONITOR:
      case wire::Frame::DEMONITOR:
      case wire::Frame::DOWN:
      case wire::Frame::GLOBAL_REQUEST:
      case wire::Frame::GLOBAL_REPLY:
      case wire::Frame::GLOBAL_REGISTER:
      case wire::Frame::GLOBAL_UNREGISTER:
      case wire::Frame::GLOBAL_ACK:
        return true;
      default:
        return false;
    }
  }

  net::TransportHandler::Verdict on_hello(net::ConnectionId id, const net::PeerInfo& info) {
    using Verdict = net::TransportHandler::Verdict;
    // A node sends its full name; only names users type are completed with the port.
    Atom peer_name(info.name);
    try {
      NodeName::parse(info.name);
    } catch (const std::exception& e) {
      spdlog::warn("ember: refusing a peer with a bad node name: {}", e.what());
      return Verdict::kRefuse;
    }
    if (peer_name == name) return Verdict::kRefuse;
    std::unique_lock lock(mutex);
    if (blocked.contains(peer_name.index())) return Verdict::kRefuse;
    Peer& p = peer_named(peer_name);
    if (info.hidden) {
      add_attempt(p, id, false);
      return Verdict::kAccept;
    }
    if (p.state == PeerState::kUp && p.creation == info.creation) {
      // A node dials only when it has no connection to us, so ours is dead at its end and
      // we have not heard yet (its close is on the way, or the cable was cut). As Erlang's
      // handshake answers `alive`: the new connection replaces ours once it has proved
      // itself (on_up), unless the dialer says at our Hello that it is up with us after all
      // (on_answer; its connection then came up while this one was on the way). We are
      // not dialing it, so this is no simultaneous connect.
      add_attempt(p, id, false);
      p.successor = id;
      return Verdict::kAccept;
    }
    if (p.state == PeerState::kUp) {
      // The peer restarted before we noticed its old connection die: that one is gone.
      net::ConnectionId old = p.conn;
      lock.unlock();
      on_down(old, "peer restarted");
      transport->close(old);
      lock.lock();
    }
    // Both sides connecting at once: the connection started by the smaller name wins,
    // and the loser is told so that it waits for ours. (An earlier dial of the peer's
    // still open here is not ours: it must not make the peer wait for nothing.)
    bool ours_pending = false;
    for (const auto& attempt : p.attempts) ours_pending |= attempt.second;
    if (ours_pending && name.text() < peer_name.text()) return Verdict::kKeepOurs;
    add_attempt(p, id, false);
    if (p.state == PeerState::kIdle) p.state = PeerState::kConnecting;
    return Verdict::kAccept;
  }

  // Our dial reached the peer, which answered: go on unless another connection to it came
  // up meanwhile (the peer would let this one replace it, see on_hello).
  bool on_answer(net::ConnectionId id) {
    std::lock_guard lock(mutex);
    auto it = conn_peer.find(id);
    if (it == conn_peer.end()) return true;
    return peers.at(it->second).state != PeerState::kUp;
  }

  // A connection that passed the handshake but must not carry traffic: closed, and if it
  // was the peer's last attempt, the peer is lost.
  void refuse_up(net::ConnectionId id, Peer& p, std::string why,
                 std::unique_lock<std::mutex>& lock) {
    p.last_error = std::move(why);
    conn_peer.erase(id);
    lock.unlock();
    transport->close(id);
    lock.lock();
    if (p.state == PeerState::kConnecting && p.attempts.empty()) lose(p, lock);
  }

  void on_up(net::ConnectionId id, const net::PeerInfo& info) {
    std::unique_lock lock(mutex);
    auto it = conn_peer.find(id);
    if (it == conn_peer.end()) return;
    Peer& p = peers.at(it->second);
    p.attempts.erase(id);
    if (Atom(info.name) != p.name) {  // we dialed one node and another one answered
      spdlog::warn("ember: {} dialed {} but the node at {} is {}", name.text(), p.name.text(),
                   p.address.host + ":" + std::to_string(p.address.port), info.name);
      return refuse_up(id, p, "the node at that address is " + info.name, lock);
    }
    if (blocked.contains(p.name.index()))  // cut off while the handshake ran
      return refuse_up(id, p, "blocked (fault injection)", lock);
    if (p.state == PeerState::kUp && p.successor == id) {
      net::ConnectionId old = p.conn;
      p.successor = 0;
      lock.unlock();
      on_down(old, "replaced by a new connection from the peer");
      transport->close(old);
      lock.lock();
    }
    if (p.state == PeerState::kUp) {  // lost a race the Hello check did not see
      lock.unlock();
      transport->close(id);
      return;
    }
    p.state = PeerState::kUp;
    p.conn = id;
    peers_changed.store(next_generation(), std::memory_order_release);
    p.creation = info.creation;
    p.hidden = info.hidden;
    p.index = intern(p.name, info.creation);
    p.channel = transport->channel(id);
    for (auto& f : p.pending)
      if (transport->send(p.channel, f.frame, f.sender, net::Outbox::Mode::kForce) ==
              net::Outbox::Result::kQueued &&
          f.message)
        count_message(p.channel);
    p.pending.clear();
    if (!p.hidden && !config.hidden) send_peers(id);  // a tool must not join clusters together
    changed.notify_all();
    spdlog::info("ember: {} connected to {}", name.text(), p.name.text());
    bool visible = !p.hidden && !config.hidden;
    Atom up = p.name;
    lock.unlock();
    if (!visible) return;
    global.on_peer_up(up);
    detail::PgAccess::on_peer_up(groups, up);
  }

  // Tells a new peer whom we know, so it can close the mesh.
  void send_peers(net::ConnectionId to) {
    thread_local net::FrameEncoder encoder;
    std::vector<std::byte> frame;
    encoder.encode(frame, [&](wire::Frame::Builder f) {
      std::vector<const Peer*> up;
      for (auto& [k, p] : peers)
        if (p.state == PeerState::kUp && !p.hidden && p.conn != to) up.push_back(&p);
      auto list = f.initPeers().initNodes(unsigned(up.size()));
      for (unsigned i = 0; i < up.size(); ++i) {
        list[i].initNode().setName(std::string(up[i]->name.text()));
        list[i].getNode().setCreation(up[i]->creation);
        list[i].setAddress(up[i]->address.host + ":" + std::to_string(up[i]->address.port));
      }
    });
    auto it = conn_peer.find(to);
    if (it != conn_peer.end()) send_frame(peers.at(it->second), frame);
  }

  void on_refused(net::ConnectionId id, const std::string& address, const std::string& why) {
    std::unique_lock lock(mutex);
    auto it = conn_peer.find(id);
    if (it == conn_peer.end()) return;
    Peer& p = peers.at(it->second);
    conn_peer.erase(it);
    p.attempts.erase(id);
    if (p.state != PeerState::kConnecting || !p.attempts.empty()) return;
    if (why == net::kSimultaneousRefusal) {
      // Its connection to us is on the way; if it never comes, the peer is lost then.
      Atom peer_name = p.name;
      transport->after(config_handshake_timeout() + std::chrono::seconds(1), [this, peer_name] {
        std::unique_lock relock(mutex);
        Peer& q = peer_named(peer_name);
        if (q.state == PeerState::kConnecting && q.attempts.empty() && !stopping) lose(q, relock);
      });
      return;
    }
    spdlog::warn("ember: {} cannot connect to {} ({}): {}", name.text(), p.name.text(), address,
                 why);
    p.last_error = why;
    lose(p, lock);
  }

  void on_down(net::ConnectionId id, const std::string& why) {
    std::unique_lock lock(mutex);
    auto it = conn_peer.find(id);
    if (it == conn_peer.end()) return;
    Peer& p = peers.at(it->second);
    conn_peer.erase(it);
    if (p.state != PeerState::kUp || p.conn != id) return;
    if (p.hidden)  // a tool that came and went
      spdlog::info("ember: {}: {} left: {}", name.text(), p.name.text(), why);
    else
      spdlog::warn("ember: {} lost {}: {}", name.text(), p.name.text(), why);
    lose(p, lock);
  }

  // The peer is gone (or never came): everything that depended on it fires here, locally.
  void lose(Peer& p, std::unique_lock<std::mutex>& lock) {
    if (p.state == PeerState::kUp && !p.hidden) node_downs.fetch_add(1, std::memory_order_relaxed);
    p.state = PeerState::kIdle;
    peers_changed.store(next_generation(), std::memory_order_release);
    p.conn = 0;
    p.successor = 0;
    p.pending.clear();
    auto relations = std::move(p.relations);
    auto monitors = std::move(p.node_monitors);
    auto spawns = std::move(p.spawns);
    auto name_watches = std::move(p.name_watches);
    p.relations.clear();
    p.name_watches.clear();
    p.node_monitors.clear();
    p.spawns.clear();
    Atom lost = p.name;
    bool visible = !p.hidden;
    changed.notify_all();
    lock.unlock();
    if (visible) {
      global.on_peer_down(lost);
      detail::PgAccess::on_peer_down(groups, lost);
    }
    const Term reason = atom_noconnection();
    for (const CrossRelation& r : relations) {
      switch (r.kind) {
        case CrossRelation::kLink:
          detail::deliver_signal(runtime, SignalKind::kExit, r.remote, r.local, {}, reason, true);
          break;
        case CrossRelation::kWatching:
          detail::deliver_signal(runtime, SignalKind::kDown, r.remote, r.local, r.ref, reason);
          break;
        case CrossRelation::kWatchedBy:
          detail::deliver_signal(runtime, SignalKind::kDemonitor, r.remote, r.local, r.ref, {});
          break;
      }
    }
    for (const auto& [watcher, ref] : name_watches)
      detail::deliver_signal(runtime, SignalKind::kDown, Pid(), Pid::from_bits(watcher), ref,
                             reason);
    static const Atom nodedown("nodedown");
    for (Pid w : monitors) runtime.send(w, tuple(nodedown, lost));
    for (auto& [id, requester] : spawns)
      detail::deliver_signal(runtime, SignalKind::kMessage, Pid(), requester, {},
                             tuple(spawn_reply_tag(), Ref{index, id}, tuple("error"_a, reason)));
    lock.lock();
  }

  // The NodeTable index of the incarnation connection `id` is up to, if it is the peer's
  // connection in use: what a LocalSend's sender pid belongs to. A connection replaced or
  // lost since is not, and its last frames are dropped as the peer's death would have.
  // A small per-thread cache, valid while no peer changes state, spares the mutex.
  std::optional<std::uint32_t> sender_node(net::ConnectionId id) {
    struct Entry {
      const Impl* owner = nullptr;
      net::ConnectionId id = 0;
      std::uint64_t generation = 0;
      std::uint32_t node = 0;
    };
    thread_local Entry cache[4];
    Entry& e = cache[id & 3];
    if (e.owner == this && e.id == id &&
        e.generation == peers_changed.load(std::memory_order_acquire))
      return e.node;
    std::lock_guard lock(mutex);
    auto it = conn_peer.find(id);
    if (it == conn_peer.end()) return std::nullopt;
    const Peer& p = peers.at(it->second);
    if (p.state != PeerState::kUp || p.conn != id) return std::nullopt;
    e = {this, id, peers_changed.load(std::memory_order_relaxed), p.index};
    return p.index;
  }

  void on_local_sends(net::ConnectionId id, wire::LocalSends::Reader b) {
    std::optional<std::uint32_t> node = sender_node(id);
    if (!node) return;
    auto to = b.getToIds();
    auto messages = b.getMessages();
    net::check_batch(to.size(), messages.size());
    Pid from = net::pid_on(*node, b.getFromId());
    for (unsigned i = 0; i < to.size(); ++i)
      detail::deliver_signal(runtime, SignalKind::kMessage, from, net::pid_on(index, to[i]), {},
                             net::read_term(messages[i]));
  }

  void on_frame(net::ConnectionId id, wire::Frame::Reader f) {
    if (f.isLocalSend()) {
      std::optional<std::uint32_t> from = sender_node(id);
      if (!from) return;
      InboundSignal m = detail::decode_local_send(f.getLocalSend(), *from, index);
      return detail::deliver_signal(runtime, m.kind, m.from, m.to, {}, std::move(m.payload));
    }
    if (f.isLocalSends()) return on_local_sends(id, f.getLocalSends());
    InboundSignal s;
    if (detail::decode_signal(f, s)) {
      if (s.kind != SignalKind::kMessage) {  // links and monitors are remembered for a loss
        std::lock_guard lock(mutex);
        auto it = conn_peer.find(id);
        if (it == conn_peer.end()) return;
        Peer& p = peers.at(it->second);
        note_inbound(p, s);
        if (s.kind == SignalKind::kDown) p.name_watches.erase({s.to.bits(), s.ref});
      }
      return detail::deliver_signal(runtime, s.kind, s.from, s.to, s.ref, std::move(s.payload),
                                    s.linked);
    }
    switch (f.which()) {
      case wire::Frame::REG_SEND: {
        auto b = f.getRegSend();
        Pid from = net::read_pid(b.getFrom());
        Atom to(std::string_view(b.getToName().cStr(), b.getToName().size()));
        Term message = net::read_term(b.getMessage());
        if (auto pid = runtime.whereis(to))
          detail::deliver_signal(runtime, SignalKind::kMessage, from, *pid, {}, std::move(message));
        return;
      }
      case wire::Frame::MONITOR:  // by name: decode_signal took those by pid
      case wire::Frame::DEMONITOR:
        return on_monitor_name(id, f);
      case wire::Frame::SPAWN_REQUEST:
        return on_spawn_request(id, f.getSpawnRequest());
      case wire::Frame::SPAWN_REPLY:
        return on_spawn_reply(id, f.getSpawnReply());
      case wire::Frame::PEERS:
        return on_peers(f.getPeers());
      case wire::Frame::GLOBAL_REQUEST:
      case wire::Frame::GLOBAL_REPLY:
      case wire::Frame::GLOBAL_REGISTER:
      case wire::Frame::GLOBAL_UNREGISTER:
      case wire::Frame::GLOBAL_ACK:
      case wire::Frame::GLOBAL_SYNC:
      case wire::Frame::PG_JOIN:
      case wire::Frame::PG_LEAVE:
      case wire::Frame::PG_SYNC:
        return on_cluster_frame(id, f);
      default:
        spdlog::debug("ember: ignoring frame kind {}", unsigned(f.which()));
    }
  }

  // Only visible peers take part in the registry and groups: a tool's node keeps neither.
  void on_cluster_frame(net::ConnectionId id, wire::Frame::Reader f) {
    Atom from;
    {
      std::lock_guard lock(mutex);
      auto it = conn_peer.find(id);
      if (it == conn_peer.end() || config.hidden) return;
      const Peer& p = peers.at(it->second);
      if (p.hidden || p.state != PeerState::kUp || p.conn != id) return;
      from = p.name;
    }
    if (f.which() == wire::Frame::PG_JOIN || f.which() == wire::Frame::PG_LEAVE ||
        f.which() == wire::Frame::PG_SYNC)
      detail::PgAccess::on_frame(groups, from, f);
    else
      global.on_frame(from, f);
  }

  // --- detail::ClusterPeers ---

  std::vector<Atom> members() const override {
    if (config.hidden) return {};
    return nodes();
  }

  void send_to(Atom peer, std::span<const std::byte> frame) override {
    std::optional<net::Channel> ch;
    {
      std::lock_guard lock(mutex);
      auto it = peers.find(peer.index());
      if (stopping || it == peers.end() || it->second.state != PeerState::kUp) return;
      ch = it->second.channel;
    }
    transport->send(*ch, frame, 0, net::Outbox::Mode::kForce);
  }

  bool reachable(Pid pid) override {
    if (pid.node() == index) return true;
    NodeIdentity id = NodeTable::identity(pid.node());
    if (id.name == name) return false;  // an earlier life of this node
    std::lock_guard lock(mutex);
    Peer& p = peer_named(id.name);
    if (p.state == PeerState::kUp) return p.creation == id.creation;
    if (p.state == PeerState::kIdle) start_connect(p);
    return true;
  }

  void block(Atom target, bool on) {
    std::unique_lock lock(mutex);
    if (!on) {
      blocked.erase(target.index());
      return;
    }
    blocked.insert(target.index());
    auto it = peers.find(target.index());
    if (it == peers.end() || it->second.state != PeerState::kUp) return;
    // Lost now, not when the loop thread gets to the close: block() returns with the
    // peer's links, monitors and names already gone.
    net::ConnectionId conn = it->second.conn;
    conn_peer.erase(conn);
    lose(it->second, lock);
    lock.unlock();
    transport->close(conn);
  }

  void on_peers(wire::Peers::Reader peers_frame) {
    std::lock_guard lock(mutex);
    for (auto entry : peers_frame.getNodes()) {
      Atom peer_name;
      try {
        peer_name = Atom(entry.getNode().getName().cStr());
        NodeName::parse(peer_name.text());
      } catch (const std::exception&) {
        continue;
      }
      if (peer_name == name || config.hidden) continue;
      Peer& p = peer_named(peer_name);
      if (p.state == PeerState::kIdle) start_connect(p);
    }
  }

  void on_spawn_request(net::ConnectionId id, wire::SpawnRequest::Reader r) {
    Pid from = net::read_pid(r.getFrom());
    Ref ref = net::read_ref(r.getMonitorRef());
    std::uint64_t request = r.getRequestId();
    bool link = r.getLink(), monitor = r.getMonitor();
    std::string function = r.getFunction().cStr();
    Term args = net::read_term(r.getArgs());
    RemoteFunction fn;
    {
      std::lock_guard lock(functions_mutex());
      auto it = functions().find(function);
      if (it != functions().end()) fn = it->second;
    }
    if (!fn)
      return spawn_reply(id, request, from, tuple(Atom("undef"), std::string_view(function)));
    detail::SpawnOptions o;
    o.remote_parent = from;
    o.remote_link = link;
    o.remote_monitor = monitor;
    o.monitor_ref = ref;
    // The body is made (not run) inside spawn_with: the reply and the relations are in
    // place before the new process can exit, so its exit signal follows the reply.
    auto body = [this, fn, args, id, request, from, link, monitor, ref](Self self) {
      {
        std::lock_guard lock(mutex);
        auto it = conn_peer.find(id);
        if (it != conn_peer.end()) {
          Peer& p = peers.at(it->second);
          if (link) p.relations.insert({CrossRelation::kLink, self.pid(), from, {}});
          if (monitor) p.relations.insert({CrossRelation::kWatchedBy, self.pid(), from, ref});
        }
      }
      spawn_reply(id, request, from, self.pid());
      return fn(self, args);
    };
    try {
      runtime.spawn_with(std::move(body), o);
    } catch (const ErlangError& e) {
      spawn_reply(id, request, from, e.reason());
    }
  }

  // {ok, Pid} when `result` is a pid, else {error, Result}.
  void spawn_reply(net::ConnectionId id, std::uint64_t request, Pid to, const Term& result) {
    thread_local net::FrameEncoder encoder;
    std::vector<std::byte> frame;
    encoder.encode(frame, [&](wire::Frame::Builder f) {
      auto b = f.initSpawnReply();
      b.setRequestId(request);
      net::write_pid(b.initTo(), to);
      if (result.is_pid())
        net::write_pid(b.initPid(), result.pid());
      else
        net::write_term(b.initError(), result);
    });
    std::lock_guard lock(mutex);
    auto it = conn_peer.find(id);
    if (it != conn_peer.end()) send_frame(peers.at(it->second), frame);
  }

  void on_spawn_reply(net::ConnectionId id, wire::SpawnReply::Reader r) {
    Pid to = net::read_pid(r.getTo());
    std::uint64_t request = r.getRequestId();
    Ref ref{index, request};
    Term result;
    Pid pid;
    if (r.isPid()) {
      pid = net::read_pid(r.getPid());
      result = tuple("ok"_a, pid);
    } else {
      result = tuple("error"_a, net::read_term(r.getError()));
    }
    bool link = false;
    {
      std::lock_guard lock(mutex);
      auto it = conn_peer.find(id);
      if (it == conn_peer.end()) return;
      Peer& p = peers.at(it->second);
      auto s = p.spawns.find(request);
      if (s == p.spawns.end()) return;  // the requester gave up (timeout)
      p.spawns.erase(s);
      link = pending_links.erase(request) > 0;
      if (pid.valid() && link) p.relations.insert({CrossRelation::kLink, to, pid, {}});
      if (pid.valid() && pending_monitors.erase(request))
        p.relations.insert({CrossRelation::kWatching, to, pid, ref});
    }
    // The link must be in place before any exit signal from the new process is handled.
    if (pid.valid() && link) detail::deliver_signal(runtime, SignalKind::kLink, pid, to, {}, {});
    detail::deliver_signal(runtime, SignalKind::kMessage, Pid(), to, {},
                           tuple(spawn_reply_tag(), ref, result));
  }

  std::unordered_set<std::uint64_t> pending_links, pending_monitors;  // by request id (mutex)

  // Sends a SpawnRequest; the reply arrives as a {'$ember_spawn_reply', Ref, Result} message.
  void request_spawn(Pid from, Atom target, Ref ref, const std::string& function, const Term& args,
                     const RemoteSpawnOptions& o) {
    thread_local net::FrameEncoder encoder;
    std::vector<std::byte> frame;
    encoder.encode(frame, [&](wire::Frame::Builder f) {
      auto b = f.initSpawnRequest();
      b.setRequestId(ref.id);
      net::write_pid(b.initFrom(), from);
      b.setFunction(function);
      net::write_term(b.initArgs(), args);
      b.setLink(o.link);
      b.setMonitor(o.monitor);
      net::write_ref(b.initMonitorRef(), ref);
    });
    std::lock_guard lock(mutex);
    if (stopping) return;
    Peer& p = peer_named(target);
    p.spawns[ref.id] = from;
    if (o.link) pending_links.insert(ref.id);
    if (o.monitor) pending_monitors.insert(ref.id);
    send_frame(p, frame);
  }

  void forget_spawn(Atom target, Ref ref) {
    std::lock_guard lock(mutex);
    peer_named(target).spawns.erase(ref.id);
    pending_links.erase(ref.id);
    pending_monitors.erase(ref.id);
  }

  bool monitor_node(Pid watcher, Atom target, bool on) {
    std::unique_lock lock(mutex);
    if (stopping) return true;
    Peer& p = peer_named(target);
    if (!on) {
      auto& m = p.node_monitors;
      if (auto it = std::find(m.begin(), m.end(), watcher); it != m.end()) m.erase(it);
      return true;
    }
    if (blocked.contains(p.name.index())) {  // as a connection attempt that fails at once
      lock.unlock();
      runtime.send(watcher, tuple(Atom("nodedown"), target));
      return true;
    }
    p.node_monitors.push_back(watcher);
    if (p.state == PeerState::kIdle) start_connect(p);
    return true;
  }

  static std::chrono::milliseconds config_handshake_timeout() {
    return net::TransportConfig{}.handshake_timeout;
  }

  std::string connect_error(Atom target) const {
    std::lock_guard lock(mutex);
    auto it = peers.find(target.index());
    return it == peers.end() ? std::string() : it->second.last_error;
  }

  bool connect(Atom target, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    if (target == name) return true;
    Peer& p = peer_named(target);
    if (p.state == PeerState::kIdle) {
      p.last_error.clear();
      start_connect(p);
    }
    changed.wait_for(lock, timeout, [&] { return p.state != PeerState::kConnecting; });
    return p.state == PeerState::kUp;
  }

  std::vector<Atom> nodes() const {
    std::lock_guard lock(mutex);
    std::vector<Atom> out;
    for (auto& [k, p] : peers)
      if (p.state == PeerState::kUp && !p.hidden) out.push_back(p.name);
    return out;
  }
};

// ---------------------------------------------------------------------------------------

Node::Node(NodeConfig config) : impl_(std::make_unique<Impl>(*this, std::move(config))) {
  impl_->start();
}

Node::~Node() {
  impl_->stop();
}

Runtime& Node::runtime() {
  return impl_->runtime;
}
Atom Node::name() const {
  return impl_->name;
}
std::uint32_t Node::creation() const {
  return impl_->creation;
}
std::uint16_t Node::port() const {
  return impl_->transport && impl_->config.listen ? impl_->transport->port() : 0;
}
std::vector<Atom> Node::nodes() const {
  return impl_->nodes();
}

bool Node::connect(Atom node, std::chrono::milliseconds timeout) {
  return impl_->connect(Atom(canonical(node.text()).to_string()), timeout);
}

std::string Node::connect_error(Atom node) const {
  return impl_->connect_error(Atom(canonical(node.text()).to_string()));
}

void Node::disconnect(Atom node) {
  std::unique_lock lock(impl_->mutex);
  auto it = impl_->peers.find(Atom(canonical(node.text()).to_string()).index());
  if (it == impl_->peers.end() || it->second.state != Impl::PeerState::kUp) return;
  net::ConnectionId conn = it->second.conn;
  lock.unlock();
  impl_->transport->close(conn);
}

bool Node::monitor_node(Self self, Atom node, bool on) {
  return impl_->monitor_node(self.pid(), Atom(canonical(node.text()).to_string()), on);
}

Node::SendResult Node::try_send(Self self, Pid to, Term message) {
  return impl_->try_send(self.pid(), to, std::move(message));
}

std::optional<Pid> Node::whereis_global(Atom name) const {
  return impl_->global.table().whereis(name);
}

std::vector<std::pair<Atom, Pid>> Node::global_names() const {
  std::vector<std::pair<Atom, Pid>> out;
  for (const detail::GlobalEntry& e : impl_->global.table().entries())
    out.emplace_back(e.name, e.pid);
  return out;
}

std::uint64_t Node::global_digest() const {
  return impl_->global.table().digest();
}

void Node::set_global_resolver(GlobalResolver resolver) {
  impl_->global.set_resolver(std::move(resolver));
}

ProcessGroups& Node::groups() {
  return impl_->groups;
}

void Node::block(Atom node) {
  impl_->block(Atom(canonical(node.text()).to_string()), true);
}

void Node::unblock(Atom node) {
  impl_->block(Atom(canonical(node.text()).to_string()), false);
}

detail::GlobalService& detail::global_service(Node& node) {
  return node.impl().global;
}

net::Transport& Node::transport() {
  return *impl_->transport;
}

std::vector<net::ConnectionStats> Node::connection_stats() const {
  auto stats = impl_->transport->connection_stats();
  std::sort(stats.begin(), stats.end(), [](const auto& a, const auto& b) {
    return a.peer != b.peer ? a.peer < b.peer : a.id < b.id;
  });
  return stats;
}

std::uint64_t Node::node_downs() const {
  return impl_->node_downs.load(std::memory_order_relaxed);
}

std::uint16_t Node::metrics_port() const {
  return impl_->metrics ? impl_->metrics->port() : 0;
}

std::chrono::milliseconds Node::uptime() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               impl_->started);
}

Node* Node::of(Self self) {
  return dynamic_cast<Node*>(self.runtime().distribution());
}

void Node::route(const detail::Signal& s) {
  impl_->route(s);
}
void Node::send_named(Pid from, RemoteName to, Term message) {
  impl_->send_named(from, to, std::move(message));
}
bool Node::monitor_name(Pid watcher, RemoteName to, Ref ref, bool on) {
  return impl_->monitor_name(watcher, to, ref, on);
}

namespace {
// spawn/4 naming this node: the same function, started locally.
Co<RemoteSpawn> spawn_here(Self self, const std::string& function, Term args,
                           const RemoteSpawnOptions& o) {
  RemoteFunction fn;
  {
    std::lock_guard lock(functions_mutex());
    auto it = functions().find(function);
    if (it != functions().end()) fn = it->second;
  }
  if (!fn) throw ErlangError(tuple(Atom("undef"), std::string_view(function)));
  auto body = [fn, args](Self s) { return fn(s, args); };
  if (o.monitor) {
    auto [pid, ref] = self.spawn_monitor(body);
    co_return RemoteSpawn{pid, ref};
  }
  co_return RemoteSpawn{o.link ? self.spawn_link(body) : self.spawn(body), Ref{}};
}
}  // namespace

Co<RemoteSpawn> spawn_remote(Self self, Atom node, std::string function, Term args,
                             RemoteSpawnOptions options) {
  Node* n = Node::of(self);
  if (!n) throw ErlangError(atom_noconnection());
  Atom target(canonical(node.text()).to_string());
  if (target == n->name()) co_return co_await spawn_here(self, function, std::move(args), options);
  Ref ref = self.make_ref();
  if (options.monitor) {  // in place before any DOWN can arrive; the pid comes with the reply
    detail::MetaLock lock(*self.process());
    self.process()->rel().add_monitor(ref, Pid());
  }
  n->impl().request_spawn(self.pid(), target, ref, function, args, options);
  auto m = co_await self.receive(match(tuple(spawn_reply_tag(), ref, _))).after(options.timeout);
  if (m.timed_out()) {
    n->impl().forget_spawn(target, ref);
    if (options.monitor) self.demonitor(ref);
    throw ErlangError(Atom("timeout"));
  }
  Term result = m[2];
  if (!result[0].is("ok"_a)) {
    if (options.monitor) self.demonitor(ref);
    throw ErlangError(result[1]);
  }
  Pid pid = result[1].pid();
  if (options.monitor) {
    detail::MetaLock lock(*self.process());
    self.process()->rel().remove_monitor(ref);
    self.process()->rel().add_monitor(ref, pid);
  }
  co_return RemoteSpawn{pid, ref};
}

Co<Atom> ping(Self self, Atom node, std::chrono::milliseconds timeout) {
  Node* n = Node::of(self);
  if (!n) co_return Atom("pang");
  // Erlang's ping asks net_kernel and waits; here the reply is our own nodedown or the
  // connection coming up, watched by polling the peer state between short sleeps.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Atom target(canonical(node.text()).to_string());
  if (target == n->name()) co_return Atom("pong");
  n->monitor_node(self, target, true);
  for (;;) {
    for (Atom up : n->nodes())
      if (up == target) {
        n->monitor_node(self, target, false);
        co_return Atom("pong");
      }
    auto m = co_await self.receive(match(tuple(Atom("nodedown"), target)))
                 .after(std::chrono::milliseconds(5));
    if (!m.timed_out() || std::chrono::steady_clock::now() > deadline) {
      n->monitor_node(self, target, false);
      co_return Atom("pang");
    }
  }
}

}  // namespace ember
