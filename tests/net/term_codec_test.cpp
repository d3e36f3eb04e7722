#include <catch2/catch.hpp>

#include <capnp/message.h>

#include "../support/one_frame.hpp"
#include "../support/random_term.hpp"
#include "ember/core/node_table.hpp"
#include "ember/core/term_text.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

using namespace ember;
using namespace ember::net;

namespace {

// Encodes a send frame carrying `t` and decodes it again as a receiving node would.
Term round_trip(const Term& t, FrameEncoder& enc) {
  std::vector<std::byte> bytes;
  enc.encode_send(bytes, Pid(0, 1, 0), Pid(0, 2, 0), t);
  Term back;
  testing::with_one_frame(bytes, [&](wire::Frame::Reader frame) {
    REQUIRE(frame.isSend());
    CHECK(read_pid(frame.getSend().getTo()) == Pid(0, 2, 0));
    back = read_term(frame.getSend().getMessage());
  });
  return back;
}

Term decode_term_message(capnp::MallocMessageBuilder& msg) {
  auto words = capnp::messageToFlatArray(msg);
  capnp::ReaderOptions o;
  o.nestingLimit = 10000000;
  o.traversalLimitInWords = 1ull << 40;
  capnp::FlatArrayMessageReader reader(words, o);
  return read_term(reader.getRoot<wire::Term>());
}

}  // namespace

TEST_CASE("encode then decode is the identity on random terms") {
  testing::RandomTerm gen(3);
  FrameEncoder enc(64);  // small scratch: big terms spill into extra segments, also tested
  for (int i = 0; i < 5000; ++i) {
    Term t = gen();
    INFO(print_term(t));
    Term back = round_trip(t, enc);
    REQUIRE(back == t);
    REQUIRE(print_term(back) == print_term(t));
  }
}

TEST_CASE("pids carry their node's name and creation on the wire") {
  auto index = NodeTable::intern(Atom("peer@10.0.0.2:4370"), 7);
  REQUIRE(index);
  Pid p(*index, 99, 3);
  FrameEncoder enc;
  Term back = round_trip(tuple("from"_a, p), enc);
  CHECK(back[1].as<Pid>() == p);

  capnp::MallocMessageBuilder msg;
  auto w = msg.initRoot<wire::Pid>();
  write_pid(w, p);
  CHECK(std::string(w.getNode().getName().cStr()) == "peer@10.0.0.2:4370");
  CHECK(w.getNode().getCreation() == 7);
  // The same name with another creation is another incarnation: another node index.
  w.getNode().setCreation(8);
  Pid other = read_pid(w.asReader());
  CHECK(other.node() != p.node());
  CHECK(other.slot() == p.slot());
}

TEST_CASE("pids of many nodes and incarnations, decoded in turn, keep their own node") {
  // read_node remembers the last nodes it decoded: nodes that take turns, and two
  // incarnations of one name, must never be mixed up.
  std::vector<Pid> pids;
  for (std::uint32_t creation : {1u, 2u})
    for (const char* name : {"a@h:1", "b@h:1", "c@h:1", "a@h:10"}) {
      auto index = NodeTable::intern(Atom(name), creation);
      REQUIRE(index);
      pids.push_back(Pid(*index, 5, 1));
    }
  for (int round = 0; round < 3; ++round)
    for (std::size_t i = 0; i < pids.size(); i += 1 + round) {
      capnp::MallocMessageBuilder msg;
      auto w = msg.initRoot<wire::Pid>();
      write_pid(w, pids[i]);
      CHECK(read_pid(w.asReader()) == pids[i]);
    }
}

TEST_CASE("an unsorted or duplicated map from a peer is put in order") {
  capnp::MallocMessageBuilder msg;
  auto entries = msg.initRoot<wire::Term>().initMap(3);
  entries[0].initKey().setAtom("b");
  entries[0].initValue().setInt(2);
  entries[1].initKey().setAtom("a");
  entries[1].initValue().setInt(1);
  entries[2].initKey().setAtom("b");
  entries[2].initValue().setInt(3);
  Term t = decode_term_message(msg);
  CHECK(t == map({{"a"_a, 1}, {"b"_a, 3}}));
  CHECK(print_term(t) == "#{a => 1,b => 3}");
}

TEST_CASE("hostile term fields are refused with a WireError") {
  SECTION("non-finite float") {
    capnp::MallocMessageBuilder msg;
    msg.initRoot<wire::Term>().setFloat(std::numeric_limits<double>::infinity());
    CHECK_THROWS_WITH(decode_term_message(msg), Catch::Contains("not finite"));
  }
  SECTION("atom longer than Erlang allows") {
    capnp::MallocMessageBuilder msg;
    std::string long_atom(256, 'a');
    msg.initRoot<wire::Term>().setAtom(long_atom);
    CHECK_THROWS_WITH(decode_term_message(msg), Catch::Contains("atom longer"));
  }
  SECTION("pid id wider than a local id") {
    capnp::MallocMessageBuilder msg;
    auto pid = msg.initRoot<wire::Term>().initPid();
    pid.initNode().setName("x@y");
    pid.setId(~0ull);
    CHECK_THROWS_AS(decode_term_message(msg), WireError);
  }
  SECTION("nesting 10,000 deep") {
    capnp::MallocMessageBuilder msg;
    auto t = msg.initRoot<wire::Term>();
    for (int i = 0; i < 10000; ++i) t = t.initTuple(1)[0];
    t.setInt(1);
    CHECK_THROWS_WITH(decode_term_message(msg), Catch::Contains("nested deeper"));
  }
}

TEST_CASE("the encoder refuses a term too deep for the wire") {
  Term t = Term(1);
  for (std::size_t i = 0; i < kMaxWireDepth + 5; ++i) t = tuple(t);
  std::vector<std::byte> out;
  FrameEncoder enc;
  CHECK_THROWS_AS(enc.encode_send(out, Pid(), Pid(), t), WireError);
  Term ok = Term(1);
  for (std::size_t i = 0; i < kMaxWireDepth - 5; ++i) ok = list(ok);
  CHECK(round_trip(ok, enc) == ok);
}

// read_term reads most terms once into a per-thread scratch heap (8,192 words); a larger
// one is sized first. Both ways give the term sent, heap size included.
TEST_CASE("terms that fit the decoder's scratch heap and terms that do not read back equal") {
  FrameEncoder enc;
  std::vector<std::int64_t> ints;
  for (std::int64_t i = 0; i < 20000; ++i)
    ints.push_back((std::int64_t(1) << 62) + i);  // boxed integers
  Term big = tuple("big"_a, list_of(ints), std::string(100000, 'b'));
  Term small = tuple("small"_a, std::string(1000, 's'), 3.5, list(1, 2, 3));
  for (const Term& t : {small, big, small}) {
    Term back = round_trip(t, enc);
    CHECK(back == t);
    CHECK(back.heap_bytes() == t.heap_bytes());
  }
}

// The decoder remembers recent atoms by length and first byte: atoms that share both
// (and so one cache slot) still come back as themselves, in any order.
TEST_CASE("atoms that share the decoder's cache slot decode as themselves") {
  FrameEncoder enc;
  for (int i = 0; i < 3; ++i) {
    CHECK(round_trip(tuple("ab"_a, "ac"_a), enc) == tuple("ab"_a, "ac"_a));
    CHECK(round_trip(Term("ac"_a), enc) == Term("ac"_a));
    CHECK(round_trip(Term("ab"_a), enc) == Term("ab"_a));
  }
}

TEST_CASE("a stream of terms of changing size reads back whole, heaps sized to each") {
  // The decoder reads into a heap the size of the last term: the same size, a larger one
  // (which outgrows it), a much smaller one (which would waste it) and an immediate.
  std::vector<std::byte> kilobyte(1024, std::byte{7});
  std::vector<Term> stream = {tuple("seq"_a, 1),
                              tuple("seq"_a, 2),
                              tuple("seq"_a, 3, Bytes{kilobyte}),
                              tuple("seq"_a, 4, Bytes{kilobyte}),
                              tuple("seq"_a, 5),
                              Term("ok"_a),
                              tuple("seq"_a, 6),
                              tuple("seq"_a, 7, Bytes{kilobyte})};
  FrameEncoder enc;
  for (const Term& t : stream) {
    Term back = round_trip(t, enc);
    CHECK(back == t);
    // At most twice the words the term needs (none for an immediate).
    CHECK(back.heap_bytes() <= 2 * t.heap_bytes());
  }
}
