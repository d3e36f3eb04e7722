// Term <-> wire::Term. Decoding reads a term into a heap the size of the last one, or
// else into a scratch heap and copies it to one of the size used; a term too large for
// the scratch is sized first, then read.
#include "ember/net/term_codec.hpp"

#include <kj/exception.h>

#include <cmath>
#include <memory>
#include <string>
#include <string_view>

#include "ember/core/node_table.hpp"

namespace ember::net {

using detail::Box;
using detail::Word;

namespace {

constexpr std::uint64_t kLocalIdMask = (1ull << (Pid::kSlotBits + Pid::kGenBits)) - 1;

[[noreturn]] void fail(const std::string& what) {
  throw WireError("malformed term: " + what);
}

capnp::Text::Reader atom_text(Atom a) {
  std::string_view s = a.text();  // the atom table keeps a NUL after every name
  return capnp::Text::Reader(s.data(), s.size());
}

void write_node(wire::NodeId::Builder out, std::uint32_t index) {
  NodeIdentity id = NodeTable::identity(index);
  out.setName(atom_text(id.name));
  out.setCreation(id.creation);
}

void write_word(wire::Term::Builder out, Word w, std::size_t depth) {
  if (depth > kMaxWireDepth)
    throw WireError("term nested deeper than " + std::to_string(kMaxWireDepth) + " levels");
  switch (detail::tag_of(w)) {
    case detail::Tag::kSmallInt:
      out.setInt(detail::small_value(w));
      return;
    case detail::Tag::kAtom:
      out.setAtom(atom_text(detail::atom_of(w)));
      return;
    case detail::Tag::kPid:
      write_pid(out.initPid(), detail::pid_of(w));
      return;
    case detail::Tag::kNil:
      out.initList(0);
      return;
    case detail::Tag::kBoxed:
      break;
  }
  const Word* box = detail::box_of(w);
  std::uint64_t n = detail::box_count(box);
  switch (detail::box_kind(box)) {
    case Box::kInt:
      out.setInt(std::int64_t(box[1]));
      return;
    case Box::kFloat:
      out.setFloat(std::bit_cast<double>(box[1]));
      return;
    case Box::kRef:
      write_ref(out.initRef(), Ref{std::uint32_t(n), box[1]});
      return;
    case Box::kBinary:
    case Box::kBinaryRef:
      out.setBinary(
          capnp::Data::Reader(reinterpret_cast<const kj::byte*>(detail::binary_bytes(box)), n));
      return;
    case Box::kTuple:
    case Box::kList: {
      auto elems = detail::box_kind(box) == Box::kTuple ? out.initTuple(n) : out.initList(n);
      for (std::uint64_t i = 0; i < n; ++i) write_word(elems[i], box[1 + i], depth + 1);
      return;
    }
    case Box::kMap: {
      auto entries = out.initMap(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        write_word(entries[i].initKey(), box[1 + i], depth + 1);
        write_word(entries[i].initValue(), box[1 + n + i], depth + 1);
      }
      return;
    }
  }
}

// The heap words a term too large for the scratch needs, with the depth checked before
// recursing.
std::size_t words_of(wire::Term::Reader in, std::size_t depth) {
  if (depth > kMaxWireDepth)
    fail("nested deeper than " + std::to_string(kMaxWireDepth) + " levels");
  switch (in.which()) {
    case wire::Term::ATOM:
    case wire::Term::PID:
      return 0;
    case wire::Term::INT: {
      std::int64_t v = in.getInt();
      return v >= detail::kSmallMin && v <= detail::kSmallMax ? 0 : detail::kScalarBoxWords;
    }
    case wire::Term::FLOAT:
    case wire::Term::REF:
      return detail::kScalarBoxWords;
    case wire::Term::BINARY: {
      std::size_t n = in.getBinary().size();
      return n ? detail::blob_words(n) : 0;
    }
    case wire::Term::TUPLE:
    case wire::Term::LIST: {
      auto elems = in.which() == wire::Term::TUPLE ? in.getTuple() : in.getList();
      std::size_t total = elems.size() ? detail::tuple_words(elems.size()) : 0;
      for (auto e : elems) total += words_of(e, depth + 1);
      return total;
    }
    case wire::Term::MAP: {
      auto entries = in.getMap();
      std::size_t total = entries.size() ? detail::map_words(entries.size()) : 0;
      for (auto e : entries)
        total += words_of(e.getKey(), depth + 1) + words_of(e.getValue(), depth + 1);
      return total;
    }
  }
  fail("unknown term kind " + std::to_string(unsigned(in.which())));
}

// The atoms this thread decoded lately, by length and first byte: a stream names the same
// few (`seq`, `ok`, a reply tag) in every message, and comparing the text with the table's
// copy is cheaper than hashing it. Atoms are never freed, so an entry stays right.
// The table's text is kept beside each atom: it never moves, and looking it up again
// (Atom::text) cost as much as the comparison. An unused entry is the atom '' with the
// text "", which is right as it stands.
struct AtomCache {
  Atom entries[16];
  std::string_view texts[16];
  static unsigned slot(std::string_view s) {
    return (unsigned(s.size()) * 7 + unsigned(static_cast<unsigned char>(s[0]))) & 15;
  }
};

Atom read_atom(capnp::Text::Reader text) {
  thread_local AtomCache cache;
  if (text.size() > Atom::kMaxLength) fail("atom longer than 255 bytes");
  std::string_view s(text.cStr(), text.size());
  unsigned slot = s.empty() ? 0 : AtomCache::slot(s);
  if (cache.texts[slot] == s) return cache.entries[slot];
  Atom a;
  if (!Atom::try_intern(s, a)) fail("atom table full");
  cache.entries[slot] = a;
  cache.texts[slot] = a.text();
  return a;
}

// The last two nodes this thread decoded: a Send names two (from and to), and a
// connection's frames name the same two over and over. NodeTable entries never change,
// so a (name, creation) seen once maps to the same index for the life of the process;
// this spares hashing and interning the name text twice per message.
struct NodeCache {
  struct Entry {
    std::string name;
    std::uint32_t creation = 0;
    std::uint32_t index = 0;
    bool used = false;
  };
  Entry entries[2];
  unsigned next = 0;

  const Entry* find(std::string_view name, std::uint32_t creation) const {
    for (const Entry& e : entries)
      if (e.used && e.creation == creation && e.name == name) return &e;
    return nullptr;
  }
  void add(std::string_view name, std::uint32_t creation, std::uint32_t index) {
    Entry& e = entries[next];
    next ^= 1;
    e.name.assign(name);
    e.creation = creation;
    e.index = index;
    e.used = true;
  }
};

std::uint32_t read_node(wire::NodeId::Reader in) {
  thread_local NodeCache cache;
  auto text = in.getName();
  std::string_view name(text.cStr(), text.size());
  std::uint32_t creation = in.getCreation();
  if (const NodeCache::Entry* e = cache.find(name, creation)) return e->index;
  auto index = NodeTable::intern(read_atom(text), creation);
  if (!index) fail("node table full");
  cache.add(name, creation, *index);
  return *index;
}

// Writes into the heap sized by words_of, or into a per-thread scratch heap that may turn
// out too small (HeapFull). Checks the depth itself, since it may run first.
Word read_word(wire::Term::Reader in, detail::HeapWriter& out, std::size_t depth) {
  if (depth > kMaxWireDepth)
    fail("nested deeper than " + std::to_string(kMaxWireDepth) + " levels");
  switch (in.which()) {
    case wire::Term::ATOM:
      return detail::make_atom(read_atom(in.getAtom()));
    case wire::Term::INT:
      return out.integer(in.getInt());
    case wire::Term::FLOAT: {
      double d = in.getFloat();
      if (!std::isfinite(d)) fail("float is not finite");
      return out.box_float(d);
    }
    case wire::Term::BINARY: {
      auto b = in.getBinary();
      return out.box_binary(b.begin(), b.size());
    }
    case wire::Term::PID:
      return detail::make_pid(read_pid(in.getPid()));
    case wire::Term::REF:
      return out.box_ref(read_ref(in.getRef()));
    case wire::Term::TUPLE:
    case wire::Term::LIST: {
      bool tuple = in.which() == wire::Term::TUPLE;
      auto elems = tuple ? in.getTuple() : in.getList();
      Word* dst = nullptr;
      Word root = out.box_tuple(tuple ? Box::kTuple : Box::kList, elems.size(), dst);
      for (unsigned i = 0; i < elems.size(); ++i) dst[i] = read_word(elems[i], out, depth + 1);
      return root;
    }
    case wire::Term::MAP: {
      auto entries = in.getMap();
      std::size_t n = entries.size();
      if (n == 0) return detail::make_boxed(detail::kEmptyMap);
      Word* box = out.alloc(detail::map_words(n));
      for (std::size_t i = 0; i < n; ++i) {
        box[1 + i] = read_word(entries[i].getKey(), out, depth + 1);
        box[1 + n + i] = read_word(entries[i].getValue(), out, depth + 1);
      }
      std::size_t kept = n;
      // A well-behaved sender sends keys sorted; anything else is put right here.
      if (!detail::map_sorted_unique(box + 1, n)) {
        kept = detail::sort_map_entries(box + 1, box + 1 + n, n);
        std::copy(box + 1 + n, box + 1 + n + kept, box + 1 + kept);
      }
      box[0] = detail::make_header(Box::kMap, kept);
      return detail::make_boxed(box);
    }
  }
  fail("unknown term kind");
}

}  // namespace

void write_pid(wire::Pid::Builder out, Pid pid) {
  write_node(out.initNode(), pid.node());
  out.setId(pid_id(pid));
}

void write_ref(wire::Ref::Builder out, Ref ref) {
  write_node(out.initNode(), ref.node);
  out.setId(ref.id);
}

void write_term(wire::Term::Builder out, const Term& t) {
  write_word(out, t.word(), 0);
}

Pid pid_on(std::uint32_t node, std::uint64_t id) {
  if (id > kLocalIdMask) fail("pid id out of range");
  return Pid::from_bits((std::uint64_t(node) << (Pid::kSlotBits + Pid::kGenBits)) | id);
}

std::uint64_t pid_id(Pid pid) {
  return pid.bits() & kLocalIdMask;
}

Pid read_pid(wire::Pid::Reader in) {
  return pid_on(read_node(in.getNode()), in.getId());
}

Ref read_ref(wire::Ref::Reader in) {
  return Ref{read_node(in.getNode()), in.getId()};
}

// A stream's messages tend to have one shape, so a term is first read straight into a heap
// the size of this thread's last one: no copy. A term that outgrows it (HeapFull) or
// leaves more than half of it unused is read the general way: into the scratch heap in
// one pass, then copied to a heap of the size used (a walk over plain memory, not over
// Cap'n Proto's checked pointers again); one too large for the scratch is sized first.
constexpr std::size_t kScratchWords = 8192;

namespace {

thread_local std::size_t tl_last_words = 0;

Term read_general(wire::Term::Reader in) {
  thread_local std::unique_ptr<Word[]> scratch(new Word[kScratchWords]);
  try {
    detail::HeapWriter first(scratch.get(), kScratchWords);
    Word root = read_word(in, first, 0);
    tl_last_words = first.used();
    if (first.used() == 0) return Term::adopt(root, nullptr);
    detail::HeapWriter out(first.used());
    Word copy = detail::deep_copy(root, out);
    return Term::adopt(copy, out.release());
  } catch (const detail::HeapFull&) {
  }
  detail::HeapWriter out(words_of(in, 0));
  tl_last_words = 0;  // too large to guess again
  Word root = read_word(in, out, 0);
  return Term::adopt(root, out.release());
}

}  // namespace

Term read_term(wire::Term::Reader in) {
  try {
    if (std::size_t guess = tl_last_words) {
      try {
        detail::HeapWriter out(guess);
        Word root = read_word(in, out, 0);
        if (out.used() * 2 > guess) {
          tl_last_words = out.used();
          return Term::adopt(root, out.release());
        }
      } catch (const detail::HeapFull&) {
      }
    }
    return read_general(in);
  } catch (const kj::Exception& e) {
    throw WireError(std::string("malformed term: ") + e.getDescription().cStr());
  }
}

}  // namespace ember::net
