// ember::testing itself: start failures are reported with the log, restart keeps name and
// port, the destructor leaves nothing running, the teardown report notices leaks.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "support.hpp"

using namespace multinode;

TEST_CASE("a node that cannot start is reported with its log") {
  Cluster cluster;
  ember::testing::NodeOptions bad;
  bad.extra_args = {"--ticktime", "soon"};
  try {
    cluster.start("broken", bad);
    FAIL("started a node with a bad flag");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("did not start"));
    CHECK_THAT(e.what(), Catch::Contains("exit code 2"));
    CHECK_THAT(e.what(), Catch::Contains("--ticktime soon"));  // the usage error, from stderr
  }
  CHECK(cluster.size() == 0);
  CHECK(cluster.shutdown().clean());
}

TEST_CASE("restart keeps a node's name and port, and shutdown continues a stopped node") {
  ClusterTest t;
  auto& a = t.cluster.start("a");
  Atom name = a.name();
  pid_t first = a.os_pid();
  CHECK(name == Atom("a@127.0.0.1:" + std::to_string(a.port())));
  a.restart();
  CHECK(a.name() == name);
  CHECK(a.os_pid() != first);
  CHECK(a.incarnation() == 2);
  CHECK(t.cluster.ping(a));
  CHECK(a.log().find("incarnation 2") != std::string::npos);

  a.stop();
  CHECK(a.stopped());
  CHECK(a.running());
  a.cont();
  CHECK(t.cluster.ping(a));
  a.stop();  // left stopped: shutdown() must continue it before SIGTERM
  t.teardown();
  CHECK(a.exit_status().has_value());
  CHECK(a.exit_status()->clean());
}

TEST_CASE("the Cluster's destructor kills and reaps what is left") {
  std::vector<pid_t> pids;
  {
    Cluster cluster;
    pids.push_back(cluster.start("a").os_pid());
    pids.push_back(cluster.start("b").os_pid());
    cluster.node("b").stop();
  }
  for (pid_t p : pids) {
    errno = 0;
    CHECK(::kill(p, 0) == -1);  // gone, and no zombie: reaped
    CHECK(errno == ESRCH);
  }
}

TEST_CASE("the teardown report names a connection this process left open") {
  ember::testing::ClusterOptions o;
  o.close_timeout = 1s;
  Cluster cluster(o);
  auto& a = cluster.start("a");
  auto leaked = std::make_unique<RawPeer>(a.port());
  auto report = cluster.shutdown();
  INFO(report.text());
  CHECK_FALSE(report.clean());
  CHECK_THAT(report.text(), Catch::Contains("a socket of this process still open"));
  leaked.reset();
}

TEST_CASE("a node exits on its own when the program that started it is gone") {
  // EMBER_PARENT_PID names a process that is not its parent: it stops as if orphaned.
  Cluster cluster;
  ember::testing::NodeOptions o;
  o.env = {"EMBER_PARENT_PID=1"};
  auto& a = cluster.start("orphan", o);
  auto status = a.wait_exit(10s);
  REQUIRE(status);
  CHECK(status->clean());
  CHECK(a.log().find("its parent process exited") != std::string::npos);
  CHECK(cluster.shutdown().clean());
}

TEST_CASE("ember-node stops cleanly on SIGINT") {
  Cluster cluster;
  auto& a = cluster.start("a");
  a.signal(SIGINT);
  auto status = a.wait_exit(10s);
  REQUIRE(status);
  CHECK(status->clean());
  CHECK(a.log().find("stopping (SIGINT)") != std::string::npos);
  CHECK(cluster.shutdown().clean());
}

TEST_CASE("ember-node without a cookie makes ~/.ember.cookie, and refuses other cookies") {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ember-home-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()));
  std::filesystem::path home = tmpl;
  Cluster cluster;
  ember::testing::NodeOptions o;
  o.env = {"EMBER_COOKIE=", "HOME=" + home.string()};
  auto& a = cluster.start("a", o);
  auto cookie_file = home / ".ember.cookie";
  REQUIRE(std::filesystem::exists(cookie_file));
  CHECK((std::filesystem::status(cookie_file).permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_read);
  std::ifstream in(cookie_file);
  std::string cookie;
  in >> cookie;
  CHECK(cookie.size() == 20);
  CHECK(cookie != cluster.cookie());
  CHECK_FALSE(cluster.ping(a, 2s));  // the client has the cluster's cookie, not this one
  CHECK(a.wait_for_log("refused connection with", 5s));
  CHECK(cluster.shutdown().clean());
  std::error_code ec;
  std::filesystem::permissions(cookie_file, std::filesystem::perms::owner_all, ec);
  std::filesystem::remove_all(home, ec);
}
