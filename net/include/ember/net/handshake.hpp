// The connection handshake: Hello both ways, then a mutual HMAC-SHA256 challenge over the
// shared cookie. Pure protocol logic (no sockets), so it is tested frame by frame.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/node_table.hpp"
#include "ember/net/frame_encoder.hpp"
#include "wire.capnp.h"

namespace ember::net {

// 2: messages between the two ends' own processes travel as LocalSend (pids without node
// names), which a version-1 node would skip, so the two refuse each other at the handshake.
// 3: a stream of them may travel as one LocalSends frame.
inline constexpr std::uint32_t kProtocolVersion = 3;

// Hello flag of an acceptor that turns the connection down because it is connecting to
// the initiator at the same moment and keeps its own connection (the node with the
// smaller name does). The initiator then waits for that connection instead of giving up.
inline constexpr std::uint64_t kHelloKeepsOwnConnection = 1ull << 63;
inline constexpr const char* kSimultaneousRefusal =
    "the peer is connecting to us at the same time and keeps its own connection";

// The shared secret. Only its HMAC key (SHA-256 of the text) is kept in memory.
class Cookie {
 public:
  explicit Cookie(std::string_view text);
  const std::array<unsigned char, 32>& key() const { return key_; }

 private:
  std::array<unsigned char, 32> key_{};
};

struct PeerInfo {
  std::string name;
  std::uint32_t creation = 0;
  std::uint64_t flags = 0;
  bool hidden = false;
  std::string listen_address;
};

// One side of one connection's handshake.
//   initiator: Hello ->            <- Hello, Challenge(nB)
//              ChallengeReply(HMAC(cookie, nB | B), nA) ->       <- ChallengeAck(HMAC(cookie, nA |
//              A))
// Each digest covers the nonce and the name of the side that must prove itself, so a
// reply cannot be reflected back. Nothing but these frames is accepted before done().
class Handshake {
 public:
  enum class Role { kInitiator, kAcceptor };
  enum class Status { kContinue, kDone, kFailed };

  Handshake(Role role, PeerInfo self, const Cookie& cookie);

  // The initiator's first frame; the acceptor sends nothing until it hears a Hello.
  void start(FrameEncoder& encoder, std::vector<std::byte>& out);
  // Feeds one received frame; appends any reply to `out`. After kFailed, error() says why
  // (the connection is then closed); after kDone, peer() is the authenticated peer.
  Status on_frame(wire::Frame::Reader frame, FrameEncoder& encoder, std::vector<std::byte>& out);

  // Acceptor, instead of the normal answer: a Hello saying kHelloKeepsOwnConnection.
  void refuse_simultaneous(FrameEncoder& encoder, std::vector<std::byte>& out);
  bool done() const { return state_ == State::kDone; }
  bool initiator() const { return role_ == Role::kInitiator; }
  const PeerInfo& peer() const { return peer_; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kStart, kAwaitHello, kAwaitChallenge, kAwaitReply, kAwaitAck, kDone, kFailed };
  using Nonce = std::array<unsigned char, 32>;
  using Digest = std::array<unsigned char, 32>;

  Status fail(std::string why);
  Status read_hello(wire::Hello::Reader hello);
  Digest digest(const Nonce& nonce, std::string_view prover) const;
  void send_hello(FrameEncoder& encoder, std::vector<std::byte>& out);

  Role role_;
  PeerInfo self_;
  std::array<unsigned char, 32> key_;
  PeerInfo peer_;
  State state_ = State::kStart;
  Nonce my_nonce_{};
  std::string error_;
};

}  // namespace ember::net
