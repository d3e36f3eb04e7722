// Supervisor: a GenServer that starts, watches, restarts and stops its children.
#include "ember/core/supervisor.hpp"

#include <deque>

#include <spdlog/spdlog.h>

#include "ember/core/errors.hpp"
#include "ember/core/term_text.hpp"
#include "gen_server_internal.hpp"
#include "parcels.hpp"

namespace ember {

namespace {

using Clock = std::chrono::steady_clock;
using detail::gen_atoms;

struct SupAtoms {
  Atom start_child, terminate_child, restart_child, delete_child, which_children, count_children,
      try_again_restart, not_found, running, restarting, already_present, undefined, worker,
      supervisor, brutal_kill, failed_to_start_child, duplicate_child_name, specs, active,
      supervisors, workers;
};
const SupAtoms& sup_atoms() {
  static const SupAtoms a{Atom("start_child"),
                          Atom("terminate_child"),
                          Atom("restart_child"),
                          Atom("delete_child"),
                          Atom("which_children"),
                          Atom("count_children"),
                          Atom("try_again_restart"),
                          Atom("not_found"),
                          Atom("running"),
                          Atom("restarting"),
                          Atom("already_present"),
                          Atom("undefined"),
                          Atom("worker"),
                          Atom("supervisor"),
                          Atom("brutal_kill"),
                          Atom("failed_to_start_child"),
                          Atom("duplicate_child_name"),
                          Atom("specs"),
                          Atom("active"),
                          Atom("supervisors"),
                          Atom("workers")};
  return a;
}

Term error(Term reason) {
  return tuple(atoms::error(), std::move(reason));
}

struct ExitOf {  // {'EXIT', Pid, _}
  Pid pid;
  bool operator()(const Term& m) const {
    return m.is_tuple(3) && m[0].is(gen_atoms().exit) && m[1].is_pid() && m[1].pid() == pid;
  }
};
struct DownOf {  // {'DOWN', Ref, _, _, _}
  Ref ref;
  bool operator()(const Term& m) const {
    return m.is_tuple(5) && m[0].is(gen_atoms().down) && m[1].is_ref() && m[1].ref() == ref;
  }
};

class SupervisorServer final : public GenServer {
 public:
  SupervisorServer(std::vector<ChildSpec> specs, SupervisorFlags flags)
      : specs_(std::move(specs)), flags_(flags) {}

  Co<Result> init(Self self) override;
  Co<Result> handle_call(Self self, Term request, From from) override;
  Co<Result> handle_cast(Self self, Term message) override;
  Co<Result> handle_info(Self self, Term message) override;
  Co<> terminate(Self self, Term reason) override;

 private:
  struct Child {
    ChildSpec spec;
    Pid pid;  // null: not running
    bool restarting = false;
    bool running() const { return pid.valid(); }
  };

  // The index of the child with this id or pid; children_.size() if none.
  std::size_t find_id(const Term& id) const;
  std::size_t find_pid(Pid pid) const;

  Co<StartResult> start_one(Self self, Child& c);
  Co<Term> shutdown_one(Self self, Child& c);
  // Stops the running children in [from, children_.size()) except `skip`, last first;
  // temporary ones are dropped once stopped (they would not be restarted anyway).
  Co<> shutdown_range(Self self, std::size_t from, std::size_t skip);
  // Restarts after children_[i] exited: one child or a group, by the strategy.
  Co<Result> restart(Self self, std::size_t i);
  // Counts a restart; false when that makes too many within the period.
  bool add_restart();
  void report(Self self, const char* what, const Child& c, const Term& reason) const;
  Term info_term(const Child& c) const;

  std::vector<ChildSpec> specs_;  // until init has started them
  std::vector<Child> children_;   // in start order
  SupervisorFlags flags_;
  std::deque<Clock::time_point> restarts_;
};

std::size_t SupervisorServer::find_id(const Term& id) const {
  for (std::size_t i = 0; i < children_.size(); ++i)
    if (children_[i].spec.id == id) return i;
  return children_.size();
}

std::size_t SupervisorServer::find_pid(Pid pid) const {
  for (std::size_t i = 0; i < children_.size(); ++i)
    if (children_[i].pid == pid) return i;
  return children_.size();
}

void SupervisorServer::report(Self self, const char* what, const Child& c,
                              const Term& reason) const {
  spdlog::error("supervisor {}: {} child {}: {}", print_term(Term(self.pid())), what,
                print_term(c.spec.id), print_term(reason));
}

Co<StartResult> SupervisorServer::start_one(Self self, Child& c) {
  StartResult r = StartResult::error(Atom("badarg"));
  try {
    r = co_await c.spec.start(self);
  } catch (...) {
    r = StartResult::error(detail::exit_reason_of(std::current_exception()));
  }
  if (r.ok()) {
    c.pid = r.pid();
    c.restarting = false;
  }
  co_return r;
}

// OTP's shutdown/2: monitor and unlink first; an EXIT already here means the child died on
// its own and its reason stands; then brutal kill, or shutdown and a kill after the timeout.
Co<Term> SupervisorServer::shutdown_one(Self self, Child& c) {
  const auto& a = gen_atoms();
  Pid pid = c.pid;
  c.pid = Pid();
  c.restarting = false;
  Ref ref = self.make_ref();
  self.monitor(pid, ref);
  self.unlink(pid);
  Message gone = co_await self.receive(ExitOf{pid}).after(milliseconds(0));
  if (!gone.timed_out()) {
    co_await self.receive(DownOf{ref}).since(ref);
    co_return gone[2];
  }
  Shutdown how = c.spec.shutdown_or_default();
  Term expected = how.brutal() ? Term(a.killed) : Term(a.shutdown);
  self.exit(pid, how.brutal() ? a.kill : a.shutdown);
  auto wait = self.receive(DownOf{ref}).since(ref);
  if (!how.brutal() && how.timeout() != gen_server::infinity) wait.after(how.timeout());
  Message down = co_await wait;
  if (down.timed_out()) {  // it ignored the shutdown: kill it
    self.exit(pid, a.kill);
    down = co_await self.receive(DownOf{ref}).since(ref);
    expected = a.killed;
  }
  Term reason = down[4];
  if (reason != expected && !reason.is(a.noproc)) report(self, "shutdown_error", c, reason);
  co_return reason;
}

Co<> SupervisorServer::shutdown_range(Self self, std::size_t from, std::size_t skip) {
  for (std::size_t i = children_.size(); i-- > from;) {
    if (i == skip || !children_[i].running()) continue;
    co_await shutdown_one(self, children_[i]);
    if (children_[i].spec.restart == Restart::kTemporary) {
      children_.erase(children_.begin() + std::ptrdiff_t(i));
      if (skip != std::size_t(-1) && skip > i) --skip;
    }
  }
}

bool SupervisorServer::add_restart() {
  Clock::time_point now = Clock::now();
  restarts_.push_back(now);
  while (!restarts_.empty() && restarts_.front() < now - flags_.period) restarts_.pop_front();
  return restarts_.size() <= std::size_t(std::max(flags_.intensity, 0));
}

Co<GenServer::Result> SupervisorServer::restart(Self self, std::size_t i) {
  if (!add_restart()) {
    spdlog::error("supervisor {}: reached_max_restart_intensity, shutting down",
                  print_term(Term(self.pid())));
    co_return stop(gen_atoms().shutdown);
  }
  // The group to restart: the child alone, every child, or it and those started after it.
  Term id = children_[i].spec.id;
  std::size_t first = i, last = i + 1;
  if (flags_.strategy != Strategy::kOneForOne) {
    if (flags_.strategy == Strategy::kOneForAll) first = 0;
    co_await shutdown_range(self, first, i);
    i = find_id(id);  // temporary children may have gone from the list
    if (flags_.strategy == Strategy::kOneForAll)
      first = 0;
    else
      first = i;
    last = children_.size();
  }
  for (std::size_t k = first; k < last; ++k) {
    Child& c = children_[k];
    if (c.running()) continue;
    StartResult r = co_await start_one(self, c);
    if (!r.ok() && !r.ignored()) {
      // Try again later, counting it as a restart (OTP's try_again_restart).
      report(self, "start_error", c, r.reason());
      c.restarting = true;
      gen_server::cast(self, self.pid(), tuple(sup_atoms().try_again_restart, c.spec.id));
      break;
    }
  }
  co_return noreply();
}

Co<GenServer::Result> SupervisorServer::init(Self self) {
  self.trap_exit(true);
  for (std::size_t i = 0; i < specs_.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (specs_[i].id == specs_[j].id)
        co_return stop(tuple(sup_atoms().duplicate_child_name, specs_[i].id));
  for (ChildSpec& spec : specs_) {
    children_.push_back(Child{std::move(spec), Pid(), false});
    Child& c = children_.back();
    StartResult r = co_await start_one(self, c);
    if (r.ok()) continue;
    if (r.ignored()) {
      if (c.spec.restart == Restart::kTemporary) children_.pop_back();
      continue;
    }
    Term why = tuple(gen_atoms().shutdown,
                     tuple(sup_atoms().failed_to_start_child, c.spec.id, r.reason()));
    children_.pop_back();
    co_await shutdown_range(self, 0, std::size_t(-1));
    co_return stop(why);
  }
  specs_.clear();
  co_return ok();
}

Co<GenServer::Result> SupervisorServer::handle_info(Self self, Term message) {
  const auto& a = gen_atoms();
  if (!message.is_tuple(3) || !message[0].is(a.exit) || !message[1].is_pid())
    co_return noreply();  // OTP logs an unexpected message
  std::size_t i = find_pid(message[1].pid());
  if (i == children_.size()) co_return noreply();  // not ours (or already stopped)
  Child& c = children_[i];
  Term reason = message[2];
  c.pid = Pid();
  bool normal = detail::is_normal_exit(reason);
  switch (c.spec.restart) {
    case Restart::kTemporary:
      if (!normal) report(self, "child_terminated", c, reason);
      children_.erase(children_.begin() + std::ptrdiff_t(i));
      co_return noreply();
    case Restart::kTransient:
      if (normal) co_return noreply();
      break;
    case Restart::kPermanent:
      break;
  }
  report(self, "child_terminated", c, reason);
  co_return co_await restart(self, i);
}

Co<GenServer::Result> SupervisorServer::handle_cast(Self self, Term message) {
  const auto& s = sup_atoms();
  if (message.is_tuple(2) && message[0].is(s.try_again_restart)) {
    std::size_t i = find_id(message[1]);
    if (i < children_.size() && children_[i].restarting && !children_[i].running())
      co_return co_await restart(self, i);
  }
  co_return noreply();
}

Term SupervisorServer::info_term(const Child& c) const {
  const auto& s = sup_atoms();
  Term child = c.running() ? Term(c.pid) : Term(c.restarting ? s.restarting : s.undefined);
  return tuple(c.spec.id, child, c.spec.type == ChildType::kSupervisor ? s.supervisor : s.worker,
               Term());
}

Co<GenServer::Result> SupervisorServer::handle_call(Self self, Term request, From) {
  const auto& s = sup_atoms();
  if (request.is(s.which_children)) {
    std::vector<Term> out;
    for (const Child& c : children_) out.push_back(info_term(c));
    co_return reply(out);
  }
  if (request.is(s.count_children)) {
    ChildCounts n;
    n.specs = children_.size();
    for (const Child& c : children_) {
      n.active += c.running();
      (c.spec.type == ChildType::kSupervisor ? n.supervisors : n.workers)++;
    }
    co_return reply(tuple(std::int64_t(n.specs), std::int64_t(n.active),
                          std::int64_t(n.supervisors), std::int64_t(n.workers)));
  }
  if (!request.is_tuple(2)) co_return reply(error(Atom("badarg")));
  Term what = request[0], arg = request[1];

  if (what.is(s.start_child)) {
    std::shared_ptr<void> parcel = arg.is_ref() ? detail::parcels().take(arg.ref()) : nullptr;
    if (!parcel) co_return reply(error(Atom("badarg")));
    ChildSpec spec = *std::static_pointer_cast<ChildSpec>(parcel);
    if (std::size_t i = find_id(spec.id); i < children_.size()) {
      if (children_[i].running())
        co_return reply(error(tuple(gen_atoms().already_started, children_[i].pid)));
      co_return reply(error(s.already_present));
    }
    children_.push_back(Child{std::move(spec), Pid(), false});
    StartResult r = co_await start_one(self, children_.back());
    if (r.ok()) co_return reply(tuple(atoms::ok(), r.pid()));
    if (r.ignored()) {
      if (children_.back().spec.restart == Restart::kTemporary) children_.pop_back();
      co_return reply(tuple(atoms::ok(), s.undefined));
    }
    children_.pop_back();  // a failed start leaves no spec behind
    co_return reply(error(r.reason()));
  }

  std::size_t i = find_id(arg);
  if (i == children_.size()) co_return reply(error(s.not_found));
  Child& c = children_[i];
  if (what.is(s.terminate_child)) {
    if (c.running()) co_await shutdown_one(self, c);
    c.restarting = false;
    if (c.spec.restart == Restart::kTemporary)
      children_.erase(children_.begin() + std::ptrdiff_t(i));
    co_return reply(atoms::ok());
  }
  if (what.is(s.restart_child)) {
    if (c.running()) co_return reply(error(s.running));
    if (c.restarting) co_return reply(error(s.restarting));
    StartResult r = co_await start_one(self, c);
    if (r.ok()) co_return reply(tuple(atoms::ok(), r.pid()));
    if (r.ignored()) co_return reply(tuple(atoms::ok(), s.undefined));
    co_return reply(error(r.reason()));
  }
  if (what.is(s.delete_child)) {
    if (c.running()) co_return reply(error(s.running));
    if (c.restarting) co_return reply(error(s.restarting));
    children_.erase(children_.begin() + std::ptrdiff_t(i));
    co_return reply(atoms::ok());
  }
  co_return reply(error(Atom("badarg")));
}

Co<> SupervisorServer::terminate(Self self, Term) {
  co_await shutdown_range(self, 0, std::size_t(-1));
}

// {ok, Pid} | {ok, undefined} | {error, R} -> StartResult.
StartResult start_result_of(const Term& t) {
  if (t.is_tuple(2) && t[0].is(atoms::ok()))
    return t[1].is_pid() ? StartResult::ok(t[1].pid()) : StartResult::ignore();
  if (t.is_tuple(2) && t[0].is(atoms::error())) return StartResult::error(t[1]);
  return StartResult::error(t);
}

bool is_local(Self self, const Server& sup) {
  switch (sup.kind()) {
    case Server::Kind::kPid:
      return sup.pid().node() == self.runtime().node();
    case Server::Kind::kName:
      return true;
    case Server::Kind::kRemote:
      break;
  }
  return sup.remote().node == NodeTable::identity(self.runtime().node()).name;
}

}  // namespace

Term Shutdown::term() const {
  if (brutal_) return sup_atoms().brutal_kill;
  if (timeout_ == gen_server::infinity) return gen_atoms().infinity;
  return Term(std::int64_t(timeout_.count()));
}

Shutdown ChildSpec::shutdown_or_default() const {
  if (shutdown) return *shutdown;
  return type == ChildType::kSupervisor ? Shutdown::infinity() : Shutdown(milliseconds(5000));
}

namespace supervisor {

Co<StartResult> start_link(Self self, std::vector<ChildSpec> children, SupervisorFlags flags,
                           gen_server::StartOptions options) {
  return gen_server::start_link(
      self, std::make_unique<SupervisorServer>(std::move(children), flags), std::move(options));
}

Co<StartResult> start(Self self, std::vector<ChildSpec> children, SupervisorFlags flags,
                      gen_server::StartOptions options) {
  return gen_server::start(self, std::make_unique<SupervisorServer>(std::move(children), flags),
                           std::move(options));
}

namespace {
// The spec waits beside the request; whatever the supervisor did not take goes when this
// frame does (the call failed, or the caller was killed while waiting).
Co<StartResult> start_child_parcel(Self self, Server sup, Ref key) {
  struct Drop {
    Ref key;
    ~Drop() { detail::parcels().take(key); }
  } drop{key};
  Term r = co_await gen_server::call(self, sup, tuple(sup_atoms().start_child, key),
                                     gen_server::infinity);
  co_return start_result_of(r);
}
}  // namespace

// Not a coroutine itself: g++ 12 mishandles an aggregate (ChildSpec{...}) passed by value
// to a coroutine's parameter.
Co<StartResult> start_child(Self self, Server sup, ChildSpec spec) {
  if (!is_local(self, sup)) throw ErlangError(Atom("badarg"));
  Ref key = self.runtime().make_ref();
  detail::parcels().put(key, std::make_shared<ChildSpec>(std::move(spec)));
  return start_child_parcel(self, sup, key);
}

Co<Term> terminate_child(Self self, Server sup, Term id) {
  return gen_server::call(self, sup, tuple(sup_atoms().terminate_child, std::move(id)),
                          gen_server::infinity);
}

Co<StartResult> restart_child(Self self, Server sup, Term id) {
  Term r = co_await gen_server::call(self, sup, tuple(sup_atoms().restart_child, std::move(id)),
                                     gen_server::infinity);
  co_return start_result_of(r);
}

Co<Term> delete_child(Self self, Server sup, Term id) {
  return gen_server::call(self, sup, tuple(sup_atoms().delete_child, std::move(id)),
                          gen_server::infinity);
}

Co<std::vector<ChildInfo>> which_children(Self self, Server sup) {
  const auto& s = sup_atoms();
  Term list = co_await gen_server::call(self, sup, s.which_children, gen_server::infinity);
  std::vector<ChildInfo> out;
  for (Term t : list) {
    ChildInfo info;
    info.id = t[0];
    if (t[1].is_pid()) info.pid = t[1].pid();
    info.restarting = t[1].is(s.restarting);
    info.type = t[2].is(s.supervisor) ? ChildType::kSupervisor : ChildType::kWorker;
    out.push_back(std::move(info));
  }
  co_return out;
}

Co<ChildCounts> count_children(Self self, Server sup) {
  Term t = co_await gen_server::call(self, sup, sup_atoms().count_children, gen_server::infinity);
  ChildCounts n;
  n.specs = std::size_t(t[0].integer());
  n.active = std::size_t(t[1].integer());
  n.supervisors = std::size_t(t[2].integer());
  n.workers = std::size_t(t[3].integer());
  co_return n;
}

ChildSpec supervisor_child(Term id, std::vector<ChildSpec> children, SupervisorFlags flags,
                           Restart restart) {
  ChildSpec spec;
  spec.id = std::move(id);
  spec.start = [children = std::move(children), flags](Self sup) -> Co<StartResult> {
    return start_link(sup, children, flags);
  };
  spec.restart = restart;
  spec.type = ChildType::kSupervisor;
  return spec;
}

}  // namespace supervisor
}  // namespace ember
