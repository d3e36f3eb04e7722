// What the multi-node tests share: failure tracking (so a failed test prints the nodes'
// logs), receive helpers with deadlines, and raw sockets for hostile peers.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "ember/core/blocking.hpp"
#include "ember/core/errors.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/admin.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

namespace multinode {

using namespace ember;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ember::testing::Cluster;
using ember::testing::eventually;
using ember::testing::NodeProcess;

// True once an assertion of the running test case has failed.
bool current_test_failed();

// Prints the nodes' logs when the test case that owns it has failed (a REQUIRE that throws
// is handled by the Cluster itself), and checks the teardown report.
class ClusterTest {
 public:
  explicit ClusterTest(ember::testing::ClusterOptions o = {}) : cluster(std::move(o)) {}
  ~ClusterTest() {
    if (current_test_failed()) cluster.dump_logs(std::cerr);
  }
  // Stops every node and asserts that nothing leaked.
  void teardown() {
    auto report = cluster.shutdown();
    INFO(report.text());
    CHECK(report.clean());
  }
  Cluster cluster;
};

// Three daemons a, b, c (b and c join a), meshed.
struct ThreeNodes : ClusterTest {
  NodeProcess &a, &b, &c;
  explicit ThreeNodes(ember::testing::ClusterOptions o = {})
      : ClusterTest(std::move(o)),
        a(cluster.start("a")),
        b(cluster.start("b")),
        c(cluster.start("c")) {
    REQUIRE(cluster.wait_for_mesh());
  }
};

inline bool has(const std::vector<Atom>& v, Atom x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The nodes' full names, in order.
inline std::vector<Atom> names_of(std::initializer_list<NodeProcess*> nodes) {
  std::vector<Atom> v;
  for (NodeProcess* n : nodes) v.push_back(n->name());
  return v;
}

inline const Atom kDown("DOWN"), kExit("EXIT"), kNoconnection("noconnection");

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

inline milliseconds left_until(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return d.count() > 0 ? d : 0ms;
}

// Polls `condition` (a coroutine) until it holds or `timeout` passes, pacing the polls.
template <class F>
Co<bool> eventually_co(Self self, F condition, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (co_await condition()) co_return true;
    if (Clock::now() > deadline) co_return false;
    co_await self.sleep(10ms);  // pacing between polls, not synchronisation
  }
}

// A TCP connection from this process, for peers that do not speak the protocol.
class RawPeer {
 public:
  explicit RawPeer(std::uint16_t port);  // connects to 127.0.0.1:port (blocking)
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  std::uint16_t local_port() const { return local_port_; }
  // "127.0.0.1:PORT": how the node's log names this peer.
  std::string address() const { return "127.0.0.1:" + std::to_string(local_port_); }
  // Sends what it can; false once the node has closed the connection.
  bool send(const void* data, std::size_t n);
  bool send(const std::vector<std::byte>& b) { return send(b.data(), b.size()); }
  // Reads and discards until EOF or a reset (true: the socket is then closed here too) or
  // the deadline (false).
  bool wait_closed(Clock::time_point deadline);
  // Reads whatever is there now, without waiting; false if the connection is closed.
  bool drain(std::vector<std::byte>* into = nullptr);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::uint16_t local_port_ = 0;
  bool closed_ = false;
};

}  // namespace multinode
