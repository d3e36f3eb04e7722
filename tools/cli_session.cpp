#include "cli_session.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>

#include "cli_error.hpp"
#include "ember/core/node_table.hpp"
#include "ember/node/admin.hpp"
#include "ember/node/node.hpp"
#include "ember/node/node_name.hpp"

namespace ember::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A plain TCP connect to the node's address, to tell "nothing there" from "refused by the
// handshake": "" when something accepts, else the reason.
std::string tcp_probe(const NodeName& n, milliseconds timeout) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(n.port);
  if (int rc = ::getaddrinfo(n.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return std::string("cannot resolve ") + n.host + ": " + ::gai_strerror(rc);
  std::string why = "no address for " + n.host;
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int ready = ::poll(&p, 1, int(timeout.count()));
        socklen_t len = sizeof err;
        if (ready <= 0)
          err = ETIMEDOUT;
        else
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    ::close(fd);
    if (err == 0) {
      ::freeaddrinfo(res);
      return "";
    }
    why = err == ECONNREFUSED ? "nothing listening on " + n.host + ":" + port
                              : n.host + ":" + port + ": " + std::strerror(err);
  }
  ::freeaddrinfo(res);
  return why;
}

}  // namespace

Session::Session(std::string cookie, bool verbose) {
  // The node layer's log lines go to stderr (stdout is the command's output), and only
  // with --verbose: failures are reported as one line of our own.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ember"));
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::off);
  NodeConfig c{.name = "ember-cli-" + std::to_string(::getpid()) + "@127.0.0.1",
               .cookie = std::move(cookie),
               .listen = false,
               .hidden = true,
               .schedulers = 1};
  node_ = std::make_unique<Node>(std::move(c));
}

Session::~Session() = default;

void Session::attach(Atom node) {
  if (attached_.contains(node.index())) return;
  NodeName address = NodeName::parse(node.text());
  auto start = Clock::now();
  if (node_->connect(node, kConnectTimeout)) {
    attached_.insert(node.index());
    return;
  }
  auto took = Clock::now() - start;
  std::string name(node.text());
  std::string refused = node_->connect_error(node);
  if (refused.starts_with("the node at that address is"))
    throw CliError(kUnreachable, "cannot reach " + name + ": " + refused);
  std::string why = tcp_probe(address, milliseconds(1000));
  if (!why.empty()) throw CliError(kUnreachable, "cannot reach " + name + ": " + why);
  if (took >= kConnectTimeout - milliseconds(100))
    throw CliError(kUnreachable, "cannot reach " + name + ": no handshake within " +
                                     std::to_string(kConnectTimeout.count()) + " ms");
  throw CliError(kUnreachable, name + ": connection refused (wrong cookie?)");
}

namespace {

// What became of a request.
struct Answer {
  enum { kAnswered, kLost, kSilent } outcome = kSilent;
  Term term;
};

// {Command, Self, Ref, Args...} to ember_admin on `node`, and its {Ref, Result}.
Co<Answer> request(Self self, Atom node, Atom command, std::vector<Term> args,
                   milliseconds timeout) {
  Ref ref = self.make_ref();
  std::vector<Term> items{Term(command), Term(self.pid()), Term(ref)};
  items.insert(items.end(), args.begin(), args.end());
  self.send(RemoteName{admin_name(), node}, tuple_of(items));
  auto m = co_await self.receive(match(tuple(ref, _)), match(tuple(Atom("nodedown"), node)))
               .after(timeout);
  Answer a;
  if (!m.timed_out()) a.outcome = m.clause() == 0 ? Answer::kAnswered : Answer::kLost;
  if (a.outcome == Answer::kAnswered) a.term = m[1];
  co_return a;
}

void send_to(Self self, const Address& to, const Term& message) {
  if (auto* pid = std::get_if<Pid>(&to))
    self.send(*pid, message);
  else
    self.send(std::get<RemoteName>(to), message);
}

Term result_of(const Answer& a, Atom node, const std::string& what, milliseconds timeout) {
  if (a.outcome == Answer::kLost)
    throw CliError(kUnreachable, "lost the connection to " + std::string(node.text()));
  if (a.outcome == Answer::kSilent)
    throw CliError(kTimeout, what + " within " + std::to_string(timeout.count()) + " ms");
  return a.term;
}

}  // namespace

Term Session::ask(Atom node, std::string_view command, const std::vector<Term>& args,
                  milliseconds timeout) {
  attach(node);
  Answer answer;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);  // a lost node ends the wait at once
    answer = co_await request(self, node, Atom(command), args, timeout);
    Node::of(self)->monitor_node(self, node, false);
  });
  return result_of(answer, node,
                   std::string(node.text()) + " did not answer " + std::string(command), timeout);
}

Atom Session::node_of(const Address& to) {
  if (auto* pid = std::get_if<Pid>(&to)) return pid_node(*pid);
  return std::get<RemoteName>(to).node;
}

void Session::send(const Address& to, const Term& message) {
  Atom node = node_of(to);
  attach(node);
  Answer answer;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);
    send_to(self, to, message);
    // A ping from the same sender queues behind the message (per-sender order holds even
    // for a large message sent in fragments): once it is answered, the node has both.
    answer = co_await request(self, node, Atom("ping"), {}, kRequestTimeout);
    Node::of(self)->monitor_node(self, node, false);
  });
  result_of(answer, node, std::string(node.text()) + " did not confirm the send", kRequestTimeout);
}

Term Session::call(const Address& to, const std::function<Term(Pid)>& build, milliseconds timeout) {
  Atom node = node_of(to);
  attach(node);
  Answer answer;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);
    send_to(self, to, build(self.pid()));
    auto m = co_await self.receive(match(tuple(Atom("nodedown"), node)), any).after(timeout);
    Node::of(self)->monitor_node(self, node, false);
    if (m.timed_out()) co_return;
    answer.outcome = m.clause() == 1 ? Answer::kAnswered : Answer::kLost;
    answer.term = m.term();
  });
  return result_of(answer, node, "no reply", timeout);
}

Session::TraceEnd Session::trace(Pid pid, milliseconds duration, long count,
                                 const std::function<void()>& started,
                                 const std::function<void(const Term&)>& on_message) {
  static const Atom trace_tag("trace"), receive_tag("receive"), ended("trace_ended"),
      nodedown("nodedown");
  Atom node = pid_node(pid);
  attach(node);
  TraceEnd end;
  Answer setup;
  bool lost = false;
  std::string refused;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);
    // The relay's own limit is a backstop (this process normally stops it first): a
    // second longer, so that the deadline reported is ours.
    std::vector<Term> args{Term(pid), Term(self.pid()),
                           Term(std::int64_t(duration.count()) + 1000)};
    setup = co_await request(self, node, Atom("trace"), args, kRequestTimeout);
    if (setup.outcome != Answer::kAnswered) co_return;
    if (!setup.term.is_tuple(2) || !setup.term[0].is(Atom("ok")) || !setup.term[1].is_pid()) {
      refused = print_cli_term(setup.term);
      co_return;
    }
    Pid relay = setup.term[1].pid();
    started();
    auto deadline = Clock::now() + duration;
    while (count == 0 || end.messages < count) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      auto m = co_await self
                   .receive(match(tuple(trace_tag, _, receive_tag, _)), match(tuple(ended, _, _)),
                            match(tuple(nodedown, node)))
                   .after(left);
      if (m.timed_out()) break;
      if (m.clause() == 0) {
        ++end.messages;
        on_message(m[3]);
        continue;
      }
      if (m.clause() == 1 && !m[2].is(Atom("timeout"))) {
        end.why = TraceEnd::kExited;
        end.reason = m[2];
        break;
      }
      if (m.clause() == 2) lost = true;
      break;
    }
    if (count != 0 && end.messages >= count) end.why = TraceEnd::kCount;
    // Untraced now rather than when our connection closes (which also stops the relay).
    if (!lost) self.send(relay, tuple(Atom("stop_trace"), self.pid()));
    Node::of(self)->monitor_node(self, node, false);
  });
  if (!refused.empty()) {
    if (refused == "{error,noproc}") throw CliError(kFailed, "no process " + pid_text(pid));
    throw CliError(kFailed, std::string(node.text()) + " refused the trace: " + refused);
  }
  result_of(setup, node, std::string(node.text()) + " did not answer trace", kRequestTimeout);
  if (lost) throw CliError(kUnreachable, "lost the connection to " + std::string(node.text()));
  return end;
}

std::vector<double> Session::echo_round_trips(Atom node, int calls) {
  static const Atom echo("echo"), ok("ok"), nodedown("nodedown");
  attach(node);
  std::vector<double> ms;
  bool lost = false, silent = false;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);
    for (int i = 0; i < calls; ++i) {
      auto start = Clock::now();
      self.send(RemoteName{echo, node}, tuple(echo, i, self.pid()));
      auto m = co_await self.receive(match(tuple(ok, i)), match(tuple(nodedown, node)))
                   .after(kRequestTimeout);
      if (m.timed_out() || m.clause() == 1) {
        (m.timed_out() ? silent : lost) = true;
        break;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    Node::of(self)->monitor_node(self, node, false);
  });
  std::string name(node.text());
  if (lost) throw CliError(kUnreachable, "lost the connection to " + name);
  if (silent)
    throw CliError(kTimeout, "no echo reply from " + name + " within " +
                                 std::to_string(kRequestTimeout.count()) + " ms");
  return ms;
}

Session::Burst Session::burst(Atom node, milliseconds duration) {
  static const Atom bench("bench"), done("bench_done"), result("bench_result"),
      nodedown("nodedown");
  attach(node);
  Burst b;
  Answer setup;
  bool lost = false, silent = false;
  node_->runtime().run([&](Self self) -> Proc {
    Node::of(self)->monitor_node(self, node, true);
    setup = co_await request(self, node, Atom("bench_sink"), {}, kRequestTimeout);
    if (setup.outcome != Answer::kAnswered || !setup.term.is_tuple(2) || !setup.term[1].is_pid())
      co_return;
    Pid sink = setup.term[1].pid();
    auto start = Clock::now(), until = start + duration;
    // Awaited sends: preemption points, so this node's own processes (the loop thread's
    // deliveries do not need them) still get the worker. The clock is read every 64.
    for (;;) {
      co_await self.send(sink, tuple(bench, b.sent));
      if ((++b.sent & 63) == 0 && Clock::now() >= until) break;
    }
    self.send(sink, tuple(done, self.pid(), b.sent));
    // Everything sent must be counted first: per-sender order puts bench_done last.
    auto m = co_await self.receive(match(tuple(result, _)), match(tuple(nodedown, node)))
                 .after(duration + milliseconds(10000));
    if (m.timed_out())
      silent = true;
    else if (m.clause() == 1)
      lost = true;
    else
      b.received = m[1].as<std::int64_t>();
    b.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    Node::of(self)->monitor_node(self, node, false);
  });
  std::string name(node.text());
  Term reply = result_of(setup, node, name + " did not answer bench_sink", kRequestTimeout);
  if (!reply.is_tuple(2) || !reply[1].is_pid())
    throw CliError(kFailed, name + " answered bench_sink with " + print_cli_term(reply));
  if (lost) throw CliError(kUnreachable, "lost the connection to " + name);
  if (silent) throw CliError(kTimeout, "the sink on " + name + " did not report its count");
  return b;
}

Pid Session::resolve(const PidText& pid, Atom default_node) {
  Atom node = pid.node.value_or(default_node);
  attach(node);
  // The newest incarnation of that node this process knows: the one just connected.
  for (std::uint32_t i = NodeTable::size(); i-- > 0;)
    if (NodeTable::identity(i).name == node) return Pid(i, pid.slot, pid.generation);
  throw CliError(kUnreachable, "no connection to " + std::string(node.text()));
}

}  // namespace ember::cli
