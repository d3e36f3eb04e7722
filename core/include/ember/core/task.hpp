// Task: Elixir's Task on processes, links and monitors.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <vector>

#include "ember/core/co.hpp"
#include "ember/core/runtime.hpp"

namespace ember {

// A running task: its pid and the monitor reference its reply is tagged with.
struct Task {
  Pid pid;
  Ref ref;
  Pid owner;
};

namespace detail {
const Atom& task_atom();

// Runs a task body: a plain callable (Self) -> R or a coroutine (Self) -> Co<R>, with R
// convertible to Term; the result goes to `owner` as {Ref, Result}.
template <class F>
Proc task_body(F f, Self self, Pid owner, Ref ref) {
  using R = std::invoke_result_t<F&, Self>;
  if constexpr (requires(R r) { r.await_resume(); }) {
    auto result = co_await f(self);
    self.send(owner, tuple(ref, Term(std::move(result))));
  } else {
    self.send(owner, tuple(ref, Term(f(self))));
  }
  co_return;
}
}  // namespace detail

namespace task {

// Task.async: spawns `f` linked to the caller and monitored by it.
template <class F>
Task async(Self self, F f) {
  Pid owner = self.pid();
  // The monitor ref is made first so the task can tag its reply with it.
  Ref ref = self.make_ref();
  Pid pid = self.spawn_link([f = std::move(f), owner, ref](Self child) mutable -> Proc {
    return detail::task_body(std::move(f), child, owner, ref);
  });
  self.monitor(pid, ref);
  return Task{pid, ref, owner};
}

// Task.start: fire and forget, not linked.
template <class F>
Pid start(Self self, F f) {
  return self.spawn([f = std::move(f)](Self child) mutable -> Proc {
    using R = std::invoke_result_t<F&, Self>;
    if constexpr (requires(R r) { r.await_resume(); })
      co_await f(child);
    else
      f(child);
    co_return;
  });
}

// Task.await: the task's result. If the task dies first, the caller exits with the task's
// reason; after `timeout` the caller exits with {timeout, {'Elixir.Task', await, [Task,
// Timeout]}} (and the linked task with it), as Elixir does.
Co<Term> await(Self self, Task t, milliseconds timeout = milliseconds(5000));

// Task.yield: the result, or nullopt after `timeout` (the task keeps running).
Co<std::optional<Term>> yield(Self self, Task t, milliseconds timeout = milliseconds(5000));

// Task.async_stream(inputs, f, max_concurrency: n): runs f over the inputs with at most
// `max_concurrency` tasks at once; results come back in input order as {ok, Value}.
template <class F>
Co<std::vector<Term>> async_stream(Self self, std::vector<Term> inputs, F f,
                                   std::size_t max_concurrency,
                                   milliseconds timeout = milliseconds(5000)) {
  std::vector<Term> results(inputs.size());
  std::vector<Task> running(inputs.size());
  std::size_t next = 0, done = 0;
  auto start_one = [&](std::size_t i) {
    running[i] = async(self, [f, input = inputs[i]](Self s) { return f(s, input); });
  };
  while (next < inputs.size() && next < max_concurrency) start_one(next++);
  while (done < inputs.size()) {
    results[done] = tuple(atoms::ok(), co_await await(self, running[done], timeout));
    ++done;
    if (next < inputs.size()) start_one(next++);
  }
  co_return results;
}

// Parallel map: one task per element, results in order.
template <class F>
Co<std::vector<Term>> parallel_map(Self self, std::vector<Term> inputs, F f) {
  std::vector<Task> tasks;
  for (const Term& in : inputs) tasks.push_back(async(self, [f, in](Self s) { return f(s, in); }));
  std::vector<Term> out;
  for (const Task& t : tasks) out.push_back(co_await await(self, t));
  co_return out;
}

}  // namespace task
}  // namespace ember
