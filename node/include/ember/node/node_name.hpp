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

  // Throws std::invalid_argument saying which part is wrong and why.
  static NodeName parse(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const NodeName&, const NodeName&) = default;
};

}  // namespace ember
