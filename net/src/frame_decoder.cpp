// Stream -> frames, each opened in place with limits that make hostile input cheap to refuse.
#include "ember/net/frame_decoder.hpp"

#include <kj/exception.h>

#include <cstring>
#include <string>

#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

namespace ember::net {

namespace {

std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(p[i]) << (8 * i);
  return v;
}

capnp::ReaderOptions options_for(std::size_t words, const DecoderLimits& limits) {
  capnp::ReaderOptions o;
  // read_term walks a term twice (size, then fill), and a frame is typically walked twice
  // (validate_frame, then dispatch): 8x leaves room for that and still stops amplification.
  o.traversalLimitInWords = 8 * words + 1024;
  o.nestingLimit = limits.nesting_limit;
  return o;
}

[[noreturn]] void rethrow(const kj::Exception& e, const char* what) {
  throw WireError(std::string(what) + ": " + e.getDescription().cStr());
}

}  // namespace

FrameReader::FrameReader(kj::ArrayPtr<const capnp::word> words, const DecoderLimits& limits) try
    : reader_(words, options_for(words.size(), limits)) {
  if (reader_.getEnd() != words.end())
    throw WireError("frame length disagrees with its message: " +
                    std::to_string((words.end() - reader_.getEnd()) * 8) + " bytes left over");
} catch (const kj::Exception& e) {
  rethrow(e, "malformed frame");
}

wire::Frame::Reader FrameReader::root() {
  try {
    return reader_.getRoot<wire::Frame>();
  } catch (const kj::Exception& e) {
    rethrow(e, "malformed frame");
  }
}

FrameDecoder::FrameDecoder(DecoderLimits limits) : limits_(limits) {}

void FrameDecoder::compact() {
  if (begin_ == 0) return;
  auto* bytes = reinterpret_cast<std::byte*>(buffer_.get());
  std::memmove(bytes, bytes + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

std::span<std::byte> FrameDecoder::space(std::size_t bytes) {
  if (end_ + bytes > capacity_) {
    compact();
    if (end_ + bytes > capacity_) {
      std::size_t words = (end_ + bytes + sizeof(capnp::word) - 1) / sizeof(capnp::word) * 2;
      std::unique_ptr<capnp::word[]> bigger(new capnp::word[words]);
      if (end_) std::memcpy(bigger.get(), buffer_.get(), end_);
      buffer_ = std::move(bigger);
      capacity_ = words * sizeof(capnp::word);
    }
  }
  return {reinterpret_cast<std::byte*>(buffer_.get()) + end_, capacity_ - end_};
}

void FrameDecoder::feed(std::span<const std::byte> in) {
  if (in.empty()) return;
  std::memcpy(space(in.size()).data(), in.data(), in.size());
  commit(in.size());
}

std::optional<kj::ArrayPtr<const capnp::word>> FrameDecoder::peek() const {
  if (buffered() < kFrameHeaderBytes) return std::nullopt;
  const std::byte* head = reinterpret_cast<const std::byte*>(buffer_.get()) + begin_;
  std::uint32_t length = get_u32(head), flags = get_u32(head + 4);
  if (flags != 0) throw WireError("frame header has unknown flags " + std::to_string(flags));
  if (length > limits_.max_frame_bytes)
    throw WireError("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                    std::to_string(limits_.max_frame_bytes));
  if (length < sizeof(capnp::word) || length % sizeof(capnp::word) != 0)
    throw WireError("frame length " + std::to_string(length) + " is not a positive multiple of 8");
  if (buffered() < kFrameHeaderBytes + length) return std::nullopt;
  // begin_ stays a multiple of 8 (headers and messages are whole words), so this is aligned.
  auto* words = reinterpret_cast<const capnp::word*>(head + kFrameHeaderBytes);
  return kj::ArrayPtr<const capnp::word>(words, length / sizeof(capnp::word));
}

void FrameDecoder::pop() {
  const std::byte* head = reinterpret_cast<const std::byte*>(buffer_.get()) + begin_;
  begin_ += kFrameHeaderBytes + get_u32(head);
  if (begin_ == end_) begin_ = end_ = 0;
}

std::optional<kj::ArrayPtr<const capnp::word>> FrameDecoder::next() {
  auto words = peek();
  if (words) pop();
  return words;
}

namespace {

void check_name(capnp::Text::Reader name) {
  if (name.size() > Atom::kMaxLength) throw WireError("node name longer than 255 bytes");
}

void check_link(wire::Link::Reader l) {
  read_pid(l.getFrom());
  read_pid(l.getTo());
}

void check_monitor(wire::Monitor::Reader m) {
  read_pid(m.getFrom());
  if (m.getTo().isPid()) read_pid(m.getTo().getPid());
  read_ref(m.getRef());
}

void check_global_entry(capnp::Text::Reader name, wire::Pid::Reader pid) {
  if (name.size() > Atom::kMaxLength) throw WireError("global name longer than 255 bytes");
  read_pid(pid);
}

void check_local_sends(wire::LocalSends::Reader b) {
  pid_on(0, b.getFromId());
  auto to = b.getToIds();
  auto messages = b.getMessages();
  check_batch(to.size(), messages.size());
  for (unsigned i = 0; i < to.size(); ++i) {
    pid_on(0, to[i]);
    read_term(messages[i]);
  }
}

void check_pg(wire::PgMembers::Reader m) {
  if (m.getScope().size() > Atom::kMaxLength) throw WireError("pg scope longer than 255 bytes");
  read_term(m.getGroup());
  for (auto p : m.getPids()) read_pid(p);
}

void check(wire::Frame::Reader f) {
  switch (f.which()) {
    case wire::Frame::SEND:
      read_pid(f.getSend().getFrom());
      read_pid(f.getSend().getTo());
      read_term(f.getSend().getMessage());
      return;
    case wire::Frame::LOCAL_SEND:
      pid_on(0, f.getLocalSend().getFromId());
      pid_on(0, f.getLocalSend().getToId());
      read_term(f.getLocalSend().getMessage());
      return;
    case wire::Frame::LOCAL_SENDS:
      check_local_sends(f.getLocalSends());
      return;
    case wire::Frame::REG_SEND:
      read_pid(f.getRegSend().getFrom());
      if (f.getRegSend().getToName().size() > Atom::kMaxLength)
        throw WireError("name longer than 255 bytes");
      read_term(f.getRegSend().getMessage());
      return;
    case wire::Frame::LINK:
      check_link(f.getLink());
      return;
    case wire::Frame::UNLINK:
      check_link(f.getUnlink());
      return;
    case wire::Frame::UNLINK_ACK:
      check_link(f.getUnlinkAck());
      return;
    case wire::Frame::EXIT:
      read_pid(f.getExit().getFrom());
      read_pid(f.getExit().getTo());
      read_term(f.getExit().getReason());
      return;
    case wire::Frame::MONITOR:
      check_monitor(f.getMonitor());
      return;
    case wire::Frame::DEMONITOR:
      check_monitor(f.getDemonitor());
      return;
    case wire::Frame::DOWN:
      read_pid(f.getDown().getFrom());
      read_pid(f.getDown().getTo());
      read_ref(f.getDown().getRef());
      read_term(f.getDown().getReason());
      return;
    case wire::Frame::SPAWN_REQUEST:
      read_pid(f.getSpawnRequest().getFrom());
      read_term(f.getSpawnRequest().getArgs());
      return;
    case wire::Frame::SPAWN_REPLY: {
      auto r = f.getSpawnReply();
      read_pid(r.getTo());
      if (r.isPid()) read_pid(r.getPid());
      if (r.isError()) read_term(r.getError());
      return;
    }
    case wire::Frame::GLOBAL_REGISTER:
      check_global_entry(f.getGlobalRegister().getName(), f.getGlobalRegister().getPid());
      return;
    case wire::Frame::GLOBAL_UNREGISTER:
      check_global_entry(f.getGlobalUnregister().getName(), f.getGlobalUnregister().getPid());
      return;
    case wire::Frame::GLOBAL_SYNC:
      for (auto e : f.getGlobalSync().getEntries()) check_global_entry(e.getName(), e.getPid());
      for (auto p : f.getGlobalSync().getDeadOwners()) read_pid(p);
      return;
    case wire::Frame::GLOBAL_REQUEST:
      read_pid(f.getGlobalRequest().getFrom());
      check_global_entry(f.getGlobalRequest().getName(), f.getGlobalRequest().getPid());
      return;
    case wire::Frame::GLOBAL_REPLY:
      read_pid(f.getGlobalReply().getTo());
      return;
    case wire::Frame::GLOBAL_ACK:
      return;
    case wire::Frame::PG_JOIN:
      check_pg(f.getPgJoin());
      return;
    case wire::Frame::PG_LEAVE:
      check_pg(f.getPgLeave());
      return;
    case wire::Frame::PG_SYNC:
      for (auto m : f.getPgSync().getGroups()) check_pg(m);
      return;
    case wire::Frame::PEERS:
      for (auto p : f.getPeers().getNodes()) check_name(p.getNode().getName());
      return;
    case wire::Frame::HELLO:
      check_name(f.getHello().getNode().getName());
      return;
    case wire::Frame::CHALLENGE:
    case wire::Frame::CHALLENGE_REPLY:
    case wire::Frame::CHALLENGE_ACK:
    case wire::Frame::TICK:
    case wire::Frame::FRAGMENT:
      return;
  }
  // A kind added by a newer node: not an error, the connection layer skips it.
}

}  // namespace

void check_batch(std::size_t to_ids, std::size_t messages) {
  if (to_ids != messages)
    throw WireError("LocalSends of " + std::to_string(messages) + " messages names " +
                    std::to_string(to_ids) + " targets");
}

void validate_frame(wire::Frame::Reader frame) {
  try {
    check(frame);
  } catch (const kj::Exception& e) {
    rethrow(e, "malformed frame");
  }
}

std::size_t decode_all(std::span<const std::byte> bytes, DecoderLimits limits) {
  FrameDecoder decoder(limits);
  decoder.feed(bytes);
  std::size_t frames = 0;
  while (auto words = decoder.next()) {
    FrameReader reader(*words, limits);
    validate_frame(reader.root());
    ++frames;
  }
  if (decoder.buffered() != 0)
    throw WireError("truncated frame: " + std::to_string(decoder.buffered()) + " bytes left over");
  return frames;
}

}  // namespace ember::net
