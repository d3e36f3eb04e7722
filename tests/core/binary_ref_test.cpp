// Binaries longer than 64 bytes built into another term are referenced, not copied
// (core/src/term_heap.cpp: box_binary_ref, deep_copy, TermHeap::destroy).
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "ember/core/term.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using detail::Box;

namespace {

Box kind_of(const Term& t) {
  return detail::box_kind(detail::box_of(t.word()));
}

std::uint32_t refs_of(const Term& t) {
  return t.heap()->refs.load();
}

std::string bytes_of(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = char(seed + i % 23);
  return s;
}

}  // namespace

TEST_CASE("a binary over 64 bytes put in a tuple is referenced, not copied") {
  Term big(bytes_of(1024, 'a'));
  REQUIRE(refs_of(big) == 1);
  Term t = tuple("seq"_a, 7, big);
  CHECK(kind_of(t[2]) == Box::kBinaryRef);
  CHECK(t[2].bytes().data() == big.bytes().data());  // the same bytes, not a copy
  CHECK(refs_of(big) == 2);
  // The tuple's own heap holds the tuple and the ref box, not the kilobyte.
  CHECK(t.heap()->words == detail::tuple_words(3) + detail::kBinaryRefWords);
  // What it keeps alive still counts, for flow control and the size limit.
  CHECK(t.heap_bytes() >= 1024);
  CHECK(t.heap_bytes() == sizeof(detail::TermHeap) + t.heap()->words * 8 + 1024);
}

TEST_CASE("a binary of 64 bytes or fewer is copied into the new heap") {
  Term small(bytes_of(64, 'a'));
  Term t = tuple("seq"_a, small);
  CHECK(kind_of(t[1]) == Box::kBinary);
  CHECK(t[1].bytes().data() != small.bytes().data());
  CHECK(refs_of(small) == 1);
  CHECK(t[1] == small);
}

TEST_CASE("a referenced binary reads, compares, hashes and prints as the binary it names") {
  std::string text = bytes_of(200, 'A');
  Term inline_bin(text);
  Term t = tuple(inline_bin);
  Term ref = t[0];
  REQUIRE(kind_of(ref) == Box::kBinaryRef);
  CHECK(ref.is_binary());
  CHECK(ref.kind() == TermKind::kBinary);
  CHECK(ref.size() == 200);
  CHECK(ref.text() == text);
  CHECK(ref == inline_bin);
  CHECK(inline_bin == ref);
  CHECK(ref.hash() == inline_bin.hash());
  CHECK((ref <=> inline_bin) == std::strong_ordering::equal);
  CHECK(ref < Term(text + "x"));
  CHECK(Term(bytes_of(200, 'B')) > ref);
  CHECK(print_term(ref) == print_term(inline_bin));
  CHECK(tuple(ref) == tuple(inline_bin));
  CHECK(parse_term(print_term(t)) == t);
}

TEST_CASE("a ref copied into a third term names the heap that holds the bytes") {
  Term big(bytes_of(100, 'q'));
  Term inner = tuple(big);
  Term outer = list(inner, inner[0], map({{Term("k"), inner}}));
  // Three refs in outer (inner's, the bare one and the map value's), one in inner.
  CHECK(refs_of(big) == 5);
  CHECK(outer[1].bytes().data() == big.bytes().data());
  CHECK(refs_of(inner) == 1);  // outer copied inner's ref box, it did not keep inner
  inner = Term();
  CHECK(refs_of(big) == 4);
  CHECK(outer[2].get(Term("k"))->element(0) == big);
  outer = Term();
  CHECK(refs_of(big) == 1);
}

TEST_CASE("the owner outlives the term it was made for") {
  Term t;
  const std::byte* where = nullptr;
  {
    Term big(bytes_of(4096, 'z'));
    where = big.bytes().data();
    t = tuple_of(std::vector<Term>{Term("x"_a), big});
  }
  CHECK(t[1].bytes().data() == where);
  CHECK(t[1].text() == bytes_of(4096, 'z'));
}

TEST_CASE("a term with refs shared across threads releases its owners once") {
  Term big(bytes_of(512, 'm'));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([big] {
      for (int k = 0; k < 20000; ++k) {
        Term t = tuple(k, big, big);
        Term u = tuple(t[1], t);
        if (u[0].size() != 512) std::abort();
      }
    });
  for (auto& th : threads) th.join();
  CHECK(refs_of(big) == 1);
}

TEST_CASE("a builder that throws midway releases the owners it already took") {
  Term big(bytes_of(300, 'e'));
  struct Boom {};
  CHECK_THROWS_AS(([&] {
                    detail::HeapWriter out(2 * detail::source_words(big));
                    detail::source_write(big, out);
                    detail::source_write(big, out);
                    CHECK(refs_of(big) == 3);
                    throw Boom{};
                  }()),
                  Boom);
  CHECK(refs_of(big) == 1);
}

TEST_CASE("a ref is never written into a caller's buffer") {
  Term big(bytes_of(128, 'b'));
  detail::Word buffer[16];
  detail::HeapWriter w(buffer, 16);
  CHECK_THROWS_AS(detail::deep_copy(big.word(), w, big.heap()), std::logic_error);
  CHECK(refs_of(big) == 1);
  // Without a heap to keep alive, the bytes are copied.
  detail::HeapWriter heap(detail::deep_words(big.word()));
  detail::Word copy = detail::deep_copy(big.word(), heap);
  Term owned = Term::adopt(copy, heap.release());
  CHECK(kind_of(owned) == Box::kBinary);
  CHECK(owned == big);
}
