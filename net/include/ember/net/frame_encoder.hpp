// Builds frames: an 8-byte header, then one Cap'n Proto message rooted at wire::Frame.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ember/core/term.hpp"
#include "wire.capnp.h"

namespace ember::net {

inline constexpr std::size_t kFrameHeaderBytes = 8;

// Reuses one zeroed scratch segment message after message (Cap'n Proto re-zeroes what it
// used), so a frame that fits the scratch costs no heap allocation beyond growth of `out`.
// One encoder per thread: it is not shareable.
class FrameEncoder {
 public:
  explicit FrameEncoder(std::size_t scratch_words = 1024);
  FrameEncoder(const FrameEncoder&) = delete;
  FrameEncoder& operator=(const FrameEncoder&) = delete;

  // Calls fill(wire::Frame::Builder) to build the frame, then appends header and message
  // to `out`. Returns the number of bytes appended.
  template <class Fill>
  std::size_t encode(std::vector<std::byte>& out, Fill&& fill) {
    capnp::MallocMessageBuilder message(scratch(), capnp::AllocationStrategy::GROW_HEURISTICALLY);
    fill(message.initRoot<wire::Frame>());
    return append(message, out);
  }

  std::size_t encode_send(std::vector<std::byte>& out, Pid from, Pid to, const Term& message);
  std::size_t encode_reg_send(std::vector<std::byte>& out, Pid from, Atom to, const Term& message);
  // Messages between the two ends' own processes, by pid id (see wire.capnp): one, or a
  // run of one sender's (`to_ids[i]` gets `messages[i]`) as one LocalSends frame.
  std::size_t encode_local_send(std::vector<std::byte>& out, std::uint64_t from_id,
                                std::uint64_t to_id, const Term& message);
  std::size_t encode_local_sends(std::vector<std::byte>& out, std::uint64_t from_id,
                                 std::span<const std::uint64_t> to_ids,
                                 std::span<const Term> messages);

 private:
  kj::ArrayPtr<capnp::word> scratch() { return {scratch_.get(), scratch_words_}; }
  static std::size_t append(capnp::MessageBuilder& message, std::vector<std::byte>& out);

  std::unique_ptr<capnp::word[]> scratch_;
  std::size_t scratch_words_;
};

}  // namespace ember::net
