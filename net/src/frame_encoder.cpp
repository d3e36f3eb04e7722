// Frame = header + Cap'n Proto message in the standard flat (unpacked) encoding.
#include "ember/net/frame_encoder.hpp"

#include <algorithm>
#include <cstring>

#include "ember/net/term_codec.hpp"
#include "segment_writer.hpp"

namespace ember::net {

namespace {

void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}

// Header, segment table and a one-segment message whose root is a Frame (1 data word, 1
// pointer), filled by fill(writer, index of the Frame struct). On a throw `out` is as it was.
template <class Fill>
std::size_t write_flat(std::vector<std::byte>& out, Fill&& fill) {
  static_assert(wire::Frame::_capnpPrivate::dataWordSize == 1 &&
                wire::Frame::_capnpPrivate::pointerCount == 1);
  std::size_t start = out.size();
  try {
    out.resize(start + kFrameHeaderBytes + 8);  // the header and a one-segment table
    SegmentWriter w(out);
    std::size_t root = w.alloc(1), frame = w.alloc(2);
    w.struct_ptr(root, frame, 1, 1);
    fill(w, frame);
    // The header's u32 length bounds the message (segment table included), which also
    // keeps every pointer offset within its 30 signed bits.
    if (8 + w.words() * 8 > UINT32_MAX) throw WireError("frame larger than 4 GiB");
    std::byte* head = out.data() + start;
    put_u32(head, std::uint32_t(8 + w.words() * 8));  // then u32 flags, 0
    put_u32(head + kFrameHeaderBytes, 0);             // segments - 1
    put_u32(head + kFrameHeaderBytes + 4, std::uint32_t(w.words()));
  } catch (...) {
    out.resize(start);
    throw;
  }
  return out.size() - start;
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

// LocalSend and LocalSends, the frames of a stream, are laid out by SegmentWriter straight
// into `out` rather than built by Cap'n Proto and copied (see segment_writer.hpp).
std::size_t FrameEncoder::encode_local_send(std::vector<std::byte>& out, std::uint64_t from_id,
                                            std::uint64_t to_id, const Term& message) {
  return write_flat(out, [&](SegmentWriter& w, std::size_t frame) {
    w.put(frame, wire::Frame::LOCAL_SEND);
    std::size_t send = w.alloc(3);
    w.struct_ptr(frame + 1, send, 2, 1);
    w.put(send, from_id);
    w.put(send + 1, to_id);
    std::size_t term = w.alloc(3);
    w.struct_ptr(send + 2, term, 2, 1);
    w.term(term, message.word());
  });
}

std::size_t FrameEncoder::encode_local_sends(std::vector<std::byte>& out, std::uint64_t from_id,
                                             std::span<const std::uint64_t> to_ids,
                                             std::span<const Term> messages) {
  return write_flat(out, [&](SegmentWriter& w, std::size_t frame) {
    w.put(frame, wire::Frame::LOCAL_SENDS);
    std::size_t sends = w.alloc(3);
    w.struct_ptr(frame + 1, sends, 1, 2);
    w.put(sends, from_id);
    std::size_t ids = w.alloc(to_ids.size());
    w.list_ptr(sends + 1, ids, SegmentWriter::kEightBytes, to_ids.size());
    for (std::size_t i = 0; i < to_ids.size(); ++i) w.put(ids + i, to_ids[i]);
    std::size_t first = w.struct_list(sends + 2, messages.size(), 2, 1);
    for (std::size_t i = 0; i < messages.size(); ++i) w.term(first + 3 * i, messages[i].word());
  });
}

}  // namespace ember::net
