// Child processes for the CLI tests: nodes that run in the background (killed when the
// Child goes, also when the test fails or the test binary dies), and commands run to
// completion with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace ember::test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The environment a child gets: ours, with `set` applied (an empty value removes).
using EnvChanges = std::map<std::string, std::string>;

// A background process whose stdout and stderr go to `log`.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log, const EnvChanges& env = {});
  ~Child();  // SIGKILL and reap, if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Group 1 of the first match of `pattern` in the log, waiting up to `within`; nullopt
  // if the child exits first or the time runs out.
  std::optional<std::string> wait_for(const std::regex& pattern, milliseconds within);
  std::string log() const;
  void kill(int signal);  // sends `signal`; SIGKILL and SIGTERM also reap the child
  bool running() const { return pid_ > 0; }

 private:
  void reap(milliseconds within);
  pid_t pid_ = -1;
  std::string log_path_;
};

struct Output {
  int rc = -1;  // the exit code; -1 when killed at the deadline
  std::string out, err;
  milliseconds took{0};
};

// Runs argv to completion; killed (rc -1) after `within`.
Output run(const std::vector<std::string>& argv, const EnvChanges& env = {},
           milliseconds within = milliseconds(20000));

// A loopback port nothing listens on (bound, then closed).
int free_port();

// A loopback socket that accepts connections and says nothing (kernel backlog only).
class MuteListener {
 public:
  MuteListener();
  ~MuteListener();
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
};

}  // namespace ember::test
