// How a command fails: a one-line message for stderr and the process's exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace ember::cli {

// Exit codes, documented in `ember --help` and README.md.
enum Exit : int {
  kOk = 0,
  kFailed = 1,       // the node answered, but no: no such process, spawn error, ...
  kUsage = 2,        // bad arguments, bad term, bad pid, bad node name
  kUnreachable = 3,  // cannot connect: nothing listening, refused (wrong cookie?), lost
  kTimeout = 4,      // connected, but no answer in time
};

class CliError : public std::runtime_error {
 public:
  CliError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

}  // namespace ember::cli
