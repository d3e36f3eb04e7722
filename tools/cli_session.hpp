// The CLI's own node: hidden, not listening, one scheduler. It connects to the nodes a
// command names and asks their ember_admin service (node/include/ember/node/admin.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "ember/core/distribution.hpp"
#include "ember/core/term.hpp"
#include "pid_text.hpp"

namespace ember {
class Node;
}

namespace ember::cli {

using std::chrono::milliseconds;

// How long connecting may take before the node counts as unreachable.
inline constexpr milliseconds kConnectTimeout{3000};
// How long an ember_admin request may take.
inline constexpr milliseconds kRequestTimeout{5000};

using Address = std::variant<Pid, RemoteName>;

class Session {
 public:
  explicit Session(std::string cookie, bool verbose);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connects to `node` unless already connected. Throws CliError(kUnreachable) saying why:
  // nothing listening, refused (wrong cookie?), or no handshake within kConnectTimeout.
  void attach(Atom node);

  // {Command, Self, Ref, Args...} to ember_admin on `node`; returns the Result of its
  // {Ref, Result}. Throws CliError: kTimeout when no answer, kUnreachable when the node
  // is lost meanwhile.
  Term ask(Atom node, std::string_view command, const std::vector<Term>& args = {},
           milliseconds timeout = kRequestTimeout);

  // Sends `message`, then makes sure the node has it (a ping behind it on the same
  // connection) before returning.
  void send(const Address& to, const Term& message);

  // Sends build(CliPid) and returns the first message that arrives. kTimeout if none.
  Term call(const Address& to, const std::function<Term(Pid)>& build, milliseconds timeout);

  // How a trace ended (Session::trace).
  struct TraceEnd {
    enum Why { kTime, kCount, kExited } why = kTime;
    Term reason;  // kExited: the traced process's exit reason
    long messages = 0;
  };
  // Traces `pid` (erlang:trace 'receive') through its node's ember_admin, which starts a
  // relay there as the tracer: `started` runs once the trace is set, `on_message(Msg)`
  // for each message `pid` receives, until `duration` passes, `count` messages (0: no
  // limit), or `pid` exits; then the relay is told to untrace. Throws CliError: kFailed
  // (no such process), kUnreachable (node lost), kTimeout (no answer to the request).
  TraceEnd trace(Pid pid, milliseconds duration, long count, const std::function<void()>& started,
                 const std::function<void(const Term&)>& on_message);

  // ember bench: the round trip of `calls` {echo, I, Self} to `node`'s echo, each in ms.
  // Throws CliError(kTimeout) when one goes unanswered for kRequestTimeout.
  std::vector<double> echo_round_trips(Atom node, int calls);
  // ember bench: messages sent for `duration` to a sink on `node` (ember_admin's
  // bench_sink), and how many it counted once the last had arrived.
  struct Burst {
    std::int64_t sent = 0, received = 0;
    double seconds = 0;  // first send to the sink's count
  };
  Burst burst(Atom node, milliseconds duration);

  // A typed pid as a Pid of this process; its node (or `default_node`) is attached first.
  Pid resolve(const PidText& pid, Atom default_node);

  static Atom node_of(const Address& to);

 private:
  std::unique_ptr<Node> node_;
  std::set<std::uint32_t> attached_;  // atom indexes of connected nodes
};

}  // namespace ember::cli
