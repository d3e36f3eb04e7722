// Supervisor: OTP's supervisor (Elixir's Supervisor) on top of GenServer.
//
//   std::vector<ChildSpec> children = {
//       supervisor::worker("cache"_a, cache_loop),                          // a Proc(Self)
//       {.id = "db"_a, .start = supervisor::gen_server_child([] { return std::make_unique<Db>();
//       }),
//        .restart = Restart::kTransient, .shutdown = milliseconds(2000)},
//   };
//   auto sup = co_await supervisor::start_link(self, children, {.strategy = Strategy::kOneForAll});
//
// The supervisor traps exits, starts its children in order (each start function runs in
// the supervisor and links the child to it), restarts them as the strategy says when they
// exit, and stops them in reverse order when it stops. Behaviour follows OTP's supervisor
// module and Elixir's Supervisor docs (https://hexdocs.pm/elixir/Supervisor.html):
// - restart: permanent always restarted; transient only after an abnormal exit (not
//   normal, shutdown or {shutdown, _}); temporary never, and its spec is dropped when it
//   exits ("Supervisor: Restart values").
// - strategies: one_for_one restarts the child alone; one_for_all stops every other child
//   (reverse start order) and restarts them all in start order; rest_for_one does that for
//   the children started after it. Temporary children stopped that way are not restarted.
// - intensity: more than `intensity` restarts within `period` and the supervisor stops
//   every child and exits with reason `shutdown`; its own supervisor decides what next.
//   Defaults are Elixir's (max_restarts 3, max_seconds 5; OTP's are 1 and 5 s).
// - shutdown: brutal_kill is exit(Child, kill); a timeout sends exit(Child, shutdown), waits
//   that long for the DOWN and then kills; infinity waits. The child is unlinked and
//   monitored first, as OTP's shutdown/2 does. Defaults: 5000 ms for a worker, infinity
//   for a supervisor (OTP and Elixir).
// - a child that fails to start in init stops the supervisor: the children started before
//   are stopped and start_link returns {error, {shutdown, {failed_to_start_child, Id,
//   Reason}}}; a failed restart is retried (a cast to itself, each try counting as a
//   restart), the child shown as restarting meanwhile.
// Choices: no simple_one_for_one (Elixir's DynamicSupervisor is the next step); children
// are listed in start order; start_child takes a C++ closure, so it works only with a
// supervisor in this OS process (badarg otherwise; the other calls work with any
// supervisor); period is in milliseconds (OTP counts seconds).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "ember/core/gen_server.hpp"

namespace ember {

enum class Restart { kPermanent, kTransient, kTemporary };
enum class ChildType { kWorker, kSupervisor };
enum class Strategy { kOneForOne, kOneForAll, kRestForOne };

// How a child is stopped: brutal_kill, exit(shutdown) then a kill after a timeout, or
// exit(shutdown) and wait (infinity). A plain milliseconds value is a timeout.
class Shutdown {
 public:
  Shutdown(milliseconds timeout) : timeout_(timeout) {}
  static Shutdown brutal_kill() { return Shutdown(milliseconds(0), true); }
  static Shutdown infinity() { return Shutdown(gen_server::infinity); }
  bool brutal() const { return brutal_; }
  milliseconds timeout() const { return timeout_; }
  Term term() const;  // brutal_kill, infinity or the milliseconds

 private:
  Shutdown(milliseconds t, bool brutal) : timeout_(t), brutal_(brutal) {}
  milliseconds timeout_;
  bool brutal_ = false;
};

// Runs in the supervisor's process and must link what it starts to it (start_link).
using StartFunction = std::function<Co<StartResult>(Self)>;

struct ChildSpec {
  Term id;  // unique among the supervisor's children; any term
  StartFunction start;
  Restart restart = Restart::kPermanent;
  std::optional<Shutdown> shutdown;  // unset: 5000 ms for a worker, infinity for a supervisor
  ChildType type = ChildType::kWorker;

  Shutdown shutdown_or_default() const;
};

struct SupervisorFlags {
  Strategy strategy = Strategy::kOneForOne;
  int intensity = 3;                         // max restarts ...
  milliseconds period = milliseconds(5000);  // ... within this long
};

// which_children: {Id, Child, Type, Modules} without the modules.
struct ChildInfo {
  Term id;
  std::optional<Pid> pid;  // nullopt: not running (or restarting)
  bool restarting = false;
  ChildType type = ChildType::kWorker;
};

struct ChildCounts {
  std::size_t specs = 0, active = 0, supervisors = 0, workers = 0;
};

namespace supervisor {

Co<StartResult> start_link(Self self, std::vector<ChildSpec> children, SupervisorFlags flags = {},
                           gen_server::StartOptions options = {});
Co<StartResult> start(Self self, std::vector<ChildSpec> children, SupervisorFlags flags = {},
                      gen_server::StartOptions options = {});

// {ok, Pid}, ignore (the spec is kept, not running), or an error: {already_started, Pid},
// already_present, or why the start failed (the spec is then dropped).
Co<StartResult> start_child(Self self, Server sup, ChildSpec spec);
// ok, or {error, not_found}. A temporary child's spec goes with it.
Co<Term> terminate_child(Self self, Server sup, Term id);
// {ok, Pid} for a stopped child; errors running, restarting, not_found, or the start's.
Co<StartResult> restart_child(Self self, Server sup, Term id);
// ok, or {error, running | restarting | not_found}.
Co<Term> delete_child(Self self, Server sup, Term id);
Co<std::vector<ChildInfo>> which_children(Self self, Server sup);
Co<ChildCounts> count_children(Self self, Server sup);

// A child that is a plain process: spawn_link(f) in the supervisor, f being a process
// function (Self) -> Proc or -> void. Copied for every restart.
template <class F>
StartFunction spawn_link(F f) {
  return [f = std::move(f)](Self sup) -> Co<StartResult> {
    return StartResult::ok(sup.spawn_link(f));
  };
}
// A worker child spec for a plain process, the usual case: worker("cache"_a, cache_loop).
template <class F>
ChildSpec worker(Term id, F f, Restart restart = Restart::kPermanent) {
  return ChildSpec{std::move(id), spawn_link(std::move(f)), restart, std::nullopt,
                   ChildType::kWorker};
}
// A GenServer child: `make` builds a fresh server object for every (re)start.
template <class Make>
StartFunction gen_server_child(Make make, gen_server::StartOptions options = {}) {
  return [make = std::move(make), options](Self sup) -> Co<StartResult> {
    return gen_server::start_link(sup, make(), options);
  };
}
// A nested supervisor as a child (type supervisor, shutdown infinity).
ChildSpec supervisor_child(Term id, std::vector<ChildSpec> children, SupervisorFlags flags = {},
                           Restart restart = Restart::kPermanent);

}  // namespace supervisor
}  // namespace ember
