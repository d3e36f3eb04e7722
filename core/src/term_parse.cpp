// Erlang term syntax to Term. The text is parsed twice: once to size the heap, once to
// fill it, so the result takes one allocation however deep it is.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ember/core/pattern.hpp"
#include "ember/core/term_text.hpp"

namespace ember {

ParseError::ParseError(std::size_t position, std::string expected)
    : std::runtime_error("parse error at offset " + std::to_string(position) + ": expected " +
                         expected),
      position_(position),
      expected_(std::move(expected)) {}

namespace {

using detail::Box;
using detail::Word;

// Sizing pass: counts the words the writing pass will need.
struct CountingSink {
  std::size_t words = 0;
  Word integer(std::int64_t v) {
    if (v < detail::kSmallMin || v > detail::kSmallMax) words += detail::kScalarBoxWords;
    return detail::make_small(0);
  }
  Word real(double) {
    words += detail::kScalarBoxWords;
    return detail::make_small(0);
  }
  Word ref(Ref) { return real(0); }
  Word binary(const std::string& b) {
    if (!b.empty()) words += detail::blob_words(b.size());
    return detail::make_small(0);
  }
  Word seq(Box, const Word*, std::size_t n) {
    if (n) words += detail::tuple_words(n);
    return detail::make_small(0);
  }
  Word map(std::vector<Word>&, std::size_t n) {
    if (n) words += detail::map_words(n);
    return detail::make_small(0);
  }
};

struct WritingSink {
  detail::HeapWriter& out;
  Word integer(std::int64_t v) { return out.integer(v); }
  Word real(double v) { return out.box_float(v); }
  Word ref(Ref r) { return out.box_ref(r); }
  Word binary(const std::string& b) { return out.box_binary(b.data(), b.size()); }
  Word seq(Box kind, const Word* elems, std::size_t n) {
    Word* dst = nullptr;
    Word root = out.box_tuple(kind, n, dst);
    if (n) std::memcpy(dst, elems, n * sizeof(Word));
    return root;
  }
  Word map(std::vector<Word>& kv, std::size_t n) {
    // kv holds k0,v0,k1,v1...; write_map wants the keys then the values.
    std::vector<Word> split(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      split[i] = kv[2 * i];
      split[n + i] = kv[2 * i + 1];
    }
    return detail::write_map(out, n, split.data(), split.data() + n);
  }
};

template <class Sink>
class Parser {
 public:
  Parser(std::string_view text, Sink& sink, bool pattern = false)
      : s_(text), sink_(sink), pattern_(pattern) {}

  Word parse_all() {
    Word w = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("end of input");
    return w;
  }

 private:
  [[noreturn]] void fail(std::string expected) const {
    throw ParseError(pos_, std::move(expected));
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0';
  }
  bool starts(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  void skip_space() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("'") + c + "'");
    ++pos_;
  }
  static bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '@';
  }

  Word value(std::size_t depth) {
    if (depth > kMaxParseDepth) fail("nesting at most " + std::to_string(kMaxParseDepth) + " deep");
    skip_space();
    char c = peek();
    if (c == '{') return sequence(Box::kTuple, '}', depth);
    if (c == '[') return sequence(Box::kList, ']', depth);
    if (starts("#{")) return map(depth);
    if (starts("#Ref<")) return ref();
    if (starts("<<")) return binary();
    if (c == '<') return pid();
    if (c == '"') return sink_.binary(quoted('"'));
    if (c == '\'') return atom_word(quoted('\''));
    if (c == ':' && (peek(1) == '"' || std::islower(static_cast<unsigned char>(peek(1))))) {
      ++pos_;  // Elixir's :atom and :"atom"
      return peek() == '"' ? atom_word(quoted('"')) : bare_atom();
    }
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) return number();
    if (std::islower(static_cast<unsigned char>(c))) return bare_atom();
    if (std::isupper(static_cast<unsigned char>(c)) || c == '_') {
      if (!pattern_) fail("a term (variables are not terms)");
      while (!at_end() && word_char(s_[pos_])) ++pos_;  // a variable in a pattern: matches anything
      return detail::make_atom(_);
    }
    fail("a term");
  }

  Word sequence(Box kind, char close, std::size_t depth) {
    ++pos_;
    std::vector<Word> elems;
    skip_space();
    if (peek() == close) {
      ++pos_;
      return sink_.seq(kind, nullptr, 0);
    }
    for (;;) {
      elems.push_back(value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == close) break;
      if (kind == Box::kList && peek() == '|')
        fail("',' or ']' (improper lists are not supported)");
      fail(std::string("',' or '") + close + "'");
    }
    ++pos_;
    return sink_.seq(kind, elems.data(), elems.size());
  }

  Word map(std::size_t depth) {
    pos_ += 2;
    std::vector<Word> kv;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return sink_.map(kv, 0);
    }
    for (;;) {
      kv.push_back(value(depth + 1));
      skip_space();
      if (!starts("=>")) fail("'=>'");
      pos_ += 2;
      kv.push_back(value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      fail("',' or '}'");
    }
    ++pos_;
    return sink_.map(kv, kv.size() / 2);
  }

  std::uint64_t unsigned_int(std::uint64_t max) {
    skip_space();
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v);
    if (ec != std::errc() || v > max) fail("an integer from 0 to " + std::to_string(max));
    pos_ = end - s_.data();
    return v;
  }

  Word pid() {
    ++pos_;
    auto node = unsigned_int(Pid::kMaxNode);
    expect('.');
    auto slot = unsigned_int(Pid::kMaxSlot);
    expect('.');
    auto gen = unsigned_int(Pid::kMaxGen);
    expect('>');
    return detail::make_pid(Pid(std::uint32_t(node), std::uint32_t(slot), std::uint32_t(gen)));
  }

  Word ref() {
    pos_ += 5;
    auto node = unsigned_int(0xffffffffu);
    expect('.');
    auto hi = unsigned_int(0xffffffffu);
    expect('.');
    auto lo = unsigned_int(0xffffffffu);
    expect('>');
    return sink_.ref(Ref{std::uint32_t(node), (hi << 32) | lo});
  }

  Word binary() {
    pos_ += 2;
    std::string bytes;
    skip_space();
    if (starts(">>")) {
      pos_ += 2;
      return sink_.binary(bytes);
    }
    for (;;) {
      skip_space();
      if (peek() == '"') {
        bytes += quoted('"');
        skip_space();
        if (starts("/utf8")) pos_ += 5;
      } else {
        bytes += char(unsigned_int(255));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (starts(">>")) break;
      fail("',' or '>>'");
    }
    pos_ += 2;
    return sink_.binary(bytes);
  }

  // A quoted atom or string with Erlang's escapes; pos_ is at the opening quote.
  std::string quoted(char quote) {
    ++pos_;
    std::string out;
    for (;;) {
      if (at_end()) fail(std::string("closing ") + quote);
      char c = s_[pos_++];
      if (c == quote) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("an escape sequence");
      out += escape(s_[pos_++]);
    }
  }

  char escape(char c) {
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 's':
        return ' ';
      case 'e':
        return 27;
      case 'b':
        return '\b';
      case 'd':
        return 127;
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      case 'x':
        return hex_escape();
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      int v = c - '0';
      for (int i = 0; i < 2 && peek() >= '0' && peek() <= '7'; ++i) v = v * 8 + (s_[pos_++] - '0');
      if (v > 255) fail("an octal escape up to \\377");
      return char(v);
    }
    return c;  // \\ \" \' and any other character stand for themselves
  }

  char hex_escape() {
    bool braced = peek() == '{';
    if (braced) ++pos_;
    unsigned v = 0;
    std::size_t digits = 0;
    while (std::isxdigit(static_cast<unsigned char>(peek())) && (braced || digits < 2)) {
      char h = s_[pos_++];
      v = v * 16 + unsigned(std::isdigit(static_cast<unsigned char>(h))
                                ? h - '0'
                                : (std::tolower(h) - 'a' + 10));
      if (v > 255) fail("a byte value in \\x escape");
      ++digits;
    }
    if (digits == 0 || (!braced && digits != 2)) fail("hex digits after \\x");
    if (braced) {
      if (peek() != '}') fail("'}' closing \\x{...}");
      ++pos_;
    }
    return char(v);
  }

  Word bare_atom() {
    std::size_t start = pos_;
    while (!at_end() && word_char(s_[pos_])) ++pos_;
    return atom_word(std::string(s_.substr(start, pos_ - start)));
  }

  Word atom_word(const std::string& text) {
    Atom a;
    if (text.size() > Atom::kMaxLength) fail("an atom of at most 255 characters");
    if (!Atom::try_intern(text, a)) fail("room in the atom table");
    return detail::make_atom(a);
  }

  Word number() {
    std::size_t start = pos_;
    if (peek() == '-' || peek() == '+') ++pos_;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("a digit");
    while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    bool is_float = false;
    if (peek() == '.' && std::isdigit(static_cast<unsigned char>(peek(1)))) {
      is_float = true;
      ++pos_;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    }
    if ((peek() == 'e' || peek() == 'E') && (std::isdigit(static_cast<unsigned char>(peek(1))) ||
                                             ((peek(1) == '-' || peek(1) == '+') &&
                                              std::isdigit(static_cast<unsigned char>(peek(2)))))) {
      is_float = true;
      pos_ += 2;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    }
    const char* first = s_.data() + start + (s_[start] == '+' ? 1 : 0);
    const char* last = s_.data() + pos_;
    if (is_float) {
      double d = 0;
      auto [end, ec] = std::from_chars(first, last, d);
      if (ec != std::errc() || end != last || !std::isfinite(d)) {
        pos_ = start;
        fail("a finite float");
      }
      return sink_.real(d);
    }
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last) {
      pos_ = start;
      fail("an integer within 64 bits");
    }
    return sink_.integer(v);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  Sink& sink_;
  bool pattern_;
};

Term parse(std::string_view text, bool pattern) {
  CountingSink counter;
  Parser<CountingSink>(text, counter, pattern).parse_all();
  detail::HeapWriter out(counter.words);
  WritingSink writer{out};
  Word root = Parser<WritingSink>(text, writer, pattern).parse_all();
  return Term::adopt(root, out.release());
}

}  // namespace

Term parse_term(std::string_view text) {
  return parse(text, false);
}

Pattern parse_pattern(std::string_view text) {
  return Pattern(parse(text, true));
}

}  // namespace ember
