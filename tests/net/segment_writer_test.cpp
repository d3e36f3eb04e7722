// LocalSend and LocalSends frames are laid out by hand (net/src/segment_writer.hpp): their
// bytes must be exactly those Cap'n Proto's own builder produces, and read back the same.
#include <catch2/catch.hpp>

#include <vector>

#include "../support/one_frame.hpp"
#include "../support/random_term.hpp"
#include "ember/core/term_text.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

using namespace ember;
using namespace ember::net;

namespace {

// A scratch this large keeps the builder's output in one segment, as the writer's always is.
FrameEncoder& builder() {
  static FrameEncoder encoder(1u << 20);
  return encoder;
}

std::vector<std::byte> built_local_sends(std::uint64_t from, const std::vector<std::uint64_t>& to,
                                         const std::vector<Term>& messages) {
  std::vector<std::byte> bytes;
  builder().encode(bytes, [&](wire::Frame::Builder f) {
    auto sends = f.initLocalSends();
    sends.setFromId(from);
    auto ids = sends.initToIds(unsigned(to.size()));
    for (unsigned i = 0; i < to.size(); ++i) ids.set(i, to[i]);
    auto terms = sends.initMessages(unsigned(messages.size()));
    for (unsigned i = 0; i < messages.size(); ++i) write_term(terms[i], messages[i]);
  });
  return bytes;
}

std::vector<std::byte> built_local_send(std::uint64_t from, std::uint64_t to, const Term& t) {
  std::vector<std::byte> bytes;
  builder().encode(bytes, [&](wire::Frame::Builder f) {
    auto send = f.initLocalSend();
    send.setFromId(from);
    send.setToId(to);
    write_term(send.initMessage(), t);
  });
  return bytes;
}

// The messages of one LocalSends frame, read as a receiving node reads them.
std::vector<Term> read_back(const std::vector<std::byte>& bytes) {
  std::vector<Term> out;
  testing::with_one_frame(bytes, [&](wire::Frame::Reader frame) {
    REQUIRE(frame.isLocalSends());
    for (auto m : frame.getLocalSends().getMessages()) out.push_back(read_term(m));
  });
  return out;
}

Term nested(std::size_t depth) {
  Term t = "leaf"_a;
  for (std::size_t i = 0; i < depth; ++i) t = tuple(t);
  return t;
}

}  // namespace

TEST_CASE("LocalSends frames are byte for byte what Cap'n Proto builds, on random terms") {
  testing::RandomTerm gen(17);
  FrameEncoder encoder;
  for (int round = 0; round < 2000; ++round) {
    std::size_t n = 1 + gen.pick(6);
    std::vector<std::uint64_t> to;
    std::vector<Term> messages;
    for (std::size_t i = 0; i < n; ++i) {
      to.push_back(gen.pick(1u << 30));
      messages.push_back(gen());
    }
    INFO(print_term(messages[0]));
    std::vector<std::byte> bytes{std::byte(0xee)};  // appends after what is there
    std::size_t written = encoder.encode_local_sends(bytes, 42, to, messages);
    REQUIRE(written == bytes.size() - 1);
    bytes.erase(bytes.begin());
    REQUIRE(bytes == built_local_sends(42, to, messages));
    auto back = read_back(bytes);
    REQUIRE(back.size() == n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(back[i] == messages[i]);
  }
}

TEST_CASE("a LocalSend frame is byte for byte what Cap'n Proto builds") {
  testing::RandomTerm gen(23);
  FrameEncoder encoder;
  for (int round = 0; round < 2000; ++round) {
    Term t = gen();
    INFO(print_term(t));
    std::vector<std::byte> bytes;
    encoder.encode_local_send(bytes, 7, 1u << 20, t);
    REQUIRE(bytes == built_local_send(7, 1u << 20, t));
  }
}

TEST_CASE("a stream's message with a 1 KiB binary and every edge size of text and data") {
  std::vector<std::byte> kib(1024);
  for (std::size_t i = 0; i < kib.size(); ++i) kib[i] = std::byte(i % 251);
  std::vector<Term> messages{tuple("seq"_a, std::int64_t(500000), Term(Bytes{kib}))};
  for (std::size_t len : {0, 1, 6, 7, 8, 9, 15, 16, 17}) {
    messages.push_back(Term(std::string(len, 'b')));        // Data: no NUL
    messages.push_back(Term(Atom(std::string(len, 'a'))));  // Text: a NUL after
    messages.push_back(tuple(Term(std::string(len, 'c')), ""_a));
  }
  std::vector<std::uint64_t> to(messages.size(), 5);
  FrameEncoder encoder;
  std::vector<std::byte> bytes;
  encoder.encode_local_sends(bytes, 1, to, messages);
  REQUIRE(bytes == built_local_sends(1, to, messages));
  auto back = read_back(bytes);
  REQUIRE(back == messages);
}

TEST_CASE("a term nested past the wire's limit is refused and leaves the buffer as it was") {
  FrameEncoder encoder;
  std::vector<std::byte> bytes{std::byte(1), std::byte(2)};
  std::vector<std::uint64_t> to{1, 2};
  std::vector<Term> messages{"ok"_a, nested(kMaxWireDepth + 1)};
  CHECK_THROWS_AS(encoder.encode_local_sends(bytes, 1, to, messages), WireError);
  CHECK_THROWS_AS(encoder.encode_local_send(bytes, 1, 2, messages[1]), WireError);
  CHECK(bytes == std::vector<std::byte>{std::byte(1), std::byte(2)});
  // One level less is carried.
  encoder.encode_local_send(bytes, 1, 2, nested(kMaxWireDepth));
  CHECK(bytes.size() > 2);
}
