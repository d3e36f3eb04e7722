#include "daemon_config.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "ember/node/node_name.hpp"

namespace ember::daemon {

namespace {

constexpr const char* kDefaultListenHost = "127.0.0.1";

struct BadArgument : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string item = trim(s.substr(0, comma));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// HOST or HOST:PORT; PORT 0 means any free port.
struct ListenAddress {
  std::string host;
  std::optional<std::uint16_t> port;
};

ListenAddress parse_listen(const std::string& text) {
  ListenAddress a;
  auto colon = text.rfind(':');
  a.host = text.substr(0, colon);
  if (colon != std::string::npos) {
    std::string_view port(text.data() + colon + 1, text.size() - colon - 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v > 65535)
      throw BadArgument("--listen " + text + ": the port must be a number from 0 to 65535");
    a.port = std::uint16_t(v);
  }
  if (a.host.empty()) throw BadArgument("--listen " + text + ": expected HOST:PORT");
  return a;
}

// A host name (localhost, a Compose service) is resolved here, so that one that does not
// resolve is a usage error (exit 2) before anything starts; the Node binds the address.
std::string resolve_ipv4(const std::string& host) {
  in_addr probe{};
  if (inet_pton(AF_INET, host.c_str(), &probe) == 1) return host;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res)
    throw BadArgument("--listen: cannot resolve '" + host + "': " + gai_strerror(rc));
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, text, sizeof text);
  freeaddrinfo(res);
  return text;
}

bool wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "*";
}

// NAME (bare or name@host[:port]) and --listen into the Node's name and bind address.
void resolve_name(DaemonOptions& o, const std::string& name,
                  const std::optional<std::string>& listen) {
  std::optional<ListenAddress> l;
  if (listen) l = parse_listen(*listen);
  std::string base;                       // name@host
  std::optional<std::uint16_t> own_port;  // the name's port, 0 for name@host:0
  if (name.find('@') == std::string::npos) {
    std::string host = l ? l->host : kDefaultListenHost;
    if (wildcard(host))
      throw BadArgument("--name " + name + ": listening on " + host +
                        " says nothing about where others reach this node; give --name " + name +
                        "@HOST");
    try {
      NodeName::parse(name + "@" + host);  // checks the characters of both
    } catch (const std::invalid_argument& e) {
      throw BadArgument(std::string("--name: ") + e.what());
    }
    base = name + "@" + host;
  } else {
    std::string text = name;
    if (text.size() > 2 && text.ends_with(":0")) {
      text.resize(text.size() - 2);
      own_port = 0;
    }
    NodeName n;
    try {
      n = NodeName::parse(text);
    } catch (const std::invalid_argument& e) {
      throw BadArgument(std::string("--name: ") + e.what());
    }
    if (n.port) own_port = n.port;
    base = n.name + "@" + n.host;
  }
  std::uint16_t port = NodeName::kDefaultPort;
  if (own_port) port = *own_port;
  if (l && l->port) {
    if (own_port && *own_port != *l->port)
      throw BadArgument("--name " + name + " and --listen " + *listen + " disagree about the port");
    port = *l->port;
  }
  o.name = base + ":" + std::to_string(port);  // :0 lets the Node pick a free port
  o.listen_host = l ? resolve_ipv4(l->host) : std::string();
}

unsigned parse_schedulers(const std::string& text) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v > 4096)
    throw BadArgument("--schedulers " + text + ": expected a number from 0 (one per core) to 4096");
  return v;
}

double parse_ticktime(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) ||
      v < 0.004 || v > 86400)
    throw BadArgument("--ticktime " + text + ": expected seconds, e.g. 2 or 0.5 (at least 0.004)");
  return v;
}

double parse_rejoin(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) ||
      (v != 0 && v < 0.05) || v > 3600)
    throw BadArgument("--rejoin " + text + ": expected seconds, e.g. 1 (0: at start only)");
  return v;
}

std::uint16_t parse_metrics_port(const std::string& text) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v > 65535)
    throw BadArgument("--metrics-port " + text + ": expected a port from 1 to 65535 (0: off)");
  return std::uint16_t(v);
}

const char* kEnvHelp =
    "Every flag may come from the environment instead; a flag wins over its variable:\n"
    "  EMBER_NAME, EMBER_LISTEN, EMBER_COOKIE, EMBER_JOIN (comma-separated),\n"
    "  EMBER_SCHEDULERS, EMBER_TICKTIME, EMBER_REJOIN, EMBER_METRICS_PORT.\n"
    "Without --cookie or EMBER_COOKIE the cookie is read from ~/.ember.cookie, which is\n"
    "created (mode 0400, random) if it does not exist.\n"
    "Once listening, with its services registered, ember-node prints\n"
    "`ember-node ready NAME@HOST:PORT` on stdout; logs go to stderr. SIGTERM or SIGINT\n"
    "stops it.\n";

}  // namespace

Env process_env() {
  return [](const std::string& variable) -> std::optional<std::string> {
    if (const char* v = std::getenv(variable.c_str())) return std::string(v);
    return std::nullopt;
  };
}

NodeConfig DaemonOptions::node_config(const std::string& resolved_cookie) const {
  NodeConfig c;
  c.name = name;
  c.cookie = resolved_cookie;
  c.listen_host = listen_host;
  c.listen = true;
  c.hidden = false;
  c.schedulers = schedulers;
  c.join = join;
  c.metrics_port = metrics_port;
  if (ticktime) {
    auto silence = std::chrono::milliseconds(std::llround(*ticktime * 1000));
    c.silence_timeout = silence;
    c.tick_interval = std::max(std::chrono::milliseconds(1), silence / 4);
  }
  return c;
}

ParseOutcome parse_daemon_args(int argc, const char* const* argv, const Env& env) {
  CLI::App app{"ember-node: one Ember node, hosting the seed's example services"};
  app.footer(kEnvHelp);
  std::string name, listen, cookie, schedulers, ticktime, rejoin, metrics_port;
  std::vector<std::string> join;
  auto* o_name = app.add_option("--name", name,
                                "name, name@host or name@host:port (the port defaults to "
                                "--listen's, else 4370)");
  auto* o_listen =
      app.add_option("--listen", listen, "HOST:PORT to bind (default: the name's host and port)");
  auto* o_cookie = app.add_option("--cookie", cookie, "the shared secret of the cluster");
  auto* o_join = app.add_option("--join", join, "a node to connect to at start (repeatable)")
                     ->expected(1)
                     ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* o_sched = app.add_option("--schedulers", schedulers, "scheduler threads (0: one per core)");
  auto* o_tick = app.add_option("--ticktime", ticktime,
                                "seconds of silence after which a peer is down (default 2)");
  auto* o_rejoin = app.add_option(
      "--rejoin", rejoin,
      "dial each --join node that is not connected again every S seconds, for as long as "
      "this node runs (default 0: only at start, as Erlang)");
  auto* o_metrics = app.add_option(
      "--metrics-port", metrics_port,
      "serve GET /metrics (Prometheus text) and GET /health over HTTP on this port of the "
      "listen host (default 0: off)");
  o_name->type_name("NAME");
  o_metrics->type_name("P");
  o_listen->type_name("HOST:PORT");
  o_cookie->type_name("C");
  o_join->type_name("NODE");
  o_sched->type_name("N");
  o_tick->type_name("S");
  o_rejoin->type_name("S");

  ParseOutcome out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.message = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.message = std::string("ember-node: ") + e.what() + "\n" + app.help();
    return out;
  }

  // A flag wins; an unset flag falls back on its variable. An empty variable is unset
  // (Compose files write `EMBER_COOKIE=` for "none").
  auto pick = [&](CLI::Option* opt, const std::string& flag,
                  const char* variable) -> std::optional<std::string> {
    if (opt->count()) return flag;
    if (auto v = env(variable); v && !trim(*v).empty()) return *v;
    return std::nullopt;
  };
  try {
    DaemonOptions o;
    auto n = pick(o_name, name, "EMBER_NAME");
    if (!n || trim(*n).empty()) throw BadArgument("no node name: give --name NAME or EMBER_NAME");
    auto l = pick(o_listen, listen, "EMBER_LISTEN");
    if (l && trim(*l).empty()) l.reset();
    if (l) l = trim(*l);
    resolve_name(o, trim(*n), l);

    if (auto c = pick(o_cookie, cookie, "EMBER_COOKIE")) {
      if (c->empty()) throw BadArgument("the cookie is empty");
      o.cookie = *c;
    }
    if (o_join->count()) {
      o.join = join;
    } else if (auto j = env("EMBER_JOIN")) {
      o.join = split_commas(*j);
    }
    for (const std::string& j : o.join) {
      try {
        NodeName::parse(j);
      } catch (const std::invalid_argument& e) {
        throw BadArgument(std::string("--join: ") + e.what());
      }
    }
    if (auto s = pick(o_sched, schedulers, "EMBER_SCHEDULERS"))
      o.schedulers = parse_schedulers(trim(*s));
    if (auto t = pick(o_tick, ticktime, "EMBER_TICKTIME")) o.ticktime = parse_ticktime(trim(*t));
    if (auto r = pick(o_rejoin, rejoin, "EMBER_REJOIN")) o.rejoin = parse_rejoin(trim(*r));
    if (auto m = pick(o_metrics, metrics_port, "EMBER_METRICS_PORT"))
      o.metrics_port = parse_metrics_port(trim(*m));
    out.options = std::move(o);
  } catch (const BadArgument& e) {
    out.exit_code = 2;
    out.message = std::string("ember-node: ") + e.what() + "\n\n" + app.help();
  } catch (const std::invalid_argument& e) {
    out.exit_code = 2;
    out.message = std::string("ember-node: ") + e.what() + "\n\n" + app.help();
  }
  return out;
}

std::filesystem::path default_cookie_path(const Env& env) {
  return cookie_path(env("HOME"));
}

}  // namespace ember::daemon
