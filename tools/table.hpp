// Output: aligned tables for humans, JSON for scripts.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/term.hpp"

namespace ember::cli {

// Columns padded to their widest cell; numeric columns aligned right.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void align_right(std::size_t column) { right_.push_back(column); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::size_t> right_;
};

// "text" with JSON escapes.
std::string json_string(std::string_view text);

// A term as JSON: maps are objects (keys as text), lists arrays, numbers numbers, true,
// false and undefined are true, false and null, other atoms and printable binaries are
// strings, pids are strings as pid_text prints them; anything else is its Erlang text.
std::string term_to_json(const Term& t);

// A term's text for a table cell: atoms and printable binaries bare, the rest as Erlang.
std::string cell_text(const Term& t);

}  // namespace ember::cli
