// The ember CLI against a real 3-node cluster: every command, and its error paths.
// The nodes are separate OS processes (EMBER_TEST_NODE: ember-node, or the test-only
// cli_test_node with the same services); each test case starts its own cluster on free
// loopback ports and kills it at the end, also when a check fails.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "process.hpp"

using namespace ember::test;
using namespace std::chrono_literals;

namespace {

const std::string kEmber = EMBER_CLI;
const std::string kNode = EMBER_TEST_NODE;
constexpr bool kDaemon = EMBER_TEST_NODE_IS_DAEMON;

std::string random_cookie() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 16; ++i) s += char('a' + rd() % 26);
  return s;
}

// Retries `f` until it holds or `within` passes (no fixed sleeps: each try is a command).
bool eventually(const std::function<bool()>& f, milliseconds within = 10s) {
  auto deadline = Clock::now() + within;
  while (!f()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);  // pacing between tries, not synchronisation
  }
  return true;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
std::size_t lines(const std::string& s) {
  return std::size_t(std::count(s.begin(), s.end(), '\n'));
}

std::string regex_escape(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

// The pid a JSON registry lists for `name`.
std::string pid_of(const std::string& registry_json, const std::string& name) {
  std::smatch m;
  std::regex re("\"name\": \"" + name + "\", \"pid\": \"([^\"]+)\"");
  return std::regex_search(registry_json, m, re) ? m[1].str() : "";
}

class Cluster {
 public:
  explicit Cluster(int n = 3) : cookie_(random_cookie()) {
    for (int i = 0; i < n; ++i) {
      std::string name = std::string(1, char('a' + i)) + "@127.0.0.1:0";
      std::vector<std::string> join;
      if (i > 0) join.push_back(names_[0]);
      start(name, join);
    }
    // Ready: every node sees the others, and its services are registered.
    for (const auto& name : names_) {
      bool meshed = eventually([&] {
        Output o = ember({"--node", name, "nodes"});
        for (const auto& other : names_)
          if (other != name && !contains(o.out, other)) return false;
        return o.rc == 0;
      });
      INFO(logs());
      REQUIRE(meshed);
      REQUIRE(eventually([&] {
        Output o = ember({"--node", name, "registry"});
        return contains(o.out, "echo") && contains(o.out, "status_collector");
      }));
    }
  }

  const std::string& cookie() const { return cookie_; }
  const std::string& operator[](std::size_t i) const { return names_.at(i); }
  const std::string& home() const { return dir_.path(); }

  // ember with the cluster's cookie, attached to node a.
  Output ember(std::vector<std::string> args, const EnvChanges& env = {}) const {
    std::vector<std::string> argv{"--cookie", cookie_};
    if (std::find(args.begin(), args.end(), "--node") == args.end())
      argv.insert(argv.end(), {"--node", names_.at(0)});
    argv.insert(argv.end(), args.begin(), args.end());
    return raw(argv, env);
  }
  // ember exactly as given, with HOME in the test's directory and no EMBER_* variables.
  Output raw(const std::vector<std::string>& args, EnvChanges env = {}) const {
    std::vector<std::string> argv{kEmber};
    argv.insert(argv.end(), args.begin(), args.end());
    env.try_emplace("HOME", dir_.path());
    env.try_emplace("EMBER_NODE", "");
    env.try_emplace("EMBER_COOKIE", "");
    return run(argv, env);
  }

  void kill(std::size_t i, int signal) { nodes_.at(i)->kill(signal); }

  // ember in the background, attached to node a, stdout and stderr in `log_name`: for
  // commands that run a while (trace, top) and are watched as they go.
  std::unique_ptr<Child> ember_child(const std::vector<std::string>& args,
                                     const std::string& log_name) const {
    std::vector<std::string> argv{kEmber, "--cookie", cookie_, "--node", names_.at(0)};
    argv.insert(argv.end(), args.begin(), args.end());
    EnvChanges env{{"HOME", dir_.path()}, {"EMBER_NODE", ""}, {"EMBER_COOKIE", ""}};
    return std::make_unique<Child>(argv, dir_.path() + "/" + log_name, env);
  }

  std::string logs() const {
    std::string s;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      s += "--- node " + std::to_string(i) + " ---\n" + nodes_[i]->log();
    return s;
  }

 private:
  void start(const std::string& name, const std::vector<std::string>& join) {
    std::vector<std::string> argv{kNode};
    EnvChanges env{{"EMBER_COOKIE", ""},
                   {"EMBER_NAME", ""},
                   {"EMBER_JOIN", ""},
                   {"EMBER_LISTEN", ""},
                   {"HOME", dir_.path()}};
    if (kDaemon) {
      argv.insert(argv.end(), {"--name", name, "--cookie", cookie_, "--schedulers", "2"});
      for (const auto& j : join) argv.insert(argv.end(), {"--join", j});
      env["EMBER_PARENT_PID"] = std::to_string(::getpid());
    } else {
      argv.insert(argv.end(), {name, cookie_});
      argv.insert(argv.end(), join.begin(), join.end());
    }
    std::string log = dir_.path() + "/node" + std::to_string(nodes_.size()) + ".log";
    nodes_.push_back(std::make_unique<Child>(argv, log, env));
    auto ready = nodes_.back()->wait_for(std::regex(R"(ready (\S+@\S+))"), 10s);
    INFO(nodes_.back()->log());
    REQUIRE(ready);
    names_.push_back(*ready);
  }

  TempDir dir_;  // first: outlives the nodes, whose logs it holds
  std::string cookie_;
  std::vector<std::unique_ptr<Child>> nodes_;
  std::vector<std::string> names_;
};

#define CHECK_FAILS(output, code, pattern)                 \
  do {                                                     \
    const Output& o_ = (output);                           \
    INFO("stdout: " << o_.out << "\nstderr: " << o_.err);  \
    CHECK(o_.rc == (code));                                \
    CHECK(lines(o_.err) == 1);                             \
    CHECK(std::regex_search(o_.err, std::regex(pattern))); \
  } while (0)

#define CHECK_OK(output)                                  \
  do {                                                    \
    const Output& o_ = (output);                          \
    INFO("stdout: " << o_.out << "\nstderr: " << o_.err); \
    CHECK(o_.rc == 0);                                    \
  } while (0)

}  // namespace

TEST_CASE("ping answers pong and exits 3 for unreachable or refused or silent or dead nodes") {
  Cluster c;
  for (int i = 0; i < 3; ++i) {
    Output o = c.ember({"ping", c[i]});
    CHECK_OK(o);
    CHECK(o.out == "pong\n");
  }
  CHECK(c.ember({"ping"}).out == "pong\n");  // default: --node
  CHECK(contains(c.ember({"--json", "ping", c[1]}).out, "\"result\": \"pong\""));

  std::string nobody = "x@127.0.0.1:" + std::to_string(free_port());
  Output unreachable = c.ember({"ping", nobody});
  CHECK_FAILS(unreachable, 3, "^ember: cannot reach .*nothing listening");
  CHECK(unreachable.took < 5s);

  Output cookie = c.raw({"--cookie", "not-" + c.cookie(), "--node", c[0], "ping"});
  CHECK_FAILS(cookie, 3, "connection refused \\(wrong cookie\\?\\)");

  MuteListener mute;  // accepts TCP, never answers the handshake
  Output silent = c.ember({"ping", "y@127.0.0.1:" + std::to_string(mute.port())});
  CHECK_FAILS(silent, 3, "no handshake within");
  CHECK(silent.took < 8s);

  // Another node's name at a's address: the node there is not the one asked for.
  std::string port = c[0].substr(c[0].rfind(':'));
  CHECK_FAILS(c.ember({"ping", "someone@127.0.0.1" + port}), 3,
              "the node at that address is " + regex_escape(c[0]));

  c.kill(2, SIGKILL);
  CHECK_FAILS(c.ember({"ping", c[2]}), 3, "cannot reach");
}

TEST_CASE("nodes lists the members --node is connected to but not ember itself") {
  Cluster c;
  Output o = c.ember({"nodes"});
  CHECK_OK(o);
  CHECK(o.out == (c[1] < c[2] ? c[1] + "\n" + c[2] + "\n" : c[2] + "\n" + c[1] + "\n"));
  CHECK_FALSE(contains(o.out, "ember-cli"));
  Output json = c.ember({"--json", "nodes", "--node", c[1]});
  CHECK(contains(json.out, "\"node\": \"" + c[1] + "\""));
  CHECK(contains(json.out, "\"" + c[0] + "\""));
  CHECK(contains(json.out, "\"" + c[2] + "\""));
}

TEST_CASE("nodes --verbose prints each connection's address, counters, queue and last tick") {
  Cluster c;
  Output o = c.ember({"nodes", "--verbose"});
  CHECK_OK(o);
  INFO(o.out);
  std::istringstream in(o.out);
  std::string header, row;
  std::getline(in, header);
  CHECK(
      std::regex_search(header, std::regex("^NODE +ADDRESS +CREATION +UPTIME +BYTES IN +BYTES OUT "
                                           "+FRAMES IN +FRAMES OUT +QUEUE +LAST TICK$")));
  // One row per cluster member, sorted; ember's own (hidden) connection is not one of them.
  // Bytes and frames are above zero both ways: the handshake, the registry and pg syncs.
  std::regex line(
      R"(^(\S+) +127\.0\.0\.1:[0-9]+ +[0-9]+ +[0-9]+(\.[0-9]|m[0-9]{2}s|h[0-9]{2}m)s? +)"
      R"(([1-9][0-9]*) +([1-9][0-9]*) +([1-9][0-9]*) +([1-9][0-9]*) +[0-9]+ +)"
      R"((-|[0-9.]+s ago|[0-9]+m[0-9]{2}s ago)$)");
  std::vector<std::string> peers;
  while (std::getline(in, row)) {
    std::smatch m;
    INFO(row);
    CHECK(std::regex_match(row, m, line));
    if (!m.empty()) peers.push_back(m[1]);
  }
  std::vector<std::string> expected{c[1], c[2]};
  std::sort(expected.begin(), expected.end());
  CHECK(peers == expected);
  // Counters only grow: after more traffic between a and b, a's bytes out to b are more.
  auto bytes_out_to = [&](const std::string& peer) -> long long {
    Output j = c.ember({"--json", "nodes", "--verbose"});
    std::smatch m;
    std::regex re(
        "\"node\": \"" + regex_escape(peer) +
        "\", \"address\": \"[^\"]+\"(, \"[a-z_]+\": -?[0-9]+)*?, \"bytes_out\": ([0-9]+)");
    return std::regex_search(j.out, m, re) ? std::stoll(m[2]) : -1;
  };
  long long before = bytes_out_to(c[1]);
  CHECK(before > 0);
  // A global name registered through a: a tells b (and c) of it, over their connections.
  Output pid = c.ember({"spawn", c[1], "sleeper", "[]"});
  CHECK_OK(pid);
  std::string sleeper = pid.out.substr(0, pid.out.find('\n'));
  CHECK_OK(c.ember({"global", "register", "verbose_test", sleeper}));
  CHECK(eventually([&] { return bytes_out_to(c[1]) > before; }));
  Output json = c.ember({"--json", "nodes", "--verbose", "--node", c[2]});
  CHECK_OK(json);
  CHECK(contains(json.out, "{\"node\": \"" + c[2] + "\", \"connections\": ["));
  for (const char* key :
       {"\"address\"", "\"creation\"", "\"uptime_ms\"", "\"bytes_in\"", "\"frames_out\"",
        "\"messages_in\"", "\"queue_bytes\"", "\"last_tick_ms\""})
    CHECK(contains(json.out, key));
  CHECK(contains(json.out, "\"node\": \"" + c[0] + "\""));
  CHECK(contains(json.out, "\"node\": \"" + c[1] + "\""));
  // -v stays the global logging flag: `nodes -v` is the plain list.
  Output plain = c.ember({"nodes", "-v"});
  CHECK(plain.rc == 0);
  CHECK_FALSE(contains(plain.out, "BYTES IN"));
}

TEST_CASE("ps prints the processes of --node or of all nodes with pids that read back") {
  Cluster c;
  Output o = c.ember({"ps"});
  CHECK_OK(o);
  CHECK(std::regex_search(o.out, std::regex("^PID +NAME +STATUS +QUEUE +REDUCTIONS +MEMORY\n")));
  CHECK(std::regex_search(o.out, std::regex("<0\\.\\d+\\.\\d+>@" + regex_escape(c[0]) +
                                            " +echo +waiting +0 +\\d+ +\\d+")));
  CHECK(contains(o.out, "ember_admin"));
  CHECK_FALSE(contains(o.out, c[1]));

  Output all = c.ember({"ps", "--all-nodes"});
  CHECK_OK(all);
  std::smatch m;
  for (int i = 0; i < 3; ++i) {
    std::regex echo("(<0\\.\\d+\\.\\d+>@" + regex_escape(c[i]) + ") +echo ");
    REQUIRE(std::regex_search(all.out, m, echo));
    Output info = c.ember({"info", m[1].str()});  // a pid as ps prints it reads back
    CHECK_OK(info);
    CHECK(std::regex_search(info.out, std::regex("\nname +echo\n")));
  }

  Output json = c.ember({"--json", "ps", "--all-nodes"});
  CHECK_OK(json);
  CHECK(json.out.front() == '[');
  CHECK(contains(json.out, "\"node\": \"" + c[2] + "\", \"name\": \"echo\", \"status\": "));
  CHECK(contains(json.out, "\"message_queue_len\": 0"));
  CHECK(contains(c.ember({"ps", "--help"}).out, "current function is not tracked"));
}

TEST_CASE("info prints one process and fails for dead or malformed or unreachable pids") {
  Cluster c;
  std::string echo = pid_of(c.ember({"--json", "registry"}).out, "echo");
  REQUIRE_FALSE(echo.empty());
  Output o = c.ember({"info", echo});
  CHECK_OK(o);
  CHECK(std::regex_search(o.out, std::regex("^pid +" + regex_escape(echo) + "\n")));
  for (const char* line :
       {"name +echo", "status +waiting", "message_queue_len +0", "links +\\[.*\\]",
        "trap_exit +false", "memory +\\d+", "reductions +\\d+"})
    CHECK(std::regex_search(o.out, std::regex(std::string("\n") + line + "\n")));

  std::string bare = echo.substr(0, echo.find('@'));  // <0.S.G>: on --node
  CHECK(c.ember({"info", bare}).out == o.out);
  Output json = c.ember({"--json", "info", echo});
  CHECK(contains(json.out, "\"name\": \"echo\""));
  CHECK(contains(json.out, "\"pid\": \"" + echo + "\""));
  CHECK(contains(json.out, "\"trap_exit\": false"));

  CHECK_FAILS(c.ember({"info", "<0.99999.1>@" + c[1]}), 1, "^ember: no process <0\\.99999\\.1>@");
  CHECK_FAILS(c.ember({"info", "<1.2>"}), 2, "bad pid '<1\\.2>'");
  CHECK_FAILS(c.ember({"info", "<0.1.1>@nonode"}), 2, "bad node name");
  CHECK_FAILS(c.ember({"info", "<0.1.1>@x@127.0.0.1:" + std::to_string(free_port())}), 3,
              "cannot reach");
}

TEST_CASE("send reaches a name on --node and name@node and a pid with pids in the term") {
  Cluster c;
  Output o = c.ember({"send", "status_collector", "{report, <<\"by_name\">>, up}"});
  CHECK_OK(o);
  CHECK(o.out == "ok\n");
  CHECK_OK(c.ember({"send", "status_collector@" + c[2], "{report, <<\"remote\">>, up}"}));
  std::string registry = c.ember({"--json", "registry"}).out;
  std::string collector = pid_of(registry, "status_collector"), echo = pid_of(registry, "echo");
  REQUIRE_FALSE(collector.empty());
  // A bare pid inside the term is on --node, like a bare target.
  std::string bare_echo = echo.substr(0, echo.find('@'));
  CHECK_OK(c.ember({"send", collector, "{report, <<\"by_pid\">>, " + bare_echo + "}"}));
  CHECK_OK(c.ember({"send", collector, "{report, <<\"qualified\">>, " + echo + "}"}));

  Output here = c.ember({"call", "status_collector", "{get_all}"});
  CHECK_OK(here);
  CHECK(contains(here.out, "<<\"by_name\">> => up"));
  CHECK(contains(here.out, "<<\"by_pid\">> => " + echo));
  CHECK(contains(here.out, "<<\"qualified\">> => " + echo));
  CHECK_FALSE(contains(here.out, "remote"));
  CHECK(contains(c.ember({"call", "status_collector@" + c[2], "{get_all}"}).out,
                 "<<\"remote\">> => up"));
  CHECK(c.ember({"--json", "send", "echo", "hello"}).out == "{\"sent\": true}\n");

  CHECK_FAILS(c.ember({"send", "nosuch", "hi"}), 1, "no process registered as nosuch on ");
  CHECK_FAILS(c.ember({"send", "echo", "{a,"}), 2, "bad term '\\{a,': parse error at offset 3");
  CHECK_FAILS(c.ember({"send", "<0.99999.1>", "hi"}), 1, "no process");
  CHECK_FAILS(c.ember({"send", "echo@x@127.0.0.1:" + std::to_string(free_port()), "hi"}), 3,
              "cannot reach");
}

TEST_CASE("call prints the first reply and exits 4 on timeout and 2 on a bad term") {
  Cluster c;
  Output o = c.ember({"call", "echo", "{echo, <<\"hi\">>}"});
  CHECK_OK(o);
  CHECK(o.out == "{ok,<<\"hi\">>}\n");
  CHECK(c.ember({"call", "echo@" + c[2], "{echo, [1, 2.5, foo, #{a => \"b\"}]}"}).out ==
        "{ok,[1,2.5,foo,#{a => <<\"b\">>}]}\n");
  CHECK(c.ember({"--json", "call", "echo", "{echo, <<\"hi\">>}"}).out ==
        "{\"reply\": \"{ok,<<\\\"hi\\\">>}\"}\n");
  std::string echo_c = pid_of(c.ember({"--json", "registry", "--node", c[2]}).out, "echo");
  CHECK(c.ember({"call", echo_c, "{echo, 42}"}).out == "{ok,42}\n");

  Output timeout = c.ember({"call", "echo", "{nope}", "--timeout", "300"});
  CHECK_FAILS(timeout, 4, "^ember: call echo: no reply within 300 ms\n");
  CHECK(timeout.took < 3s);

  CHECK_FAILS(c.ember({"call", "echo", "{echo, <<\"hi\">>"}), 2, "parse error at offset 15");
  // The position is the one in the text as typed, also after a pid written with its node.
  std::string text = "{echo, <0.1.1>@" + c[1] + ", ]";
  CHECK_FAILS(c.ember({"call", "echo", text}), 2,
              "parse error at offset " + std::to_string(text.find(']')) + ":");
  CHECK_FAILS(c.ember({"call", "echo", "{echo, X}"}), 2, "variables are not terms");
  CHECK_FAILS(c.ember({"call", "nosuch@" + c[1], "{x}"}), 1, "no process registered as nosuch");
  Output bad_timeout = c.ember({"call", "echo", "{x}", "--timeout", "-5"});  // usage follows
  CHECK(bad_timeout.rc == 2);
  CHECK(contains(bad_timeout.err, "--timeout: Value -5 not in range 1 to 3600000"));
}

TEST_CASE("spawn starts a registered function on a node and fails for unknown ones") {
  Cluster c;
  Output o = c.ember({"spawn", c[1], "echo"});
  CHECK_OK(o);
  std::smatch m;
  REQUIRE(std::regex_search(o.out, m,
                            std::regex("^(<0\\.\\d+\\.\\d+>@" + regex_escape(c[1]) + ")\n$")));
  CHECK(c.ember({"call", m[1].str(), "{echo, 7}"}).out == "{ok,7}\n");
  Output json = c.ember({"--json", "spawn", c[2], "sleeper", "[]"});
  CHECK(std::regex_search(
      json.out, std::regex("^\\{\"pid\": \"<0\\.\\d+\\.\\d+>@" + regex_escape(c[2]) + "\"\\}\n$")));
  CHECK_FAILS(c.ember({"spawn", c[1], "nosuch"}), 1,
              "spawn nosuch on .* failed: \\{undef,<<\"nosuch\">>\\}");
  CHECK_FAILS(c.ember({"spawn", c[1], "echo", "[1,"}), 2, "bad term");
  CHECK_FAILS(c.ember({"spawn", "x@127.0.0.1:" + std::to_string(free_port()), "echo"}), 3,
              "cannot reach");
}

TEST_CASE("kill sends an exit signal with a reason and fails for dead or malformed pids") {
  Cluster c;
  std::string pid = c.ember({"spawn", c[2], "sleeper"}).out;
  REQUIRE(pid.size() > 1);
  pid.pop_back();
  CHECK_OK(c.ember({"info", pid}));
  Output o = c.ember({"kill", pid, "{shutdown, bye}"});
  CHECK_OK(o);
  CHECK(o.out == "ok\n");
  CHECK(eventually([&] { return c.ember({"info", pid}).rc == 1; }));
  CHECK_FAILS(c.ember({"info", pid}), 1, "no process");
  CHECK_FAILS(c.ember({"kill", pid}), 1, "no process");

  std::string other = c.ember({"spawn", c[1], "sleeper"}).out;
  other.pop_back();
  Output json = c.ember({"--json", "kill", other});  // reason: kill
  CHECK(json.out == "{\"killed\": \"" + other + "\", \"reason\": \"kill\"}\n");
  CHECK(eventually([&] { return c.ember({"info", other}).rc == 1; }));
  CHECK_FAILS(c.ember({"kill", "<0.x.1>"}), 2, "bad pid");
  CHECK_FAILS(c.ember({"kill", pid, "{bad"}), 2, "bad term");
}

TEST_CASE("registry lists the names registered on --node") {
  Cluster c;
  Output o = c.ember({"registry", "--node", c[1]});
  CHECK_OK(o);
  CHECK(std::regex_search(o.out, std::regex("^NAME +PID\n")));
  for (const char* name : {"echo", "counter", "status_collector", "ember_admin"})
    CHECK(std::regex_search(o.out, std::regex(std::string("\n") + name + " +<0\\.\\d+\\.\\d+>@" +
                                              regex_escape(c[1]) + "\n")));
  Output json = c.ember({"--json", "registry"});
  CHECK(json.out.front() == '[');
  CHECK(contains(pid_of(json.out, "echo"), "@" + c[0]));
}

TEST_CASE("global names: register, registry --global, send and call global:NAME, digest") {
  Cluster c;
  std::string echo = c.ember({"spawn", c[1], "echo"}).out;
  REQUIRE(echo.size() > 1);
  echo.pop_back();
  Output reg = c.ember({"global", "register", "gecho", echo});
  CHECK_OK(reg);
  CHECK(reg.out == "ok\n");
  // A registration returns once every node has it: each lists it at once.
  for (int i = 0; i < 3; ++i) {
    Output o = c.ember({"registry", "--global", "--node", c[i]});
    CHECK_OK(o);
    CHECK(std::regex_search(o.out, std::regex("^NAME +PID\n")));
    CHECK(std::regex_search(o.out, std::regex("\ngecho +" + regex_escape(echo) + "\n")));
  }
  CHECK(pid_of(c.ember({"--json", "registry", "--global", "--node", c[2]}).out, "gecho") == echo);
  CHECK_FALSE(contains(c.ember({"registry"}).out, "gecho"));  // not a local name of a

  CHECK(c.ember({"call", "global:gecho", "{echo, 7}"}).out == "{ok,7}\n");
  CHECK(c.ember({"call", "global:gecho@" + c[2], "{echo, 8}"}).out == "{ok,8}\n");
  // c's status_collector under a global name, reached through a.
  std::string collector =
      pid_of(c.ember({"--json", "registry", "--node", c[2]}).out, "status_collector");
  REQUIRE_FALSE(collector.empty());
  CHECK_OK(c.ember({"global", "register", "gcoll", collector}));
  Output sent = c.ember({"send", "global:gcoll", "{report, <<\"via_global\">>, up}"});
  CHECK_OK(sent);
  CHECK(sent.out == "ok\n");
  CHECK(c.ember({"--json", "send", "global:gcoll", "{report, <<\"json\">>, up}"}).out ==
        "{\"sent\": true, \"pid\": \"" + collector + "\"}\n");
  Output all = c.ember({"call", "status_collector@" + c[2], "{get_all}"});
  CHECK(contains(all.out, "<<\"via_global\">> => up"));
  CHECK(contains(all.out, "<<\"json\">> => up"));
  CHECK(contains(c.ember({"send", "--help"}).out, "global:"));

  // Every node has the same table, hence the same digest.
  Output digests = c.ember({"global", "digest", "--all-nodes"});
  CHECK_OK(digests);
  std::smatch m;
  REQUIRE(std::regex_search(digests.out, m, std::regex("\n\\S+ +([0-9a-f]{16})\n")));
  std::string digest = m[1].str();
  CHECK(lines(digests.out) == 4);
  for (int i = 0; i < 3; ++i)
    CHECK(std::regex_search(digests.out,
                            std::regex("\n" + regex_escape(c[i]) + " +" + digest + "\n")));
  CHECK(c.ember({"global", "digest", "--node", c[1]}).out == digest + "\n");
  CHECK(contains(c.ember({"--json", "global", "digest"}).out, "\"digest\": \"" + digest + "\""));

  CHECK_FAILS(c.ember({"global", "register", "gecho", collector}), 1,
              "gecho is registered globally to another pid");
  CHECK_FAILS(
      c.ember({"send", "global:nosuch", "hi"}), 1,
      "no process registered globally as nosuch \\(as " + regex_escape(c[0]) + " sees it\\)");
  CHECK_FAILS(c.ember({"call", "global:nosuch", "{x}"}), 1, "no process registered globally");
  CHECK_FAILS(c.ember({"send", "global:", "hi"}), 2, "empty global name");
  CHECK_FAILS(c.ember({"global", "register", "global:gx", echo}), 2, "expected a plain name");
  CHECK_FAILS(c.ember({"global", "register", "gdead", "<0.99999.1>@" + c[1]}), 1, "no process");
  Output usage = c.ember({"global"});
  CHECK(usage.rc == 2);
  CHECK(lines(usage.err) == 1);  // one line, naming the help to read
  CHECK(contains(usage.err, "(see ember global --help)"));
  Output missing = c.ember({"global", "register", "gecho"});
  CHECK(missing.rc == 2);
  CHECK(contains(missing.err, "PID is required"));

  CHECK_OK(c.ember({"global", "unregister", "gecho"}));
  CHECK_FAILS(c.ember({"global", "unregister", "gecho"}), 1, "gecho is not registered globally");
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(contains(c.ember({"registry", "--global", "--node", c[i]}).out, "gecho"));
  // The owner's death frees its name everywhere.
  CHECK_OK(c.ember({"kill", collector}));
  CHECK(eventually([&] {
    for (int i = 0; i < 3; ++i)
      if (contains(c.ember({"registry", "--global", "--node", c[i]}).out, "gcoll")) return false;
    return true;
  }));
}

TEST_CASE("pg: join and leave go through the pid's node and each node shows groups and members") {
  Cluster c;
  auto sleeper = [&](int node) {
    std::string pid = c.ember({"spawn", c[node], "sleeper"}).out;
    REQUIRE(pid.size() > 1);
    pid.pop_back();
    return pid;
  };
  std::string p1 = sleeper(1), p2 = sleeper(2), q2 = sleeper(2);
  // Attached to a, each join goes to the pid's own node (only it may join its pids).
  Output joined = c.ember({"pg", "join", "workers", p1});
  CHECK_OK(joined);
  CHECK(joined.out == "ok\n");
  CHECK_OK(c.ember({"pg", "join", "workers", p2}));
  CHECK_OK(c.ember({"pg", "join", "workers", p2}));  // twice: a member twice, as in pg
  CHECK(c.ember({"--json", "pg", "join", "{svc, 1}", q2, "--scope", "other"}).out ==
        "{\"group\": \"{svc,1}\", \"scope\": \"other\", \"pid\": \"" + q2 +
            "\", \"joined\": true}\n");
  // Every node learns of the joins one hop later.
  for (int i = 0; i < 3; ++i) {
    INFO("node " << c[i]);
    CHECK(eventually([&] {
      Output o = c.ember({"pg", "members", "workers", "--node", c[i]});
      return o.rc == 0 && lines(o.out) == 3 && contains(o.out, p1 + "\n") &&
             o.out.find(p2) != o.out.rfind(p2);
    }));
  }
  Output local = c.ember({"pg", "members", "workers", "--local", "--node", c[2]});
  CHECK_OK(local);
  CHECK(local.out == p2 + "\n" + p2 + "\n");
  CHECK(c.ember({"pg", "members", "workers", "--local"}).out.empty());  // none on a
  Output json = c.ember({"--json", "pg", "members", "workers", "--node", c[1], "--local"});
  CHECK(json.out == "[{\"pid\": \"" + p1 + "\", \"node\": \"" + c[1] + "\"}]\n");

  Output groups = c.ember({"pg", "groups", "--node", c[2]});
  CHECK_OK(groups);
  CHECK(std::regex_search(groups.out, std::regex("^GROUP +MEMBERS\nworkers +3\n$")));
  CHECK(eventually([&] {
    return c.ember({"--json", "pg", "groups", "--scope", "other"}).out ==
           "[{\"group\": \"{svc,1}\", \"members\": 1}]\n";
  }));
  CHECK(c.ember({"pg", "members", "{svc, 1}"}).out.empty());  // scopes never mix
  CHECK(c.ember({"pg", "members", "{svc,1}", "--scope", "other"}).out == q2 + "\n");

  // A leave, and a leave of what is not joined.
  CHECK_OK(c.ember({"pg", "leave", "workers", p1}));
  CHECK_FAILS(c.ember({"pg", "leave", "workers", p1}), 1, "is not a member of workers in scope pg");
  CHECK(eventually([&] {
    return c.ember({"pg", "members", "workers"}).out == p2 + "\n" + p2 + "\n";
  }));
  // A member that dies leaves every group on every node.
  CHECK_OK(c.ember({"kill", p2}));
  CHECK(eventually([&] {
    for (int i = 0; i < 3; ++i)
      if (!c.ember({"pg", "members", "workers", "--node", c[i]}).out.empty()) return false;
    return std::regex_search(c.ember({"pg", "groups", "--node", c[1]}).out,
                             std::regex("^GROUP +MEMBERS\n$"));
  }));

  CHECK_FAILS(c.ember({"pg", "join", "workers", "<0.99999.1>@" + c[1]}), 1, "no process");
  CHECK_FAILS(c.ember({"pg", "join", "{bad", q2}), 2, "bad term");
  CHECK_FAILS(c.ember({"pg", "members", "workers", "--scope", "{not, atom}"}), 2,
              "bad scope '\\{not, atom\\}': expected an atom");
  Output usage = c.ember({"pg"});
  CHECK(usage.rc == 2);
  CHECK(lines(usage.err) == 1);  // one line, naming the help to read
  CHECK(contains(usage.err, "(see ember pg --help)"));
  Output missing = c.ember({"pg", "members"});
  CHECK(missing.rc == 2);
  CHECK(contains(missing.err, "GROUP is required"));
  CHECK(c.ember({"pg", "join", "workers"}).rc == 2);
}

TEST_CASE("connect and disconnect make the attached node drop and regain a peer") {
  Cluster c;
  auto lists = [&](const std::string& node) { return contains(c.ember({"nodes"}).out, node); };
  Output o = c.ember({"disconnect", c[2]});
  CHECK_OK(o);
  CHECK(o.out == "ok\n");
  CHECK(eventually([&] { return !lists(c[2]); }));
  Output up = c.ember({"connect", c[2]});
  CHECK_OK(up);
  CHECK(eventually([&] { return lists(c[2]); }));
  CHECK(contains(c.ember({"--json", "connect", c[1]}).out, "\"connected\": \"" + c[1] + "\""));
  CHECK_FAILS(c.ember({"connect", "x@127.0.0.1:" + std::to_string(free_port())}), 3,
              "cannot connect to x@127.0.0.1");
  CHECK_FAILS(c.ember({"connect", "nonsense"}), 2, "bad node name");
}

TEST_CASE("bad arguments exit 2 and EMBER_NODE and EMBER_COOKIE and the cookie file are read") {
  Cluster c(1);
  CHECK(c.raw({}).rc == 2);
  CHECK_FAILS(c.raw({"--cookie", "x", "ps"}), 2, "no node to attach to: pass --node");
  CHECK_FAILS(c.raw({"--cookie", "x", "--node", "bad", "ps"}), 2, "bad node name 'bad'");
  Output usage = c.raw({"frobnicate"});
  CHECK(usage.rc == 2);
  CHECK(lines(usage.err) == 1);
  CHECK(contains(usage.err, "(see ember --help)"));
  CHECK(contains(c.raw({"call", "echo"}).err, "TERM is required"));
  Output help = c.raw({"--help"});
  CHECK(help.rc == 0);
  CHECK(contains(help.out, "<0.S.G>@name@host:port"));

  CHECK(c.raw({"ping"}, {{"EMBER_NODE", c[0]}, {"EMBER_COOKIE", c.cookie()}}).out == "pong\n");
  // No cookie anywhere: one is made up in ~/.ember.cookie, and the cluster refuses it.
  std::string file = c.home() + "/.ember.cookie";
  CHECK_FAILS(c.raw({"--node", c[0], "ping"}), 3, "wrong cookie");
  REQUIRE(std::filesystem::exists(file));
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_read);
  std::filesystem::remove(file);
  { std::ofstream(file) << c.cookie() << "\n"; }
  ::chmod(file.c_str(), 0400);
  CHECK(c.raw({"--node", c[0], "ping"}).out == "pong\n");
  // The port may be left out: name@host means name@host:4370 (nothing there here).
  Output no_port = c.raw({"--cookie", "x", "--node", "nobody@127.0.0.1", "ping"});
  CHECK(no_port.rc == 3);
  CHECK(contains(no_port.err, "nobody@127.0.0.1:4370"));
}

TEST_CASE("trace prints what a registered process receives in order and untraces it at the end") {
  Cluster c;
  std::string collector = "status_collector@" + c[1];
  auto tracer = c.ember_child({"trace", collector, "--count", "3", "--seconds", "30"}, "trace.log");
  auto started = tracer->wait_for(std::regex(R"(tracing (\S+) for)"), 10s);
  INFO(tracer->log());
  REQUIRE(started);
  std::string pid = *started;
  CHECK(contains(pid, "@" + c[1]));
  // While traced, info names the tracer: the relay process on b.
  // (A signal the target takes when it next runs: soon, but not necessarily by now.)
  CHECK(eventually([&] {
    return std::regex_search(c.ember({"info", pid}).out,
                             std::regex("tracer +<0\\.\\d+\\.\\d+>@" + regex_escape(c[1])));
  }));
  for (int i = 1; i <= 3; ++i)
    CHECK_OK(c.ember({"send", collector, "{report, <<\"svc" + std::to_string(i) + "\">>, up}"}));
  // The summary on its own line (the header also says "or 3 messages").
  REQUIRE(tracer->wait_for(std::regex(R"(\n3 messages(\n|$))"), 10s));
  std::string log = tracer->log();
  INFO("the trace: " << log);
  std::size_t at = 0;
  for (int i = 1; i <= 3; ++i) {
    std::smatch m;
    std::regex line("\\d\\d:\\d\\d:\\d\\d\\.\\d{6} " + regex_escape(pid) + " << \\{report,<<\"svc" +
                    std::to_string(i) + "\">>,up\\}\n");
    REQUIRE(std::regex_search(log.cbegin() + std::ptrdiff_t(at), log.cend(), m, line));
    at += std::size_t(m.position(0) + m.length(0));  // in the order they were sent
  }
  // The relay untraced it on the way out (a signal: the target drops it when it runs).
  CHECK(eventually([&] {
    Output o = c.ember({"info", pid});
    return o.rc == 0 && !contains(o.out, "tracer");
  }));
  // Tracing copied the messages: the collector itself got every one.
  Output all = c.ember({"call", collector, "{get_all}"});
  for (int i = 1; i <= 3; ++i)
    CHECK(contains(all.out, "<<\"svc" + std::to_string(i) + "\">> => up"));

  // A tracer that dies (kill -9 of the CLI) ends the trace too: the relay sees its
  // connection go.
  auto doomed = c.ember_child({"trace", collector}, "trace2.log");
  REQUIRE(doomed->wait_for(std::regex(R"(tracing (\S+) for)"), 10s));
  CHECK(eventually([&] { return contains(c.ember({"info", pid}).out, "tracer"); }));
  doomed->kill(SIGKILL);
  CHECK(eventually([&] { return !contains(c.ember({"info", pid}).out, "tracer"); }));

  // Nothing received: it ends on time, with only the summary on stderr.
  Output quiet = c.ember({"trace", "echo", "--seconds", "0.3"});
  CHECK_OK(quiet);
  CHECK(quiet.out.empty());
  CHECK(contains(quiet.err, "0 messages"));
  CHECK(quiet.took < 5s);
  Output json = c.ember({"--json", "trace", "echo", "--seconds", "0.2"});
  CHECK_OK(json);
  CHECK_FAILS(c.ember({"trace", "<0.99999.1>"}), 1, "no process");
  CHECK_FAILS(c.ember({"trace", "nosuch"}), 1, "no process registered as nosuch");
  Output zero = c.ember({"trace", "echo", "--seconds", "0"});
  CHECK(zero.rc == 2);
  CHECK(contains(zero.err, "--seconds"));
}

TEST_CASE("top renders one frame of a node or of the cluster with its known processes") {
  Cluster c;
  Output o = c.ember({"top", "--once", "--interval", "200"});
  CHECK_OK(o);
  INFO(o.out);
  CHECK(std::regex_search(o.out, std::regex("^ember top - " + regex_escape(c[0]) +
                                            " - \\d\\d:\\d\\d:\\d\\d - 1 node, \\d+ processes")));
  CHECK(std::regex_search(
      o.out,
      std::regex("\nNODE +PROCESSES +MEMORY +MESSAGES QUEUED +RUN QUEUES\n" + regex_escape(c[0]) +
                 " +\\d+ +\\d+(\\.\\d)? [KM]?i?B +\\d+ +\\d+( \\d+)*\n")));
  CHECK(std::regex_search(
      o.out, std::regex("\nPID +NAME +STATUS +QUEUE +REDS/INTERVAL +REDUCTIONS +MEMORY\n")));
  CHECK(std::regex_search(
      o.out, std::regex("<0\\.\\d+\\.\\d+>@" + regex_escape(c[0]) + " +ember_admin +running")));
  CHECK(contains(o.out, " echo "));
  CHECK_FALSE(contains(o.out, "\x1b["));  // stdout is not a terminal: no redrawing

  // The cluster, by queue length: a process holding five unread messages on c is first.
  Output spawned = c.ember({"spawn", c[2], "sleeper", "[]"});
  CHECK_OK(spawned);
  std::string sleeper = spawned.out.substr(0, spawned.out.find('\n'));
  for (int i = 0; i < 5; ++i) CHECK_OK(c.ember({"send", sleeper, "unread"}));
  Output all = c.ember({"top", "--all-nodes", "--sort", "queue", "--interval", "100"});
  CHECK_OK(all);
  INFO(all.out);
  CHECK(contains(all.out, " - 3 nodes, "));
  for (int i = 0; i < 3; ++i) CHECK(contains(all.out, "\n" + c[i] + " "));
  // Message rates per connection: every node's two peers.
  CHECK(contains(all.out, "\nNODE "));
  CHECK(std::regex_search(
      all.out, std::regex("PEER +MSGS IN/S +MSGS OUT/S +BYTES IN/S +BYTES OUT/S +QUEUE\n")));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (i != j)
        CHECK(std::regex_search(all.out,
                                std::regex("\n" + regex_escape(c[i]) + " +" + regex_escape(c[j]) +
                                           " +\\d+ +\\d+ +\\d+ +\\d+ +\\d+\n")));
  CHECK(std::regex_search(all.out, std::regex("MEMORY\n" + regex_escape(sleeper) +
                                              " +waiting +5 +\\d+ +\\d+ +\\d+\n")));
  Output limited =
      c.ember({"top", "--once", "--limit", "2", "--sort", "memory", "--interval", "50"});
  CHECK_OK(limited);
  CHECK(std::regex_search(limited.out, std::regex("\\.\\.\\. \\d+ more\n$")));
  CHECK_FAILS(c.ember({"top", "--sort", "name"}), 2, "--sort");
}

TEST_CASE("bench pings and times every node and exits non-zero for one that fails") {
  Cluster c;
  Output o = c.ember({"bench", "--seconds", "0.3", "--calls", "20"});
  CHECK_OK(o);
  INFO(o.out << o.err);
  std::string out = "\n" + o.out;
  for (int i = 0; i < 3; ++i) {
    std::string n = regex_escape(c[i]);
    for (const char* metric : {"ping", "echo_min", "echo_median", "echo_max"})
      CHECK(std::regex_search(out, std::regex("\n" + n + " " + metric + ": \\d+\\.\\d{3} ms\n")));
    std::smatch m;
    REQUIRE(std::regex_search(out, m, std::regex("\n" + n + " burst: (\\d+) msgs/s\n")));
    CHECK(std::stol(m[1]) > 0);
    CHECK(std::regex_search(out, std::regex("\n" + n + " burst_messages: \\d+ messages\n")));
    std::smatch lo, mid, hi;
    REQUIRE(std::regex_search(out, lo, std::regex(n + " echo_min: ([\\d.]+)")));
    REQUIRE(std::regex_search(out, mid, std::regex(n + " echo_median: ([\\d.]+)")));
    REQUIRE(std::regex_search(out, hi, std::regex(n + " echo_max: ([\\d.]+)")));
    CHECK(std::stod(lo[1]) <= std::stod(mid[1]));
    CHECK(std::stod(mid[1]) <= std::stod(hi[1]));
  }
  CHECK(contains(o.out, "summary: 3 of 3 nodes ok, 0 failed; worst echo median "));
  CHECK(contains(c.ember({"--json", "bench", c[1], "--seconds", "0.1", "--calls", "3"}).out,
                 "\"node\": \"" + c[1] + "\", \"ok\": true, \"ping_ms\": "));

  c.kill(2, SIGKILL);
  Output bad = c.ember({"bench", c[0], c[2], "--seconds", "0.1", "--calls", "5"});
  INFO(bad.out << bad.err);
  CHECK(bad.rc == 3);
  CHECK(contains(bad.out, c[2] + " failed: cannot reach"));
  CHECK(contains(bad.out, c[0] + " burst: "));
  CHECK(contains(bad.out, "summary: 1 of 2 nodes ok, 1 failed"));
  CHECK(lines(bad.err) == 1);
}
