// ember::testing: ember-node children (posix_spawn), their logs, and the leak checks.
#include "ember/testing.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ember/node/admin.hpp"

extern char** environ;

namespace ember::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string errno_text() {
  return std::strerror(errno);
}

std::string random_token(std::size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 2);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += alphabet[pick(rd)];
  return s;
}

std::string read_file(const std::filesystem::path& path, std::size_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(std::streamoff(from));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void append_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  if (pos && text[pos - 1] == '\n') --pos;
  for (std::size_t n = 0; n < lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return pos == text.size() ? std::string() : text.substr(pos + (text[pos] == '\n' ? 1 : 0));
}

std::string join_words(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

ExitStatus decode_status(int st) {
  ExitStatus e;
  if (WIFEXITED(st)) {
    e.exited = true;
    e.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
  }
  return e;
}

std::string node_executable(const ClusterOptions& o) {
  if (!o.executable.empty()) return o.executable;
  if (const char* e = std::getenv("EMBER_NODE"); e && *e) return e;
#ifdef EMBER_TESTING_EMBER_NODE
  return EMBER_TESTING_EMBER_NODE;
#else
  return "ember-node";
#endif
}

// The environment a node starts with: ours without EMBER_* (a test run inside a shell
// that configured a node must not configure these), then `extra`; a later NAME=VALUE wins.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  auto put = [&env](std::string_view v) {
    auto eq = v.find('=');
    std::string_view key = v.substr(0, eq == std::string_view::npos ? v.size() : eq + 1);
    for (auto& e : env)
      if (std::string_view(e).starts_with(key)) {
        e = std::string(v);
        return;
      }
    env.emplace_back(v);
  };
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("EMBER_") && !v.starts_with("EMBER_LOG_LEVEL=")) continue;
    put(v);
  }
  for (const auto& v : extra) put(v);
  return env;
}

// /proc/net/tcp{,6}: one socket.
struct TcpEntry {
  std::uint16_t local_port = 0, remote_port = 0;
  int state = 0;
  unsigned long inode = 0;
};
constexpr int kTcpListen = 0x0A, kTcpTimeWait = 0x06;

const char* tcp_state_name(int s) {
  static const char* names[] = {"?",          "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
                                "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING"};
  return s >= 0 && s < int(std::size(names)) ? names[s] : "?";
}

std::vector<TcpEntry> tcp_table() {
  std::vector<TcpEntry> out;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string sl, local, remote, state, queues, timer, retrans, uid, timeout;
      unsigned long inode = 0;
      if (!(s >> sl >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >>
            inode))
        continue;
      auto port_of = [](const std::string& addr) {
        auto colon = addr.rfind(':');
        return std::uint16_t(std::stoul(addr.substr(colon + 1), nullptr, 16));
      };
      out.push_back({port_of(local), port_of(remote), int(std::stoul(state, nullptr, 16)), inode});
    }
  }
  return out;
}

// Inodes of the sockets this process holds.
std::set<unsigned long> own_socket_inodes() {
  std::set<unsigned long> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code ec2;
    auto target = std::filesystem::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.starts_with("socket:["))
      out.insert(std::stoul(target.substr(8, target.size() - 9)));
  }
  return out;
}

// Processes running `executable` with --listen on one of `ports`.
std::vector<std::string> stray_processes(const std::string& executable,
                                         const std::set<std::uint16_t>& ports,
                                         const std::string& host) {
  std::vector<std::string> out;
  std::string base = std::filesystem::path(executable).filename().string();
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_file(e.path() / "cmdline");
    std::vector<std::string> args;
    for (std::size_t b = 0; b < cmdline.size();) {
      auto z = cmdline.find('\0', b);
      if (z == std::string::npos) z = cmdline.size();
      args.push_back(cmdline.substr(b, z - b));
      b = z + 1;
    }
    if (args.empty() || std::filesystem::path(args[0]).filename().string() != base) continue;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] != "--listen") continue;
      for (std::uint16_t p : ports)
        if (args[i + 1] == host + ":" + std::to_string(p)) {
          std::string stat = read_file(e.path() / "stat");
          auto paren = stat.rfind(')');
          char state =
              paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
          out.push_back("stray " + base + " pid " + pid + " (state " + state +
                        "): " + join_words(args));
        }
    }
  }
  return out;
}

std::atomic<unsigned> client_counter{0};

}  // namespace

// --- free functions ----------------------------------------------------------------------

bool eventually(const std::function<bool()>& condition, milliseconds timeout, milliseconds poll) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

NodeConfig loopback_node(std::string_view name, std::string_view cookie) {
  NodeConfig c;
  c.name = std::string(name) + "@127.0.0.1:0";
  c.cookie = std::string(cookie);
  c.schedulers = 2;
  return c;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket: " + errno_text());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string why = errno_text();
    ::close(fd);
    throw std::runtime_error("free_port: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ExitStatus::text() const {
  std::string s;
  if (exited)
    s = "exit code " + std::to_string(code);
  else if (signal)
    s = std::string("killed by SIG") + (sigabbrev_np(signal) ? sigabbrev_np(signal) : "?");
  else
    s = "unknown status";
  if (timed_out) s += " (after not stopping in time)";
  return s;
}

std::string TeardownReport::text() const {
  if (problems.empty()) return "clean";
  std::string s;
  for (const auto& p : problems) s += p + "\n";
  return s;
}

Co<Term> admin_call(Self self, Atom node, Atom command, std::vector<Term> args,
                    milliseconds timeout) {
  Ref ref = self.make_ref();
  std::vector<Term> items{Term(command), Term(self.pid()), Term(ref)};
  items.insert(items.end(), args.begin(), args.end());
  self.send(RemoteName{admin_name(), node}, tuple_of(items));
  auto m = co_await self.receive(match(tuple(ref, _))).after(timeout).since(ref);
  co_return m.timed_out() ? Term(Atom("timeout")) : m[1];
}

// --- NodeProcess -------------------------------------------------------------------------

NodeProcess::NodeProcess(Cluster& cluster, std::string short_name, std::uint16_t port,
                         std::vector<std::string> argv, std::vector<std::string> env)
    : cluster_(cluster),
      short_name_(std::move(short_name)),
      port_(port),
      name_(cluster.full_name(short_name_, port)),
      argv_(std::move(argv)),
      env_(std::move(env)),
      log_path_(cluster.log_dir() / (short_name_ + ".log")) {}

NodeProcess::~NodeProcess() {
  try {
    kill();
  } catch (...) {
  }
}

void NodeProcess::spawn() {
  ++incarnation_;
  append_file(log_path_, "---- ember::testing: starting " + std::string(name_.text()) +
                             " (incarnation " + std::to_string(incarnation_) +
                             "): " + join_words(argv_) + "\n");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + errno_text());

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // whatever lacks O_CLOEXEC
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv, envp;
  for (auto& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = argv_[0].find('/') != std::string::npos
               ? posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data())
               : posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error("cannot start " + argv_[0] + ": " + std::strerror(rc));
  }
  pid_ = pid;
  all_pids_.push_back(pid);
  stopped_ = false;
  status_.reset();

  // The ready line, before the deadline; EOF means the node died first.
  std::string line, failure;
  auto deadline = Clock::now() + cluster_.options().ready_timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      failure = "no ready line within " + std::to_string(cluster_.options().ready_timeout.count()) +
                " ms";
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int n = ::poll(&p, 1, int(std::min<long long>(left, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[512];
    ssize_t got = ::read(out[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      failure = "it ended before it was ready";
      break;
    }
    line.append(buf, std::size_t(got));
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      std::string first = line.substr(0, nl);
      const std::string expected = "ember-node ready " + std::string(name_.text());
      if (first == expected) break;
      failure = "unexpected first line on stdout: '" + first + "' (wanted '" + expected + "')";
      break;
    }
  }
  ::close(out[0]);  // the node writes nothing else there (and ignores SIGPIPE)
  if (failure.empty()) return;
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap(10s);
  } else {
    reap(10s);
  }
  throw std::runtime_error(
      "ember-node " + std::string(name_.text()) + " did not start: " + failure +
      (status_ ? " (" + status_->text() + ")" : std::string()) + "\n" + log_tail(30));
}

bool NodeProcess::reap(milliseconds timeout) const {
  if (pid_ == 0) return true;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = decode_status(st);
      reaped_.push_back(pid_);
      pid_ = 0;
      stopped_ = false;
      return true;
    }
    if (r < 0 && errno != EINTR) {  // not our child any more (reaped elsewhere)
      status_ = ExitStatus{};
      reaped_.push_back(pid_);
      pid_ = 0;
      stopped_ = false;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

bool NodeProcess::running() const {
  return pid_ != 0 && !reap(0ms);
}

void NodeProcess::signal(int sig) {
  if (pid_ == 0) throw std::logic_error("node " + short_name_ + " is not running");
  ::kill(pid_, sig);
}

void NodeProcess::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  if (!reap(30s)) throw std::runtime_error("node " + short_name_ + " survived SIGKILL for 30 s");
}

ExitStatus NodeProcess::terminate(std::optional<milliseconds> timeout) {
  if (!running()) return status_.value_or(ExitStatus{});
  if (stopped_) cont();
  ::kill(pid_, SIGTERM);
  if (reap(timeout.value_or(cluster_.options().stop_timeout))) return *status_;
  ::kill(pid_, SIGKILL);
  reap(30s);
  ExitStatus s = status_.value_or(ExitStatus{});
  s.timed_out = true;
  status_ = s;
  return s;
}

void NodeProcess::stop() {
  if (!running()) throw std::logic_error("node " + short_name_ + " is not running");
  ::kill(pid_, SIGSTOP);
  auto deadline = Clock::now() + 10s;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG | WUNTRACED);
    if (r == pid_ && WIFSTOPPED(st)) break;
    if (r == pid_) {  // it ended instead
      status_ = decode_status(st);
      reaped_.push_back(pid_);
      pid_ = 0;
      throw std::runtime_error("node " + short_name_ +
                               " ended while being stopped: " + status_->text());
    }
    if (Clock::now() >= deadline)
      throw std::runtime_error("node " + short_name_ + " did not stop on SIGSTOP");
    std::this_thread::sleep_for(1ms);
  }
  stopped_ = true;
}

void NodeProcess::cont() {
  if (!running()) throw std::logic_error("node " + short_name_ + " is not running");
  ::kill(pid_, SIGCONT);
  auto deadline = Clock::now() + 10s;
  while (stopped_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG | WCONTINUED);
    if (r == pid_ && WIFCONTINUED(st)) break;
    if (r == pid_) {
      status_ = decode_status(st);
      reaped_.push_back(pid_);
      pid_ = 0;
      break;
    }
    if (Clock::now() >= deadline)
      throw std::runtime_error("node " + short_name_ + " did not continue on SIGCONT");
    std::this_thread::sleep_for(1ms);
  }
  stopped_ = false;
}

void NodeProcess::restart() {
  kill();
  // The port was ours a moment ago; another program may hold it briefly (a connection's
  // ephemeral port), so a failed bind is retried until the ready timeout.
  auto deadline = Clock::now() + cluster_.options().ready_timeout;
  for (;;) {
    std::size_t from = log_size();
    try {
      spawn();
      return;
    } catch (const std::runtime_error&) {
      bool port_taken = read_file(log_path_, from).find("cannot listen") != std::string::npos;
      if (!port_taken || Clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(100ms);
  }
}

std::optional<ExitStatus> NodeProcess::wait_exit(milliseconds timeout) {
  if (!reap(timeout)) return std::nullopt;
  return status_;
}

std::string NodeProcess::log() const {
  return read_file(log_path_);
}

std::string NodeProcess::log_tail(std::size_t lines) const {
  return tail(log(), lines);
}

std::size_t NodeProcess::log_size() const {
  std::error_code ec;
  auto n = std::filesystem::file_size(log_path_, ec);
  return ec ? 0 : std::size_t(n);
}

bool NodeProcess::wait_for_log(std::string_view text, milliseconds timeout,
                               std::size_t from) const {
  return eventually([&] { return read_file(log_path_, from).find(text) != std::string::npos; },
                    timeout, 20ms);
}

// --- Cluster ----------------------------------------------------------------------------

Cluster::Cluster(ClusterOptions options)
    : options_(std::move(options)), uncaught_at_start_(std::uncaught_exceptions()) {
  if (options_.cookie.empty()) options_.cookie = "test-" + random_token(24);
  options_.executable = node_executable(options_);
  if (const char* k = std::getenv("EMBER_TESTING_KEEP_LOGS"); k && *k && std::string(k) != "0")
    options_.keep_logs = true;
  if (options_.log_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ember-cluster-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp: " + errno_text());
    options_.log_dir = tmpl;
    own_log_dir_ = true;
  } else {
    std::filesystem::create_directories(options_.log_dir);
  }
}

Cluster::~Cluster() {
  bool failing = std::uncaught_exceptions() > uncaught_at_start_;
  if (failing) dump_logs(std::cerr, 30);
  client_.reset();
  for (auto& n : nodes_) {
    try {
      n->kill();
    } catch (...) {
    }
  }
  bool remove = own_log_dir_ && shut_down_clean_ && !options_.keep_logs && !failing;
  std::error_code ec;
  if (remove)
    std::filesystem::remove_all(options_.log_dir, ec);
  else if (!nodes_.empty())
    std::cerr << "ember::testing: the nodes' logs are in " << options_.log_dir.string() << "\n";
}

std::string Cluster::full_name(const std::string& short_name, std::uint16_t port) const {
  return short_name + "@" + options_.host + ":" + std::to_string(port);
}

NodeProcess& Cluster::start(const std::string& short_name, NodeOptions o) {
  for (auto& n : nodes_)
    if (n->short_name() == short_name)
      throw std::logic_error("ember::testing: a node named " + short_name + " exists already");
  std::vector<std::string> join;
  if (o.join) {
    for (const std::string& j : *o.join) {
      bool found = false;
      for (auto& n : nodes_)
        if (n->short_name() == j) {
          join.emplace_back(n->name().text());
          found = true;
        }
      if (!found) join.push_back(j);
    }
  } else if (!nodes_.empty()) {
    join.emplace_back(nodes_.front()->name().text());
  }
  std::vector<std::string> env{
      "EMBER_COOKIE=" + options_.cookie,  // not on the command line, where ps shows it
      "EMBER_PARENT_PID=" + std::to_string(::getpid())};
  env.insert(env.end(), options_.env.begin(), options_.env.end());
  env.insert(env.end(), o.env.begin(), o.env.end());
  env = child_environment(env);
  auto ticktime = o.ticktime ? o.ticktime : options_.ticktime;

  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::uint16_t port = free_port();
    std::string address = options_.host + ":" + std::to_string(port);
    std::vector<std::string> argv{options_.executable,
                                  "--name",
                                  full_name(short_name, port),
                                  "--listen",
                                  address,
                                  "--schedulers",
                                  std::to_string(options_.schedulers)};
    if (ticktime) {
      std::ostringstream t;
      t << *ticktime;
      argv.insert(argv.end(), {"--ticktime", t.str()});
    }
    for (const std::string& j : join) argv.insert(argv.end(), {"--join", j});
    argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
    std::unique_ptr<NodeProcess> n(new NodeProcess(*this, short_name, port, argv, env));
    std::size_t from = n->log_size();
    try {
      n->spawn();
    } catch (const std::runtime_error& e) {
      last_error = e.what();
      // Someone took the port between free_port() and the bind: another port.
      if (read_file(n->log_path(), from).find("cannot listen") != std::string::npos) continue;
      throw;
    }
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }
  throw std::runtime_error(last_error);
}

NodeProcess& Cluster::node(std::string_view short_name) {
  for (auto& n : nodes_)
    if (n->short_name() == short_name) return *n;
  throw std::out_of_range("ember::testing: no node named " + std::string(short_name));
}

std::vector<std::uint16_t> Cluster::ports() const {
  std::vector<std::uint16_t> out;
  for (auto& n : nodes_) out.push_back(n->port());
  return out;
}

Node& Cluster::client() {
  if (!client_) {
    NodeConfig c;
    c.name = "ember_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(client_counter.fetch_add(1)) + "@" + options_.host;
    c.cookie = options_.cookie;
    c.listen = false;
    c.hidden = true;
    c.schedulers = 2;
    if (options_.ticktime) {
      c.silence_timeout = milliseconds(std::llround(*options_.ticktime * 1000));
      c.tick_interval = std::max(milliseconds(1), c.silence_timeout / 4);
    }
    client_ = std::make_unique<Node>(std::move(c));
  }
  return *client_;
}

Term Cluster::admin(Atom node, Atom command, std::vector<Term> args, milliseconds timeout) {
  Term result;
  run([&](Self self) -> Proc { result = co_await admin_call(self, node, command, args, timeout); });
  return result;
}

bool Cluster::ping(const NodeProcess& n, milliseconds timeout) {
  return admin(n.name(), Atom("ping"), {}, timeout).is(Atom("pong"));
}

std::vector<Atom> Cluster::nodes_of(const NodeProcess& n, milliseconds timeout) {
  Term t = admin(n.name(), Atom("nodes"), {}, timeout);
  std::vector<Atom> out;
  if (t.is_list())
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i].is_atom()) out.push_back(t[i].as<Atom>());
  return out;
}

bool Cluster::wait_for_mesh(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  return eventually(
      [&] {
        for (auto& n : nodes_) {
          if (!n->running() || n->stopped()) continue;
          auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
          auto seen = nodes_of(*n, std::max(left, milliseconds(100)));
          for (auto& m : nodes_) {
            if (m.get() == n.get() || !m->running() || m->stopped()) continue;
            if (std::find(seen.begin(), seen.end(), m->name()) == seen.end()) return false;
          }
        }
        return true;
      },
      timeout, 50ms);
}

TeardownReport Cluster::shutdown() {
  TeardownReport report;
  client_.reset();
  for (auto& n : nodes_) {
    if (!n->running()) continue;
    ExitStatus s = n->terminate();
    if (!s.clean())
      report.problems.push_back("node " + std::string(n->name().text()) +
                                " did not stop cleanly on SIGTERM: " + s.text());
  }
  for (auto& n : nodes_) {
    for (pid_t p : n->all_pids_)
      if (std::find(n->reaped_.begin(), n->reaped_.end(), p) == n->reaped_.end())
        report.problems.push_back("node " + std::string(n->name().text()) + " pid " +
                                  std::to_string(p) + " was not reaped");
  }
  std::set<std::uint16_t> ports;
  for (auto& n : nodes_) ports.insert(n->port());
  for (auto& s : stray_processes(options_.executable, ports, options_.host))
    report.problems.push_back(s);

  // Connections: this process's sockets on the cluster's ports must be gone, and the
  // kernel's orphans (closed, still saying goodbye) must finish within close_timeout;
  // TIME_WAIT is fine.
  std::vector<std::string> sockets;
  eventually(
      [&] {
        sockets.clear();
        auto own = own_socket_inodes();
        for (const TcpEntry& e : tcp_table()) {
          bool ours = ports.count(e.local_port) || ports.count(e.remote_port);
          if (!ours || e.state == kTcpTimeWait) continue;
          bool mine = e.inode != 0 && own.count(e.inode);
          bool orphan = e.inode == 0;
          if (!mine && !orphan) continue;  // another program's, on a port reused since
          if (e.state == kTcpListen && !mine) continue;
          sockets.push_back(std::string(mine ? "a socket of this process" : "an orphaned socket") +
                            " still open on the cluster's ports: " + std::to_string(e.local_port) +
                            " -> " + std::to_string(e.remote_port) + " " + tcp_state_name(e.state));
        }
        return sockets.empty();
      },
      options_.close_timeout, 50ms);
  report.problems.insert(report.problems.end(), sockets.begin(), sockets.end());
  shut_down_clean_ = report.clean();
  return report;
}

std::string Cluster::logs(std::size_t lines_per_node) const {
  std::ostringstream s;
  dump_logs(s, lines_per_node);
  return s.str();
}

void Cluster::dump_logs(std::ostream& out, std::size_t lines_per_node) const {
  for (auto& n : nodes_) {
    out << "==== " << n->name().text() << " (incarnation " << n->incarnation() << ", "
        << (n->pid_ ? (n->stopped_ ? "stopped" : "running")
                    : (n->status_ ? n->status_->text() : std::string("not running")))
        << "), " << n->log_path().string() << " ====\n"
        << n->log_tail(lines_per_node) << "\n";
  }
}

}  // namespace ember::testing
