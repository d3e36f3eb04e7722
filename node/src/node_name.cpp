#include "ember/node/node_name.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>

namespace ember {
namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw std::invalid_argument("bad node name '" + std::string(text) + "': " + why +
                              " (expected name@host or name@host:port)");
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}
bool host_char(char c) {
  return name_char(c) || c == '.';
}

}  // namespace

NodeName NodeName::parse(std::string_view text) {
  std::size_t at = text.find('@');
  if (at == std::string_view::npos) bad(text, "no '@'");
  NodeName n;
  n.name = std::string(text.substr(0, at));
  std::string_view rest = text.substr(at + 1);
  std::size_t colon = rest.rfind(':');
  n.host = std::string(rest.substr(0, colon));
  if (n.name.empty()) bad(text, "empty name before '@'");
  if (n.host.empty()) bad(text, "empty host after '@'");
  for (char c : n.name)
    if (!name_char(c)) bad(text, std::string("character '") + c + "' not allowed in the name");
  for (char c : n.host)
    if (!host_char(c)) bad(text, std::string("character '") + c + "' not allowed in the host");
  if (colon != std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v == 0 ||
        v > 65535)
      bad(text, "port must be a number from 1 to 65535");
    n.port = std::uint16_t(v);
  }
  if (text.size() > 255) bad(text, "longer than 255 characters");
  return n;
}

NodeName NodeName::canonical(std::string_view text) {
  NodeName n = parse(text);
  if (n.port == 0) n.port = kDefaultPort;
  return n;
}

std::string NodeName::to_string() const {
  std::string s = name + '@' + host;
  if (port) s += ':' + std::to_string(port);
  return s;
}

}  // namespace ember
