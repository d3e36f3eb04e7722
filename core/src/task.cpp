// Task.await and Task.yield: a receive on the task's ref, since the ref was made.
#include "ember/core/task.hpp"

namespace ember {
namespace detail {
const Atom& task_atom() {
  static const Atom a("Elixir.Task");
  return a;
}
}  // namespace detail

namespace task {
namespace {

const Atom& down_atom() {
  static const Atom a("DOWN");
  return a;
}

// Elixir's %Task{} as a term, for the timeout reason.
Term task_term(const Task& t) {
  static const Atom struct_key("__struct__"), pid("pid"), ref("ref"), owner("owner");
  return map({{struct_key, detail::task_atom()}, {pid, t.pid}, {ref, t.ref}, {owner, t.owner}});
}

}  // namespace

Co<std::optional<Term>> yield(Self self, Task t, milliseconds timeout) {
  auto m = co_await self.receive(match(tuple(t.ref, _)), match(tuple(down_atom(), t.ref, _, _, _)))
               .since(t.ref)
               .after(timeout);
  if (m.timed_out()) co_return std::nullopt;
  if (m.clause() == 1) self.exit(m[4]);  // the task died first: so does the caller
  self.demonitor(t.ref, true);
  co_return m[1];
}

Co<Term> await(Self self, Task t, milliseconds timeout) {
  std::optional<Term> result = co_await yield(self, t, timeout);
  if (!result) {
    static const Atom timeout_atom("timeout"), await_atom("await");
    self.exit(tuple(timeout_atom,
                    tuple(detail::task_atom(), await_atom, list(task_term(t), timeout.count()))));
  }
  co_return std::move(*result);
}

}  // namespace task
}  // namespace ember
