// The admin service every Node runs, registered as `ember_admin`: what the `ember` CLI
// (and any process) asks a node about itself. Like Erlang's rpc and net_kernel, it is
// there on every node, so a tool can attach to any member of a cluster.
//
// Requests are {Command, From, Ref, Args...}; the answer is From ! {Ref, Result}:
//   {ping, From, Ref}                        -> pong
//   {nodes, From, Ref}                       -> [Node]            (visible, connected)
//   {ps, From, Ref}                          -> [#{pid, name, status, message_queue_len,
//                                                  reductions, memory}]
//   {info, From, Ref, Pid}                   -> #{...} | undefined (links, monitors, ...)
//   {registry, From, Ref}                    -> [{Name, Pid}]     (local names)
//   {connect, From, Ref, Node}               -> true | false
//   {disconnect, From, Ref, Node}            -> true
//   {kill, From, Ref, Pid, Reason}           -> true              (exit(Pid, Reason))
//   {spawn, From, Ref, Function, Args}       -> {ok, Pid} | {error, Reason}
//   {stats, From, Ref}                       -> #{processes, memory, run_queues}
// Anything else gets {error, {unknown_request, Term}}.
#pragma once

#include "ember/core/atom.hpp"
#include "ember/core/pid.hpp"

namespace ember {

class Node;

inline const Atom& admin_name() {
  static const Atom a("ember_admin");
  return a;
}

// Spawns the service on `node` and registers it; Node's constructor calls it.
Pid start_admin(Node& node);

}  // namespace ember
