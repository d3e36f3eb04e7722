#include <catch2/catch.hpp>

#include "ember/net/frame_decoder.hpp"
#include "ember/net/handshake.hpp"

using namespace ember::net;

namespace {

// Delivers every frame in `bytes` to `to`, collecting its replies in `reply`.
Handshake::Status deliver(std::vector<std::byte>& bytes, Handshake& to, FrameEncoder& enc,
                          std::vector<std::byte>& reply) {
  FrameDecoder dec;
  dec.feed(bytes);
  bytes.clear();
  Handshake::Status s = Handshake::Status::kContinue;
  while (auto words = dec.next()) {
    FrameReader r(*words);
    s = to.on_frame(r.root(), enc, reply);
    if (s == Handshake::Status::kFailed) break;
  }
  return s;
}

struct Pair {
  FrameEncoder enc_a, enc_b;
  Handshake a, b;
  Pair(const Cookie& ca, const Cookie& cb)
      : a(Handshake::Role::kInitiator, {"a@host", 1, 0, false, "127.0.0.1:4370"}, ca),
        b(Handshake::Role::kAcceptor, {"b@host", 7, 3, false, "127.0.0.1:4371"}, cb) {}

  // Runs the exchange to its end; returns the statuses (initiator, acceptor).
  std::pair<Handshake::Status, Handshake::Status> run() {
    std::vector<std::byte> to_b, to_a;
    a.start(enc_a, to_b);
    Handshake::Status sa = Handshake::Status::kContinue, sb = Handshake::Status::kContinue;
    for (int round = 0; round < 4 && !to_b.empty(); ++round) {
      sb = deliver(to_b, b, enc_b, to_a);
      if (sb == Handshake::Status::kFailed) break;
      sa = deliver(to_a, a, enc_a, to_b);
      if (sa == Handshake::Status::kFailed) break;
    }
    return {sa, sb};
  }
};

}  // namespace

TEST_CASE("two nodes with the same cookie authenticate each other") {
  Cookie c("secret");
  Pair p(c, c);
  auto [sa, sb] = p.run();
  CHECK(sa == Handshake::Status::kDone);
  CHECK(sb == Handshake::Status::kDone);
  CHECK(p.a.peer().name == "b@host");
  CHECK(p.a.peer().creation == 7);
  CHECK(p.a.peer().flags == 3);
  CHECK(p.b.peer().name == "a@host");
  CHECK(p.b.peer().listen_address == "127.0.0.1:4370");
}

TEST_CASE("a wrong cookie is refused by the side that checks first") {
  Pair p(Cookie("secret"), Cookie("other"));
  auto [sa, sb] = p.run();
  CHECK(sb == Handshake::Status::kFailed);
  CHECK(p.b.error().find("wrong cookie") != std::string::npos);
  CHECK_FALSE(p.a.done());
}

TEST_CASE("anything but the expected frame fails the handshake") {
  Cookie c("secret");
  Handshake b(Handshake::Role::kAcceptor, {"b@host", 1, 0, false, ""}, c);
  FrameEncoder enc;
  std::vector<std::byte> bytes, reply;
  enc.encode_send(bytes, ember::Pid(), ember::Pid(), ember::Term(1));  // a send before auth
  CHECK(deliver(bytes, b, enc, reply) == Handshake::Status::kFailed);
  CHECK(b.error().find("expected Hello") != std::string::npos);
  CHECK(reply.empty());
}

TEST_CASE("a peer speaking another protocol version is refused") {
  Cookie c("secret");
  Handshake b(Handshake::Role::kAcceptor, {"b@host", 1, 0, false, ""}, c);
  FrameEncoder enc;
  std::vector<std::byte> bytes, reply;
  enc.encode(bytes, [](ember::wire::Frame::Builder f) {
    auto h = f.initHello();
    h.setVersion(99);
    h.initNode().setName("x@y");
  });
  CHECK(deliver(bytes, b, enc, reply) == Handshake::Status::kFailed);
  CHECK(b.error().find("version 99") != std::string::npos);
}

TEST_CASE("a reply reflected back at its sender does not authenticate") {
  // An attacker without the cookie connects to B and, in a second connection, to A; it
  // cannot reuse B's challenge answer from A because the digest names the prover.
  Cookie c("secret");
  Handshake b(Handshake::Role::kAcceptor, {"b@host", 1, 0, false, ""}, c);
  Handshake a_as_acceptor(Handshake::Role::kAcceptor, {"a@host", 1, 0, false, ""}, c);
  FrameEncoder enc;
  std::vector<std::byte> bytes, from_b, from_a;
  // The attacker claims to be a@host to B, and b@host to A.
  enc.encode(bytes, [](ember::wire::Frame::Builder f) {
    auto h = f.initHello();
    h.setVersion(kProtocolVersion);
    h.initNode().setName("a@host");
  });
  deliver(bytes, b, enc, from_b);  // B: Hello + Challenge(nB)
  // Relay B's challenge to A as if A were asked... A (an acceptor) only answers a Hello
  // with its own challenge, never with a digest: the attacker gets no digest for nB.
  enc.encode(bytes, [](ember::wire::Frame::Builder f) {
    auto h = f.initHello();
    h.setVersion(kProtocolVersion);
    h.initNode().setName("b@host");
  });
  deliver(bytes, a_as_acceptor, enc, from_a);
  // Forge a reply with A's challenge as the digest: B rejects it.
  FrameDecoder dec;
  dec.feed(from_a);
  dec.next();  // A's Hello
  auto challenge_words = dec.next();
  REQUIRE(challenge_words);
  FrameReader chal(*challenge_words);
  auto nonce = chal.root().getChallenge().getNonce();
  std::vector<unsigned char> forged(nonce.begin(), nonce.end());
  enc.encode(bytes, [&](ember::wire::Frame::Builder f) {
    auto r = f.initChallengeReply();
    r.setDigest(capnp::Data::Reader(forged.data(), forged.size()));
    r.setNonce(capnp::Data::Reader(forged.data(), forged.size()));
  });
  std::vector<std::byte> reply;
  CHECK(deliver(bytes, b, enc, reply) == Handshake::Status::kFailed);
  CHECK_FALSE(b.done());
}
