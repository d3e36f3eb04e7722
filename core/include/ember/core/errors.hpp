// Exceptions that carry Erlang meaning inside a process.
#pragma once

#include <stdexcept>

#include "ember/core/term.hpp"

namespace ember {

// An Erlang error raised by a runtime call: badarg (bad name, dead pid to register),
// noproc (link to a dead process). Uncaught, it ends the process with `reason()`.
class ErlangError : public std::runtime_error {
 public:
  explicit ErlangError(Term reason);
  const Term& reason() const { return reason_; }

 private:
  Term reason_;
};

// Thrown by Self::exit(reason) to end the calling process; not an error to catch.
struct ProcessExit {
  Term reason;
};

}  // namespace ember
