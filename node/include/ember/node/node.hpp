// Node: a Runtime joined to the network. Pids of other nodes behave like local ones: send,
// link, monitor, exit and spawn cross TCP connections (libuv, Cap'n Proto frames), and a
// lost node fires noconnection / nodedown on this side.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ember/core/co.hpp"
#include "ember/core/runtime.hpp"
#include "ember/net/connection_stats.hpp"
#include "ember/node/global.hpp"
#include "ember/node/process_groups.hpp"

namespace ember {

namespace net {
class Transport;
}

struct NodeConfig {
  // name@host or name@host:port (4370 if omitted); port 0 picks a free port, and name()
  // then carries the real one.
  std::string name;
  std::string cookie;
  std::string listen_host;  // default: the name's host
  bool listen = true;       // false: a node that only connects out (a tool)
  bool hidden = false;      // tools: not meshed, not in other nodes' nodes()
  unsigned schedulers = 0;  // 0: one per core
  // A connection that hears nothing for silence_timeout is down; ticks keep idle ones
  // alive (Erlang: net_ticktime 60 s; ours detects a frozen peer within ~2.25 s).
  std::chrono::milliseconds tick_interval{500};
  std::chrono::milliseconds silence_timeout{2000};
  std::vector<std::string> join;  // nodes to connect to at start (and mesh with)
  // A larger message is refused at the sender: send throws ErlangError
  // {message_too_large, Bytes, Limit}. The peer must allow at least as much.
  std::size_t max_message_bytes = 64u << 20;
  // Bytes queued on one connection past which remote sends wait (Erlang's busy dist port;
  // its default dist_buf_busy_limit is 1 MiB). A deeper queue buys nothing on a fast
  // link and costs cache: a 1 KiB stream ran 12-17% slower at 16 MiB (docs/BENCHMARKS.md).
  std::size_t busy_bytes = 2u << 20;
  // A scheduler worker with nothing to run reads the connections itself while it spins
  // (Transport::poll), so a reply needs no wake-up of the I/O thread and a stream is
  // decoded on more than one core. false: only the I/O thread reads.
  bool workers_read = true;
  // The frames a process sends to one idle connection in one run (between two suspensions)
  // go out in one write when it suspends: a call's monitor and request become one TCP
  // segment. false: each frame is written (or queued) as it is sent.
  bool cork_process_sends = true;
  // Nonzero: serve GET /metrics (Prometheus text) and GET /health over HTTP on this port
  // of the listen host, from the node's I/O thread. 0: no endpoint.
  std::uint16_t metrics_port = 0;
};

// A function other nodes may start here by name: C++ cannot ship closures, so every node
// of the same binary registers the same functions (Erlang's spawn/4 needs the module
// loaded on both nodes too). Process-wide; register before starting nodes.
using RemoteFunction = std::function<Proc(Self, Term args)>;
void register_remote_function(const std::string& name, RemoteFunction f);

struct RemoteSpawnOptions {
  bool link = false;
  bool monitor = false;  // the DOWN carries `ref` from RemoteSpawn
  std::chrono::milliseconds timeout{5000};
};

struct RemoteSpawn {
  Pid pid;
  Ref ref;  // the monitor's, with RemoteSpawnOptions::monitor
};

class Node final : public Distribution {
 public:
  explicit Node(NodeConfig config);
  ~Node() override;  // kills every process, closes every connection
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Runtime& runtime();
  Atom name() const;  // the full name@host:port
  std::uint32_t creation() const;
  std::uint16_t port() const;  // 0 when not listening

  // Visible nodes with a connection up now (Erlang's nodes()).
  std::vector<Atom> nodes() const;
  // Every connection that is up (hidden peers such as the ember CLI too: see `hidden`),
  // sorted by peer name: bytes, frames and messages each way, queue depth, uptime, the
  // age of the last byte and tick read. Any thread (Transport::connection_stats).
  std::vector<net::ConnectionStats> connection_stats() const;
  // Visible peers lost after they had come up, since start (the metrics' node-downs).
  std::uint64_t node_downs() const;
  std::chrono::milliseconds uptime() const;
  // The metrics endpoint's port, 0 without one (NodeConfig::metrics_port).
  std::uint16_t metrics_port() const;
  // Connects if needed and waits: true once `node` is up (Erlang's connect_node). Call
  // from outside processes (it blocks).
  bool connect(Atom node, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Why the last attempt to reach `node` failed ("" if none did): the handshake's words,
  // e.g. "peer failed the cookie challenge (wrong cookie?)", or "the node at that
  // address is other@host:port" when another node answered.
  std::string connect_error(Atom node) const;
  void disconnect(Atom node);

  // From a process: {nodedown, Node} arrives when the connection to `node` is lost, or at
  // once if it cannot be made. Stackable like Erlang's monitor_node(Node, true).
  bool monitor_node(Self self, Atom node, bool on = true);

  // A send that never waits: kBusy, and nothing sent, while the connection to the
  // target's node is over its busy limit (Erlang's erlang:send(Pid, Msg, [nosuspend])).
  // A local target is an ordinary send.
  enum class SendResult { kSent, kBusy };
  SendResult try_send(Self self, Pid to, Term message);

  // The global registry as this node sees it (register and unregister are in global.hpp:
  // they wait, so they run in processes). Lookups are local.
  std::optional<Pid> whereis_global(Atom name) const;
  std::vector<std::pair<Atom, Pid>> global_names() const;  // sorted by name
  // Equal on nodes whose tables are equal (xxHash of the sorted names and pids).
  std::uint64_t global_digest() const;
  // Set it the same on every node, before they meet (see GlobalResolver).
  void set_global_resolver(GlobalResolver resolver);

  // Process groups (pg) as this node sees them; process_groups.hpp has pg:: for processes.
  ProcessGroups& groups();

  // Fault injection, for tests of partitions: until unblocked, this node drops its
  // connection to `node`, refuses it and never dials it, and frames for it are lost, as
  // on a cut cable. Block both ways to cut both ways.
  void block(Atom node);
  void unblock(Atom node);

  // The Node a process runs on, or null for a Runtime without one.
  static Node* of(Self self);

  // Distribution (called by the runtime).
  void route(const detail::Signal& s) override;
  void send_named(Pid from, RemoteName to, Term message) override;
  bool monitor_name(Pid watcher, RemoteName to, Ref ref, bool on) override;

  // The node's I/O loop, for node-layer code that runs beside it (http_get); valid while
  // the node's processes run.
  net::Transport& transport();

  struct Impl;
  Impl& impl() { return *impl_; }  // for spawn_remote; not for users

 private:
  std::unique_ptr<Impl> impl_;
};

// Erlang's spawn/4, spawn_link/4, spawn_monitor/4: starts the function registered under
// `function` on `node` with `args` and returns its pid. Throws ErlangError with
// {undef, Function}, noconnection or timeout.
Co<RemoteSpawn> spawn_remote(Self self, Atom node, std::string function, Term args,
                             RemoteSpawnOptions options = {});

// net_adm:ping from a process: pong if `node` is (or becomes) connected, else pang.
Co<Atom> ping(Self self, Atom node, std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace ember
