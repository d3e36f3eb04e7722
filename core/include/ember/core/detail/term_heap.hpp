// The representation behind Term: tagged words and the one-allocation heap a term tree
// lives in. Users never touch this; net/ uses it to decode a frame straight into a heap.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "ember/core/atom.hpp"
#include "ember/core/pid.hpp"

namespace ember::detail {

// A term word. The low 3 bits tag it:
//   000 pointer to a box (8-aligned)    001 small integer (61 bits, signed)
//   010 atom index                      011 pid (61 bits)
//   100 nil, the empty list
using Word = std::uint64_t;

enum class Tag : unsigned { kBoxed = 0, kSmallInt = 1, kAtom = 2, kPid = 3, kNil = 4 };
inline constexpr Word kTagMask = 7;
inline constexpr Word kNil = 4;
inline constexpr std::int64_t kSmallMin = -(std::int64_t(1) << 60);
inline constexpr std::int64_t kSmallMax = (std::int64_t(1) << 60) - 1;

constexpr Tag tag_of(Word w) {
  return Tag(w & kTagMask);
}
constexpr Word make_small(std::int64_t v) {
  return (Word(v) << 3) | Word(Tag::kSmallInt);
}
constexpr std::int64_t small_value(Word w) {
  return std::int64_t(w) >> 3;
}
constexpr Word make_atom(Atom a) {
  return (Word(a.index()) << 3) | Word(Tag::kAtom);
}
constexpr Atom atom_of(Word w) {
  return Atom::from_index(std::uint32_t(w >> 3));
}
constexpr Word make_pid(Pid p) {
  return (p.bits() << 3) | Word(Tag::kPid);
}
constexpr Pid pid_of(Word w) {
  return Pid::from_bits(w >> 3);
}

// A box starts with a header word: the kind in the low byte, a count above it
// (tuple arity, list length, map pairs, binary bytes, ref node).
enum class Box : std::uint8_t { kTuple = 1, kList, kMap, kBinary, kFloat, kInt, kRef, kBinaryRef };
// Layout after the header:
//   tuple, list  n element words
//   map          n key words (sorted by term order, unique), then n value words
//   binary       ceil(n / 8) words of bytes
//   float, int   one word (double bits / int64)
//   ref          one word (id); the node index is the header count
//   binary ref   a binary of n bytes held in another heap, as Erlang's refc binaries:
//                the bytes' address, the TermHeap* holding them (one reference), and
//                the chain word (see TermHeap::last_ref)
constexpr Word make_header(Box kind, std::uint64_t count) {
  return (count << 8) | Word(kind);
}
inline const Word* box_of(Word w) {
  return reinterpret_cast<const Word*>(w);
}
inline Box box_kind(const Word* box) {
  return Box(box[0] & 0xff);
}
inline std::uint64_t box_count(const Word* box) {
  return box[0] >> 8;
}
inline Word make_boxed(const Word* box) {
  return reinterpret_cast<Word>(box);
}

constexpr std::size_t binary_words(std::size_t bytes) {
  return (bytes + 7) / 8;
}

// Words a box of each kind takes, header included.
constexpr std::size_t tuple_words(std::size_t n) {
  return 1 + n;
}
constexpr std::size_t map_words(std::size_t n) {
  return 1 + 2 * n;
}
constexpr std::size_t blob_words(std::size_t bytes) {
  return 1 + binary_words(bytes);
}
inline constexpr std::size_t kScalarBoxWords = 2;
inline constexpr std::size_t kBinaryRefWords = 4;
// A binary longer than this, built into another term, is referenced, not copied (Erlang's
// ERL_ONHEAP_BIN_LIMIT is the same 64 bytes): below it a copy costs less than the atomic
// reference count and the box.
inline constexpr std::size_t kHeapBinaryMax = 64;

inline bool is_binary_box(const Word* box) {
  return box_kind(box) == Box::kBinary || box_kind(box) == Box::kBinaryRef;
}
// The bytes of either kind of binary box.
inline const std::byte* binary_bytes(const Word* box) {
  return box_kind(box) == Box::kBinaryRef ? reinterpret_cast<const std::byte*>(box[1])
                                          : reinterpret_cast<const std::byte*>(box + 1);
}

// Boxes that need no heap: {}, #{} and <<>> point at these immortal statics.
extern const Word kEmptyTuple[1];
extern const Word kEmptyMap[1];
extern const Word kEmptyBinary[1];

// A reference-counted block holding every box of one term tree. Immutable once built,
// so any thread may read it; the count is the only shared mutable state.
struct TermHeap {
  std::atomic<std::uint32_t> refs;
  // 1 + the word offset of the last binary ref box written, 0 if there is none. Each such
  // box's last word holds the same for the one before it, so destroy() finds every heap
  // this one keeps alive without a walk over the tree, and a heap without refs pays one
  // test. An offset, not a pointer, to keep this header two words.
  std::uint32_t last_ref;
  std::size_t words;  // capacity of data()

  // The words follow the header in the same allocation.
  Word* data() noexcept { return reinterpret_cast<Word*>(this + 1); }
  const Word* data() const noexcept { return reinterpret_cast<const Word*>(this + 1); }
  // Bytes of other heaps' binaries this one refers to (each ref counted once).
  std::size_t referenced_bytes() const noexcept;

  static TermHeap* create(std::size_t words);
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(this);
  }
  static void destroy(TermHeap* heap) noexcept;
};

// What a HeapWriter throws when asked for more than it holds.
struct HeapFull {};

// Bump allocator over a fresh TermHeap; the caller sizes it exactly beforehand.
class HeapWriter {
 public:
  explicit HeapWriter(std::size_t words)
      : heap_(words ? TermHeap::create(words) : nullptr),
        next_(heap_ ? heap_->data() : nullptr),
        begin_(next_),
        end_(next_ + words) {}
  // Writes into `buffer` (`words` long) instead, for a term whose size is not known
  // beforehand (decoding in one pass); release() hands nothing over.
  HeapWriter(Word* buffer, std::size_t words)
      : heap_(nullptr), next_(buffer), begin_(buffer), end_(buffer + words) {}
  HeapWriter(const HeapWriter&) = delete;
  HeapWriter& operator=(const HeapWriter&) = delete;
  ~HeapWriter() {
    if (heap_) heap_->release();
  }

  Word* alloc(std::size_t words) {
    if (words > std::size_t(end_ - next_)) throw HeapFull{};
    Word* p = next_;
    next_ += words;
    return p;
  }
  Word box_tuple(Box kind, std::size_t n, Word*& elems) {
    if (n == 0 && kind == Box::kTuple) return make_boxed(kEmptyTuple);
    if (n == 0 && kind == Box::kList) return kNil;
    Word* box = alloc(1 + n);
    box[0] = make_header(kind, n);
    elems = box + 1;
    return make_boxed(box);
  }
  Word box_binary(const void* bytes, std::size_t n);
  // A ref box to the n bytes at `bytes`, which `owner` holds; takes a reference to it.
  Word box_binary_ref(const std::byte* bytes, std::size_t n, TermHeap* owner);
  Word box_float(double v);
  Word box_int(std::int64_t v);
  Word box_ref(Ref r);
  Word integer(std::int64_t v) {
    return v >= kSmallMin && v <= kSmallMax ? make_small(v) : box_int(v);
  }
  // Hands the heap over; the writer is empty afterwards.
  TermHeap* release() {
    TermHeap* h = heap_;
    heap_ = nullptr;
    return h;
  }
  std::size_t used() const { return std::size_t(next_ - begin_); }

 private:
  TermHeap* heap_;
  Word* next_;
  Word* begin_;
  Word* end_;
};

// Words a deep copy of `w` needs. `from` is the heap `w` lives in: a binary of more than
// kHeapBinaryMax bytes in it is then referenced rather than copied. Null means w is not
// in a heap that can be kept alive (a scratch buffer): every binary is copied.
std::size_t deep_words(Word w, const TermHeap* from = nullptr);
// Copies the boxes reachable from `w` into `out`; returns the new root word. `from` must
// be what deep_words was given.
Word deep_copy(Word w, HeapWriter& out, TermHeap* from = nullptr);

// Erlang term order (numbers < atoms < refs < pids < tuples < maps < lists < binaries);
// an integer sorts before a float of the same value, so the order is total and agrees
// with exact (=:=) equality.
int compare(Word a, Word b);
bool equal(Word a, Word b);
std::uint64_t hash(Word w);

// Sorts the n key/value pairs at keys[0..n) / values[0..n) by key and drops earlier
// duplicates (the last write wins, as in #{a => 1, a => 2}). Returns the new count.
std::size_t sort_map_entries(Word* keys, Word* values, std::size_t n);
bool map_sorted_unique(const Word* keys, std::size_t n);
// Writes a map box from n key/value words, sorting and de-duplicating them first if needed
// (the arrays may be reordered). Needs map_words(n) words free in `out`.
Word write_map(HeapWriter& out, std::size_t n, Word* keys, Word* values);

}  // namespace ember::detail
