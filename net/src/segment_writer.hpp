// SegmentWriter: lays out one Cap'n Proto segment by hand, straight into an outgoing buffer,
// for the frames a stream sends most (LocalSend, LocalSends).
//
// Cap'n Proto's MessageBuilder writes a message into a scratch segment that FrameEncoder then
// copies into the buffer, and zeroes the scratch again afterwards: three passes over every
// payload byte. This writes each byte once. It allocates in the order the builder does
// (depth first, a struct's slot before what it points to), so its output is the builder's,
// byte for byte, whenever the builder's fits one segment: tests/net/segment_writer_test.cpp
// compares the two on random terms.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ember/core/detail/term_heap.hpp"

namespace ember::net {

class SegmentWriter {
 public:
  // The segment starts at the end of `out`; appends only, so a failure can cut `out` back.
  explicit SegmentWriter(std::vector<std::byte>& out) : out_(out), base_(out.size()) {}

  // Allocates `n` zeroed words at the segment's end; returns the index of the first.
  std::size_t alloc(std::size_t n) {
    std::size_t at = words();
    out_.resize(out_.size() + n * 8);
    return at;
  }
  std::size_t words() const { return (out_.size() - base_) / 8; }

  void put(std::size_t word, std::uint64_t v) {
    static_assert(std::endian::native == std::endian::little, "the wire is little-endian");
    std::memcpy(out_.data() + base_ + word * 8, &v, 8);
  }
  // The pointer at word `at` to a struct at `target` with `data` words and `ptrs` pointers.
  void struct_ptr(std::size_t at, std::size_t target, unsigned data, unsigned ptrs) {
    put(at, offset_bits(at, target) | std::uint64_t(data) << 32 | std::uint64_t(ptrs) << 48);
  }
  // The pointer at word `at` to a list at `target`.
  enum ElementSize : unsigned { kBytes = 2, kEightBytes = 5, kComposite = 7 };
  void list_ptr(std::size_t at, std::size_t target, ElementSize size, std::uint64_t count) {
    put(at, offset_bits(at, target) | 1 | (std::uint64_t(size) | count << 3) << 32);
  }
  // A list of `n` structs, each `data` words and `ptrs` pointers, pointed to from `at`;
  // returns the index of the first struct.
  std::size_t struct_list(std::size_t at, std::size_t n, unsigned data, unsigned ptrs);
  // Text (NUL-terminated) or Data pointed to from `at`.
  void text(std::size_t at, const void* bytes, std::size_t n) { blob(at, bytes, n, n + 1); }
  void data(std::size_t at, const void* bytes, std::size_t n) { blob(at, bytes, n, n); }

  // wire::Term `w` into the Term struct (2 data words, 1 pointer) at `slot`. Throws
  // WireError, as write_term does, for a term nested deeper than kMaxWireDepth.
  void term(std::size_t slot, detail::Word w, std::size_t depth = 0);

 private:
  static std::uint64_t offset_bits(std::size_t at, std::size_t target) {
    return std::uint64_t(std::uint32_t(std::int64_t(target) - std::int64_t(at) - 1) << 2);
  }
  void blob(std::size_t at, const void* bytes, std::size_t n, std::size_t count);
  void node(std::size_t at, std::uint32_t index);
  void id_struct(std::size_t at, std::uint32_t node_index, std::uint64_t id);

  std::vector<std::byte>& out_;
  std::size_t base_;  // byte index of word 0
};

}  // namespace ember::net
