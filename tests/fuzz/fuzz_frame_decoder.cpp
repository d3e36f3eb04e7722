// libFuzzer: any bytes either fail to decode with WireError, or decode to frames whose
// terms survive a re-encode and decode unchanged.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <kj/exception.h>

#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

using namespace ember;
using namespace ember::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  DecoderLimits limits;
  limits.max_frame_bytes = 1 << 20;
  FrameDecoder decoder(limits);
  decoder.feed({reinterpret_cast<const std::byte*>(data), size});
  try {
    while (auto words = decoder.next()) {
      FrameReader reader(*words, limits);
      auto frame = reader.root();
      validate_frame(frame);
      if (!frame.isSend()) continue;
      Term t = read_term(frame.getSend().getMessage());
      std::vector<std::byte> again;
      FrameEncoder encoder;
      encoder.encode_send(again, read_pid(frame.getSend().getFrom()),
                          read_pid(frame.getSend().getTo()), t);
      FrameDecoder second;
      second.feed(again);
      auto w2 = second.next();
      if (!w2) __builtin_trap();
      FrameReader r2(*w2);
      if (!(read_term(r2.root().getSend().getMessage()) == t)) __builtin_trap();
    }
  } catch (const WireError&) {
  } catch (const kj::Exception&) {
    // The generated accessors used above report hostile input this way (documented).
  }
  return 0;
}
