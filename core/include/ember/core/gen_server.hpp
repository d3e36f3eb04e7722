// GenServer: Erlang's gen_server (Elixir's GenServer) as a C++ class.
//
// A server is a process that runs an object's callbacks one message at a time; the object
// is the state (gen_server's State argument and the State in every return tuple). Each
// callback returns Co<Result>: a coroutine that may co_await (a receive, another call), or,
// when it has nothing to wait for, a plain `return reply(x);` that costs no allocation.
//
//   class Counter : public GenServer {
//     std::int64_t n_ = 0;
//     Co<Result> handle_call(Self, Term request, From) override {
//       if (request.is("get"_a)) return reply(n_);
//       return reply(++n_);
//     }
//     Co<Result> handle_cast(Self, Term) override { ++n_; return noreply(); }
//   };
//   auto started = co_await gen_server::start_link(self, std::make_unique<Counter>());
//   Term n = co_await gen_server::call(self, started.pid(), "inc"_a);
//
// The protocol is OTP's, so the tags below are what an Erlang user would see in a mailbox:
//   call:   {'$gen_call', {From, Ref}, Request}  ->  {Ref, Reply}
//   cast:   {'$gen_cast', Message}
//   stop:   {system, {From, Ref}, {terminate, Reason}} (sys:terminate), then the DOWN
// A call monitors the server under a ref made just before (make_ref), sends, and receives
// `{Ref, Reply}` or that monitor's DOWN with receive(...).since(ref), so a long mailbox is
// not rescanned (the BEAM's receive mark). A server on another node is called the same
// way: the monitor crosses the connection, and a lost node answers DOWN noconnection at
// once (within the tick bound when the node freezes), not at the call's timeout.
//
// Choices, where OTP leaves room or C++ forces one (docs/ARCHITECTURE.md has the list):
// - call's failures exit the caller as OTP's gen_server:call does: ErlangError with reason
//   {Reason, {gen_server, call, [Server, Request, Timeout]}}, where Reason is timeout,
//   noproc, {nodedown, Node} (a DOWN noconnection, as gen:do_call maps it), calling_self,
//   or the server's exit reason. try_call returns Reason instead (opt-in, as the issue asks;
//   Elixir has no such call).
// - OTP 24 tags calls with an alias so that a reply after a timeout is dropped; Ember has no
//   aliases, so a caller that catches a timeout may later find a stray {Ref, Reply} (OTP
//   before 24). As OTP 24 does, call looks once more for the reply when the timer fires.
// - {Name, Node} with Node another node: a name on another node cannot be monitored here,
//   so the call watches the node instead (monitor_node, as gen.erl does for nodes without
//   monitors): a lost node is {nodedown, Node} at once, but an unregistered name there is a
//   timeout rather than noproc.
// - init failing ({stop, R}, ignore, an exception) answers the starter and unlinks it before
//   exiting, so a start_link caller gets {error, R} / ignore and no exit signal (OTP 26's
//   proc_lib:init_fail; OTP 25 also sent the EXIT). start returns only once such a server
//   has exited, so its name is free.
// - Exceptions in callbacks are crashes: terminate runs with the exception's reason
//   ({exception, What} for a std::exception, the reason of an ErlangError or exit) and the
//   server exits with it. A `kill` never runs terminate (as in OTP).
// - With trap_exit on, an exit signal from the parent (the start_link caller) runs
//   terminate(Reason) and exits with Reason, as gen_server does; others go to handle_info.
// - Unhandled calls and casts stop the server with {bad_call, Req} / {bad_cast, Msg}
//   (Elixir raises); unhandled info is dropped (OTP logs it). hibernate, sys's debug
//   and get_state are not offered: the state is a C++ object, not a term.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "ember/core/co.hpp"
#include "ember/core/runtime.hpp"
#include "ember/core/start_result.hpp"

namespace ember {

// gen_server's From ({Pid, Ref}): who called and the tag the reply carries. Keep it to
// answer later with gen_server::reply, from this process or any other.
struct From {
  Pid pid;
  Ref ref;
  Term term() const;  // {Pid, Ref}
};

// Where a call, cast or stop goes: a pid (of any node), a local name, or {Name, Node}.
class Server {
 public:
  enum class Kind { kPid, kName, kRemote };
  Server(Pid pid) : kind_(Kind::kPid), pid_(pid) {}
  Server(Atom name) : kind_(Kind::kName), name_(name) {}
  Server(RemoteName name) : kind_(Kind::kRemote), name_(name.name), node_(name.node) {}
  // A server found some other way (the node layer's {global, Name}): messages go to `pid`,
  // and failures name it as `label`.
  static Server resolved(Pid pid, Term label);

  Kind kind() const { return kind_; }
  Pid pid() const { return pid_; }
  Atom name() const { return name_; }
  RemoteName remote() const { return {name_, node_}; }
  // As OTP's exit reasons show it: Pid, Name, {Name, Node}, or the label.
  Term term() const;

 private:
  Kind kind_;
  Pid pid_;
  Atom name_;
  Atom node_;
  std::optional<Term> label_;
};

// try_call's answer: the reply, or why there is none (the unwrapped exit reason of call).
class CallResult {
 public:
  static CallResult reply(Term value) { return CallResult(true, std::move(value)); }
  static CallResult error(Term reason) { return CallResult(false, std::move(reason)); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Term& value() const { return term_; }   // the reply, when ok()
  const Term& reason() const { return term_; }  // timeout, noproc, {nodedown, Node}, ...
  Term term() const;                            // {ok, Reply} | {error, Reason}

 private:
  CallResult(bool ok, Term t) : term_(std::move(t)), ok_(ok) {}
  Term term_;
  bool ok_;
};

class GenServer {
 public:
  // What a callback decides: gen_server's return tuples without the State.
  class Result {
   public:
    enum class Kind : std::uint8_t { kOk, kIgnore, kReply, kNoReply, kStop };
    Result() = default;
    Kind kind() const { return kind_; }
    bool has_reply() const { return has_reply_; }
    const Term& reply() const { return reply_; }
    const Term& reason() const { return reason_; }
    const std::optional<milliseconds>& timeout() const { return timeout_; }
    const std::optional<Term>& continuation() const { return continue_; }

    // {..., Timeout}: if no message arrives within `t`, handle_info(timeout) runs.
    Result&& after(milliseconds t) && {
      timeout_ = t;
      return std::move(*this);
    }
    // {..., {continue, C}}: handle_continue(C) runs before the next message is taken.
    Result&& continue_with(Term c) && {
      continue_.emplace(std::move(c));
      return std::move(*this);
    }

   private:
    friend class GenServer;
    Kind kind_ = Kind::kNoReply;
    bool has_reply_ = false;
    Term reply_;
    Term reason_;
    std::optional<milliseconds> timeout_;
    std::optional<Term> continue_;
  };

  GenServer() = default;
  virtual ~GenServer() = default;
  GenServer(const GenServer&) = delete;
  GenServer& operator=(const GenServer&) = delete;

  // Runs in the new process before start returns: ok(), stop(Reason) or ignore().
  virtual Co<Result> init(Self self);
  // reply(R), noreply() (answer later with reply(self, from, R)), stop(Reason[, Reply]).
  virtual Co<Result> handle_call(Self self, Term request, From from);
  // noreply() or stop(Reason).
  virtual Co<Result> handle_cast(Self self, Term message);
  // Any other message (and `timeout` after a Result's after()): noreply() or stop(Reason).
  virtual Co<Result> handle_info(Self self, Term message);
  virtual Co<Result> handle_continue(Self self, Term continuation);
  // Before a stop or a crash (not a kill, nor an exit signal when not trapping exits).
  virtual Co<> terminate(Self self, Term reason);

 protected:
  static Result ok() { return make(Result::Kind::kOk); }
  static Result ignore() { return make(Result::Kind::kIgnore); }
  static Result reply(Term value);
  static Result noreply() { return make(Result::Kind::kNoReply); }
  static Result stop(Term reason);
  static Result stop(Term reason, Term reply);
  // A deferred reply (gen_server:reply/2).
  static Sent reply(Self self, const From& from, Term value);

 private:
  static Result make(Result::Kind k) {
    Result r;
    r.kind_ = k;
    return r;
  }
};

namespace gen_server {

inline constexpr milliseconds infinity = milliseconds::max();
inline constexpr milliseconds default_timeout{5000};

struct StartOptions {
  std::optional<Atom> name;         // registered before init ({local, Name}); taken: error
                                    // {already_started, Pid}
  milliseconds timeout = infinity;  // init must finish within it, else killed, {error, timeout}
};

// gen_server:start / start_link: spawns the server (linked to the caller), runs init and
// returns {ok, Pid}, {error, Reason} or ignore once init has returned.
Co<StartResult> start(Self self, std::unique_ptr<GenServer> server, StartOptions options = {});
Co<StartResult> start_link(Self self, std::unique_ptr<GenServer> server, StartOptions options = {});

// gen_server:call. Throws ErlangError {Reason, {gen_server, call, [Server, Request,
// Timeout]}} when there is no reply (see the header comment); the caller exits unless it
// catches it.
Co<Term> call(Self self, Server server, Term request, milliseconds timeout = default_timeout);
// The same, with the failure as a value: CallResult::reason() is the bare Reason.
Co<CallResult> try_call(Self self, Server server, Term request,
                        milliseconds timeout = default_timeout);
// gen_server:cast: never fails, whether or not the server exists.
void cast(Self self, Server server, Term message);
// gen_server:reply: answers a call whose handle_call returned noreply().
Sent reply(Self self, const From& from, Term value);
// gen_server:stop: terminate(Reason) runs in the server, which exits with Reason; returns
// once it has. Throws ErlangError noproc, timeout, or the other reason it exited with.
Co<> stop(Self self, Server server, Term reason = atoms::normal(), milliseconds timeout = infinity);

}  // namespace gen_server
}  // namespace ember
