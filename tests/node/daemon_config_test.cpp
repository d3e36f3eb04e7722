// ember-node's flags, environment variables and cookie file (node/src/daemon_config.cpp).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "daemon_config.hpp"

using namespace ember;
using namespace ember::daemon;
using namespace std::chrono_literals;

namespace {

struct Args {
  std::vector<std::string> words;
  std::map<std::string, std::string> vars;

  ParseOutcome parse() const {
    std::vector<const char*> argv{"ember-node"};
    for (const auto& w : words) argv.push_back(w.c_str());
    auto env = [vars = vars](const std::string& v) -> std::optional<std::string> {
      auto it = vars.find(v);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    return parse_daemon_args(int(argv.size()), argv.data(), env);
  }
  DaemonOptions ok() const {
    ParseOutcome o = parse();
    INFO(o.message);
    REQUIRE(o.options);
    return *o.options;
  }
  std::string bad() const {
    ParseOutcome o = parse();
    REQUIRE_FALSE(o.options);
    CHECK(o.exit_code == 2);
    CHECK(o.message.find("Usage:") != std::string::npos);
    return o.message;
  }
};

void expect_bad(const Args& a, const char* needle) {
  std::string message = a.bad();
  INFO("expected: " << needle);
  CHECK_THAT(message, Catch::Contains(needle));
}

// A fresh directory, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ember-cookie-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
    for (auto& e : std::filesystem::directory_iterator(path, ec))
      std::filesystem::permissions(e.path(), std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("ember-node: a full name with a port needs no --listen") {
  auto o = Args{{"--name", "a@127.0.0.1:5000", "--cookie", "c"}}.ok();
  CHECK(o.name == "a@127.0.0.1:5000");
  CHECK(o.listen_host.empty());
  CHECK(o.cookie == "c");
  CHECK(o.join.empty());
  CHECK(o.schedulers == 0);
  CHECK_FALSE(o.ticktime);
}

TEST_CASE("ember-node: a bare name takes host and port from --listen") {
  auto o = Args{{"--name", "a", "--listen", "127.0.0.1:4444"}}.ok();
  CHECK(o.name == "a@127.0.0.1:4444");
  CHECK(o.listen_host == "127.0.0.1");
  CHECK(o.cookie.empty());  // the cookie file, later
}

TEST_CASE("ember-node: defaults are 127.0.0.1 and port 4370") {
  CHECK(Args{{"--name", "a"}}.ok().name == "a@127.0.0.1:4370");
  CHECK(Args{{"--name", "a@10.0.0.7"}}.ok().name == "a@10.0.0.7:4370");
  CHECK(Args{{"--name", "a@10.0.0.7", "--listen", "0.0.0.0:5001"}}.ok().name == "a@10.0.0.7:5001");
  CHECK(Args{{"--name", "a@10.0.0.7", "--listen", "0.0.0.0"}}.ok().listen_host == "0.0.0.0");
}

TEST_CASE("ember-node: port 0 asks for any free port") {
  CHECK(Args{{"--name", "a", "--listen", "127.0.0.1:0"}}.ok().name == "a@127.0.0.1:0");
  CHECK(Args{{"--name", "a@127.0.0.1:0"}}.ok().name == "a@127.0.0.1:0");
}

TEST_CASE("ember-node: --listen resolves a host name to the address it binds") {
  auto o = Args{{"--name", "a@127.0.0.1", "--listen", "localhost:4999"}}.ok();
  CHECK(o.listen_host == "127.0.0.1");
  CHECK(o.name == "a@127.0.0.1:4999");
}

TEST_CASE("ember-node: every flag comes from the environment too") {
  Args a;
  a.vars = {{"EMBER_NAME", "b"},           {"EMBER_LISTEN", "127.0.0.1:4400"},
            {"EMBER_COOKIE", "envcookie"}, {"EMBER_JOIN", "a@127.0.0.1:4370, c@127.0.0.1:4371,,"},
            {"EMBER_SCHEDULERS", "3"},     {"EMBER_TICKTIME", "1.5"}};
  auto o = a.ok();
  CHECK(o.name == "b@127.0.0.1:4400");
  CHECK(o.cookie == "envcookie");
  CHECK(o.join == std::vector<std::string>{"a@127.0.0.1:4370", "c@127.0.0.1:4371"});
  CHECK(o.schedulers == 3);
  REQUIRE(o.ticktime);
  CHECK(*o.ticktime == 1.5);
}

TEST_CASE("ember-node: flags win over the environment") {
  Args a{{"--name", "x", "--listen", "127.0.0.1:4500", "--cookie", "flag", "--join",
          "p@127.0.0.1:1", "--join", "q@127.0.0.1:2", "--schedulers", "1", "--ticktime", "4"}};
  a.vars = {{"EMBER_NAME", "b"},           {"EMBER_LISTEN", "127.0.0.1:4400"},
            {"EMBER_COOKIE", "envcookie"}, {"EMBER_JOIN", "a@127.0.0.1:4370"},
            {"EMBER_SCHEDULERS", "3"},     {"EMBER_TICKTIME", "1.5"}};
  auto o = a.ok();
  CHECK(o.name == "x@127.0.0.1:4500");
  CHECK(o.cookie == "flag");
  CHECK(o.join == std::vector<std::string>{"p@127.0.0.1:1", "q@127.0.0.1:2"});
  CHECK(o.schedulers == 1);
  CHECK(*o.ticktime == 4);
}

TEST_CASE("ember-node: an empty variable counts as unset") {
  Args a;
  a.vars = {{"EMBER_NAME", "b"}, {"EMBER_LISTEN", ""},     {"EMBER_COOKIE", ""},
            {"EMBER_JOIN", " "}, {"EMBER_SCHEDULERS", ""}, {"EMBER_TICKTIME", ""}};
  auto o = a.ok();
  CHECK(o.name == "b@127.0.0.1:4370");
  CHECK(o.cookie.empty());  // the cookie file
  CHECK(o.join.empty());
  CHECK(o.schedulers == 0);
  CHECK_FALSE(o.ticktime);
  Args no_name;
  no_name.vars = {{"EMBER_NAME", "  "}};
  expect_bad(no_name, "no node name");
}

TEST_CASE("ember-node: --ticktime sets the silence timeout and a quarter of it as the tick") {
  auto o = Args{{"--name", "a", "--ticktime", "3"}}.ok();
  NodeConfig c = o.node_config("k");
  CHECK(c.silence_timeout == 3000ms);
  CHECK(c.tick_interval == 750ms);
  CHECK(c.cookie == "k");
  CHECK(c.listen);
  CHECK_FALSE(c.hidden);

  NodeConfig d = Args{{"--name", "a"}}.ok().node_config("k");
  NodeConfig defaults;
  CHECK(d.silence_timeout == defaults.silence_timeout);
  CHECK(d.tick_interval == defaults.tick_interval);
}

TEST_CASE("ember-node: --rejoin or EMBER_REJOIN sets the redial interval, off by default") {
  CHECK(Args{{"--name", "a"}}.ok().rejoin == 0);
  CHECK(Args{{"--name", "a", "--rejoin", "1.5"}}.ok().rejoin == 1.5);
  Args env;
  env.words = {"--name", "a"};
  env.vars = {{"EMBER_REJOIN", "2"}};
  CHECK(env.ok().rejoin == 2);
  env.words.insert(env.words.end(), {"--rejoin", "0"});  // the flag wins
  CHECK(env.ok().rejoin == 0);
}

TEST_CASE(
    "ember-node: --metrics-port or EMBER_METRICS_PORT turns the endpoint on, off by default") {
  CHECK(Args{{"--name", "a"}}.ok().metrics_port == 0);
  CHECK(Args{{"--name", "a"}}.ok().node_config("k").metrics_port == 0);
  DaemonOptions on = Args{{"--name", "a", "--metrics-port", "9100"}}.ok();
  CHECK(on.metrics_port == 9100);
  CHECK(on.node_config("k").metrics_port == 9100);
  Args env;
  env.words = {"--name", "a"};
  env.vars = {{"EMBER_METRICS_PORT", " 9101 "}};
  CHECK(env.ok().metrics_port == 9101);
  env.words.insert(env.words.end(), {"--metrics-port", "0"});  // the flag wins: off
  CHECK(env.ok().metrics_port == 0);
  Args empty;
  empty.words = {"--name", "a"};
  empty.vars = {{"EMBER_METRICS_PORT", ""}};
  CHECK(empty.ok().metrics_port == 0);
}

TEST_CASE("ember-node: bad arguments give the usage and exit code 2") {
  expect_bad(Args{{"--name", "a", "--metrics-port", "65536"}}, "--metrics-port");
  expect_bad(Args{{"--name", "a", "--metrics-port", "http"}}, "--metrics-port");
  expect_bad(Args{{"--name", "a", "--metrics-port", "-1"}}, "--metrics-port");
  Args bad_env;
  bad_env.vars = {{"EMBER_NAME", "a"}, {"EMBER_METRICS_PORT", "91OO"}};
  expect_bad(bad_env, "--metrics-port");
  expect_bad(Args{{}}, "no node name");
  expect_bad(Args{{"--name", "a", "--frobnicate"}}, "frobnicate");
  expect_bad(Args{{"--name", "a", "stray"}}, "stray");
  expect_bad(Args{{"--name", "a b"}}, "not allowed");
  expect_bad(Args{{"--name", "a@"}}, "empty host");
  expect_bad(Args{{"--name", "a@h:99999"}}, "port");
  expect_bad(Args{{"--name", "a", "--listen", "127.0.0.1:x"}}, "port");
  expect_bad(Args{{"--name", "a", "--listen", "0.0.0.0:4370"}}, "a@HOST");
  expect_bad(Args{{"--name", "a@127.0.0.1:1", "--listen", "127.0.0.1:2"}}, "disagree");
  expect_bad(Args{{"--name", "a", "--listen", "no-such-host.invalid:1"}}, "cannot resolve");
  expect_bad(Args{{"--name", "a", "--join", "nohost"}}, "--join");
  expect_bad(Args{{"--name", "a", "--schedulers", "-1"}}, "--schedulers");
  expect_bad(Args{{"--name", "a", "--ticktime", "0"}}, "--ticktime");
  expect_bad(Args{{"--name", "a", "--ticktime", "soon"}}, "--ticktime");
  expect_bad(Args{{"--name", "a", "--rejoin", "soon"}}, "--rejoin");
  expect_bad(Args{{"--name", "a", "--rejoin", "-1"}}, "--rejoin");
  expect_bad(Args{{"--name", "a", "--rejoin", "0.001"}}, "--rejoin");
  expect_bad(Args{{"--name", "a", "--cookie", ""}}, "empty");
  expect_bad(Args{{"--name", "a", "--cookie"}}, "cookie");
  Args env_only;
  env_only.vars = {{"EMBER_NAME", "a"}, {"EMBER_TICKTIME", "-3"}};
  expect_bad(env_only, "--ticktime");
}

TEST_CASE("ember-node: --help is not an error") {
  ParseOutcome o = Args{{"--help"}}.parse();
  CHECK_FALSE(o.options);
  CHECK(o.exit_code == 0);
  CHECK_THAT(o.message, Catch::Contains("EMBER_JOIN"));
}

TEST_CASE("ember-node: the cookie file lives in $HOME") {
  Args a;
  auto env = [](const std::string& v) -> std::optional<std::string> {
    if (v == "HOME") return std::string("/home/somebody");
    return std::nullopt;
  };
  CHECK(default_cookie_path(env) == "/home/somebody/.ember.cookie");
  auto no_home = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  CHECK(default_cookie_path(no_home).filename() == ".ember.cookie");
}

TEST_CASE("ember-node: a missing cookie file is created 0400 with a random value") {
  TempDir dir;
  auto path = dir.path / ".ember.cookie";
  std::string first = read_or_create_cookie(path);
  CHECK(first.size() == 20);
  for (char c : first) CHECK((c >= 'A' && c <= 'Z'));
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0400);
  CHECK(read_or_create_cookie(path) == first);  // read back, not replaced
  std::size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);  // no temporary left behind

  TempDir other;
  CHECK(read_or_create_cookie(other.path / ".ember.cookie") != first);
}

TEST_CASE("ember-node: an existing cookie file is trimmed and must be private") {
  TempDir dir;
  auto path = dir.path / ".ember.cookie";
  std::ofstream(path) << "  secret-cookie\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read);
  CHECK(read_or_create_cookie(path) == "secret-cookie");

  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  CHECK_THROWS_WITH(read_or_create_cookie(path), Catch::Contains("owner only"));

  auto empty = dir.path / "empty";
  std::ofstream(empty) << "\n";
  std::filesystem::permissions(empty, std::filesystem::perms::owner_read);
  CHECK_THROWS_WITH(read_or_create_cookie(empty), Catch::Contains("empty"));

  if (geteuid() != 0) {  // root writes anywhere
    auto locked = dir.path / "locked";
    std::filesystem::create_directory(locked);
    std::filesystem::permissions(
        locked, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    CHECK_THROWS_WITH(read_or_create_cookie(locked / ".ember.cookie"),
                      Catch::Contains("cannot create"));
  }
}
