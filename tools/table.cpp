#include "table.hpp"

#include <algorithm>
#include <cstdio>

#include "ember/core/term_text.hpp"
#include "pid_text.hpp"

namespace ember::cli {
namespace {

bool printable(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) {
    auto c = static_cast<unsigned char>(b);
    return c >= 0x20 && c != 0x7f;
  });
}

void json(const Term& t, std::string& out) {
  switch (t.kind()) {
    case TermKind::kInteger:
    case TermKind::kFloat:
      print_term(t, out);
      return;
    case TermKind::kAtom:
      if (t.is(Atom("true")) || t.is(Atom("false")))
        out += t.atom().text();
      else if (t.is(Atom("undefined")))
        out += "null";
      else
        out += json_string(t.atom().text());
      return;
    case TermKind::kPid:
      out += json_string(pid_text(t.pid()));
      return;
    case TermKind::kBinary:
      out += json_string(printable(t.bytes()) ? std::string(t.text()) : print_cli_term(t));
      return;
    case TermKind::kList: {
      out += '[';
      bool first = true;
      for (const Term& e : t) {
        if (!first) out += ", ";
        first = false;
        json(e, out);
      }
      out += ']';
      return;
    }
    case TermKind::kMap:
      out += '{';
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (i) out += ", ";
        out += json_string(cell_text(t.map_key(i)));
        out += ": ";
        json(t.map_value(i), out);
      }
      out += '}';
      return;
    default:
      out += json_string(print_cli_term(t));
  }
}

}  // namespace

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> width(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& row : rows_)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      std::string pad(width[c] - cell.size(), ' ');
      bool right = std::find(right_.begin(), right_.end(), c) != right_.end();
      if (c) s += "  ";
      s += right ? pad + cell : (c + 1 < width.size() ? cell + pad : cell);
    }
    out << s << '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string term_to_json(const Term& t) {
  std::string out;
  json(t, out);
  return out;
}

std::string cell_text(const Term& t) {
  if (t.is_atom()) return std::string(t.atom().text());
  if (t.is_binary() && printable(t.bytes())) return std::string(t.text());
  return print_cli_term(t);
}

}  // namespace ember::cli
