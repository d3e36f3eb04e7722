// GenServer: the server loop (init, dispatch, terminate) and the client calls.
#include "ember/core/gen_server.hpp"

#include <spdlog/spdlog.h>

#include "ember/core/errors.hpp"
#include "ember/core/term_text.hpp"
#include "gen_server_internal.hpp"
#include "runtime_impl.hpp"

namespace ember {

namespace detail {

const GenAtoms& gen_atoms() {
  static const GenAtoms a{Atom("$gen_call"),
                          Atom("$gen_cast"),
                          Atom("system"),
                          Atom("DOWN"),
                          Atom("EXIT"),
                          Atom("nodedown"),
                          Atom("noproc"),
                          Atom("noconnection"),
                          Atom("timeout"),
                          Atom("gen_server"),
                          Atom("call"),
                          Atom("terminate"),
                          Atom("shutdown"),
                          Atom("kill"),
                          Atom("killed"),
                          Atom("bad_call"),
                          Atom("bad_cast"),
                          Atom("bad_return_value"),
                          Atom("already_started"),
                          Atom("calling_self"),
                          Atom("infinity"),
                          Atom("unknown_system_msg"),
                          Atom("bad_continue")};
  return a;
}

Term exit_reason_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ProcessExit& x) {
    return x.reason;
  } catch (const ErlangError& x) {
    return x.reason();
  } catch (const std::exception& x) {
    return tuple(Atom("exception"), std::string_view(x.what()));
  } catch (...) {
    return tuple(Atom("exception"), "unknown exception");
  }
}

bool is_normal_exit(const Term& reason) {
  const GenAtoms& a = gen_atoms();
  return reason.is(atoms::normal()) || reason.is(a.shutdown) ||
         (reason.is_tuple(2) && reason[0].is(a.shutdown));
}

void flush_since(Self self, Ref mark, bool (*match)(void*, const Term&, std::size_t&), void* arg) {
  Process* p = self.process();
  PendingReceive pending;
  pending.match = match;
  pending.self = arg;
  // Whatever matches arrived after `mark` was made; without the mark, look everywhere.
  pending.cursor = p->mark && p->mark_ref == mark ? p->mark : &p->saved_head;
  self.runtime().impl().scan(p, pending);
}

std::optional<Term> take_since(Self self, Ref mark, bool (*match)(void*, const Term&, std::size_t&),
                               void* arg) {
  Process* p = self.process();
  RuntimeImpl& rt = self.runtime().impl();
  rt.drain(p);  // what is still in the inbox (an exit signal acts at the next receive)
  PendingReceive pending;
  pending.match = match;
  pending.self = arg;
  pending.cursor = p->mark && p->mark_ref == mark ? p->mark : &p->saved_head;
  if (!rt.scan(p, pending)) return std::nullopt;
  return std::move(pending.message);
}

namespace {
bool is_down_for(void* arg, const Term& m, std::size_t& clause) {
  clause = 0;
  return m.is_tuple(5) && m[0].is(gen_atoms().down) && m[1].is_ref() &&
         m[1].ref() == *static_cast<Ref*>(arg);
}
}  // namespace

void demonitor_flush(Self self, Ref ref) {
  // A DOWN still in the inbox is dropped when it is drained (the monitor is gone); one
  // already in the saved queue lies after the mark, so only that part is looked at.
  self.demonitor(ref, false);
  flush_since(self, ref, is_down_for, &ref);
}

Atom node_of(Pid pid) {
  return NodeTable::identity(pid.node()).name;
}

}  // namespace detail

using detail::gen_atoms;
using detail::GenAtoms;

// ---------------------------------------------------------------------------------------
// Small types

Term From::term() const {
  return tuple(pid, ref);
}

Server Server::resolved(Pid pid, Term label) {
  Server s(pid);
  s.label_.emplace(std::move(label));
  return s;
}

Term Server::term() const {
  if (label_) return *label_;
  switch (kind_) {
    case Kind::kPid:
      return pid_;
    case Kind::kName:
      return name_;
    case Kind::kRemote:
      break;
  }
  return tuple(name_, node_);
}

Term CallResult::term() const {
  return tuple(ok_ ? atoms::ok() : atoms::error(), term_);
}

Term StartResult::term() const {
  switch (kind_) {
    case Kind::kOk:
      return tuple(atoms::ok(), pid_);
    case Kind::kError:
      return tuple(atoms::error(), reason_);
    case Kind::kIgnore:
      break;
  }
  return Atom("ignore");
}

// ---------------------------------------------------------------------------------------
// Callback defaults and results

Co<GenServer::Result> GenServer::init(Self) {
  return ok();
}
Co<GenServer::Result> GenServer::handle_call(Self, Term request, From) {
  return stop(tuple(gen_atoms().bad_call, request));
}
Co<GenServer::Result> GenServer::handle_cast(Self, Term message) {
  return stop(tuple(gen_atoms().bad_cast, message));
}
Co<GenServer::Result> GenServer::handle_info(Self, Term) {
  return noreply();
}
Co<GenServer::Result> GenServer::handle_continue(Self, Term continuation) {
  return stop(tuple(gen_atoms().bad_continue, continuation));
}
Co<> GenServer::terminate(Self, Term) {
  return Co<>::done();
}

GenServer::Result GenServer::reply(Term value) {
  Result r = make(Result::Kind::kReply);
  r.has_reply_ = true;
  r.reply_ = std::move(value);
  return r;
}
GenServer::Result GenServer::stop(Term reason) {
  Result r = make(Result::Kind::kStop);
  r.reason_ = std::move(reason);
  return r;
}
GenServer::Result GenServer::stop(Term reason, Term reply) {
  Result r = stop(std::move(reason));
  r.has_reply_ = true;
  r.reply_ = std::move(reply);
  return r;
}
Sent GenServer::reply(Self self, const From& from, Term value) {
  return gen_server::reply(self, from, std::move(value));
}

// ---------------------------------------------------------------------------------------
// The server process

namespace detail {

namespace {

using Kind = GenServer::Result::Kind;

// What a message is to the server loop: {'$gen_call', From, Req}, {'$gen_cast', Msg},
// {system, From, Req}, or anything else (info). Each element is looked at once.
struct Envelope {
  enum class Kind { kInfo, kCall, kCast, kSystem } kind = Kind::kInfo;
  From from;
  Term body;
};

Envelope open_envelope(const Term& t) {
  const GenAtoms& a = gen_atoms();
  Envelope e;
  if (!t.is_tuple()) return e;
  std::size_t n = t.size();
  if (n != 2 && n != 3) return e;
  Term head = t[0];
  if (n == 2) {
    if (head.is(a.gen_cast)) e.kind = Envelope::Kind::kCast, e.body = t[1];
    return e;
  }
  bool call = head.is(a.gen_call);
  if (!call && !head.is(a.system)) return e;
  Term from = t[1];
  if (!from.is_tuple(2)) return e;
  Term pid = from[0], ref = from[1];
  if (!pid.is_pid() || !ref.is_ref()) return e;
  e.kind = call ? Envelope::Kind::kCall : Envelope::Kind::kSystem;
  e.from = From{pid.pid(), ref.ref()};
  e.body = t[2];
  return e;
}

void log_termination(Self self, const Term& reason) {
  if (is_normal_exit(reason)) return;
  spdlog::error("gen_server {} terminating: {}", print_term(Term(self.pid())), print_term(reason));
}

// The failure path of init: the starter learns why and is unlinked first, so that a
// start_link caller gets the answer without an exit signal; the name goes before it hears.
[[noreturn]] void fail_init(Self self, const ServerStart& s, Term answer, Term reason) {
  if (s.name) self.runtime().unregister_name(*s.name);
  if (s.linked) self.unlink(s.starter);
  self.send(s.starter, tuple(s.tag, std::move(answer)));
  self.exit(std::move(reason));
}

}  // namespace

Proc server_main(Self self, std::unique_ptr<GenServer> server, ServerStart start) {
  const GenAtoms& a = gen_atoms();
  const Pid parent = start.linked ? start.starter : self.pid();

  if (start.name) {
    bool registered = false;
    if (!self.whereis(*start.name)) {
      try {
        self.register_name(*start.name);
        registered = true;
      } catch (const ErlangError&) {  // someone else took it meanwhile
      }
    }
    if (!registered) {
      Term holder = Term(self.whereis(*start.name).value_or(Pid()));
      ServerStart unnamed = start;
      unnamed.name.reset();
      fail_init(self, unnamed, tuple(atoms::error(), tuple(a.already_started, holder)),
                atoms::normal());
    }
  }

  GenServer::Result result;
  std::exception_ptr crash;
  try {
    result = co_await server->init(self);
  } catch (...) {
    crash = std::current_exception();
  }
  if (crash) {
    Term reason = exit_reason_of(crash);
    fail_init(self, start, tuple(atoms::error(), reason), reason);
  }
  switch (result.kind()) {
    case Kind::kOk:
      break;
    case Kind::kStop:
      fail_init(self, start, tuple(atoms::error(), result.reason()), result.reason());
    case Kind::kIgnore:
      fail_init(self, start, Atom("ignore"), atoms::normal());
    default: {
      Term reason = tuple(a.bad_return_value, Atom("init"));
      fail_init(self, start, tuple(atoms::error(), reason), reason);
    }
  }
  self.send(start.starter, tuple(start.tag, tuple(atoms::ok(), self.pid())));

  std::optional<milliseconds> timeout = result.timeout();
  std::optional<Term> continuation = result.continuation();
  std::optional<From> caller;  // the call being handled, for its reply
  std::optional<Term> stop_reason;

  for (;;) {
    caller.reset();
    try {
      if (continuation) {
        Term c = std::move(*continuation);
        continuation.reset();
        result = co_await server->handle_continue(self, std::move(c));
      } else {
        // (Not a ?: with a co_await in each arm: g++ 12 destroys such temporaries twice.)
        auto rcv = self.receive();
        if (timeout) rcv.after(*timeout);
        Message m = co_await rcv;
        const Term& t = m.term();
        Envelope e = m.timed_out() ? Envelope() : open_envelope(t);
        if (m.timed_out()) {
          result = co_await server->handle_info(self, a.timeout);
        } else if (e.kind == Envelope::Kind::kCall) {
          caller = e.from;
          result = co_await server->handle_call(self, std::move(e.body), e.from);
        } else if (e.kind == Envelope::Kind::kCast) {
          result = co_await server->handle_cast(self, std::move(e.body));
        } else if (e.kind == Envelope::Kind::kSystem) {
          const Term& request = e.body;
          if (request.is_tuple(2) && request[0].is(a.terminate)) {
            stop_reason = request[1];  // sys:terminate: no reply, the DOWN answers
          } else {
            gen_server::reply(self, e.from,
                              tuple(atoms::error(), tuple(a.unknown_system_msg, request)));
            result = GenServer::Result();  // noreply
          }
        } else if (t.is_tuple(3) && t[0].is(a.exit) && t[1].is_pid() && t[1].pid() == parent &&
                   self.process()->trap_exit) {
          stop_reason = t[2];  // the parent is going: so are we, through terminate
        } else {
          result = co_await server->handle_info(self, t);
        }
      }
    } catch (...) {
      stop_reason = exit_reason_of(std::current_exception());
    }
    if (!stop_reason) {
      switch (result.kind()) {
        case Kind::kReply:
          if (caller) {
            gen_server::reply(self, *caller, result.reply());
          } else {
            stop_reason = tuple(a.bad_return_value, tuple(Atom("reply"), result.reply()));
          }
          break;
        case Kind::kNoReply:
          break;
        case Kind::kStop:
          stop_reason = result.reason();
          break;
        default:
          stop_reason =
              tuple(a.bad_return_value, Atom(result.kind() == Kind::kOk ? "ok" : "ignore"));
      }
    }
    if (stop_reason) break;
    timeout = result.timeout();
    continuation = result.continuation();
  }

  // terminate, then the reply of {stop, Reason, Reply, State} (OTP replies after it), then
  // exit with the reason (or with terminate's own crash).
  Term reason = *stop_reason;
  try {
    co_await server->terminate(self, reason);
  } catch (...) {
    reason = exit_reason_of(std::current_exception());
  }
  if (caller && result.kind() == Kind::kStop && result.has_reply())
    gen_server::reply(self, *caller, result.reply());
  log_termination(self, reason);
  self.exit(reason);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Client side

namespace gen_server {

namespace {

struct TaggedBy {  // {Ref, _}
  Ref ref;
  bool operator()(const Term& m) const {
    if (!m.is_tuple(2)) return false;
    Term tag = m[0];  // (one element access: each is a call and, for a ref, a refcount)
    return tag.is_ref() && tag.ref() == ref;
  }
};
struct DownOf {  // {'DOWN', Ref, _, _, _}
  Ref ref;
  bool operator()(const Term& m) const {
    if (!m.is_tuple(5) || !m[0].is(gen_atoms().down)) return false;
    Term tag = m[1];
    return tag.is_ref() && tag.ref() == ref;
  }
};

bool tagged_by(void* arg, const Term& m, std::size_t& clause) {
  clause = 0;
  return TaggedBy{*static_cast<Ref*>(arg)}(m);
}

Term timeout_term(milliseconds t) {
  if (t == infinity) return gen_atoms().infinity;
  return Term(std::int64_t(t.count()));
}

// A DOWN's reason as gen:do_call reports it.
Term down_reason(const Term& reason, Atom node) {
  if (reason.is(gen_atoms().noconnection)) return tuple(gen_atoms().nodedown, node);
  return reason;
}

bool is_local_node(Self self, Atom node) {
  return node == NodeTable::identity(self.runtime().node()).name;
}

// Where a server is, for a call, cast or stop on this node or by pid: nullopt when a
// local name is not registered; a remote name stays a name.
std::optional<Pid> local_target(Self self, const Server& s) {
  switch (s.kind()) {
    case Server::Kind::kPid:
      return s.pid();
    case Server::Kind::kName:
      return self.whereis(s.name());
    case Server::Kind::kRemote:
      break;
  }
  return self.whereis(s.name());
}

bool by_remote_name(Self self, const Server& s) {
  return s.kind() == Server::Kind::kRemote && !is_local_node(self, s.remote().node);
}

template <class Rcv>
void set_timeout(Rcv& rcv, milliseconds timeout) {
  if (timeout != infinity) rcv.after(timeout);
}

// What a call's receive ended with, as gen:do_call reports it: the reply, a reply that
// came with the timer (OTP 24 looks once more too), the DOWN's reason ({nodedown, Node}
// for noconnection) or timeout.
CallResult call_outcome(Self self, const Message& m, Ref ref, Atom node) {
  const GenAtoms& a = gen_atoms();
  if (!m.timed_out() && m.clause() == 1) return CallResult::error(down_reason(m[4], node));
  detail::demonitor_flush(self, ref);
  if (!m.timed_out()) return CallResult::reply(m[1]);
  std::optional<Term> late = detail::take_since(self, ref, tagged_by, &ref);
  return late ? CallResult::reply((*late)[1]) : CallResult::error(a.timeout);
}

// The call to a name on another node: the name is monitored there, so a name nothing
// holds fails at once with noproc and a lost node with {nodedown, Node}.
Co<CallResult> call_remote_name(Self self, RemoteName to, Term request, milliseconds timeout) {
  Ref ref = self.make_ref();
  self.monitor(to, ref);
  self.send(to, tuple(gen_atoms().gen_call, tuple(self.pid(), ref), std::move(request)));
  auto rcv = self.receive(TaggedBy{ref}, DownOf{ref}).since(ref);
  set_timeout(rcv, timeout);
  Message m = co_await rcv;
  co_return call_outcome(self, m, ref, to.node);
}

[[noreturn]] void call_failed(const Server& server, const Term& request, milliseconds timeout,
                              const Term& reason) {
  const GenAtoms& a = gen_atoms();
  throw ErlangError(tuple(
      reason, tuple(a.gen_server, a.call, list(server.term(), request, timeout_term(timeout)))));
}

}  // namespace

namespace {

template <bool kThrows>
using CallOut = std::conditional_t<kThrows, Term, CallResult>;

// call and try_call, in one coroutine frame for the usual case (a pid or a local name):
// monitor the server under a fresh ref (the receive mark), send, then the reply or the
// DOWN, looking only at what arrived since the mark.
template <bool kThrows>
Co<CallOut<kThrows>> do_call(Self self, Server server, Term request, milliseconds timeout) {
  const GenAtoms& a = gen_atoms();
  CallResult result = CallResult::error(a.noproc);
  std::optional<Pid> pid;
  if (by_remote_name(self, server)) {
    result = co_await call_remote_name(self, server.remote(), request, timeout);
  } else if ((pid = local_target(self, server)) && *pid == self.pid()) {
    result = CallResult::error(a.calling_self);
  } else if (pid) {
    Ref ref = self.make_ref();
    self.monitor(*pid, ref);
    self.send(*pid, tuple(a.gen_call, tuple(self.pid(), ref), request));
    auto rcv = self.receive(TaggedBy{ref}, DownOf{ref}).since(ref);
    set_timeout(rcv, timeout);
    Message m = co_await rcv;
    result = call_outcome(self, m, ref, detail::node_of(*pid));
  }
  if constexpr (kThrows) {
    if (!result.ok()) call_failed(server, request, timeout, result.reason());
    co_return result.value();
  } else {
    co_return result;
  }
}

}  // namespace

Co<CallResult> try_call(Self self, Server server, Term request, milliseconds timeout) {
  return do_call<false>(self, std::move(server), std::move(request), timeout);
}

Co<Term> call(Self self, Server server, Term request, milliseconds timeout) {
  return do_call<true>(self, std::move(server), std::move(request), timeout);
}

void cast(Self self, Server server, Term message) {
  Term m = tuple(gen_atoms().gen_cast, std::move(message));
  if (by_remote_name(self, server)) {
    self.send(server.remote(), std::move(m));
  } else if (std::optional<Pid> pid = local_target(self, server)) {
    self.send(*pid, std::move(m));
  }
}

Sent reply(Self self, const From& from, Term value) {
  return self.send(from.pid, tuple(from.ref, std::move(value)));
}

Co<> stop(Self self, Server server, Term reason, milliseconds timeout) {
  // proc_lib:stop: monitor the server (a name elsewhere by name), ask it to terminate,
  // wait for its DOWN; noproc and a lost node come as that DOWN too.
  const GenAtoms& a = gen_atoms();
  Ref ref = self.make_ref();
  Term request = tuple(a.system, tuple(self.pid(), ref), tuple(a.terminate, reason));
  Atom node;
  if (by_remote_name(self, server)) {
    node = server.remote().node;
    self.monitor(server.remote(), ref);
    self.send(server.remote(), std::move(request));
  } else {
    std::optional<Pid> pid = local_target(self, server);
    if (!pid) throw ErlangError(a.noproc);
    node = detail::node_of(*pid);
    self.monitor(*pid, ref);
    self.send(*pid, std::move(request));
  }
  auto rcv = self.receive(DownOf{ref}).since(ref);
  set_timeout(rcv, timeout);
  Message m = co_await rcv;
  if (m.timed_out()) {
    detail::demonitor_flush(self, ref);
    throw ErlangError(a.timeout);
  }
  Term why = down_reason(m[4], node);
  if (why != reason) throw ErlangError(why);
}

namespace {

// gen:start: spawn, monitor, wait for init's answer or the DOWN.
Co<StartResult> start_server(Self self, std::unique_ptr<GenServer> server, StartOptions options,
                             bool link) {
  const GenAtoms& a = gen_atoms();
  detail::ServerStart s{self.pid(), self.make_ref(), options.name, link};
  Ref ref = s.tag;
  auto body = [server = std::move(server), s](Self child) mutable -> Proc {
    return detail::server_main(child, std::move(server), s);
  };
  Pid pid = link ? self.spawn_link(std::move(body)) : self.spawn(std::move(body));
  self.monitor(pid, ref);
  auto rcv = self.receive(TaggedBy{ref}, DownOf{ref}).since(ref);
  set_timeout(rcv, options.timeout);
  Message m = co_await rcv;
  if (m.timed_out()) {
    // proc_lib: the starter gives up, kills the server and forgets its link.
    if (link) self.unlink(pid);
    self.exit(pid, a.kill);
    co_await self.receive(DownOf{ref}).since(ref);
    co_return StartResult::error(a.timeout);
  }
  if (m.clause() == 1) co_return StartResult::error(m[4]);  // died before it could answer
  Term answer = m[1];
  if (answer.is_tuple(2) && answer[0].is(atoms::ok())) {
    detail::demonitor_flush(self, ref);
    co_return StartResult::ok(pid);
  }
  co_await self.receive(DownOf{ref}).since(ref);  // it is exiting: wait until it has
  if (answer.is_tuple(2)) co_return StartResult::error(answer[1]);
  co_return StartResult::ignore();
}

}  // namespace

Co<StartResult> start(Self self, std::unique_ptr<GenServer> server, StartOptions options) {
  return start_server(self, std::move(server), std::move(options), false);
}

Co<StartResult> start_link(Self self, std::unique_ptr<GenServer> server, StartOptions options) {
  return start_server(self, std::move(server), std::move(options), true);
}

}  // namespace gen_server
}  // namespace ember
