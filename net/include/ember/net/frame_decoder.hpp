// Splits a byte stream into frames and opens each in place, with explicit limits.
#pragma once

#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ember/net/wire_error.hpp"
#include "wire.capnp.h"

namespace ember::net {

struct DecoderLimits {
  // Largest frame accepted; a header claiming more fails before a byte of it is buffered.
  std::uint32_t max_frame_bytes = 64u << 20;
  // Cap'n Proto pointer nesting: a term level takes two (tuple, list) or three (map)
  // levels, the envelope a few more. Term depth itself is capped at kMaxWireDepth.
  int nesting_limit = 3 * 200 + 16;
};

// Opens one frame's Cap'n Proto message in place (no copy) with limits sized to it: the
// traversal limit is a small multiple of the frame, so a message built to make the reader
// walk the same words again and again (amplification) fails instead of spinning.
// Cap'n Proto's generated accessors report a limit hit as kj::Exception; our functions
// (read_term, read_pid, validate_frame) turn it into WireError, code that calls the
// accessors directly must catch kj::Exception too.
class FrameReader {
 public:
  FrameReader(kj::ArrayPtr<const capnp::word> words, const DecoderLimits& limits = {});
  // Throws WireError if the message is not a readable Frame.
  wire::Frame::Reader root();

 private:
  capnp::FlatArrayMessageReader reader_;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(DecoderLimits limits = {});

  // Appends bytes read from the connection.
  void feed(std::span<const std::byte> bytes);
  // feed() without the copy: room for at least `bytes` more at the end, to read into
  // directly, then commit() what was written there. Like feed(), invalidates views.
  std::span<std::byte> space(std::size_t bytes);
  void commit(std::size_t bytes) { end_ += bytes; }
  // The message words of the next complete frame (header stripped), or nullopt until more
  // bytes arrive. The view is valid until the next feed(). Throws WireError for a bad
  // header; the stream is then unusable and the connection should be closed.
  std::optional<kj::ArrayPtr<const capnp::word>> next();
  // next() in two steps: the frame without consuming it, then (after a peek that returned
  // one) past it.
  std::optional<kj::ArrayPtr<const capnp::word>> peek() const;
  void pop();
  std::size_t buffered() const { return end_ - begin_; }
  const DecoderLimits& limits() const { return limits_; }

 private:
  void compact();

  DecoderLimits limits_;
  std::unique_ptr<capnp::word[]> buffer_;  // word-typed so every frame starts 8-byte aligned
  std::size_t capacity_ = 0;               // bytes
  std::size_t begin_ = 0, end_ = 0;        // byte offsets of unconsumed data
};

// Walks every field of a frame's message, decoding each term, so a frame with a bad part
// is rejected as a whole. Throws WireError.
void validate_frame(wire::Frame::Reader frame);
// A LocalSends frame names one target per message; throws WireError if the counts differ.
void check_batch(std::size_t to_ids, std::size_t messages);

// Decodes every complete frame in `bytes` (headers included) and validates each: the
// frame fuzzer's entry point and a convenience for tests. Returns the number of frames.
std::size_t decode_all(std::span<const std::byte> bytes, DecoderLimits limits = {});

}  // namespace ember::net
