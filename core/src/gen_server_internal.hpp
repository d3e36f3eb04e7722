// What gen_server.cpp shares with supervisor.cpp and agent.cpp. Private to core/src.
#pragma once

#include <exception>
#include <memory>
#include <optional>

#include "ember/core/gen_server.hpp"

namespace ember::detail {

struct GenAtoms {
  Atom gen_call, gen_cast, system, down, exit, nodedown, noproc, noconnection, timeout, gen_server,
      call, terminate, shutdown, kill, killed, bad_call, bad_cast, bad_return_value,
      already_started, calling_self, infinity, unknown_system_msg, bad_continue;
};
const GenAtoms& gen_atoms();

// How a server was started: the starter waits for {Tag, Answer}.
struct ServerStart {
  Pid starter;
  Ref tag;
  std::optional<Atom> name;
  bool linked = false;
};
Proc server_main(Self self, std::unique_ptr<GenServer> server, ServerStart start);

// A process's exit reason for an exception, as the scheduler maps it.
Term exit_reason_of(std::exception_ptr e);
// normal, shutdown or {shutdown, _}: not a crash (no report; a transient child stays down).
bool is_normal_exit(const Term& reason);
// Takes out the first message after the receive mark of `mark` (all of the mailbox if the
// mark has moved on) for which `match` is true, if any.
void flush_since(Self self, Ref mark, bool (*match)(void*, const Term&, std::size_t&), void* arg);
// The same after draining the inbox, without suspending: the message taken, if any.
std::optional<Term> take_since(Self self, Ref mark, bool (*match)(void*, const Term&, std::size_t&),
                               void* arg);
// demonitor(ref, [flush]) for a monitor made under the current receive mark.
void demonitor_flush(Self self, Ref ref);
Atom node_of(Pid pid);

}  // namespace ember::detail
