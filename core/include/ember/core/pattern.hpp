// Patterns for selective receive: a term in which the atom '_' matches anything.
#pragma once

#include <string_view>

#include "ember/core/term.hpp"

namespace ember {

// The wildcard: tuple("echo"_a, _, _) matches any 3-tuple starting with echo.
inline const Atom _ = Atom("_");

// A compiled pattern. Tuples and lists match element-wise, maps match when every key of
// the pattern is present with a matching value (Erlang's map patterns), '_' matches
// anything, and anything else must be equal (exactly, as =:=).
class Pattern {
 public:
  Pattern(Term pattern) : pattern_(std::move(pattern)) {}
  bool operator()(const Term& t) const;
  const Term& term() const { return pattern_; }

 private:
  Term pattern_;
};

// A pattern from text, in Erlang syntax where `_` and variables (Capitalised) match
// anything. Parses once; keep the result (or use the "..."_p literal, which does).
Pattern parse_pattern(std::string_view text);

// A pattern plus a guard over the matched message.
template <class Guard>
struct Guarded {
  Pattern pattern;
  Guard guard;
  bool operator()(const Term& t) const { return pattern(t) && guard(t); }
};

inline Pattern match(Term pattern) {
  return Pattern(std::move(pattern));
}
template <class Guard>
Guarded<Guard> match(Term pattern, Guard guard) {
  return {Pattern(std::move(pattern)), std::move(guard)};
}
// Any message.
struct AnyMessage {
  bool operator()(const Term&) const { return true; }
};
inline constexpr AnyMessage any{};

// A clause that refers to a pattern kept elsewhere (a static one): copying it into each
// receive costs a pointer, not a reference count.
class PatternRef {
 public:
  explicit PatternRef(const Pattern& p) : p_(&p) {}
  bool operator()(const Term& t) const { return (*p_)(t); }
  const Pattern& pattern() const { return *p_; }

 private:
  const Pattern* p_;
};

inline namespace literals {
// "{echo, _, Pid}"_p: compiled once per literal, on first use.
template <detail::AtomLiteral L>
PatternRef operator""_p() {
  static const Pattern p = parse_pattern(std::string_view(L.text, sizeof(L.text) - 1));
  return PatternRef(p);
}
}  // namespace literals

}  // namespace ember
