// JoinKeeper: keeps a daemon connected to the nodes it was told to join (--join), by
// dialling each one that is not up again every interval, for as long as the daemon runs.
// Erlang reconnects only on use, and clusters that must re-form after a restart or a
// partition add a manager (libcluster); in a Compose cluster the nodes start in any order
// and a healed network should heal the cluster, so ember-node has one, behind --rejoin.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "ember/node/node.hpp"

namespace ember::daemon {

class JoinKeeper {
 public:
  JoinKeeper(Node& node, std::vector<Atom> targets, std::chrono::milliseconds interval);
  ~JoinKeeper();  // stops the thread (waits for a dial in progress, at most `interval`)
  JoinKeeper(const JoinKeeper&) = delete;
  JoinKeeper& operator=(const JoinKeeper&) = delete;

 private:
  void run();
  bool up(Atom target) const;

  Node& node_;
  const std::vector<Atom> targets_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the fields above are set
};

}  // namespace ember::daemon
