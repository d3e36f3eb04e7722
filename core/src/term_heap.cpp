// The heap a term tree lives in, and the walks over it: copy, order, hash.
#include "ember/core/detail/term_heap.hpp"

#include "ember/core/detail/message_memory.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack: hashing allocates nothing
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace ember::detail {

alignas(8) const Word kEmptyTuple[1] = {make_header(Box::kTuple, 0)};
alignas(8) const Word kEmptyMap[1] = {make_header(Box::kMap, 0)};
alignas(8) const Word kEmptyBinary[1] = {make_header(Box::kBinary, 0)};

TermHeap* TermHeap::create(std::size_t words) {
  void* p = message_alloc(sizeof(TermHeap) + words * sizeof(Word));
  auto* h = static_cast<TermHeap*>(p);
  new (&h->refs) std::atomic<std::uint32_t>(1);
  h->last_ref = 0;
  h->words = words;
  return h;
}

// An owner holds its binaries inline (a ref is copied as a ref, naming the same owner), so
// releasing one never goes deeper than one heap.
void TermHeap::destroy(TermHeap* heap) noexcept {
  for (std::uint32_t at = heap->last_ref; at != 0;) {
    const Word* box = heap->data() + (at - 1);
    at = std::uint32_t(box[3]);
    reinterpret_cast<TermHeap*>(box[2])->release();
  }
  message_free(heap);
}

std::size_t TermHeap::referenced_bytes() const noexcept {
  std::size_t bytes = 0;
  for (std::uint32_t at = last_ref; at != 0;) {
    const Word* box = data() + (at - 1);
    bytes += box_count(box);
    at = std::uint32_t(box[3]);
  }
  return bytes;
}

Word HeapWriter::box_binary(const void* bytes, std::size_t n) {
  if (n == 0) return make_boxed(kEmptyBinary);
  Word* box = alloc(blob_words(n));
  box[0] = make_header(Box::kBinary, n);
  box[binary_words(n)] = 0;  // zero the tail so equal binaries are equal words
  std::memcpy(box + 1, bytes, n);
  return make_boxed(box);
}

Word HeapWriter::box_binary_ref(const std::byte* bytes, std::size_t n, TermHeap* owner) {
  // Only a heap can keep its owners; a scratch buffer is copied word for word later.
  if (!heap_) throw std::logic_error("a binary ref written outside a term heap");
  Word* box = alloc(kBinaryRefWords);
  std::size_t offset = std::size_t(box - begin_);
  if (offset >= UINT32_MAX) throw std::length_error("term heap too large for binary refs");
  owner->retain();
  box[0] = make_header(Box::kBinaryRef, n);
  box[1] = reinterpret_cast<Word>(bytes);
  box[2] = reinterpret_cast<Word>(owner);
  box[3] = heap_->last_ref;
  heap_->last_ref = std::uint32_t(offset + 1);
  return make_boxed(box);
}

Word HeapWriter::box_float(double v) {
  Word* box = alloc(kScalarBoxWords);
  box[0] = make_header(Box::kFloat, 0);
  box[1] = std::bit_cast<Word>(v);
  return make_boxed(box);
}

Word HeapWriter::box_int(std::int64_t v) {
  Word* box = alloc(kScalarBoxWords);
  box[0] = make_header(Box::kInt, 0);
  box[1] = Word(v);
  return make_boxed(box);
}

Word HeapWriter::box_ref(Ref r) {
  Word* box = alloc(kScalarBoxWords);
  box[0] = make_header(Box::kRef, r.node);
  box[1] = r.id;
  return make_boxed(box);
}

namespace {

bool is_static(const Word* box) {
  return box == kEmptyTuple || box == kEmptyMap || box == kEmptyBinary;
}

// Rank of each kind in Erlang term order.
enum Rank { kNumber, kAtomRank, kRefRank, kPidRank, kTupleRank, kMapRank, kListRank, kBinaryRank };

Rank rank(Word w) {
  switch (tag_of(w)) {
    case Tag::kSmallInt:
      return kNumber;
    case Tag::kAtom:
      return kAtomRank;
    case Tag::kPid:
      return kPidRank;
    case Tag::kNil:
      return kListRank;
    case Tag::kBoxed:
      break;
  }
  switch (box_kind(box_of(w))) {
    case Box::kTuple:
      return kTupleRank;
    case Box::kList:
      return kListRank;
    case Box::kMap:
      return kMapRank;
    case Box::kBinary:
    case Box::kBinaryRef:
      return kBinaryRank;
    case Box::kFloat:
    case Box::kInt:
      return kNumber;
    case Box::kRef:
      return kRefRank;
  }
  return kNumber;
}

bool is_float_word(Word w) {
  return tag_of(w) == Tag::kBoxed && box_kind(box_of(w)) == Box::kFloat;
}
double float_of(Word w) {
  return std::bit_cast<double>(box_of(w)[1]);
}
std::int64_t int_of(Word w) {
  return tag_of(w) == Tag::kSmallInt ? small_value(w) : std::int64_t(box_of(w)[1]);
}

template <class T>
int cmp3(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int compare_numbers(Word a, Word b) {
  bool fa = is_float_word(a), fb = is_float_word(b);
  if (!fa && !fb) return cmp3(int_of(a), int_of(b));
  if (fa && fb) return cmp3(float_of(a), float_of(b));
  // long double holds every int64 exactly on x86-64, so the mixed compare is exact.
  long double x = fa ? float_of(a) : (long double)int_of(a);
  long double y = fb ? float_of(b) : (long double)int_of(b);
  if (int c = cmp3(x, y)) return c;
  return fa ? 1 : -1;  // equal value: the integer sorts first
}

// Elements of a list-like word (nil or a list box).
std::size_t seq_size(Word w) {
  return w == kNil ? 0 : box_count(box_of(w));
}
const Word* seq_elems(Word w) {
  return w == kNil ? nullptr : box_of(w) + 1;
}

int compare_seq(const Word* a, std::size_t na, const Word* b, std::size_t nb) {
  std::size_t n = std::min(na, nb);
  for (std::size_t i = 0; i < n; ++i)
    if (int c = compare(a[i], b[i])) return c;
  return cmp3(na, nb);
}

// A binary in a heap that can be kept alive is referenced once it is long enough.
bool refer_to(const Word* binary, const TermHeap* from) {
  return from && box_count(binary) > kHeapBinaryMax;
}

}  // namespace

std::size_t deep_words(Word w, const TermHeap* from) {
  if (tag_of(w) != Tag::kBoxed) return 0;
  const Word* box = box_of(w);
  if (is_static(box)) return 0;
  std::uint64_t n = box_count(box);
  switch (box_kind(box)) {
    case Box::kTuple:
    case Box::kList: {
      std::size_t total = tuple_words(n);
      for (std::uint64_t i = 0; i < n; ++i) total += deep_words(box[1 + i], from);
      return total;
    }
    case Box::kMap: {
      std::size_t total = map_words(n);
      for (std::uint64_t i = 0; i < 2 * n; ++i) total += deep_words(box[1 + i], from);
      return total;
    }
    case Box::kBinary:
      return refer_to(box, from) ? kBinaryRefWords : blob_words(n);
    case Box::kBinaryRef:
      return kBinaryRefWords;
    case Box::kFloat:
    case Box::kInt:
    case Box::kRef:
      return kScalarBoxWords;
  }
  return 0;
}

Word deep_copy(Word w, HeapWriter& out, TermHeap* from) {
  if (tag_of(w) != Tag::kBoxed) return w;
  const Word* box = box_of(w);
  if (is_static(box)) return w;
  std::uint64_t n = box_count(box);
  switch (box_kind(box)) {
    case Box::kTuple:
    case Box::kList:
    case Box::kMap: {
      std::uint64_t words = box_kind(box) == Box::kMap ? 2 * n : n;
      Word* copy = out.alloc(1 + words);
      copy[0] = box[0];
      for (std::uint64_t i = 0; i < words; ++i) copy[1 + i] = deep_copy(box[1 + i], out, from);
      return make_boxed(copy);
    }
    case Box::kBinaryRef:
      return out.box_binary_ref(binary_bytes(box), n, reinterpret_cast<TermHeap*>(box[2]));
    case Box::kBinary:
      if (refer_to(box, from)) return out.box_binary_ref(binary_bytes(box), n, from);
      [[fallthrough]];
    case Box::kFloat:
    case Box::kInt:
    case Box::kRef: {
      std::size_t words = box_kind(box) == Box::kBinary ? blob_words(n) : kScalarBoxWords;
      Word* copy = out.alloc(words);
      std::memcpy(copy, box, words * sizeof(Word));
      return make_boxed(copy);
    }
  }
  return w;
}

int compare(Word a, Word b) {
  if (a == b) return 0;
  Rank ra = rank(a), rb = rank(b);
  if (ra != rb) return cmp3(ra, rb);
  switch (ra) {
    case kNumber:
      return compare_numbers(a, b);
    case kAtomRank:
      return cmp3(atom_of(a).text(), atom_of(b).text());
    case kPidRank: {
      Pid x = pid_of(a), y = pid_of(b);
      if (x.node() != y.node()) return cmp3(x.node(), y.node());
      if (x.slot() != y.slot()) return cmp3(x.slot(), y.slot());
      return cmp3(x.generation(), y.generation());
    }
    case kRefRank: {
      const Word *x = box_of(a), *y = box_of(b);
      if (int c = cmp3(box_count(x), box_count(y))) return c;
      return cmp3(x[1], y[1]);
    }
    case kTupleRank: {
      const Word *x = box_of(a), *y = box_of(b);
      if (int c = cmp3(box_count(x), box_count(y))) return c;
      return compare_seq(x + 1, box_count(x), y + 1, box_count(y));
    }
    case kMapRank: {
      const Word *x = box_of(a), *y = box_of(b);
      std::uint64_t n = box_count(x);
      if (int c = cmp3(n, box_count(y))) return c;
      if (int c = compare_seq(x + 1, n, y + 1, n)) return c;
      return compare_seq(x + 1 + n, n, y + 1 + n, n);
    }
    case kListRank:
      return compare_seq(seq_elems(a), seq_size(a), seq_elems(b), seq_size(b));
    case kBinaryRank: {
      const Word *x = box_of(a), *y = box_of(b);
      std::size_t nx = box_count(x), ny = box_count(y);
      if (int c = std::memcmp(binary_bytes(x), binary_bytes(y), std::min(nx, ny)))
        return c < 0 ? -1 : 1;
      return cmp3(nx, ny);
    }
  }
  return 0;
}

bool equal(Word a, Word b) {
  if (a == b) return true;
  if (tag_of(a) != Tag::kBoxed || tag_of(b) != Tag::kBoxed) return false;
  const Word *x = box_of(a), *y = box_of(b);
  // Kind and count differ; a binary and a ref to one may still hold the same bytes.
  if (x[0] != y[0] && !(is_binary_box(x) && is_binary_box(y))) return false;
  return compare(a, b) == 0;
}

namespace {

void hash_into(XXH3_state_t* st, Word w) {
  auto feed = [st](std::uint64_t v) { XXH3_64bits_update(st, &v, sizeof v); };
  Rank r = rank(w);
  feed(r);
  switch (r) {
    case kNumber:
      if (is_float_word(w)) {
        double d = float_of(w);
        feed(1);
        feed(std::bit_cast<std::uint64_t>(d == 0.0 ? 0.0 : d));  // -0.0 equals 0.0
      } else {
        feed(0);
        feed(std::uint64_t(int_of(w)));
      }
      return;
    case kAtomRank:
      feed(atom_of(w).hash());
      return;
    case kPidRank:
      feed(pid_of(w).bits());
      return;
    case kRefRank:
      feed(box_count(box_of(w)));
      feed(box_of(w)[1]);
      return;
    case kListRank:
      feed(seq_size(w));
      for (std::size_t i = 0; i < seq_size(w); ++i) hash_into(st, seq_elems(w)[i]);
      return;
    case kTupleRank:
    case kMapRank: {
      const Word* box = box_of(w);
      std::uint64_t n = box_count(box) * (r == kMapRank ? 2 : 1);
      feed(box_count(box));
      for (std::uint64_t i = 0; i < n; ++i) hash_into(st, box[1 + i]);
      return;
    }
    case kBinaryRank:
      feed(box_count(box_of(w)));
      XXH3_64bits_update(st, binary_bytes(box_of(w)), box_count(box_of(w)));
      return;
  }
}

}  // namespace

std::uint64_t hash(Word w) {
  if (tag_of(w) == Tag::kAtom) return atom_of(w).hash();
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  hash_into(&st, w);
  return XXH3_64bits_digest(&st);
}

std::size_t sort_map_entries(Word* keys, Word* values, std::size_t n) {
  if (n < 2) return n;
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Stable, so among equal keys the later one stays later and wins below.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return compare(keys[i], keys[j]) < 0; });
  std::vector<Word> k, v;
  k.reserve(n);
  v.reserve(n);
  for (std::size_t i : order) {
    if (!k.empty() && compare(k.back(), keys[i]) == 0) {
      k.back() = keys[i];
      v.back() = values[i];
    } else {
      k.push_back(keys[i]);
      v.push_back(values[i]);
    }
  }
  std::copy(k.begin(), k.end(), keys);
  std::copy(v.begin(), v.end(), values);
  return k.size();
}

bool map_sorted_unique(const Word* keys, std::size_t n) {
  for (std::size_t i = 1; i < n; ++i)
    if (compare(keys[i - 1], keys[i]) >= 0) return false;
  return true;
}

Word write_map(HeapWriter& out, std::size_t n, Word* keys, Word* values) {
  if (!map_sorted_unique(keys, n)) n = sort_map_entries(keys, values, n);
  if (n == 0) return make_boxed(kEmptyMap);
  Word* box = out.alloc(map_words(n));
  box[0] = make_header(Box::kMap, n);
  std::copy(keys, keys + n, box + 1);
  std::copy(values, values + n, box + 1 + n);
  return make_boxed(box);
}

}  // namespace ember::detail
