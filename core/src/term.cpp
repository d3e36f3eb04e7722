// Term construction and typed access.
#include "ember/core/term.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "ember/core/term_text.hpp"

namespace ember {

using namespace detail;

Term Term::from_int(std::int64_t v) {
  if (v >= kSmallMin && v <= kSmallMax) return Term(make_small(v), nullptr);
  return build(v);
}

Term::Term(Ref r) : Term(build(r)) {}

Term::Term(bool b) noexcept
    : word_(make_atom(b ? atoms::true_() : atoms::false_())), heap_(nullptr) {}

Term::Term(double v) : Term() {
  // Erlang has no NaN or infinity: producing one is badarith there.
  if (!std::isfinite(v)) throw std::domain_error("float term must be finite");
  *this = build(v);
}

Term::Term(std::string_view text) : Term(build(text)) {}

Term::Term(Bytes bytes) : Term(build(bytes)) {}

Term make_ref_term(Ref r) {
  return Term(r);
}

Term tuple_of(std::span<const Term> items) {
  std::size_t words = items.empty() ? 0 : tuple_words(items.size());
  for (const Term& t : items) words += source_words(t);
  HeapWriter out(words);
  Word* elems = nullptr;
  Word root = out.box_tuple(Box::kTuple, items.size(), elems);
  for (std::size_t i = 0; i < items.size(); ++i) elems[i] = source_write(items[i], out);
  return Term::adopt(root, out.release());
}

Term map(std::span<const std::pair<Term, Term>> entries) {
  std::size_t words = entries.size() ? map_words(entries.size()) : 0;
  for (const auto& [k, v] : entries) words += source_words(k) + source_words(v);
  HeapWriter out(words);
  std::vector<Word> kv(2 * entries.size());
  std::size_t n = entries.size(), i = 0;
  for (const auto& [k, v] : entries) {
    kv[i] = source_write(k, out);
    kv[n + i] = source_write(v, out);
    ++i;
  }
  Word root = write_map(out, n, kv.data(), kv.data() + n);
  return Term::adopt(root, out.release());
}

TermKind Term::kind() const {
  switch (tag_of(word_)) {
    case Tag::kSmallInt:
      return TermKind::kInteger;
    case Tag::kAtom:
      return TermKind::kAtom;
    case Tag::kPid:
      return TermKind::kPid;
    case Tag::kNil:
      return TermKind::kList;
    case Tag::kBoxed:
      break;
  }
  switch (box_kind(box_of(word_))) {
    case Box::kTuple:
      return TermKind::kTuple;
    case Box::kList:
      return TermKind::kList;
    case Box::kMap:
      return TermKind::kMap;
    case Box::kBinary:
    case Box::kBinaryRef:
      return TermKind::kBinary;
    case Box::kFloat:
      return TermKind::kFloat;
    case Box::kInt:
      return TermKind::kInteger;
    case Box::kRef:
      return TermKind::kRef;
  }
  return TermKind::kInteger;
}

bool Term::is_integer() const {
  return tag_of(word_) == Tag::kSmallInt || boxed(Box::kInt);
}

std::size_t Term::size() const {
  if (tag_of(word_) != Tag::kBoxed) return 0;
  switch (box_kind(box_of(word_))) {
    case Box::kTuple:
    case Box::kList:
    case Box::kMap:
    case Box::kBinary:
    case Box::kBinaryRef:
      return box_count(box_of(word_));
    default:
      return 0;
  }
}

const Word* Term::elements() const {
  if (is_tuple() || boxed(Box::kList)) return box_of(word_) + 1;
  if (is_nil()) return nullptr;
  bad("tuple or list");
}

Term Term::operator[](std::size_t i) const {
  const Word* e = elements();
  if (i >= size())
    throw BadTerm("index " + std::to_string(i) + " out of range for " + describe(*this));
  return share(e[i]);
}

Term::Iterator Term::begin() const {
  return Iterator(this, is_nil() || !(is_tuple() || is_list()) ? nullptr : elements());
}
Term::Iterator Term::end() const {
  return Iterator(this, is_nil() || !(is_tuple() || is_list()) ? nullptr : elements() + size());
}

std::optional<Term> Term::get(const Term& key) const {
  if (!is_map()) bad("map");
  const Word* box = box_of(word_);
  std::size_t n = box_count(box);
  const Word* keys = box + 1;
  const Word* it =
      std::lower_bound(keys, keys + n, key.word_, [](Word a, Word b) { return compare(a, b) < 0; });
  if (it == keys + n || !equal(*it, key.word_)) return std::nullopt;
  return share(keys[n + (it - keys)]);
}

Term Term::map_key(std::size_t i) const {
  if (!is_map() || i >= size()) bad("map with that many entries");
  return share(box_of(word_)[1 + i]);
}

Term Term::map_value(std::size_t i) const {
  if (!is_map() || i >= size()) bad("map with that many entries");
  return share(box_of(word_)[1 + size() + i]);
}

std::span<const std::byte> Term::bytes() const {
  if (!is_binary()) return {};
  const Word* box = box_of(word_);
  return {binary_bytes(box), box_count(box)};
}

std::string_view Term::text() const {
  if (!is_binary()) bad("binary");
  auto b = bytes();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Atom Term::atom() const {
  if (!is_atom()) bad("atom");
  return atom_of(word_);
}

std::int64_t Term::integer() const {
  if (tag_of(word_) == Tag::kSmallInt) return small_value(word_);
  if (!boxed(Box::kInt)) bad("integer");
  return std::int64_t(box_of(word_)[1]);
}

double Term::number() const {
  if (is_float()) return std::bit_cast<double>(box_of(word_)[1]);
  if (!is_integer()) bad("number");
  return double(integer());
}

Pid Term::pid() const {
  if (!is_pid()) bad("pid");
  return pid_of(word_);
}

Ref Term::ref() const {
  if (!is_ref()) bad("reference");
  const Word* box = box_of(word_);
  return Ref{std::uint32_t(box_count(box)), box[1]};
}

std::string Term::to_string() const {
  return print_term(*this);
}

std::ostream& operator<<(std::ostream& os, const Term& t) {
  return os << print_term(t);
}

void Term::bad(const char* expected) const {
  bad_conversion(*this, expected);
}

namespace detail {

std::string describe(const Term& t) {
  std::string s = print_term(t);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

void bad_conversion(const Term& t, const char* expected) {
  throw BadTerm(std::string("expected ") + expected + ", got " + describe(t));
}

}  // namespace detail
}  // namespace ember
