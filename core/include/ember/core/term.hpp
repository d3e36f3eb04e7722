// Term: Erlang's data model as an immutable C++ value.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/core/atom.hpp"
#include "ember/core/detail/term_heap.hpp"
#include "ember/core/pid.hpp"

namespace ember {

// Kinds, listed in Erlang term order (Integer and Float are both numbers).
enum class TermKind { kInteger, kFloat, kAtom, kRef, kPid, kTuple, kMap, kList, kBinary };

// Thrown when a term does not have the shape asked of it, e.g. as<int>() on an atom.
class BadTerm : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Bytes for a binary that holds data rather than text.
struct Bytes {
  std::span<const std::byte> data;
};

// A user struct maps to a tagged tuple, like an Erlang record, by specialising Record:
//   template <> struct ember::Record<Report> {
//     static constexpr std::string_view name = "report";
//     static constexpr auto fields = std::tuple{&Report::service, &Report::code};
//   };
// Term(Report{"api", 42}) is then {report, <<"api">>, 42} and t.as<Report>() reads it back.
template <class T>
struct Record;

template <class T>
concept Recordable = requires {
  { Record<T>::name } -> std::convertible_to<std::string_view>;
  Record<T>::fields;
};

class Term;
template <class T>
struct TermConvert;  // from/to C++ values; specialisations below

// An immutable Erlang term. Immediates (small integers, atoms, pids, []) live in the word
// itself; everything else lives in one shared, reference-counted heap per term tree, so
// copying a Term is a pointer copy plus an atomic increment and moving one is free. A
// binary of more than 64 bytes put into a new term stays where it was: the new heap refers
// to it and keeps its heap alive (Erlang's refc binaries). To keep a binary without the
// term it came in, copy it first, as binary:copy/1 does: Term(Bytes{t[2].bytes()}).
class Term {
 public:
  Term() noexcept : word_(detail::kNil), heap_(nullptr) {}  // []
  Term(Atom a) noexcept : word_(detail::make_atom(a)), heap_(nullptr) {}
  Term(Pid p) noexcept : word_(detail::make_pid(p)), heap_(nullptr) {}
  Term(Ref r);
  Term(bool b) noexcept;
  template <std::integral I>
  requires(!std::same_as<I, bool> && !std::same_as<I, char>) Term(I v)
      : Term(from_int(static_cast<std::int64_t>(v))) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (v > static_cast<I>(INT64_MAX)) throw std::out_of_range("integer above int64 range");
    }
  }
  Term(double v);
  Term(std::string_view text);  // a binary, as Elixir strings are
  Term(const char* text) : Term(std::string_view(text)) {}
  Term(const std::string& text) : Term(std::string_view(text)) {}
  Term(Bytes bytes);
  template <class T>
  requires requires(const T& v) { TermConvert<T>::from(v); }
  Term(const T& v) : Term(TermConvert<T>::from(v)) {}

  Term(const Term& o) noexcept : word_(o.word_), heap_(o.heap_) {
    if (heap_) heap_->retain();
  }
  Term(Term&& o) noexcept : word_(o.word_), heap_(o.heap_) {
    o.word_ = detail::kNil;
    o.heap_ = nullptr;
  }
  Term& operator=(Term o) noexcept {
    std::swap(word_, o.word_);
    std::swap(heap_, o.heap_);
    return *this;
  }
  ~Term() {
    if (heap_) heap_->release();
  }

  // --- kind -----------------------------------------------------------------------------
  TermKind kind() const;
  bool is_integer() const;
  bool is_float() const { return boxed(detail::Box::kFloat); }
  bool is_number() const { return is_integer() || is_float(); }
  bool is_atom() const { return detail::tag_of(word_) == detail::Tag::kAtom; }
  bool is_pid() const { return detail::tag_of(word_) == detail::Tag::kPid; }
  bool is_ref() const { return boxed(detail::Box::kRef); }
  bool is_tuple() const { return boxed(detail::Box::kTuple); }
  bool is_tuple(std::size_t arity) const { return is_tuple() && size() == arity; }
  bool is_list() const { return is_nil() || boxed(detail::Box::kList); }
  bool is_nil() const { return word_ == detail::kNil; }
  bool is_map() const { return boxed(detail::Box::kMap); }
  bool is_binary() const {
    return detail::tag_of(word_) == detail::Tag::kBoxed &&
           detail::is_binary_box(detail::box_of(word_));
  }
  bool is(Atom a) const { return word_ == detail::make_atom(a); }
  // True when this is a tuple of sizeof...(Ts) elements each readable as its T
  // (a `Term` element accepts anything).
  template <class... Ts>
  bool is_tuple_of() const;

  // --- access ---------------------------------------------------------------------------
  // Tuple arity, list length, map size or binary byte count; 0 for anything else.
  std::size_t size() const;
  // Element i of a tuple or list; throws BadTerm when out of range or not a container.
  Term operator[](std::size_t i) const;
  Term element(std::size_t i) const { return (*this)[i]; }
  // Map lookup.
  std::optional<Term> get(const Term& key) const;
  Term map_key(std::size_t i) const;
  Term map_value(std::size_t i) const;
  std::span<const std::byte> bytes() const;  // binary contents; empty for non-binaries
  std::string_view text() const;             // binary contents viewed as text

  Atom atom() const;
  std::int64_t integer() const;
  double number() const;  // an integer or a float, as double
  Pid pid() const;
  Ref ref() const;

  template <class T>
  T as() const {
    return TermConvert<T>::to(*this);
  }
  template <class T>
  std::optional<T> try_as() const {
    if (!TermConvert<T>::accepts(*this)) return std::nullopt;
    return TermConvert<T>::to(*this);
  }

  // Range over the elements of a tuple or list.
  class Iterator;
  Iterator begin() const;
  Iterator end() const;

  // --- order ----------------------------------------------------------------------------
  friend bool operator==(const Term& a, const Term& b) { return detail::equal(a.word_, b.word_); }
  friend std::strong_ordering operator<=>(const Term& a, const Term& b) {
    return detail::compare(a.word_, b.word_) <=> 0;
  }
  std::uint64_t hash() const { return detail::hash(word_); }

  // Bytes of heap this term keeps alive (0 for an immediate), with the bytes of the
  // binaries it refers to in other heaps. Inline: every remote send and every inbox
  // entry asks.
  std::size_t heap_bytes() const {
    if (!heap_) return 0;
    std::size_t own = sizeof(detail::TermHeap) + heap_->words * sizeof(detail::Word);
    return heap_->last_ref ? own + heap_->referenced_bytes() : own;
  }
  std::string to_string() const;

  // --- representation (for core/ and net/, not users) ---------------------------------------
  detail::Word word() const { return word_; }
  detail::TermHeap* heap() const noexcept { return heap_; }
  // Takes ownership of one reference to `heap` (may be null for immediates).
  static Term adopt(detail::Word w, detail::TermHeap* heap) noexcept { return Term(w, heap); }
  // A term sharing this one's heap but rooted at `w`, a word inside it.
  Term share(detail::Word w) const noexcept {
    if (heap_ && detail::tag_of(w) == detail::Tag::kBoxed) heap_->retain();
    return Term(w, detail::tag_of(w) == detail::Tag::kBoxed ? heap_ : nullptr);
  }

 private:
  Term(detail::Word w, detail::TermHeap* heap) noexcept : word_(w), heap_(heap) {}
  static Term from_int(std::int64_t v);
  bool boxed(detail::Box kind) const {
    return detail::tag_of(word_) == detail::Tag::kBoxed &&
           detail::box_kind(detail::box_of(word_)) == kind;
  }
  const detail::Word* elements() const;  // tuple/list element array, checked
  [[noreturn]] void bad(const char* expected) const;

  detail::Word word_;
  detail::TermHeap* heap_;
};

class Term::Iterator {
 public:
  using value_type = Term;
  using difference_type = std::ptrdiff_t;
  Iterator() = default;
  Iterator(const Term* owner, const detail::Word* p) : owner_(owner), p_(p) {}
  Term operator*() const { return owner_->share(*p_); }
  Iterator& operator++() {
    ++p_;
    return *this;
  }
  Iterator operator++(int) {
    Iterator t = *this;
    ++p_;
    return t;
  }
  friend bool operator==(const Iterator& a, const Iterator& b) { return a.p_ == b.p_; }

 private:
  const Term* owner_ = nullptr;
  const detail::Word* p_ = nullptr;
};

std::ostream& operator<<(std::ostream& os, const Term& t);

// --- building ------------------------------------------------------------------------------
namespace detail {

// Everything a Term can be built from, sized first and then written, so a whole tree
// takes exactly one allocation however it is nested.
template <class T>
struct Source;

template <class T>
std::size_t source_words(const T& v) {
  return Source<std::remove_cvref_t<T>>::words(v);
}
template <class T>
Word source_write(const T& v, HeapWriter& out) {
  return Source<std::remove_cvref_t<T>>::write(v, out);
}

template <>
struct Source<Term> {
  static std::size_t words(const Term& t) { return deep_words(t.word(), t.heap()); }
  static Word write(const Term& t, HeapWriter& out) { return deep_copy(t.word(), out, t.heap()); }
};
template <>
struct Source<Atom> {
  static std::size_t words(Atom) { return 0; }
  static Word write(Atom a, HeapWriter&) { return make_atom(a); }
};
template <>
struct Source<Pid> {
  static std::size_t words(Pid) { return 0; }
  static Word write(Pid p, HeapWriter&) { return make_pid(p); }
};
template <>
struct Source<Ref> {
  static std::size_t words(Ref) { return kScalarBoxWords; }
  static Word write(Ref r, HeapWriter& out) { return out.box_ref(r); }
};
template <>
struct Source<bool> {
  static std::size_t words(bool) { return 0; }
  static Word write(bool b, HeapWriter&) { return make_atom(b ? atoms::true_() : atoms::false_()); }
};
template <std::integral I>
requires(!std::same_as<I, bool> && !std::same_as<I, char>) struct Source<I> {
  static std::size_t words(I v) {
    auto x = static_cast<std::int64_t>(v);
    return x >= kSmallMin && x <= kSmallMax ? 0 : kScalarBoxWords;
  }
  static Word write(I v, HeapWriter& out) { return out.integer(static_cast<std::int64_t>(v)); }
};
template <>
struct Source<double> {
  static std::size_t words(double) { return kScalarBoxWords; }
  static Word write(double v, HeapWriter& out) { return out.box_float(v); }
};
template <>
struct Source<std::string_view> {
  static std::size_t words(std::string_view s) { return s.empty() ? 0 : blob_words(s.size()); }
  static Word write(std::string_view s, HeapWriter& out) {
    return out.box_binary(s.data(), s.size());
  }
};
template <>
struct Source<std::string> : Source<std::string_view> {};
template <>
struct Source<const char*> : Source<std::string_view> {};
template <std::size_t N>
struct Source<char[N]> : Source<std::string_view> {};
template <>
struct Source<Bytes> {
  static std::size_t words(Bytes b) { return b.data.empty() ? 0 : blob_words(b.data.size()); }
  static Word write(Bytes b, HeapWriter& out) {
    return out.box_binary(b.data.data(), b.data.size());
  }
};

template <class T>
concept Buildable = requires(const T& v, HeapWriter& out) {
  { Source<std::remove_cvref_t<T>>::words(v) } -> std::same_as<std::size_t>;
  { Source<std::remove_cvref_t<T>>::write(v, out) } -> std::same_as<Word>;
};

template <class T>
struct Source<std::vector<T>> {
  static std::size_t words(const std::vector<T>& v) {
    std::size_t n = v.empty() ? 0 : tuple_words(v.size());
    for (const auto& e : v) n += source_words(e);
    return n;
  }
  static Word write(const std::vector<T>& v, HeapWriter& out) {
    Word* elems = nullptr;
    Word root = out.box_tuple(Box::kList, v.size(), elems);
    for (std::size_t i = 0; i < v.size(); ++i) elems[i] = source_write(v[i], out);
    return root;
  }
};

template <class K, class V>
struct Source<std::map<K, V>> {
  static std::size_t words(const std::map<K, V>& m) {
    std::size_t n = m.empty() ? 0 : map_words(m.size());
    for (const auto& [k, v] : m) n += source_words(k) + source_words(v);
    return n;
  }
  static Word write(const std::map<K, V>& m, HeapWriter& out) {
    std::vector<Word> kv(2 * m.size());
    std::size_t i = 0;
    for (const auto& [k, v] : m) {
      kv[i] = source_write(k, out);
      kv[m.size() + i] = source_write(v, out);
      ++i;
    }
    return write_map(out, m.size(), kv.data(), kv.data() + m.size());
  }
};

// A tuple or list under construction: the elements are kept by reference until the
// outermost Term is made, then written into its heap in one go.
template <Box K, class... Ts>
struct Compound {
  std::tuple<const Ts&...> items;
};
template <Box K, class... Ts>
struct Source<Compound<K, Ts...>> {
  static std::size_t words(const Compound<K, Ts...>& c) {
    std::size_t n = sizeof...(Ts) == 0 ? 0 : tuple_words(sizeof...(Ts));
    std::apply([&](const auto&... e) { ((n += source_words(e)), ...); }, c.items);
    return n;
  }
  static Word write(const Compound<K, Ts...>& c, HeapWriter& out) {
    Word* elems = nullptr;
    Word root = out.box_tuple(K, sizeof...(Ts), elems);
    std::size_t i = 0;
    std::apply([&](const auto&... e) { ((elems[i++] = source_write(e, out)), ...); }, c.items);
    return root;
  }
};

// Records and optionals go through their Term form: one extra allocation each.
template <class T>
requires Recordable<T>
struct Source<T> {
  static std::size_t words(const T& v) { return source_words(Term(v)); }
  static Word write(const T& v, HeapWriter& out) { return source_write(Term(v), out); }
};
template <class T>
requires requires {
  &TermConvert<T>::accepts;
}
struct Source<std::optional<T>> {
  static std::size_t words(const std::optional<T>& v) { return source_words(Term(v)); }
  static Word write(const std::optional<T>& v, HeapWriter& out) {
    return source_write(Term(v), out);
  }
};

template <class T>
Term build(const T& v) {
  HeapWriter out(source_words(v));
  Word root = source_write(v, out);
  return Term::adopt(root, out.release());
}

}  // namespace detail

// {a, b, ...}: tuple("report"_a, "api", 42) is {report, <<"api">>, 42}.
template <class... Ts>
Term tuple(const Ts&... items) {
  return detail::build(detail::Compound<detail::Box::kTuple, Ts...>{{items...}});
}
// [a, b, ...]
template <class... Ts>
Term list(const Ts&... items) {
  return detail::build(detail::Compound<detail::Box::kList, Ts...>{{items...}});
}
// A list from any range of buildable values.
template <class Range>
Term list_of(const Range& r) {
  std::vector<Term> v;
  for (const auto& e : r) v.emplace_back(e);
  return detail::build(v);
}
// A tuple of elements known only at run time.
Term tuple_of(std::span<const Term> items);
// #{k => v, ...}; the last of equal keys wins.
Term map(std::span<const std::pair<Term, Term>> entries);
inline Term map(std::initializer_list<std::pair<Term, Term>> entries) {
  return map(std::span<const std::pair<Term, Term>>(entries.begin(), entries.size()));
}
Term make_ref_term(Ref r);

// --- conversions to and from C++ values ------------------------------------------------------

namespace detail {
std::string describe(const Term& t);  // short text of t for error messages
[[noreturn]] void bad_conversion(const Term& t, const char* expected);
}  // namespace detail

template <>
struct TermConvert<Term> {
  static bool accepts(const Term&) { return true; }
  static Term to(const Term& t) { return t; }
};
template <>
struct TermConvert<Atom> {
  static bool accepts(const Term& t) { return t.is_atom(); }
  static Atom to(const Term& t) { return t.atom(); }
};
template <>
struct TermConvert<Pid> {
  static bool accepts(const Term& t) { return t.is_pid(); }
  static Pid to(const Term& t) { return t.pid(); }
};
template <>
struct TermConvert<Ref> {
  static bool accepts(const Term& t) { return t.is_ref(); }
  static Ref to(const Term& t) { return t.ref(); }
};
template <>
struct TermConvert<bool> {
  static bool accepts(const Term& t) { return t.is(atoms::true_()) || t.is(atoms::false_()); }
  static bool to(const Term& t) {
    if (!accepts(t)) detail::bad_conversion(t, "boolean");
    return t.is(atoms::true_());
  }
};
template <std::integral I>
requires(!std::same_as<I, bool>) struct TermConvert<I> {
  static bool accepts(const Term& t) {
    if (!t.is_integer()) return false;
    std::int64_t v = t.integer();
    if constexpr (std::is_signed_v<I>) {
      return v >= std::int64_t(std::numeric_limits<I>::min()) &&
             v <= std::int64_t(std::numeric_limits<I>::max());
    } else {
      return v >= 0 && std::uint64_t(v) <= std::uint64_t(std::numeric_limits<I>::max());
    }
  }
  static I to(const Term& t) {
    if (!accepts(t)) detail::bad_conversion(t, "integer in range");
    return static_cast<I>(t.integer());
  }
};
template <>
struct TermConvert<double> {
  static bool accepts(const Term& t) { return t.is_number(); }
  static double to(const Term& t) { return t.number(); }
};
template <>
struct TermConvert<std::string> {
  static bool accepts(const Term& t) { return t.is_binary() || t.is_atom(); }
  static std::string to(const Term& t) {
    if (t.is_atom()) return std::string(t.atom().text());
    return std::string(t.text());
  }
};
// A view into the term's heap: valid while the Term it came from is alive.
template <>
struct TermConvert<std::string_view> {
  static bool accepts(const Term& t) { return t.is_binary(); }
  static std::string_view to(const Term& t) { return t.text(); }
};
template <class T>
struct TermConvert<std::vector<T>> {
  static Term from(const std::vector<T>& v) { return detail::build(v); }
  static bool accepts(const Term& t) {
    if (!t.is_list()) return false;
    for (const Term& e : t)
      if (!TermConvert<T>::accepts(e)) return false;
    return true;
  }
  static std::vector<T> to(const Term& t) {
    if (!t.is_list()) detail::bad_conversion(t, "list");
    std::vector<T> out;
    out.reserve(t.size());
    for (const Term& e : t) out.push_back(TermConvert<T>::to(e));
    return out;
  }
};
template <class K, class V>
struct TermConvert<std::map<K, V>> {
  static Term from(const std::map<K, V>& m) { return detail::build(m); }
  static bool accepts(const Term& t) {
    if (!t.is_map()) return false;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (!TermConvert<K>::accepts(t.map_key(i)) || !TermConvert<V>::accepts(t.map_value(i)))
        return false;
    return true;
  }
  static std::map<K, V> to(const Term& t) {
    if (!t.is_map()) detail::bad_conversion(t, "map");
    std::map<K, V> out;
    for (std::size_t i = 0; i < t.size(); ++i)
      out.emplace(TermConvert<K>::to(t.map_key(i)), TermConvert<V>::to(t.map_value(i)));
    return out;
  }
};
template <class T>
requires requires {
  &TermConvert<T>::accepts;
}
struct TermConvert<std::optional<T>> {
  // nullopt <-> the atom `undefined`, as Erlang APIs spell "no value".
  static Term from(const std::optional<T>& v) { return v ? Term(*v) : Term(atoms::undefined()); }
  static bool accepts(const Term& t) {
    return t.is(atoms::undefined()) || TermConvert<T>::accepts(t);
  }
  static std::optional<T> to(const Term& t) {
    if (t.is(atoms::undefined())) return std::nullopt;
    return TermConvert<T>::to(t);
  }
};

template <Recordable T>
struct TermConvert<T> {
  static constexpr std::size_t kFields =
      std::tuple_size_v<std::remove_cvref_t<decltype(Record<T>::fields)>>;
  static Atom tag() {
    static const Atom a{std::string_view(Record<T>::name)};
    return a;
  }
  static Term from(const T& v) {
    return std::apply([&](auto... f) { return tuple(tag(), Term(v.*f)...); }, Record<T>::fields);
  }
  static bool accepts(const Term& t) {
    if (!t.is_tuple(kFields + 1) || !t[0].is(tag())) return false;
    return accepts_fields(t, std::make_index_sequence<kFields>{});
  }
  static T to(const Term& t) {
    if (!t.is_tuple(kFields + 1) || !t[0].is(tag()))
      detail::bad_conversion(t, Record<T>::name.data());
    T out{};
    read_fields(t, out, std::make_index_sequence<kFields>{});
    return out;
  }

 private:
  template <std::size_t... I>
  static bool accepts_fields(const Term& t, std::index_sequence<I...>) {
    return (field_accepts<I>(t[I + 1]) && ...);
  }
  template <std::size_t I>
  static bool field_accepts(const Term& e) {
    using F = std::remove_cvref_t<decltype(std::declval<T&>().*std::get<I>(Record<T>::fields))>;
    return TermConvert<F>::accepts(e);
  }
  template <std::size_t... I>
  static void read_fields(const Term& t, T& out, std::index_sequence<I...>) {
    ((out.*std::get<I>(Record<T>::fields) =
          TermConvert<std::remove_cvref_t<decltype(out.*std::get<I>(Record<T>::fields))>>::to(
              t[I + 1])),
     ...);
  }
};

template <class... Ts>
bool Term::is_tuple_of() const {
  if (!is_tuple(sizeof...(Ts))) return false;
  std::size_t i = 0;
  return (TermConvert<Ts>::accepts((*this)[i++]) && ...);
}

struct TermHash {
  std::size_t operator()(const Term& t) const { return t.hash(); }
};

}  // namespace ember
