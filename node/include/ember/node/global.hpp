// The global name registry (Erlang's `global`): a name for a pid, known to every connected
// node. Lookups are local; a change is decided by the name's arbiter node and returns once
// every connected node holds it, so a name registered here can be used at once anywhere.
//
//   co_await register_global(self, "db"_a, self.pid())   -> GlobalResult::kYes
//   whereis_global(self, "db"_a)                          -> the pid, from any node
//   send_global(self, "db"_a, msg)
//
// A name goes when its process dies or its node is lost. Names registered on both sides
// of a partition meet when it heals; one pid keeps the name and the other gets the exit
// signal {global_name_conflict, Name} (see GlobalResolver).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "ember/core/co.hpp"
#include "ember/core/self.hpp"

namespace ember {

enum class GlobalResult {
  kYes,      // done: every connected node has the change
  kNo,       // the name belongs to another pid (register), or to nobody (unregister)
  kTimeout,  // not confirmed within the deadline; whereis_global shows what happened
};
const char* to_string(GlobalResult r);  // "yes", "no", "timeout"

// Picks which of two pids that registered one name on the two sides of a partition keeps
// it, or Pid() to drop the name; a pid not picked gets the exit signal
// {global_name_conflict, Name}. It runs on every node, so it must depend only on its
// arguments, and it must not call into the registry. `first` is the older registration;
// the default resolver keeps it.
using GlobalResolver = std::function<Pid(Atom name, Pid first, Pid second)>;

// From a process on a Node. A pid may hold several names; registering a name it already
// holds is kYes.
Co<GlobalResult> register_global(Self self, Atom name, Pid pid,
                                 std::chrono::milliseconds deadline = std::chrono::seconds(5));
Co<GlobalResult> unregister_global(Self self, Atom name,
                                   std::chrono::milliseconds deadline = std::chrono::seconds(5));
std::optional<Pid> whereis_global(Self self, Atom name);
// Throws ErlangError {badarg, {Name, Message}} when the name is not registered, as
// global:send/2 exits.
Pid send_global(Self self, Atom name, Term message);
std::vector<std::pair<Atom, Pid>> global_names(Self self);

}  // namespace ember
