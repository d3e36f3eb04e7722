// Terms printed in Erlang syntax, as io:format("~w") would, so the text parses back.
#include <cctype>
#include <charconv>
#include <cstdio>
#include <span>

#include "ember/core/term_text.hpp"

namespace ember {
namespace {

bool is_reserved(std::string_view s) {
  static constexpr std::string_view kReserved[] = {
      "after", "and",    "andalso", "band", "begin", "bnot", "bor", "bsl",   "bsr", "bxor",
      "case",  "catch",  "cond",    "div",  "end",   "fun",  "if",  "let",   "not", "of",
      "or",    "orelse", "receive", "rem",  "try",   "when", "xor", "maybe", "else"};
  for (auto r : kReserved)
    if (r == s) return true;
  return false;
}

bool bare_atom(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '@')) return false;
  return !is_reserved(s);
}

void escaped(std::string_view s, char quote, std::string& out) {
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += char(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += char(c);  // UTF-8 passes through
        }
    }
  }
}

void print_atom(Atom a, std::string& out) {
  std::string_view s = a.text();
  if (bare_atom(s)) {
    out += s;
    return;
  }
  out += '\'';
  escaped(s, '\'', out);
  out += '\'';
}

// Shortest text that reads back as the same double, in Erlang's form: 1.0, 1.5e-7, 1.0e21.
void print_float(double d, std::string& out) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view s(buf, end - buf);
  std::size_t e = s.find('e');
  std::string_view mantissa = s.substr(0, e);
  out += mantissa;
  if (mantissa.find('.') == std::string_view::npos) out += ".0";
  if (e == std::string_view::npos) return;
  out += 'e';
  std::string_view exp = s.substr(e + 1);
  if (exp[0] == '+') exp.remove_prefix(1);
  bool neg = exp[0] == '-';
  if (neg) exp.remove_prefix(1);
  while (exp.size() > 1 && exp[0] == '0') exp.remove_prefix(1);
  if (neg) out += '-';
  out += exp;
}

bool printable(std::span<const std::byte> b) {
  for (std::byte x : b) {
    auto c = static_cast<unsigned char>(x);
    if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c >= 0x7f) return false;
  }
  return true;
}

void print_binary(std::span<const std::byte> b, std::string& out) {
  out += "<<";
  if (!b.empty() && printable(b)) {
    out += '"';
    escaped({reinterpret_cast<const char*>(b.data()), b.size()}, '"', out);
    out += '"';
  } else {
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(static_cast<unsigned>(b[i]));
    }
  }
  out += ">>";
}

void print_seq(const Term& t, char open, char close, std::string& out) {
  out += open;
  bool first = true;
  for (const Term& e : t) {
    if (!first) out += ',';
    first = false;
    print_term(e, out);
  }
  out += close;
}

}  // namespace

void print_term(const Term& t, std::string& out) {
  switch (t.kind()) {
    case TermKind::kInteger:
      out += std::to_string(t.integer());
      return;
    case TermKind::kFloat:
      print_float(t.number(), out);
      return;
    case TermKind::kAtom:
      print_atom(t.atom(), out);
      return;
    case TermKind::kPid: {
      Pid p = t.pid();
      out += '<' + std::to_string(p.node()) + '.' + std::to_string(p.slot()) + '.' +
             std::to_string(p.generation()) + '>';
      return;
    }
    case TermKind::kRef: {
      Ref r = t.ref();
      out += "#Ref<" + std::to_string(r.node) + '.' + std::to_string(r.id >> 32) + '.' +
             std::to_string(r.id & 0xffffffffu) + '>';
      return;
    }
    case TermKind::kTuple:
      print_seq(t, '{', '}', out);
      return;
    case TermKind::kList:
      print_seq(t, '[', ']', out);
      return;
    case TermKind::kMap:
      out += "#{";
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (i) out += ',';
        print_term(t.map_key(i), out);
        out += " => ";
        print_term(t.map_value(i), out);
      }
      out += '}';
      return;
    case TermKind::kBinary:
      print_binary(t.bytes(), out);
      return;
  }
}

std::string print_term(const Term& t) {
  std::string out;
  print_term(t, out);
  return out;
}

}  // namespace ember
