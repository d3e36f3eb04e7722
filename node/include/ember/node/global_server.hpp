// gen_server's {global, Name}: servers named in the global registry (ember/node/global.hpp).
//
//   co_await gen_server::start_global(self, "db"_a, std::make_unique<Db>());   // any node
//   Term r = co_await gen_server::call_global(self, "db"_a, "get"_a);          // any node
//
// The name is resolved here (whereis_global is a local lookup) and the call is an ordinary
// call to that pid, so it crosses nodes as any call does. As in gen.erl's do_for_proc: a
// free name is noproc, and so is a holder whose node turns out to be gone ({nodedown, N}
// becomes noproc: the registry had not noticed yet). Failures name the server {global, Name}.
#pragma once

#include <memory>
#include <optional>

#include "ember/core/gen_server.hpp"

namespace ember::gen_server {

// {global, Name} as a Server, resolved now; nullopt when nobody holds the name.
std::optional<Server> global(Self self, Atom name);

Co<Term> call_global(Self self, Atom name, Term request, milliseconds timeout = default_timeout);
Co<CallResult> try_call_global(Self self, Atom name, Term request,
                               milliseconds timeout = default_timeout);
// Never fails, whether or not the name is held.
void cast_global(Self self, Atom name, Term message);

// start / start_link with {global, Name}: the name is registered before init runs; if
// another pid holds it, {error, {already_started, Pid}}.
Co<StartResult> start_global(Self self, Atom name, std::unique_ptr<GenServer> server,
                             StartOptions options = {});
Co<StartResult> start_link_global(Self self, Atom name, std::unique_ptr<GenServer> server,
                                  StartOptions options = {});

}  // namespace ember::gen_server
