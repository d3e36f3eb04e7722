#include "ember/net/handshake.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace ember::net {

namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

capnp::Data::Reader data_of(const std::array<unsigned char, 32>& a) {
  return {a.data(), a.size()};
}

}  // namespace

Cookie::Cookie(std::string_view text) {
  ensure_sodium();
  crypto_hash_sha256(key_.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

Handshake::Handshake(Role role, PeerInfo self, const Cookie& cookie)
    : role_(role), self_(std::move(self)), key_(cookie.key()) {
  ensure_sodium();
  randombytes_buf(my_nonce_.data(), my_nonce_.size());
  state_ = role == Role::kInitiator ? State::kStart : State::kAwaitHello;
}

Handshake::Digest Handshake::digest(const Nonce& nonce, std::string_view prover) const {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_.data(), key_.size());
  crypto_auth_hmacsha256_update(&st, nonce.data(), nonce.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(prover.data()),
                                prover.size());
  Digest d;
  crypto_auth_hmacsha256_final(&st, d.data());
  return d;
}

void Handshake::send_hello(FrameEncoder& encoder, std::vector<std::byte>& out) {
  encoder.encode(out, [&](wire::Frame::Builder f) {
    auto h = f.initHello();
    h.setVersion(kProtocolVersion);
    h.initNode().setName(self_.name);
    h.getNode().setCreation(self_.creation);
    h.setFlags(self_.flags);
    h.setHidden(self_.hidden);
    h.setListenAddress(self_.listen_address);
  });
}

void Handshake::refuse_simultaneous(FrameEncoder& encoder, std::vector<std::byte>& out) {
  self_.flags |= kHelloKeepsOwnConnection;
  send_hello(encoder, out);
  state_ = State::kFailed;
}

void Handshake::start(FrameEncoder& encoder, std::vector<std::byte>& out) {
  if (role_ != Role::kInitiator || state_ != State::kStart) return;
  send_hello(encoder, out);
  state_ = State::kAwaitHello;
}

Handshake::Status Handshake::fail(std::string why) {
  state_ = State::kFailed;
  error_ = std::move(why);
  return Status::kFailed;
}

Handshake::Status Handshake::read_hello(wire::Hello::Reader hello) {
  if (hello.getVersion() != kProtocolVersion)
    return fail("peer speaks protocol version " + std::to_string(hello.getVersion()) +
                ", this node " + std::to_string(kProtocolVersion));
  auto name = hello.getNode().getName();
  if (name.size() == 0 || name.size() > 255)
    return fail("peer sent an empty or over-long node name");
  peer_.name.assign(name.cStr(), name.size());
  peer_.creation = hello.getNode().getCreation();
  peer_.flags = hello.getFlags();
  peer_.hidden = hello.getHidden();
  peer_.listen_address = hello.getListenAddress().cStr();
  return Status::kContinue;
}

Handshake::Status Handshake::on_frame(wire::Frame::Reader f, FrameEncoder& encoder,
                                      std::vector<std::byte>& out) {
  switch (state_) {
    case State::kAwaitHello: {
      if (!f.isHello())
        return fail("expected Hello, got frame kind " + std::to_string(unsigned(f.which())));
      if (read_hello(f.getHello()) == Status::kFailed) return Status::kFailed;
      if (role_ == Role::kInitiator && (peer_.flags & kHelloKeepsOwnConnection))
        return fail(kSimultaneousRefusal);
      if (role_ == Role::kAcceptor) {
        send_hello(encoder, out);
        encoder.encode(
            out, [&](wire::Frame::Builder b) { b.initChallenge().setNonce(data_of(my_nonce_)); });
        state_ = State::kAwaitReply;
      } else {
        state_ = State::kAwaitChallenge;
      }
      return Status::kContinue;
    }
    case State::kAwaitChallenge: {
      if (!f.isChallenge()) return fail("expected Challenge");
      auto n = f.getChallenge().getNonce();
      if (n.size() != 32) return fail("challenge nonce is not 32 bytes");
      Nonce theirs;
      std::memcpy(theirs.data(), n.begin(), 32);
      Digest d = digest(theirs, self_.name);
      encoder.encode(out, [&](wire::Frame::Builder b) {
        auto r = b.initChallengeReply();
        r.setDigest(data_of(d));
        r.setNonce(data_of(my_nonce_));
      });
      state_ = State::kAwaitAck;
      return Status::kContinue;
    }
    case State::kAwaitReply: {
      if (!f.isChallengeReply()) return fail("expected ChallengeReply");
      auto r = f.getChallengeReply();
      Digest want = digest(my_nonce_, peer_.name);
      if (r.getDigest().size() != 32 || crypto_verify_32(r.getDigest().begin(), want.data()) != 0)
        return fail("peer failed the cookie challenge (wrong cookie?)");
      if (r.getNonce().size() != 32) return fail("reply nonce is not 32 bytes");
      Nonce theirs;
      std::memcpy(theirs.data(), r.getNonce().begin(), 32);
      Digest d = digest(theirs, self_.name);
      encoder.encode(out,
                     [&](wire::Frame::Builder b) { b.initChallengeAck().setDigest(data_of(d)); });
      state_ = State::kDone;
      return Status::kDone;
    }
    case State::kAwaitAck: {
      if (!f.isChallengeAck()) return fail("expected ChallengeAck");
      Digest want = digest(my_nonce_, peer_.name);
      auto got = f.getChallengeAck().getDigest();
      if (got.size() != 32 || crypto_verify_32(got.begin(), want.data()) != 0)
        return fail("peer failed the cookie challenge (wrong cookie?)");
      state_ = State::kDone;
      return Status::kDone;
    }
    case State::kStart:
      return fail("handshake not started");
    case State::kDone:
      return Status::kDone;
    case State::kFailed:
      return Status::kFailed;
  }
  return fail("unreachable");
}

}  // namespace ember::net
