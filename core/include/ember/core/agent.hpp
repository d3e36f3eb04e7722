// Agent: Elixir's Agent, a state held by a GenServer and changed by functions.
//
//   auto a = co_await agent::start_link(self, [] { return Term(0); });
//   co_await agent::update(self, a.pid(), [](const Term& n) { return Term(n.integer() + 1); });
//   Term n = co_await agent::get(self, a.pid(), [](const Term& n) { return n; });   // 1
//
// The functions run in the agent's process, one at a time, as Elixir's do: get_and_update
// is atomic. A C++ closure cannot travel in a message, so it waits beside the message (in
// this OS process) and only an agent of this OS process can run it (badarg otherwise);
// for an agent on another node, register the function by name in every node's binary
// (register_function, as remote spawn does) and pass Named("name"_a, Args): Elixir's
// Agent.get(agent, Module, :fun, args). Calls take a timeout (5 s by default) and fail as
// gen_server::call does. A function that throws crashes the agent (and the caller's call
// fails with the agent's reason), as in Elixir. One leak to know: a cast of a closure to
// an agent that is already dead leaves the closure behind.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "ember/core/gen_server.hpp"

namespace ember::agent {

using Function = std::function<Term(const Term& state)>;  // get: the value; update: the state
using GetAndUpdate = std::function<std::pair<Term, Term>(const Term& state)>;  // {Value, State}

// f(State, Args): for get the value, for update the new state, for get_and_update a
// {Value, NewState} tuple. Process-wide; register before agents use it.
using NamedFunction = std::function<Term(const Term& state, const Term& args)>;
void register_function(Atom name, NamedFunction f);
// A registered function and its arguments. (An atom and a constructor rather than an
// aggregate holding a std::string: g++ 12 relocates such temporaries of a co_await
// expression byte by byte, which a short std::string does not survive.)
struct Named {
  Named(Atom name, Term args = Term()) : name(name), args(std::move(args)) {}
  Atom name;
  Term args;
};

Co<StartResult> start(Self self, std::function<Term()> init, gen_server::StartOptions options = {});
Co<StartResult> start_link(Self self, std::function<Term()> init,
                           gen_server::StartOptions options = {});

Co<Term> get(Self self, Server agent, Function f,
             milliseconds timeout = gen_server::default_timeout);
Co<Term> get(Self self, Server agent, Named f, milliseconds timeout = gen_server::default_timeout);
Co<> update(Self self, Server agent, Function f,
            milliseconds timeout = gen_server::default_timeout);
Co<> update(Self self, Server agent, Named f, milliseconds timeout = gen_server::default_timeout);
Co<Term> get_and_update(Self self, Server agent, GetAndUpdate f,
                        milliseconds timeout = gen_server::default_timeout);
Co<Term> get_and_update(Self self, Server agent, Named f,
                        milliseconds timeout = gen_server::default_timeout);
// Agent.cast: the update happens later; never fails.
void cast(Self self, Server agent, Function f);
void cast(Self self, Server agent, Named f);
Co<> stop(Self self, Server agent, Term reason = atoms::normal(),
          milliseconds timeout = gen_server::infinity);

}  // namespace ember::agent
