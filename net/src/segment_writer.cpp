// wire::Term laid out as Cap'n Proto's builder lays it out (see segment_writer.hpp). The
// struct shapes and union tags are those of wire.capnp.h; a static_assert below holds
// each to the generated code, so a schema change that moves one fails the build.
#include "segment_writer.hpp"

#include <bit>
#include <string>
#include <string_view>

#include "ember/core/node_table.hpp"
#include "ember/net/term_codec.hpp"
#include "wire.capnp.h"

namespace ember::net {

using detail::Box;
using detail::Word;

namespace {

template <class T>
constexpr bool shaped(unsigned data, unsigned ptrs) {
  return T::_capnpPrivate::dataWordSize == data && T::_capnpPrivate::pointerCount == ptrs;
}
static_assert(shaped<wire::Term>(2, 1) && shaped<wire::MapEntry>(0, 2) && shaped<wire::Pid>(1, 1) &&
              shaped<wire::Ref>(1, 1) && shaped<wire::NodeId>(1, 1));

// A Term: the union's tag in the low 16 bits of data word 0, int or float in data word 1,
// everything else behind its one pointer.
constexpr std::size_t kTag = 0, kValue = 1, kPointer = 2;

void tag(SegmentWriter& w, std::size_t slot, wire::Term::Which which) {
  if (which != wire::Term::ATOM) w.put(slot + kTag, std::uint64_t(which));
}

}  // namespace

std::size_t SegmentWriter::struct_list(std::size_t at, std::size_t n, unsigned data,
                                       unsigned ptrs) {
  std::size_t each = data + ptrs;
  std::size_t list = alloc(1 + n * each);
  // The tag word is shaped as a struct pointer whose offset field holds the count.
  put(list, std::uint64_t(n) << 2 | std::uint64_t(data) << 32 | std::uint64_t(ptrs) << 48);
  list_ptr(at, list, kComposite, n * each);
  return list + 1;
}

void SegmentWriter::blob(std::size_t at, const void* bytes, std::size_t n, std::size_t count) {
  std::size_t start = words();
  auto* p = static_cast<const std::byte*>(bytes);
  out_.insert(out_.end(), p, p + n);  // not resize-then-copy: that would zero every byte first
  out_.resize(base_ + (start + (count + 7) / 8) * 8);  // NUL and padding: zeroes
  list_ptr(at, start, kBytes, count);
}

void SegmentWriter::node(std::size_t at, std::uint32_t index) {
  NodeIdentity id = NodeTable::identity(index);
  std::size_t node = alloc(2);
  struct_ptr(at, node, 1, 1);
  std::string_view name = id.name.text();
  text(node + 1, name.data(), name.size());
  put(node, id.creation);
}

// A Pid or a Ref: the node, then the id, as write_pid and write_ref set them.
void SegmentWriter::id_struct(std::size_t at, std::uint32_t node_index, std::uint64_t id) {
  std::size_t s = alloc(2);
  struct_ptr(at, s, 1, 1);
  node(s + 1, node_index);
  put(s, id);
}

void SegmentWriter::term(std::size_t slot, Word w, std::size_t depth) {
  if (depth > kMaxWireDepth)
    throw WireError("term nested deeper than " + std::to_string(kMaxWireDepth) + " levels");
  switch (detail::tag_of(w)) {
    case detail::Tag::kSmallInt:
      tag(*this, slot, wire::Term::INT);
      put(slot + kValue, std::uint64_t(detail::small_value(w)));
      return;
    case detail::Tag::kAtom: {
      std::string_view s = detail::atom_of(w).text();
      text(slot + kPointer, s.data(), s.size());
      return;
    }
    case detail::Tag::kPid: {
      Pid pid = detail::pid_of(w);
      tag(*this, slot, wire::Term::PID);
      id_struct(slot + kPointer, pid.node(), pid_id(pid));
      return;
    }
    case detail::Tag::kNil:
      tag(*this, slot, wire::Term::LIST);
      struct_list(slot + kPointer, 0, 2, 1);
      return;
    case detail::Tag::kBoxed:
      break;
  }
  const Word* box = detail::box_of(w);
  std::uint64_t n = detail::box_count(box);
  switch (detail::box_kind(box)) {
    case Box::kInt:
      tag(*this, slot, wire::Term::INT);
      put(slot + kValue, box[1]);
      return;
    case Box::kFloat:
      tag(*this, slot, wire::Term::FLOAT);
      put(slot + kValue, box[1]);
      return;
    case Box::kRef:
      tag(*this, slot, wire::Term::REF);
      id_struct(slot + kPointer, std::uint32_t(n), box[1]);
      return;
    case Box::kBinary:
    case Box::kBinaryRef:
      tag(*this, slot, wire::Term::BINARY);
      data(slot + kPointer, detail::binary_bytes(box), n);
      return;
    case Box::kTuple:
    case Box::kList: {
      tag(*this, slot, detail::box_kind(box) == Box::kTuple ? wire::Term::TUPLE : wire::Term::LIST);
      std::size_t first = struct_list(slot + kPointer, n, 2, 1);
      for (std::uint64_t i = 0; i < n; ++i) term(first + 3 * i, box[1 + i], depth + 1);
      return;
    }
    case Box::kMap: {
      tag(*this, slot, wire::Term::MAP);
      std::size_t first = struct_list(slot + kPointer, n, 0, 2);
      for (std::uint64_t i = 0; i < n; ++i) {
        std::size_t entry = first + 2 * i;
        std::size_t key = alloc(3);
        struct_ptr(entry, key, 2, 1);
        term(key, box[1 + i], depth + 1);
        std::size_t value = alloc(3);
        struct_ptr(entry + 1, value, 2, 1);
        term(value, box[1 + n + i], depth + 1);
      }
      return;
    }
  }
}

}  // namespace ember::net
