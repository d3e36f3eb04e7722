// {global, Name} for GenServer: a lookup in the global registry, then an ordinary call.
#include "ember/node/global_server.hpp"

#include "ember/core/errors.hpp"
#include "ember/node/global.hpp"

namespace ember::gen_server {

namespace {

const Atom& global_atom() {
  static const Atom a("global");
  return a;
}

Term label(Atom name) {
  return tuple(global_atom(), name);
}

// Registers the global name in the new process, then hands over to the real server.
class GloballyNamed final : public GenServer {
 public:
  GloballyNamed(Atom name, std::unique_ptr<GenServer> inner)
      : name_(name), inner_(std::move(inner)) {}

  Co<Result> init(Self self) override {
    GlobalResult r = co_await register_global(self, name_, self.pid());
    if (r != GlobalResult::kYes) {
      std::optional<Pid> holder = whereis_global(self, name_);
      Term who = holder ? Term(*holder) : Term(Atom("undefined"));
      co_return stop(tuple(Atom("already_started"), who));
    }
    co_return co_await inner_->init(self);
  }
  Co<Result> handle_call(Self self, Term request, From from) override {
    return inner_->handle_call(self, std::move(request), from);
  }
  Co<Result> handle_cast(Self self, Term message) override {
    return inner_->handle_cast(self, std::move(message));
  }
  Co<Result> handle_info(Self self, Term message) override {
    return inner_->handle_info(self, std::move(message));
  }
  Co<Result> handle_continue(Self self, Term c) override {
    return inner_->handle_continue(self, std::move(c));
  }
  Co<> terminate(Self self, Term reason) override {
    return inner_->terminate(self, std::move(reason));
  }

 private:
  Atom name_;
  std::unique_ptr<GenServer> inner_;
};

}  // namespace

std::optional<Server> global(Self self, Atom name) {
  std::optional<Pid> pid = whereis_global(self, name);
  if (!pid) return std::nullopt;
  return Server::resolved(*pid, label(name));
}

Co<CallResult> try_call_global(Self self, Atom name, Term request, milliseconds timeout) {
  static const Atom noproc("noproc"), nodedown("nodedown");
  std::optional<Server> server = global(self, name);
  if (!server) co_return CallResult::error(noproc);
  CallResult r = co_await try_call(self, *server, std::move(request), timeout);
  if (!r.ok() && r.reason().is_tuple(2) && r.reason()[0].is(nodedown))
    co_return CallResult::error(noproc);  // a holder on a node already gone
  co_return r;
}

Co<Term> call_global(Self self, Atom name, Term request, milliseconds timeout) {
  CallResult r = co_await try_call_global(self, name, request, timeout);
  if (r.ok()) co_return r.value();
  Term to = timeout == infinity ? Term(Atom("infinity")) : Term(std::int64_t(timeout.count()));
  throw ErlangError(
      tuple(r.reason(), tuple(Atom("gen_server"), Atom("call"), list(label(name), request, to))));
}

void cast_global(Self self, Atom name, Term message) {
  if (std::optional<Server> server = global(self, name)) cast(self, *server, std::move(message));
}

Co<StartResult> start_global(Self self, Atom name, std::unique_ptr<GenServer> server,
                             StartOptions options) {
  return start(self, std::make_unique<GloballyNamed>(name, std::move(server)), std::move(options));
}

Co<StartResult> start_link_global(Self self, Atom name, std::unique_ptr<GenServer> server,
                                  StartOptions options) {
  return start_link(self, std::make_unique<GloballyNamed>(name, std::move(server)),
                    std::move(options));
}

}  // namespace ember::gen_server
