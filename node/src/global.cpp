// The global registry's calls for processes; the protocol is in global_service.cpp.
#include "ember/node/global.hpp"

#include "ember/core/errors.hpp"
#include "ember/node/node.hpp"
#include "global_service.hpp"

namespace ember {

namespace {

Node& node_of(Self self) {
  Node* n = Node::of(self);
  if (!n) throw ErlangError(Atom("not_distributed"));
  return *n;
}

Co<GlobalResult> change(Self self, detail::GlobalOp op, Atom name, Pid pid,
                        std::chrono::milliseconds deadline) {
  detail::GlobalService& global = detail::global_service(node_of(self));
  static const Atom yes("yes"), retry("retry");
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    Ref ref = self.make_ref();
    global.request(op, name, pid, self.pid(), ref);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    auto m = co_await self.receive(match(tuple(detail::global_reply_tag(), ref, _)))
                 .since(ref)
                 .after(std::max(left, std::chrono::milliseconds(0)));
    if (m.timed_out()) {
      global.forget(ref);
      co_return GlobalResult::kTimeout;
    }
    if (!m[2].is(retry)) co_return m[2].is(yes) ? GlobalResult::kYes : GlobalResult::kNo;
    // The arbiter was lost on the way: ask the name's next one.
  }
}

}  // namespace

const char* to_string(GlobalResult r) {
  switch (r) {
    case GlobalResult::kYes:
      return "yes";
    case GlobalResult::kNo:
      return "no";
    case GlobalResult::kTimeout:
      return "timeout";
  }
  return "?";
}

Co<GlobalResult> register_global(Self self, Atom name, Pid pid,
                                 std::chrono::milliseconds deadline) {
  return change(self, detail::GlobalOp::kRegister, name, pid, deadline);
}

Co<GlobalResult> unregister_global(Self self, Atom name, std::chrono::milliseconds deadline) {
  return change(self, detail::GlobalOp::kUnregister, name, Pid(), deadline);
}

std::optional<Pid> whereis_global(Self self, Atom name) {
  return node_of(self).whereis_global(name);
}

Pid send_global(Self self, Atom name, Term message) {
  auto pid = whereis_global(self, name);
  if (!pid) throw ErlangError(tuple(Atom("badarg"), tuple(name, message)));
  self.send(*pid, std::move(message));
  return *pid;
}

std::vector<std::pair<Atom, Pid>> global_names(Self self) {
  return node_of(self).global_names();
}

}  // namespace ember
