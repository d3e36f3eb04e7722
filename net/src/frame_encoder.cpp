// Frame = header + Cap'n Proto message in the standard flat (unpacked) encoding.
#include "ember/net/frame_encoder.hpp"

#include <algorithm>
#include <cstring>

#include "ember/net/term_codec.hpp"

namespace ember::net {

namespace {

void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}

}  // namespace

FrameEncoder::FrameEncoder(std::size_t scratch_words)
    : scratch_(new capnp::word[scratch_words]()), scratch_words_(scratch_words) {}

std::size_t FrameEncoder::append(capnp::MessageBuilder& message, std::vector<std::byte>& out) {
  auto segments = message.getSegmentsForOutput();
  // Segment table: u32 (count - 1), u32 size per segment, padded to a whole word.
  std::size_t table_words = (segments.size() + 2) / 2;
  std::size_t message_words = table_words;
  for (auto s : segments) message_words += s.size();
  std::size_t message_bytes = message_words * sizeof(capnp::word);
  if (message_bytes > UINT32_MAX) throw WireError("frame larger than 4 GiB");

  // Appended by insert, not resize: a resize would zero every byte before it is copied.
  std::size_t need = out.size() + kFrameHeaderBytes + message_bytes;
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
  // Header and segment table; a frame larger than the scratch has more than one segment.
  std::size_t head_bytes = kFrameHeaderBytes + table_words * sizeof(capnp::word);
  std::byte small[kFrameHeaderBytes + 64];
  std::vector<std::byte> large(head_bytes > sizeof small ? head_bytes : 0);
  std::byte* head = large.empty() ? small : large.data();
  std::memset(head, 0, head_bytes);
  put_u32(head, std::uint32_t(message_bytes));  // then u32 flags, 0
  put_u32(head + kFrameHeaderBytes, std::uint32_t(segments.size() - 1));
  for (std::size_t i = 0; i < segments.size(); ++i)
    put_u32(head + kFrameHeaderBytes + 4 * (i + 1), std::uint32_t(segments[i].size()));
  out.insert(out.end(), head, head + head_bytes);
  for (auto s : segments) {
    auto bytes = s.asBytes();
    out.insert(out.end(), reinterpret_cast<const std::byte*>(bytes.begin()),
               reinterpret_cast<const std::byte*>(bytes.end()));
  }
  return kFrameHeaderBytes + message_bytes;
}

std::size_t FrameEncoder::encode_send(std::vector<std::byte>& out, Pid from, Pid to,
                                      const Term& message) {
  return encode(out, [&](wire::Frame::Builder f) {
    auto send = f.initSend();
    write_pid(send.initFrom(), from);
    write_pid(send.initTo(), to);
    write_term(send.initMessage(), message);
  });
}

std::size_t FrameEncoder::encode_reg_send(std::vector<std::byte>& out, Pid from, Atom to,
                                          const Term& message) {
  return encode(out, [&](wire::Frame::Builder f) {
    auto send = f.initRegSend();
    write_pid(send.initFrom(), from);
    std::string_view name = to.text();
    send.setToName(capnp::Text::Reader(name.data(), name.size()));
    write_term(send.initMessage(), message);
  });
}

std::size_t FrameEncoder::encode_local_send(std::vector<std::byte>& out, std::uint64_t from_id,
                                            std::uint64_t to_id, const Term& message) {
  return encode(out, [&](wire::Frame::Builder f) {
    auto send = f.initLocalSend();
    send.setFromId(from_id);
    send.setToId(to_id);
    write_term(send.initMessage(), message);
  });
}

std::size_t FrameEncoder::encode_local_sends(std::vector<std::byte>& out, std::uint64_t from_id,
                                             std::span<const std::uint64_t> to_ids,
                                             std::span<const Term> messages) {
  return encode(out, [&](wire::Frame::Builder f) {
    auto sends = f.initLocalSends();
    sends.setFromId(from_id);
    auto to = sends.initToIds(unsigned(to_ids.size()));
    for (unsigned i = 0; i < to_ids.size(); ++i) to.set(i, to_ids[i]);
    auto terms = sends.initMessages(unsigned(messages.size()));
    for (unsigned i = 0; i < messages.size(); ++i) write_term(terms[i], messages[i]);
  });
}

}  // namespace ember::net
