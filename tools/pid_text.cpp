#include "pid_text.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "cli_error.hpp"
#include "ember/core/node_table.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/node_name.hpp"

namespace ember::cli {
namespace {

bool digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}
bool node_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == '@' || c == ':';
}

// <N.S.G> at text[i]: its length, or 0 when there is none.
std::size_t match_pid(std::string_view text, std::size_t i, std::uint64_t (&parts)[3]) {
  std::size_t p = i;
  if (p >= text.size() || text[p] != '<') return 0;
  ++p;
  for (int k = 0; k < 3; ++k) {
    std::size_t start = p;
    while (p < text.size() && digit(text[p])) ++p;
    if (p == start || p - start > 12) return 0;
    std::from_chars(text.data() + start, text.data() + p, parts[k]);
    if (p >= text.size() || text[p] != (k < 2 ? '.' : '>')) return 0;
    ++p;
  }
  return p - i;
}

[[noreturn]] void bad_pid(std::string_view text, const std::string& why) {
  throw CliError(kUsage, "bad pid '" + std::string(text) + "': " + why +
                             " (expected <N.S.G> or <N.S.G>@name@host[:port])");
}

PidText make_pid_text(std::string_view text, const std::uint64_t (&parts)[3],
                      std::string_view node) {
  if (parts[1] > Pid::kMaxSlot) bad_pid(text, "slot too large");
  if (parts[2] > Pid::kMaxGen) bad_pid(text, "generation too large");
  PidText p;
  p.slot = std::uint32_t(parts[1]);
  p.generation = std::uint32_t(parts[2]);
  if (!node.empty()) p.node = canonical_node(node);
  return p;
}

Atom make_atom(std::string_view text, const char* what) {
  if (text.empty()) throw CliError(kUsage, std::string("empty ") + what);
  try {
    return Atom(text);
  } catch (const std::exception& e) {
    throw CliError(kUsage,
                   std::string("bad ") + what + " '" + std::string(text) + "': " + e.what());
  }
}

void print_cli(const Term& t, std::string& out) {
  switch (t.kind()) {
    case TermKind::kPid:
      out += pid_text(t.pid());
      return;
    case TermKind::kTuple:
    case TermKind::kList: {
      bool tuple = t.kind() == TermKind::kTuple;
      out += tuple ? '{' : '[';
      bool first = true;
      for (const Term& e : t) {
        if (!first) out += ',';
        first = false;
        print_cli(e, out);
      }
      out += tuple ? '}' : ']';
      return;
    }
    case TermKind::kMap:
      out += "#{";
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (i) out += ',';
        print_cli(t.map_key(i), out);
        out += " => ";
        print_cli(t.map_value(i), out);
      }
      out += '}';
      return;
    default:
      print_term(t, out);
  }
}

// One replaced stretch of the text: [new_begin, new_end) stands for [orig_begin, orig_end).
struct Splice {
  std::size_t new_begin, new_end, orig_begin, orig_end;
};

std::size_t original_position(std::size_t pos, const std::vector<Splice>& splices) {
  std::size_t shift_from_new = 0, shift_to_orig = 0;
  for (const Splice& s : splices) {
    if (pos < s.new_begin) break;
    if (pos < s.new_end) return s.orig_begin;
    shift_from_new = s.new_end;
    shift_to_orig = s.orig_end;
  }
  return pos - shift_from_new + shift_to_orig;
}

}  // namespace

Atom canonical_node(std::string_view text) {
  try {
    return Atom(NodeName::canonical(text).to_string());
  } catch (const std::exception& e) {
    throw CliError(kUsage, e.what());
  }
}

PidText parse_pid_text(std::string_view text) {
  std::uint64_t parts[3] = {};
  std::size_t n = match_pid(text, 0, parts);
  if (n == 0) bad_pid(text, "not a pid");
  std::string_view rest = text.substr(n);
  if (!rest.empty() && rest[0] != '@') bad_pid(text, "unexpected text after '>'");
  if (rest.size() == 1) bad_pid(text, "no node after '@'");
  return make_pid_text(text, parts, rest.empty() ? rest : rest.substr(1));
}

Target parse_target(std::string_view text) {
  Target t;
  if (!text.empty() && text[0] == '<') {
    t.pid = parse_pid_text(text);
    t.node = t.pid->node;
    return t;
  }
  constexpr std::string_view kGlobal = "global:";
  if (text.starts_with(kGlobal)) {
    t.global = true;
    text.remove_prefix(kGlobal.size());
  }
  std::size_t at = text.find('@');
  t.name = make_atom(text.substr(0, at), t.global ? "global name" : "registered name");
  if (at != std::string_view::npos) t.node = canonical_node(text.substr(at + 1));
  return t;
}

Atom pid_node(Pid pid) {
  return NodeTable::identity(pid.node()).name;
}

std::string pid_text(Pid pid) {
  return "<0." + std::to_string(pid.slot()) + '.' + std::to_string(pid.generation()) + ">@" +
         std::string(pid_node(pid).text());
}

std::string print_cli_term(const Term& t) {
  std::string out;
  print_cli(t, out);
  return out;
}

Term parse_cli_term(std::string_view text, const std::function<Pid(const PidText&)>& resolve) {
  std::string rewritten;
  std::vector<Splice> splices;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"' || c == '\'') {  // copy a quoted string or atom whole, escapes and all
      std::size_t j = i + 1;
      while (j < text.size() && text[j] != c) j += text[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, text.size());
      rewritten.append(text.substr(i, j - i));
      i = j;
      continue;
    }
    if (text.substr(i, 5) == "#Ref<") {  // a ref looks like a pid inside: keep it
      std::size_t j = text.find('>', i);
      j = j == std::string_view::npos ? text.size() : j + 1;
      rewritten.append(text.substr(i, j - i));
      i = j;
      continue;
    }
    std::uint64_t parts[3] = {};
    std::size_t n = c == '<' ? match_pid(text, i, parts) : 0;
    if (n == 0) {
      rewritten += c;
      ++i;
      continue;
    }
    std::size_t end = i + n;
    std::string_view node;
    if (end < text.size() && text[end] == '@') {
      std::size_t j = end + 1;
      while (j < text.size() && node_char(text[j])) ++j;
      node = text.substr(end + 1, j - end - 1);
      end = j;
    }
    Pid pid = resolve(make_pid_text(text.substr(i, end - i), parts, node));
    Splice s{rewritten.size(), 0, i, end};
    print_term(Term(pid), rewritten);
    s.new_end = rewritten.size();
    splices.push_back(s);
    i = end;
  }
  try {
    return parse_term(rewritten);
  } catch (const ParseError& e) {
    throw ParseError(original_position(e.position(), splices), e.expected());
  }
}

}  // namespace ember::cli
