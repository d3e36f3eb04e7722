// Agent: a GenServer whose state is a Term and whose requests carry functions.
#include "ember/core/agent.hpp"

#include <map>
#include <mutex>

#include "ember/core/errors.hpp"
#include "parcels.hpp"

namespace ember::agent {

namespace {

struct AgentAtoms {
  Atom get, update, get_and_update, cast, undef;
};
const AgentAtoms& agent_atoms() {
  static const AgentAtoms a{Atom("get"), Atom("update"), Atom("get_and_update"), Atom("cast"),
                            Atom("undef")};
  return a;
}

struct Registry {
  std::mutex mutex;
  std::map<std::uint32_t, NamedFunction> functions;  // by atom index
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: agents may outlive statics
  return *r;
}

// A request's function: {Name, Args} (registered) applied here, or a parcel's closure.
Term apply_named(const Term& fn, const Term& state) {
  NamedFunction f;
  {
    std::lock_guard lock(registry().mutex);
    auto it = fn[0].is_atom() ? registry().functions.find(fn[0].atom().index())
                              : registry().functions.end();
    if (it == registry().functions.end()) throw ErlangError(tuple(agent_atoms().undef, fn[0]));
    f = it->second;
  }
  return f(state, fn[1]);
}

template <class F>
std::shared_ptr<F> closure(const Term& fn) {
  auto p = std::static_pointer_cast<F>(detail::parcels().take(fn.ref()));
  if (!p) throw ErlangError(Atom("badarg"));  // not of this OS process, or taken already
  return p;
}

class AgentServer final : public GenServer {
 public:
  explicit AgentServer(std::function<Term()> init) : init_(std::move(init)) {}

  Co<Result> init(Self) override {
    state_ = init_();
    init_ = nullptr;
    return ok();
  }

  Co<Result> handle_call(Self, Term request, From) override {
    const AgentAtoms& a = agent_atoms();
    if (!request.is_tuple(2)) return stop(tuple(Atom("bad_call"), request));
    const Term& fn = request[1];
    if (request[0].is(a.get))
      return reply(fn.is_ref() ? (*closure<Function>(fn))(state_) : apply_named(fn, state_));
    if (request[0].is(a.update)) {
      state_ = fn.is_ref() ? (*closure<Function>(fn))(state_) : apply_named(fn, state_);
      return reply(atoms::ok());
    }
    if (request[0].is(a.get_and_update)) {
      if (fn.is_ref()) {
        auto [value, state] = (*closure<GetAndUpdate>(fn))(state_);
        state_ = std::move(state);
        return reply(std::move(value));
      }
      Term both = apply_named(fn, state_);
      if (!both.is_tuple(2)) throw ErlangError(tuple(Atom("bad_return_value"), both));
      state_ = both[1];
      return reply(both[0]);
    }
    return stop(tuple(Atom("bad_call"), request));
  }

  Co<Result> handle_cast(Self, Term message) override {
    if (message.is_tuple(2) && message[0].is(agent_atoms().cast)) {
      const Term& fn = message[1];
      state_ = fn.is_ref() ? (*closure<Function>(fn))(state_) : apply_named(fn, state_);
    }
    return noreply();
  }

 private:
  std::function<Term()> init_;
  Term state_;
};

bool is_local(Self self, const Server& s) {
  if (s.kind() == Server::Kind::kPid) return s.pid().node() == self.runtime().node();
  if (s.kind() == Server::Kind::kName) return true;
  return s.remote().node == NodeTable::identity(self.runtime().node()).name;
}

Term named_term(const Named& f) {
  return tuple(f.name, f.args);
}

// A call whose function waits beside the message until the agent takes it.
template <class F>
Co<Term> call_with(Self self, const Server& agent, Atom kind, F f, milliseconds timeout) {
  if (!is_local(self, agent)) throw ErlangError(Atom("badarg"));
  Ref key = self.runtime().make_ref();
  detail::ParcelGuard parcel(key, std::make_shared<F>(std::move(f)));
  co_return co_await gen_server::call(self, agent, tuple(kind, key), timeout);
}

// Drops a call's reply (update answers ok).
Co<> discard(Co<Term> call) {
  co_await std::move(call);
}

}  // namespace

void register_function(Atom name, NamedFunction f) {
  std::lock_guard lock(registry().mutex);
  registry().functions[name.index()] = std::move(f);
}

Co<StartResult> start(Self self, std::function<Term()> init, gen_server::StartOptions options) {
  return gen_server::start(self, std::make_unique<AgentServer>(std::move(init)),
                           std::move(options));
}

Co<StartResult> start_link(Self self, std::function<Term()> init,
                           gen_server::StartOptions options) {
  return gen_server::start_link(self, std::make_unique<AgentServer>(std::move(init)),
                                std::move(options));
}

Co<Term> get(Self self, Server agent, Function f, milliseconds timeout) {
  return call_with(self, agent, agent_atoms().get, std::move(f), timeout);
}
Co<Term> get(Self self, Server agent, Named f, milliseconds timeout) {
  return gen_server::call(self, agent, tuple(agent_atoms().get, named_term(f)), timeout);
}

Co<> update(Self self, Server agent, Function f, milliseconds timeout) {
  return discard(call_with(self, agent, agent_atoms().update, std::move(f), timeout));
}
Co<> update(Self self, Server agent, Named f, milliseconds timeout) {
  return discard(
      gen_server::call(self, agent, tuple(agent_atoms().update, named_term(f)), timeout));
}

Co<Term> get_and_update(Self self, Server agent, GetAndUpdate f, milliseconds timeout) {
  return call_with(self, agent, agent_atoms().get_and_update, std::move(f), timeout);
}
Co<Term> get_and_update(Self self, Server agent, Named f, milliseconds timeout) {
  return gen_server::call(self, agent, tuple(agent_atoms().get_and_update, named_term(f)), timeout);
}

void cast(Self self, Server agent, Function f) {
  if (!is_local(self, agent)) throw ErlangError(Atom("badarg"));
  Ref key = self.runtime().make_ref();
  detail::parcels().put(key, std::make_shared<Function>(std::move(f)));  // the agent takes it
  gen_server::cast(self, agent, tuple(agent_atoms().cast, key));
}
void cast(Self self, Server agent, Named f) {
  gen_server::cast(self, agent, tuple(agent_atoms().cast, named_term(f)));
}

Co<> stop(Self self, Server agent, Term reason, milliseconds timeout) {
  return gen_server::stop(self, agent, std::move(reason), timeout);
}

}  // namespace ember::agent
