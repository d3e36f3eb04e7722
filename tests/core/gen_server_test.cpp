// GenServer: the callbacks' order, call's failures (both ways), deferred replies, start
// and stop, compared with what OTP's gen_server does (lib/stdlib/src/gen_server.erl,
// gen.erl) and Elixir's GenServer docs (https://hexdocs.pm/elixir/GenServer.html).
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>

#include "ember/core/errors.hpp"
#include "ember/core/gen_server.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

const Atom kDown("DOWN"), kExit("EXIT");

// Records every callback; replies to `log` with what it saw, in order; tells `observer`
// {terminated, Reason} from terminate.
class Recorder : public GenServer {
 public:
  explicit Recorder(Pid observer = Pid()) : observer_(observer) {}

  Co<Result> init(Self) override {
    events_.push_back("init"_a);
    return ok();
  }
  Co<Result> handle_call(Self self, Term request, From from) override {
    if (request.is("log"_a)) return reply(events_);
    events_.push_back(tuple("call"_a, request));
    if (request.is("never"_a)) return noreply();  // the caller waits in vain
    if (request.is("crash"_a)) throw std::runtime_error("crash in handle_call");
    if (request.is("stop"_a)) return stop("bye"_a, "stopping"_a);
    if (request.is("later"_a)) {
      // Deferred: another process answers, 10 ms from now.
      self.spawn([from](Self helper) -> Proc {
        co_await helper.sleep(10ms);
        gen_server::reply(helper, from, "deferred"_a);
      });
      return noreply();
    }
    if (request.is("wait_timeout"_a)) return reply("ok"_a).after(20ms);
    if (request.is("continue"_a)) return reply("ok"_a).continue_with("more"_a);
    if (request.is("whoami"_a)) return reply(from.pid);
    return reply(tuple("echo"_a, request));
  }
  Co<Result> handle_cast(Self, Term message) override {
    events_.push_back(tuple("cast"_a, message));
    if (message.is("stop"_a)) return stop("normal"_a);
    return noreply();
  }
  Co<Result> handle_info(Self self, Term message) override {
    events_.push_back(tuple("info"_a, message));
    if (observer_.valid()) self.send(observer_, tuple("seen"_a, message));
    return noreply();
  }
  Co<Result> handle_continue(Self, Term c) override {
    events_.push_back(tuple("continue"_a, c));
    return noreply();
  }
  Co<> terminate(Self self, Term reason) override {
    if (observer_.valid()) self.send(observer_, tuple("terminated"_a, reason));
    return Co<>::done();
  }

 private:
  Pid observer_;
  std::vector<Term> events_;
};

// A server whose init decides how the start ends.
class Starting : public GenServer {
 public:
  explicit Starting(Term how) : how_(std::move(how)) {}
  Co<Result> init(Self self) override {
    if (how_.is("stop"_a)) co_return stop("no_way"_a);
    if (how_.is("ignore"_a)) co_return ignore();
    if (how_.is("throw"_a)) throw std::runtime_error("init failed");
    if (how_.is("slow"_a)) co_await self.sleep(10s);
    co_return ok();
  }

 private:
  Term how_;
};

// Ignores shutdown (traps exits, no terminate of interest): for stop's timeout.
class Deaf : public GenServer {
  Co<Result> init(Self self) override {
    self.trap_exit(true);
    return ok();
  }
  Co<Result> handle_call(Self self, Term, From) override {
    co_await self.sleep(10s);
    co_return reply("late"_a);
  }
};

std::string text(const Term& t) {
  return print_term(t);
}

// The exit reason of a call made from a fresh process (so the test's process survives it).
template <class F>
Co<Term> exit_reason_of(Self self, F body) {
  auto [pid, ref] = self.spawn_monitor(std::move(body));
  auto m = co_await self.receive(match(tuple(kDown, ref, _, _, _))).after(10s);
  co_return m.timed_out() ? Term("no_down"_a) : m[4];
}

}  // namespace

TEST_CASE("GenServer: calls, casts and other messages are handled in arrival order") {
  Runtime rt({.workers = 2});
  Term log, echo;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start_link(self, std::make_unique<Recorder>());
    REQUIRE(s.ok());
    gen_server::cast(self, s.pid(), "c1"_a);
    self.send(s.pid(), "i1"_a);
    echo = co_await gen_server::call(self, s.pid(), "q1"_a);
    gen_server::cast(self, s.pid(), "c2"_a);
    self.send(s.pid(), "i2"_a);
    log = co_await gen_server::call(self, s.pid(), "log"_a);
    co_await gen_server::stop(self, s.pid());
  });
  CHECK(text(echo) == "{echo,q1}");
  CHECK(text(log) == "[init,{cast,c1},{info,i1},{call,q1},{cast,c2},{info,i2}]");
}

TEST_CASE(
    "GenServer: a call that times out exits the caller with {timeout, {gen_server, call, ...}}") {
  Runtime rt({.workers = 2});
  Term reason, caught, after_timeout;
  Pid server;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>());
    server = s.pid();
    // Uncaught: the caller exits with the reason, as in OTP and Elixir.
    reason = co_await exit_reason_of(
        self, [server](Self c) -> Proc { co_await gen_server::call(c, server, "never"_a, 50ms); });
    // Caught: ErlangError carries the same reason; the server is still there.
    try {
      co_await gen_server::call(self, server, "never"_a, 30ms);
    } catch (const ErlangError& e) {
      caught = e.reason();
    }
    after_timeout = co_await gen_server::call(self, server, "ping"_a);
    co_await gen_server::stop(self, server);
  });
  CHECK(text(reason) == "{timeout,{gen_server,call,[" + text(Term(server)) + ",never,50]}}");
  CHECK(text(caught) == "{timeout,{gen_server,call,[" + text(Term(server)) + ",never,30]}}");
  CHECK(text(after_timeout) == "{echo,ping}");
}

TEST_CASE("GenServer: try_call returns the failure as a value") {
  Runtime rt({.workers = 2});
  Term ok, timeout, noproc, named_noproc;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>());
    CallResult r1 = co_await gen_server::try_call(self, s.pid(), "x"_a);
    CallResult r2 = co_await gen_server::try_call(self, s.pid(), "never"_a, 30ms);
    co_await gen_server::stop(self, s.pid());
    CallResult r3 = co_await gen_server::try_call(self, s.pid(), "x"_a);
    CallResult r4 = co_await gen_server::try_call(self, "nobody_here"_a, "x"_a);
    ok = r1.term();
    timeout = r2.term();
    noproc = r3.term();
    named_noproc = r4.term();
  });
  CHECK(text(ok) == "{ok,{echo,x}}");
  CHECK(text(timeout) == "{error,timeout}");
  CHECK(text(noproc) == "{error,noproc}");
  CHECK(text(named_noproc) == "{error,noproc}");
}

TEST_CASE("GenServer: a call to a dead server or an unregistered name exits with noproc") {
  Runtime rt({.workers = 2});
  Term by_pid, by_name;
  Pid dead;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>());
    dead = s.pid();
    co_await gen_server::stop(self, dead);
    by_pid = co_await exit_reason_of(
        self, [dead](Self c) -> Proc { co_await gen_server::call(c, dead, "hello"_a); });
    by_name = co_await exit_reason_of(
        self, [](Self c) -> Proc { co_await gen_server::call(c, "missing"_a, "hello"_a, 1000ms); });
  });
  // gen_server:call(Pid, hello) on a dead pid: {noproc, {gen_server, call, [Pid, hello, 5000]}}.
  CHECK(text(by_pid) == "{noproc,{gen_server,call,[" + text(Term(dead)) + ",hello,5000]}}");
  CHECK(text(by_name) == "{noproc,{gen_server,call,[missing,hello,1000]}}");
}

TEST_CASE("GenServer: deferred replies, from another process") {
  Runtime rt({.workers = 2});
  Term got, then;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>());
    got = co_await gen_server::call(self, s.pid(), "later"_a);
    then = co_await gen_server::call(self, s.pid(), "ping"_a);  // the server was free meanwhile
    co_await gen_server::stop(self, s.pid());
  });
  CHECK(got == Term("deferred"_a));
  CHECK(text(then) == "{echo,ping}");
}

TEST_CASE("GenServer: a crash in handle_call runs terminate and fails the call with its reason") {
  Runtime rt({.workers = 2});
  Term reason, terminated, server_exit;
  Pid server;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>(self.pid()));
    server = s.pid();
    Ref mon = self.monitor(server);
    reason = co_await exit_reason_of(
        self, [server](Self c) -> Proc { co_await gen_server::call(c, server, "crash"_a); });
    terminated = (co_await self.receive("{terminated, _}"_p).after(5s)).term();
    server_exit = (co_await self.receive(match(tuple(kDown, mon, _, _, _))).after(5s))[4];
  });
  CHECK(text(server_exit) == "{exception,<<\"crash in handle_call\">>}");
  CHECK(text(terminated) == "{terminated,{exception,<<\"crash in handle_call\">>}}");
  CHECK(text(reason) == "{{exception,<<\"crash in handle_call\">>},{gen_server,call,[" +
                            text(Term(server)) + ",crash,5000]}}");
}

TEST_CASE("GenServer: {stop, Reason, Reply} replies after terminate, then exits with Reason") {
  Runtime rt({.workers = 2});
  Term got, first, exit_reason;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>(self.pid()));
    Ref mon = self.monitor(s.pid());
    got = co_await gen_server::call(self, s.pid(), "stop"_a);
    // terminate's message came before the reply (OTP replies in an `after` of terminate).
    first = (co_await self.receive().after(5s)).term();
    exit_reason = (co_await self.receive(match(tuple(kDown, mon, _, _, _))).after(5s))[4];
  });
  CHECK(got == Term("stopping"_a));
  CHECK(text(first) == "{terminated,bye}");
  CHECK(exit_reason == Term("bye"_a));
}

TEST_CASE("GenServer: init's answers: ok, stop, ignore, a crash, a name already taken, timeout") {
  Runtime rt({.workers = 2});
  Term stopped, ignored, crashed, taken, timed_out;
  bool ok = false, name_free_after_stop = false, no_exit_signal = false;
  rt.run([&](Self self) -> Proc {
    self.trap_exit(true);  // so that an exit signal would show as a message
    auto a = co_await gen_server::start_link(self, std::make_unique<Starting>("ok"_a),
                                             {.name = "starting"_a});
    ok = a.ok() && self.whereis("starting"_a) == a.pid();
    stopped = (co_await gen_server::start_link(self, std::make_unique<Starting>("stop"_a),
                                               {.name = "other"_a}))
                  .term();
    name_free_after_stop = !self.whereis("other"_a);
    ignored =
        (co_await gen_server::start_link(self, std::make_unique<Starting>("ignore"_a))).term();
    crashed = (co_await gen_server::start_link(self, std::make_unique<Starting>("throw"_a))).term();
    taken = (co_await gen_server::start(self, std::make_unique<Starting>("ok"_a),
                                        {.name = "starting"_a}))
                .term();
    timed_out = (co_await gen_server::start_link(self, std::make_unique<Starting>("slow"_a),
                                                 {.timeout = 50ms}))
                    .term();
    // init_fail semantics: a failed start_link leaves no {'EXIT', ...} behind.
    no_exit_signal = (co_await self.receive("{'EXIT', _, _}"_p).after(50ms)).timed_out();
    co_await gen_server::stop(self, a.pid());
  });
  CHECK(ok);
  CHECK(text(stopped) == "{error,no_way}");
  CHECK(name_free_after_stop);
  CHECK(text(ignored) == "ignore");
  CHECK(text(crashed) == "{error,{exception,<<\"init failed\">>}}");
  CHECK(text(taken).rfind("{error,{already_started,<", 0) == 0);
  CHECK(text(timed_out) == "{error,timeout}");
  CHECK(no_exit_signal);
}

TEST_CASE("GenServer: stop runs terminate and returns once the server has exited") {
  Runtime rt({.workers = 2});
  Term terminated, noproc, timeout;
  bool dead_after_stop = false;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>(self.pid()),
                                        {.name = "stoppable"_a});
    co_await gen_server::stop(self, "stoppable"_a, "shutdown"_a);
    dead_after_stop = !self.runtime().alive(s.pid()) && !self.whereis("stoppable"_a);
    terminated = (co_await self.receive("{terminated, _}"_p).after(5s)).term();
    try {
      co_await gen_server::stop(self, s.pid());
    } catch (const ErlangError& e) {
      noproc = e.reason();
    }
    auto deaf = co_await gen_server::start(self, std::make_unique<Deaf>());
    // Busy in a 10 s handle_call: stop's 50 ms pass first.
    self.spawn(
        [pid = deaf.pid()](Self c) -> Proc { co_await gen_server::try_call(c, pid, "x"_a, 20s); });
    co_await self.sleep(5ms);
    try {
      co_await gen_server::stop(self, deaf.pid(), "normal"_a, 50ms);
    } catch (const ErlangError& e) {
      timeout = e.reason();
    }
    self.exit(deaf.pid(), "kill"_a);
  });
  CHECK(dead_after_stop);
  CHECK(text(terminated) == "{terminated,shutdown}");
  CHECK(noproc == Term("noproc"_a));
  CHECK(timeout == Term("timeout"_a));
}

TEST_CASE("GenServer: trapping exits, the parent's exit signal runs terminate") {
  Runtime rt({.workers = 2});
  Term terminated, server_exit;
  rt.run([&](Self self) -> Proc {
    Pid me = self.pid();
    class Trapping : public Recorder {
     public:
      using Recorder::Recorder;
      Co<Result> init(Self self) override {
        self.trap_exit(true);
        return ok();
      }
    };
    // The parent is a middle process that starts the server linked, then exits.
    Pid server;
    Pid parent = self.spawn([me, &server](Self p) -> Proc {
      auto s = co_await gen_server::start_link(p, std::make_unique<Trapping>(me));
      server = s.pid();
      p.send(me, "started"_a);
      co_await p.receive(match("go"_a));
      p.exit("parent_gone"_a);
    });
    co_await self.receive(match("started"_a));
    Ref mon = self.monitor(server);
    self.send(parent, "go"_a);
    terminated = (co_await self.receive("{terminated, _}"_p).after(5s)).term();
    server_exit = (co_await self.receive(match(tuple(kDown, mon, _, _, _))).after(5s))[4];
  });
  CHECK(text(terminated) == "{terminated,parent_gone}");
  CHECK(server_exit == Term("parent_gone"_a));
}

TEST_CASE("GenServer: a Result's timeout sends timeout to handle_info and continue runs first") {
  Runtime rt({.workers = 2});
  Term log;
  bool seen_timeout = false;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>(self.pid()));
    co_await gen_server::call(self, s.pid(), "continue"_a);
    co_await gen_server::call(self, s.pid(), "wait_timeout"_a);
    // No message for 20 ms: handle_info(timeout).
    auto seen = co_await self.receive("{seen, _}"_p).after(5s);
    log = co_await gen_server::call(self, s.pid(), "log"_a);
    seen_timeout = !seen.timed_out() && seen[1].is("timeout"_a);
    co_await gen_server::stop(self, s.pid());
  });
  CHECK(seen_timeout);
  CHECK(text(log).rfind("[init,{call,continue},{continue,more},{call,wait_timeout},{info,timeout}",
                        0) == 0);
}

TEST_CASE("GenServer: names: call and cast by name, {Name, ThisNode}, a cast to nobody is fine") {
  Runtime rt({.workers = 2});
  Term by_name, by_remote_name, log, self_call, no_node;
  rt.run([&](Self self) -> Proc {
    co_await gen_server::start(self, std::make_unique<Recorder>(), {.name = "rec"_a});
    by_name = co_await gen_server::call(self, "rec"_a, "a"_a);
    Atom here = NodeTable::identity(self.runtime().node()).name;
    by_remote_name = co_await gen_server::call(self, RemoteName{"rec"_a, here}, "b"_a);
    gen_server::cast(self, "rec"_a, "c"_a);
    gen_server::cast(self, RemoteName{"rec"_a, here}, "d"_a);
    gen_server::cast(self, "nobody"_a, "e"_a);  // OTP: cast to an unregistered name is ok
    log = co_await gen_server::call(self, "rec"_a, "log"_a);
    // No network: {Name, OtherNode} is {nodedown, OtherNode} at once, as in gen.erl.
    CallResult r = co_await gen_server::try_call(self, RemoteName{"rec"_a, "x@nowhere"_a}, "f"_a);
    no_node = r.term();
    co_await gen_server::stop(self, "rec"_a);
  });
  CHECK(text(by_name) == "{echo,a}");
  CHECK(text(by_remote_name) == "{echo,b}");
  CHECK(text(log) == "[init,{call,a},{call,b},{cast,c},{cast,d}]");
  CHECK(text(no_node) == "{error,{nodedown,x@nowhere}}");
}

TEST_CASE("GenServer: a server calling itself exits with calling_self") {
  Runtime rt({.workers = 2});
  Term r;
  rt.run([&](Self self) -> Proc {
    CallResult c = co_await gen_server::try_call(self, self.pid(), "x"_a);
    r = c.term();
    co_return;
  });
  CHECK(text(r) == "{error,calling_self}");
}

TEST_CASE("GenServer: the reply is found without rescanning a long mailbox") {
  Runtime rt({.workers = 2});
  int calls = 0;
  std::size_t queued = 0;
  rt.run([&](Self self) -> Proc {
    auto s = co_await gen_server::start(self, std::make_unique<Recorder>());
    for (int i = 0; i < 10000; ++i) self.send(self.pid(), i);  // left unread
    for (; calls < 2000; ++calls) co_await gen_server::call(self, s.pid(), "x"_a);
    queued = self.message_queue_len();
    co_await gen_server::stop(self, s.pid());
  });
  CHECK(calls == 2000);
  CHECK(queued == 10000);  // every DOWN and reply was taken, the rest left in place
}

TEST_CASE("GenServer: unhandled calls and casts stop the server (bad_call / bad_cast)") {
  Runtime rt({.workers = 2});
  Term call_reason, cast_reason;
  rt.run([&](Self self) -> Proc {
    auto a = co_await gen_server::start(self, std::make_unique<GenServer>());
    CallResult r = co_await gen_server::try_call(self, a.pid(), "what"_a);
    call_reason = r.reason();
    auto b = co_await gen_server::start(self, std::make_unique<GenServer>());
    Ref mon = self.monitor(b.pid());
    gen_server::cast(self, b.pid(), "what"_a);
    cast_reason = (co_await self.receive(match(tuple(kDown, mon, _, _, _))).after(5s))[4];
  });
  CHECK(text(call_reason) == "{bad_call,what}");
  CHECK(text(cast_reason) == "{bad_cast,what}");
}
