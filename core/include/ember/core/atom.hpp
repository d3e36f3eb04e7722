// Atoms: interned names compared as integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ember {

// An interned symbol. Equality is an integer compare; term order compares the text
// (as Erlang does), so `Atom` itself only offers equality.
class Atom {
 public:
  // Erlang's limits: atom text is at most 255 characters, and the table is bounded so a
  // peer cannot grow it without end.
  static constexpr std::size_t kMaxLength = 255;
  static constexpr std::uint32_t kMaxAtoms = 1u << 20;

  constexpr Atom() = default;  // the atom '' (index 0)
  // Interns `text`; throws std::length_error past kMaxLength and std::overflow_error
  // once the table holds kMaxAtoms.
  explicit Atom(std::string_view text);

  static constexpr Atom from_index(std::uint32_t index) { return Atom(index, 0); }
  // Returns false instead of throwing; used by decoders of untrusted input.
  static bool try_intern(std::string_view text, Atom& out) noexcept;

  constexpr std::uint32_t index() const { return index_; }
  std::string_view text() const;
  // xxHash of the text, computed once at intern time: stable across nodes and runs.
  std::uint64_t hash() const;

  friend constexpr bool operator==(Atom a, Atom b) { return a.index_ == b.index_; }

 private:
  constexpr Atom(std::uint32_t index, int) : index_(index) {}
  std::uint32_t index_ = 0;
};

// Number of atoms interned so far.
std::size_t atom_count();

namespace detail {
template <std::size_t N>
struct AtomLiteral {
  char text[N];
  constexpr AtomLiteral(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
  }
};
}  // namespace detail

inline namespace literals {
// "ok"_a interns once per literal (a function-local static), then costs a load.
template <detail::AtomLiteral L>
Atom operator""_a() {
  static const Atom atom{std::string_view(L.text, sizeof(L.text) - 1)};
  return atom;
}
}  // namespace literals

// Atoms the runtime itself uses, interned at start-up in a fixed order.
namespace atoms {
Atom ok();
Atom error();
Atom true_();
Atom false_();
Atom undefined();
Atom normal();
Atom nil();
}  // namespace atoms

}  // namespace ember
