// Terms as Erlang text, both ways: {echo, <<"hello">>, 42, [1,2], #{a => 1.5}, 'Quoted atom'}.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ember/core/term.hpp"

namespace ember {

// A text that is not a term: says where (0-based byte offset) and what was expected there.
class ParseError : public std::runtime_error {
 public:
  ParseError(std::size_t position, std::string expected);
  std::size_t position() const { return position_; }
  const std::string& expected() const { return expected_; }

 private:
  std::size_t position_;
  std::string expected_;
};

// Deepest nesting the parser accepts, so hostile text cannot exhaust the stack.
inline constexpr std::size_t kMaxParseDepth = 512;

// Parses one term; surrounding whitespace is allowed, anything else after it is an error.
// Accepts Erlang syntax plus Elixir-style "text" (read as a binary) and :atom.
// Pids are written <node.slot.generation>, refs #Ref<node.high.low>.
Term parse_term(std::string_view text);

// Erlang syntax; parse_term(print_term(t)) == t for every term.
std::string print_term(const Term& t);
void print_term(const Term& t, std::string& out);

}  // namespace ember
