#include <catch2/catch.hpp>

#include <random>

#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

using namespace ember;
using namespace ember::net;

namespace {

std::vector<std::byte> one_frame(const Term& t) {
  std::vector<std::byte> out;
  FrameEncoder enc;
  enc.encode_send(out, Pid(0, 1, 0), Pid(0, 2, 0), t);
  return out;
}

void put_u32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = std::byte(v >> (8 * i));
}

}  // namespace

TEST_CASE("frames split at every byte boundary come out whole and in order") {
  std::vector<std::byte> stream;
  FrameEncoder enc;
  for (int i = 0; i < 50; ++i)
    enc.encode_send(stream, Pid(0, 1, 0), Pid(0, 2, 0), tuple("seq"_a, i));
  FrameDecoder dec;
  int expected = 0;
  for (std::byte b : stream) {
    dec.feed({&b, 1});
    while (auto words = dec.next()) {
      FrameReader r(*words);
      Term t = read_term(r.root().getSend().getMessage());
      CHECK(t[1].as<int>() == expected++);
    }
  }
  CHECK(expected == 50);
  CHECK(dec.buffered() == 0);
  CHECK(decode_all(stream) == 50);
}

TEST_CASE("truncated frames are incomplete, never misread") {
  auto frame = one_frame(tuple("hello"_a, "world", list(1, 2, 3)));
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    FrameDecoder dec;
    dec.feed({frame.data(), cut});
    CHECK_FALSE(dec.next());
    CHECK_THROWS_WITH(decode_all({frame.data(), cut}), Catch::Contains("truncated"));
  }
}

TEST_CASE("a claimed length of 1 GiB is refused before buffering it") {
  auto frame = one_frame(Term(1));
  put_u32(frame, 0, 1u << 30);
  FrameDecoder dec;
  dec.feed(frame);
  CHECK_THROWS_WITH(dec.next(), Catch::Contains("exceeds the limit"));
  CHECK(dec.buffered() == frame.size());  // nothing grew towards the claim
}

TEST_CASE("wrong lengths are errors") {
  auto frame = one_frame(tuple("a"_a, 1));
  SECTION("not a multiple of 8") {
    put_u32(frame, 0, 13);
    CHECK_THROWS_WITH(decode_all(frame), Catch::Contains("multiple of 8"));
  }
  SECTION("zero") {
    put_u32(frame, 0, 0);
    CHECK_THROWS_AS(decode_all(frame), WireError);
  }
  SECTION("shorter than the message's own segment table says") {
    std::uint32_t len = std::uint32_t(frame.size() - kFrameHeaderBytes - 8);
    put_u32(frame, 0, len);
    frame.resize(kFrameHeaderBytes + len);
    CHECK_THROWS_AS(decode_all(frame), WireError);
  }
  SECTION("longer than the message") {
    std::uint32_t len = std::uint32_t(frame.size() - kFrameHeaderBytes + 8);
    put_u32(frame, 0, len);
    frame.resize(kFrameHeaderBytes + len);
    CHECK_THROWS_WITH(decode_all(frame), Catch::Contains("left over"));
  }
  SECTION("segment table claiming a huge segment") {
    put_u32(frame, kFrameHeaderBytes + 4, 1u << 28);
    CHECK_THROWS_AS(decode_all(frame), WireError);
  }
  SECTION("segment table claiming many segments") {
    put_u32(frame, kFrameHeaderBytes, 100000);
    CHECK_THROWS_AS(decode_all(frame), WireError);
  }
  SECTION("unknown header flags") {
    put_u32(frame, 4, 1);
    CHECK_THROWS_WITH(decode_all(frame), Catch::Contains("flags"));
  }
}

TEST_CASE("random bytes are rejected or decoded, never crash") {
  std::mt19937_64 rng(7);
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::byte> junk(8 + rng() % 200);
    for (auto& b : junk) b = std::byte(rng());
    if (i % 2) put_u32(junk, 0, std::uint32_t((junk.size() - 8) & ~7u));  // plausible length
    put_u32(junk, 4, 0);
    try {
      decode_all(junk);
    } catch (const WireError&) {
      ++rejected;
    }
  }
  CHECK(rejected > 2500);
}

TEST_CASE("random corruption of real frames never crashes") {
  std::mt19937_64 rng(11);
  auto good = one_frame(tuple("report"_a, "a binary", list(1, 2.5, "x"_a), map({{"k"_a, 1}})));
  for (int i = 0; i < 5000; ++i) {
    auto bad = good;
    for (int flips = 1 + int(rng() % 4); flips > 0; --flips)
      bad[kFrameHeaderBytes + rng() % (bad.size() - kFrameHeaderBytes)] = std::byte(rng());
    try {
      decode_all(bad);
    } catch (const WireError&) {
    }
  }
  SUCCEED("5000 corrupted frames decoded or refused without a crash");
}

TEST_CASE("an unknown frame kind from a newer node is skipped, not an error") {
  auto frame = one_frame(Term(1));
  // The union discriminant of the root Frame: root pointer at word 1 (after the segment
  // table), the struct's data section right after it.
  FrameDecoder dec;
  dec.feed(frame);
  auto words = dec.next();
  REQUIRE(words);
  auto* data = const_cast<std::byte*>(reinterpret_cast<const std::byte*>(words->begin()));
  // Segment table (1 word) + root pointer (1 word) => the data section starts at byte 16.
  data[16] = std::byte(200);
  data[17] = std::byte(0);
  FrameReader reader(*words);
  auto root = reader.root();
  CHECK(unsigned(root.which()) == 200);
  CHECK_NOTHROW(validate_frame(root));
}
