#include "ember/node/admin.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "ember/core/blocking.hpp"
#include "ember/core/errors.hpp"
#include "ember/node/global.hpp"
#include "ember/node/node.hpp"
#include "ember/node/process_groups.hpp"

namespace ember {

namespace {

Atom status_name(ProcessStatus s) {
  switch (s) {
    case ProcessStatus::kRunning:
      return Atom("running");
    case ProcessStatus::kRunnable:
      return Atom("runnable");
    case ProcessStatus::kWaiting:
      return Atom("waiting");
    case ProcessStatus::kExiting:
      return Atom("exiting");
  }
  return Atom("undefined");
}

Term name_or_undefined(const std::optional<Atom>& name) {
  return name ? Term(*name) : Term(atoms::undefined());
}

Term summary(Pid pid, const ProcessInfo& i) {
  return map({{"pid"_a, pid},
              {"name"_a, name_or_undefined(i.registered_name)},
              {"status"_a, status_name(i.status)},
              {"message_queue_len"_a, std::int64_t(i.message_queue_len)},
              {"reductions"_a, std::int64_t(i.reductions)},
              {"memory"_a, std::int64_t(i.memory)}});
}

Term details(Pid pid, const ProcessInfo& i) {
  std::vector<Term> monitors;
  for (Ref r : i.monitors) monitors.emplace_back(r);
  std::vector<std::pair<Term, Term>> entries{
      {"pid"_a, pid},
      {"name"_a, name_or_undefined(i.registered_name)},
      {"status"_a, status_name(i.status)},
      {"message_queue_len"_a, std::int64_t(i.message_queue_len)},
      {"reductions"_a, std::int64_t(i.reductions)},
      {"memory"_a, std::int64_t(i.memory)},
      {"links"_a, list_of(i.links)},
      {"monitors"_a, list_of(monitors)},
      {"monitored_by"_a, list_of(i.monitored_by)},
      {"trap_exit"_a, i.trap_exit}};
  if (i.tracer.valid()) entries.emplace_back("tracer"_a, i.tracer);  // Runtime::trace's
  return map(entries);
}

Term ps(Runtime& rt) {
  std::vector<Term> rows;
  for (Pid pid : rt.processes())
    if (auto i = rt.info(pid)) rows.push_back(summary(pid, *i));
  return list_of(rows);
}

Term registry(Runtime& rt) {
  std::vector<Term> rows;
  for (Atom name : rt.registered())
    if (auto pid = rt.whereis(name)) rows.push_back(tuple(name, *pid));
  return list_of(rows);
}

Term stats(Runtime& rt) {
  RuntimeStats s = rt.stats();
  std::vector<Term> queues;
  for (std::size_t q : s.run_queue_lengths) queues.emplace_back(std::int64_t(q));
  return map({{"processes"_a, std::int64_t(s.processes)},
              {"memory"_a, std::int64_t(s.memory)},
              {"run_queues"_a, list_of(queues)}});
}

// One map per connection that is up (Node::connection_stats); ages and uptime in ms.
Term connections(Node& node) {
  std::vector<Term> rows;
  for (const net::ConnectionStats& c : node.connection_stats()) {
    auto n = [](std::uint64_t v) { return Term(std::int64_t(v)); };
    Term tick = c.since_last_tick.count() < 0 ? Term(atoms::undefined())
                                              : Term(std::int64_t(c.since_last_tick.count()));
    rows.push_back(map({{"node"_a, Atom(c.peer)},
                        {"creation"_a, std::int64_t(c.creation)},
                        {"hidden"_a, c.hidden},
                        {"address"_a, std::string_view(c.address)},
                        {"up_since_ms"_a, c.up_since_unix_ms},
                        {"uptime_ms"_a, std::int64_t(c.uptime.count())},
                        {"bytes_in"_a, n(c.bytes_in)},
                        {"bytes_out"_a, n(c.bytes_out)},
                        {"frames_in"_a, n(c.frames_in)},
                        {"frames_out"_a, n(c.frames_out)},
                        {"messages_in"_a, n(c.messages_in)},
                        {"messages_out"_a, n(c.messages_out)},
                        {"queue_bytes"_a, n(c.queued_bytes)},
                        {"last_read_ms"_a, std::int64_t(c.since_last_read.count())},
                        {"last_tick_ms"_a, tick}}));
  }
  return list_of(rows);
}

Term global_names(Node& node) {
  std::vector<Term> rows;
  for (const auto& [name, pid] : node.global_names()) rows.push_back(tuple(name, pid));
  return list_of(rows);
}

bool request_is(const Term& m, const char* command, std::size_t size) {
  return m.is_tuple(size) && m[0].is(Atom(command)) && m[1].is_pid();
}

// {pg_join | pg_leave | pg_members | pg_local_members | pg_which_groups, From, Ref, Scope,
// ...}: pg's own calls, in its argument order, on this node's ProcessGroups. Only a pid of
// this node may join or leave (as in pg): the answer says so rather than crashing here.
std::optional<Term> answer_pg(Node& node, const Term& m) {
  if (!m.is_tuple() || m.size() < 4 || !m[3].is_atom()) return std::nullopt;
  ProcessGroups& groups = node.groups();
  Atom scope = m[3].as<Atom>();
  bool join = request_is(m, "pg_join", 6), leave = request_is(m, "pg_leave", 6);
  if ((join || leave) && m[5].is_pid()) {
    Pid pid = m[5].pid();
    if (pid.node() != node.runtime().node())
      return tuple("error"_a, tuple("badarg"_a, tuple("not_local"_a, pid)));
    if (join) {
      if (!node.runtime().alive(pid)) return tuple("error"_a, "noproc"_a);
      groups.join(scope, m[4], {pid});
      return Term("ok"_a);
    }
    return groups.leave(scope, m[4], {pid}) ? Term("ok"_a) : Term("not_joined"_a);
  }
  if (request_is(m, "pg_members", 5)) return list_of(groups.members(scope, m[4]));
  if (request_is(m, "pg_local_members", 5)) return list_of(groups.local_members(scope, m[4]));
  if (request_is(m, "pg_which_groups", 4)) return list_of(groups.which_groups(scope));
  return std::nullopt;
}

// {register_global, From, Ref, Name, Pid} and {unregister_global, From, Ref, Name}: they
// wait for the name's arbiter (a round trip, longer while a peer is slow to acknowledge,
// up to register_global's 5 s deadline), so each runs in a helper process of its own that
// answers From itself, and the admin loop goes on serving other requests meanwhile.
bool start_global_change(Self self, const Term& m) {
  bool reg = request_is(m, "register_global", 5) && m[3].is_atom() && m[4].is_pid();
  bool unreg = request_is(m, "unregister_global", 4) && m[3].is_atom();
  if (!reg && !unreg) return false;
  Pid from = m[1].pid(), pid = reg ? m[4].pid() : Pid();
  Term ref = m[2];
  Atom name = m[3].as<Atom>();
  self.spawn([reg, from, ref, name, pid](Self helper) -> Proc {
    GlobalResult r = reg ? co_await register_global(helper, name, pid)
                         : co_await unregister_global(helper, name);
    helper.send(from, tuple(ref, Atom(to_string(r))));
  });
  return true;
}

// {trace, From, Ref, Pid, Tracer, Ms}: Runtime::trace wants a tracer on the traced
// process's node, so a relay process here becomes Pid's tracer and forwards each
// {trace, Pid, 'receive', Msg} to Tracer (the CLI's pid, on a hidden node: dbg's relay on
// a remote node does the same). The relay ends, and untraces, after Ms, on
// {stop_trace, Tracer}, or when Tracer goes (its monitor fires on its death and on the
// connection's loss); it tells Tracer {trace_ended, Pid, Why} (timeout, or Pid's exit
// reason) when the trace ends by itself. It answers From {ok, Relay} or {error, Reason}
// itself, once the trace is set: messages sent to Pid after that answer are traced.
Proc trace_relay(Self self, Pid from, Term ref, Pid target, Pid tracer, std::int64_t ms) {
  static const Atom trace_tag("trace"), receive_tag("receive"), down("DOWN"), ended("trace_ended");
  Ref tracer_down = self.monitor(tracer);
  Ref target_down = self.monitor(target);
  if (!self.trace(target)) {
    self.send(from, tuple(ref, tuple("error"_a, "noproc"_a)));
    co_return;
  }
  self.send(from, tuple(ref, tuple("ok"_a, self.pid())));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto m =
        co_await self
            .receive(match(tuple(trace_tag, target, receive_tag, _)),
                     match(tuple(down, tracer_down, _, _, _)),
                     match(tuple(down, target_down, _, _, _)), match(tuple("stop_trace"_a, tracer)))
            .after(std::max(left, std::chrono::milliseconds(0)));
    if (m.timed_out()) {
      self.send(tracer, tuple(ended, target, "timeout"_a));
      break;
    }
    if (m.clause() == 0) {
      self.send(tracer, m.term());
      continue;
    }
    if (m.clause() == 2) {  // the traced process is gone, and its trace with it
      self.send(tracer, tuple(ended, target, m[4]));
      co_return;
    }
    break;  // the tracer went, or asked to stop
  }
  self.untrace(target);
}

bool start_trace(Self self, Node& node, const Term& m) {
  if (!request_is(m, "trace", 6) || !m[3].is_pid() || !m[4].is_pid() || !m[5].is_integer())
    return false;
  Pid from = m[1].pid(), target = m[3].pid(), tracer = m[4].pid();
  Term ref = m[2];
  std::int64_t ms = std::clamp<std::int64_t>(m[5].as<std::int64_t>(), 0, 24 * 3600 * 1000);
  if (target.node() != node.runtime().node()) {
    self.send(from, tuple(ref, tuple("error"_a, tuple("badarg"_a, tuple("not_local"_a, target)))));
    return true;
  }
  self.spawn([from, ref, target, tracer, ms](Self relay) {
    return trace_relay(relay, from, ref, target, tracer, ms);
  });
  return true;
}

// {bench_sink, From, Ref}: a process that counts whatever it receives until
// {bench_done, From, Sent}, then tells From {bench_result, Received} and ends (ember
// bench's throughput burst). It also ends when From goes, or after a minute of silence.
Proc bench_sink(Self self, Pid from) {
  static const Atom done("bench_done"), down("DOWN");
  Ref watch = self.monitor(from);
  std::int64_t received = 0;
  for (;;) {
    auto m = co_await self.receive().after(std::chrono::minutes(1));
    if (m.timed_out()) co_return;
    const Term& t = m.term();
    if (t.is_tuple(3) && t[0].is(done) && t[1].is_pid() && t[1].pid() == from) {
      self.send(from, tuple("bench_result"_a, received));
      co_return;
    }
    if (t.is_tuple(5) && t[0].is(down) && t[1].is_ref() && t[1].ref() == watch) co_return;
    ++received;
  }
}

bool start_bench_sink(Self self, const Term& m) {
  if (!request_is(m, "bench_sink", 3)) return false;
  Pid from = m[1].pid();
  Pid sink = self.spawn([from](Self s) { return bench_sink(s, from); });
  self.send(from, tuple(m[2], tuple("ok"_a, sink)));
  return true;
}

// Answers one request; the slow ones (connect) run on the blocking pool.
Co<Term> answer(Self self, Node& node, Term m) {
  Runtime& rt = node.runtime();
  if (request_is(m, "ping", 3)) co_return Term("pong"_a);
  if (request_is(m, "nodes", 3)) co_return list_of(node.nodes());
  if (request_is(m, "connections", 3)) co_return connections(node);
  if (request_is(m, "ps", 3)) co_return ps(rt);
  if (request_is(m, "registry", 3)) co_return registry(rt);
  if (request_is(m, "stats", 3)) co_return stats(rt);
  if (request_is(m, "info", 4) && m[3].is_pid()) {
    auto i = rt.info(m[3].pid());
    co_return i ? details(m[3].pid(), *i) : Term(atoms::undefined());
  }
  if (request_is(m, "connect", 4) && m[3].is_atom()) {
    Atom target = m[3].as<Atom>();
    bool up = co_await blocking(self, [&node, target] { return node.connect(target); });
    co_return Term(up);
  }
  if (request_is(m, "disconnect", 4) && m[3].is_atom()) {
    node.disconnect(m[3].as<Atom>());
    co_return Term(true);
  }
  if (request_is(m, "kill", 5) && m[3].is_pid()) {
    self.exit(m[3].pid(), m[4]);
    co_return Term(true);
  }
  if (request_is(m, "global_names", 3)) co_return global_names(node);
  if (request_is(m, "whereis_global", 4) && m[3].is_atom()) {
    auto pid = node.whereis_global(m[3].as<Atom>());
    co_return pid ? Term(*pid) : Term(atoms::undefined());
  }
  if (request_is(m, "send_global", 5) && m[3].is_atom()) {
    try {
      co_return Term(send_global(self, m[3].as<Atom>(), m[4]));
    } catch (const ErlangError& e) {
      co_return tuple("error"_a, e.reason());
    }
  }
  if (request_is(m, "global_digest", 3))  // the 64 bits as a signed integer
    co_return Term(static_cast<std::int64_t>(node.global_digest()));
  if (auto pg = answer_pg(node, m)) co_return std::move(*pg);
  if (request_is(m, "block", 4) && m[3].is_atom()) {
    node.block(m[3].as<Atom>());
    co_return Term(true);
  }
  if (request_is(m, "unblock", 4) && m[3].is_atom()) {
    node.unblock(m[3].as<Atom>());
    co_return Term(true);
  }
  if (request_is(m, "spawn", 5) && m[3].is_binary()) {
    try {
      auto s = co_await spawn_remote(self, node.name(), m[3].as<std::string>(), m[4]);
      co_return tuple("ok"_a, s.pid);
    } catch (const ErlangError& e) {
      co_return tuple("error"_a, e.reason());
    }
  }
  co_return tuple("error"_a, tuple("unknown_request"_a, m));
}

Proc admin_loop(Self self, Node* node) {
  for (;;) {
    auto m = co_await self.receive();
    const Term& t = m.term();
    if (!t.is_tuple() || t.size() < 3 || !t[1].is_pid()) {
      spdlog::warn("ember_admin: ignoring a malformed request");
      continue;
    }
    if (start_global_change(self, t)) continue;
    if (start_trace(self, *node, t)) continue;
    if (start_bench_sink(self, t)) continue;
    Term result = co_await answer(self, *node, t);
    self.send(t[1].pid(), tuple(t[2], result));
  }
}

}  // namespace

Pid start_admin(Node& node) {
  Node* n = &node;
  Pid pid = node.runtime().spawn([n](Self self) { return admin_loop(self, n); });
  node.runtime().register_name(admin_name(), pid);
  return pid;
}

}  // namespace ember
