// A node's name as users write it: name@host or name@host:port.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember {

// Erlang names nodes name@host; Ember has no epmd, so the listening port may ride along
// after the host. The text form is the node's identity on the wire (wire::NodeId.name).
struct NodeName {
  std::string name;
  std::string host;
  std::uint16_t port = 0;  // 0: not given

  // Erlang's epmd port; Ember listens on it when a name gives no port.
  static constexpr std::uint16_t kDefaultPort = 4370;

  // Throws std::invalid_argument saying which part is wrong and why.
  static NodeName parse(std::string_view text);
  // parse() with the default port filled in (name@host -> name@host:4370): one spelling
  // per node, so one atom per node.
  static NodeName canonical(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const NodeName&, const NodeName&) = default;
};

}  // namespace ember
