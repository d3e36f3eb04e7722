// Opens the one frame in a byte buffer as a receiving node would, for codec tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "ember/net/frame_decoder.hpp"

namespace ember::testing {

// Calls use(wire::Frame::Reader) on the frame `bytes` holds (the reader lives only that
// long), and checks nothing follows it.
template <class Use>
void with_one_frame(const std::vector<std::byte>& bytes, Use&& use) {
  net::FrameDecoder dec;
  dec.feed(bytes);
  auto words = dec.next();
  REQUIRE(words);
  net::FrameReader reader(*words);
  use(reader.root());
  CHECK_FALSE(dec.next());
}

}  // namespace ember::testing
