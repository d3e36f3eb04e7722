// ember-node's command line: flags, the EMBER_* environment variables behind them, and the
// cookie file. Kept apart from main() so that tests can drive it with a fake environment.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ember/node/cookie_file.hpp"
#include "ember/node/node.hpp"

namespace ember::daemon {

// Looks a variable up: std::getenv in the daemon, a map in tests.
using Env = std::function<std::optional<std::string>(const std::string& variable)>;
Env process_env();

struct DaemonOptions {
  // What NodeConfig::name gets: name@host:port, or name@host:0 for any free port.
  std::string name;
  std::string listen_host;  // the address to bind (may differ from the name's host)
  std::string cookie;       // empty: read (or create) the cookie file
  std::vector<std::string> join;
  unsigned schedulers = 0;         // 0: one per core
  std::optional<double> ticktime;  // seconds; unset: NodeConfig's defaults
  double rejoin = 0;  // seconds between dials of --join nodes that are not up; 0: at start only
  std::uint16_t metrics_port = 0;  // HTTP /metrics and /health on the listen host; 0: off

  // The Node's configuration, with the cookie resolved by the caller.
  NodeConfig node_config(const std::string& resolved_cookie) const;
};

struct ParseOutcome {
  std::optional<DaemonOptions> options;  // set: run the daemon
  int exit_code = 0;                     // otherwise: 0 after --help, 2 for bad arguments
  std::string message;                   // help (stdout) or error and usage (stderr)
};

// argv[0] is the program name. Flags win over the environment; every flag has a variable:
// EMBER_NAME, EMBER_LISTEN, EMBER_COOKIE, EMBER_JOIN (comma-separated), EMBER_SCHEDULERS,
// EMBER_TICKTIME, EMBER_REJOIN, EMBER_METRICS_PORT. An empty variable counts as unset.
ParseOutcome parse_daemon_args(int argc, const char* const* argv, const Env& env);

// ~/.ember.cookie for this environment's HOME (see ember/node/cookie_file.hpp, which also
// has read_or_create_cookie).
std::filesystem::path default_cookie_path(const Env& env);
using ember::read_or_create_cookie;

}  // namespace ember::daemon
