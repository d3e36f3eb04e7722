// GlobalService: the global registry's protocol on one node. It keeps the GlobalTable in
// step with the other nodes' copies:
//  - every change to a name (register, unregister, its owner's death) is decided by the
//    name's arbiter: the node with the highest rendezvous hash of (name, node) among this
//    node and its visible peers, so racers for one name meet at one node;
//  - the arbiter commits a change to every visible peer at once and answers the requester
//    once all have acknowledged (or been lost): one round trip to the arbiter plus one
//    from it, however many nodes there are;
//  - a connection coming up swaps whole tables both ways (merge, conflicts resolved the
//    same way on both sides); a lost node takes its pids' names with it, on every node.
// Nothing waits forever: a requester has a deadline, and a commit waits only for peers
// that are up (a lost peer counts as done).
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster_peers.hpp"
#include "ember/core/runtime.hpp"
#include "ember/node/detail/global_table.hpp"
#include "pid_watcher.hpp"
#include "wire.capnp.h"

namespace ember {
class Node;
}

namespace ember::detail {

enum class GlobalOp : std::uint8_t { kRegister, kUnregister, kOwnerDown };

// The answer a requester receives: {'$ember_global_reply', Ref, yes | no | retry}.
const Atom& global_reply_tag();

class GlobalService {
 public:
  GlobalService(Runtime& runtime, Atom self, ClusterPeers& peers);

  void start();  // spawns the process that watches local owners
  GlobalTable& table() { return table_; }
  void set_resolver(GlobalResolver r);

  // Asks the name's arbiter; the answer arrives at `from` as a message tagged with `ref`
  // (ref.id travels as the request id). `retry` means the arbiter was lost on the way.
  void request(GlobalOp op, Atom name, Pid pid, Pid from, Ref ref);
  void forget(Ref ref);  // the requester stopped waiting

  // The node's events, from its loop thread.
  void on_peer_up(Atom node);
  void on_peer_down(Atom node);
  void on_frame(Atom from, wire::Frame::Reader f);

  Atom arbiter(Atom name) const;

 private:
  struct Answer {  // who is told the outcome of a change
    Atom origin;   // this node, or the requester's node
    std::uint64_t request = 0;
    Pid to;
    bool yes = false;
  };
  struct Commit {
    std::unordered_set<std::uint32_t> awaiting;  // node atom indexes
    Answer answer;
  };
  struct Outgoing {  // a request this node sent to an arbiter
    Atom arbiter;
    Pid requester;  // Pid() for an owner's death, which we pass on ourselves
    GlobalOp op;
    Atom name;
    Pid pid;
  };

  // All with mutex_ held.
  void arbitrate(GlobalOp op, Atom name, Pid pid, Answer answer);
  void commit(const GlobalEntry& e, GlobalOp op, Answer answer);
  void finish(Answer a);
  void took(const GlobalEntry& e, bool merged = false);  // an entry arrived: watch its owner?
  void ack(Atom to, std::uint64_t commit_id);
  void send_sync(Atom to);
  void resolve_conflicts(const std::vector<GlobalConflict>& conflicts);

  void owner_down(Pid pid);  // from the watcher process
  void remote_owner_down(Pid pid);

  Runtime& runtime_;
  Atom self_;
  ClusterPeers& peers_;
  GlobalTable table_;
  PidWatcher watcher_;  // monitors local owners, and remote ones that came by merge

  std::mutex mutex_;  // before the node's own mutex, never after
  GlobalResolver resolver_;
  std::uint64_t next_commit_ = 1;
  std::unordered_map<std::uint64_t, Commit> commits_;     // awaiting acknowledgements
  std::unordered_map<std::uint64_t, Outgoing> outgoing_;  // by request id
};

// The service of a Node (defined in node.cpp, which owns it).
GlobalService& global_service(Node& node);

}  // namespace ember::detail
