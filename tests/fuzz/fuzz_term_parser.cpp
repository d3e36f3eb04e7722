// libFuzzer: any text either fails to parse with ParseError, or parses to a term whose
// printed form parses back to an equal term and prints the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ember/core/term_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ember::Term t;
  try {
    t = ember::parse_term(text);
  } catch (const ember::ParseError&) {
    return 0;
  }
  std::string printed = ember::print_term(t);
  ember::Term back = ember::parse_term(printed);  // must not throw
  if (!(back == t) || ember::print_term(back) != printed || back.hash() != t.hash())
    __builtin_trap();
  return 0;
}
