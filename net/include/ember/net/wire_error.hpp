// The one error the wire layer reports: a frame that cannot be read or written.
#pragma once

#include <stdexcept>

namespace ember::net {

// Thrown for a malformed, truncated, oversized or hostile frame, or a term that cannot be
// sent. The connection that produced it is closed; nothing else is affected.
class WireError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ember::net
