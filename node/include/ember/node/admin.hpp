// The admin service every Node runs, registered as `ember_admin`: what the `ember` CLI
// (and any process) asks a node about itself. Like Erlang's rpc and net_kernel, it is
// there on every node, so a tool can attach to any member of a cluster.
//
// Requests are {Command, From, Ref, Args...}; the answer is From ! {Ref, Result}:
//   {ping, From, Ref}                        -> pong
//   {nodes, From, Ref}                       -> [Node]            (visible, connected)
//   {connections, From, Ref}                 -> [#{node, creation, hidden, address,
//                                                  up_since_ms (Unix time), uptime_ms,
//                                                  bytes_in, bytes_out, frames_in,
//                                                  frames_out, messages_in, messages_out,
//                                                  queue_bytes, last_read_ms,
//                                                  last_tick_ms | undefined}]
//                                               (every connection up, hidden ones too;
//                                                the *_ms of last_* are ages)
//   {ps, From, Ref}                          -> [#{pid, name, status, message_queue_len,
//                                                  reductions, memory}]
//   {info, From, Ref, Pid}                   -> #{...} | undefined (links, monitors, ...)
//   {registry, From, Ref}                    -> [{Name, Pid}]     (local names)
//   {connect, From, Ref, Node}               -> true | false
//   {disconnect, From, Ref, Node}            -> true
//   {kill, From, Ref, Pid, Reason}           -> true              (exit(Pid, Reason))
//   {spawn, From, Ref, Function, Args}       -> {ok, Pid} | {error, Reason}
//   {stats, From, Ref}                       -> #{processes, memory, run_queues}
// The global registry as this node sees it (global.hpp); register and unregister answer
// once the change is committed everywhere, without holding up other requests:
//   {global_names, From, Ref}                -> [{Name, Pid}]     (sorted by name)
//   {whereis_global, From, Ref, Name}        -> Pid | undefined
//   {register_global, From, Ref, Name, Pid}  -> yes | no | timeout
//   {unregister_global, From, Ref, Name}     -> yes | no | timeout
//   {send_global, From, Ref, Name, Msg}      -> Pid | {error, {badarg, {Name, Msg}}}
//   {global_digest, From, Ref}               -> integer (Node::global_digest's 64 bits,
//                                               as a signed integer)
// Process groups (process_groups.hpp) as this node sees them; Scope is an atom (pg's
// default scope is `pg`), Group any term. Only this node's pids may join or leave here:
//   {pg_join, From, Ref, Scope, Group, Pid}  -> ok | {error, noproc}
//                                               | {error, {badarg, {not_local, Pid}}}
//   {pg_leave, From, Ref, Scope, Group, Pid} -> ok | not_joined | {error, {badarg, ...}}
//   {pg_members, From, Ref, Scope, Group}    -> [Pid]   (every node's; repeats kept)
//   {pg_local_members, From, Ref, Scope, Group} -> [Pid]
//   {pg_which_groups, From, Ref, Scope}      -> [Group]
// Fault injection (Node::block): cut this node off from Node, or mend the cut:
//   {block, From, Ref, Node}                 -> true
//   {unblock, From, Ref, Node}               -> true
// Tracing (Runtime::trace) through a relay process on this node, which forwards each
// {trace, Pid, 'receive', Msg} to Tracer until Ms pass, {stop_trace, Tracer} reaches the
// relay, or Tracer goes; {trace_ended, Pid, timeout | ExitReason} tells Tracer it ended:
//   {trace, From, Ref, Pid, Tracer, Ms}      -> {ok, Relay} | {error, noproc}
//                                               | {error, {badarg, {not_local, Pid}}}
// ember bench's sink: a process that counts the messages it gets until
// {bench_done, From, Sent}, answers From {bench_result, Received} and ends:
//   {bench_sink, From, Ref}                  -> {ok, Sink}
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
