// Writes seed inputs for the fuzzers: terms of every kind as text, and frames carrying them
// (Send, and LocalSends batches).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../support/random_term.hpp"
#include "ember/core/term_text.hpp"
#include "ember/net/frame_encoder.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_seeds TEXT_DIR FRAME_DIR\n");
    return 2;
  }
  ember::testing::RandomTerm gen(42);
  ember::net::FrameEncoder encoder;
  for (int i = 0; i < 64; ++i) {
    ember::Term t = gen(3);
    std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(i)) << ember::print_term(t);
    std::vector<std::byte> frame;
    encoder.encode_send(frame, ember::Pid(0, 1, 1), ember::Pid(0, 2, 1), t);
    std::ofstream(std::string(argv[2]) + "/seed" + std::to_string(i), std::ios::binary)
        .write(reinterpret_cast<const char*>(frame.data()), std::streamsize(frame.size()));
  }
  // Batches of one sender's messages (LocalSends), so the fuzzer starts from that kind too.
  for (int i = 0; i < 16; ++i) {
    std::vector<ember::Term> terms = {gen(2), gen(2), gen(3)};
    std::vector<std::uint64_t> to = {1, 2, std::uint64_t(i)};
    std::vector<std::byte> frame;
    encoder.encode_local_sends(frame, 9, to, terms);
    std::ofstream(std::string(argv[2]) + "/batch" + std::to_string(i), std::ios::binary)
        .write(reinterpret_cast<const char*>(frame.data()), std::streamsize(frame.size()));
  }
  return 0;
}
