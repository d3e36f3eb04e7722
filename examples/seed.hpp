// The examples of the seed document (shared/seed/processes-and-message-passing.md), ported
// line for line. Each is a handful of functions over Self; tests/examples runs them.
#pragma once

#include <ember/core/co.hpp>
#include <ember/core/runtime.hpp>
#include <ember/core/supervisor.hpp>
#include <ember/core/task.hpp>

namespace ember::examples {

// Echo: {echo, Message, Sender} -> Sender ! {ok, Message}; stop ends it.
Proc echo_loop(Self self);

// StatusCollector: {report, Service, Status}, {get_all, Caller} -> {statuses, Map}, stop.
Proc status_collector(Self self);

// Supervisor with trap_exit: restarts its worker whenever it crashes; tells `observer`
// {restarted, NewWorker} so a test can follow along.
Proc supervisor(Self self, Pid observer);
Proc supervised_worker(Self self);
// The same Supervisor as OTP's: a child spec (one_for_one, permanent, Elixir's intensity).
Co<StartResult> start_worker_supervisor(Self self);

// WorkerMonitor: starts `count` workers, monitors them, reports each DOWN to `observer`.
Proc worker_monitor(Self self, int count, Pid observer);

// HealthChecker, registered as health_checker; check/2 asks it with a timeout. On a Node a
// service named by its URL is checked for real (http_get: healthy on a 200, else
// unhealthy); any other service is the seed's perform_check stub: `delay`, then healthy.
Proc health_checker(Self self, milliseconds delay);
Co<Term> health_check(Self self, Term service, milliseconds timeout = milliseconds(5000));

// HealthChecker.check_services: a process per URL, each GETs it and tells `observer`
// {checked, Url, healthy | down} (where the seed prints ✓ or ✗). On a Node.
void check_services(Self self, std::vector<std::string> urls, Pid observer);

// ParallelHealthChecker.check_all: a Task per URL, awaited in order:
// [{Url, healthy | unhealthy}]. On a Node.
Co<std::vector<Term>> check_all(Self self, std::vector<std::string> urls);

// API.call: request/response with a timeout: {ok, Data} | {error, Reason}.
Co<Term> api_call(Self self, Pid service, Term request, milliseconds timeout = milliseconds(5000));

// MetricCollector, registered as metric_collector.
Proc metric_collector(Self self);
void metric_record(Self self, std::string_view name, double value);
Co<Term> metric_average(Self self,
                        std::string_view name);  // {ok, Avg} | {error, not_found|timeout}

// Counter: {inc, Caller} -> Count + 1; {get, Caller} -> Count.
Proc counter(Self self, std::int64_t count);

// Parallel.map over terms.
template <class F>
Co<std::vector<Term>> parallel_map(Self self, std::vector<Term> items, F f) {
  co_return co_await task::parallel_map(self, std::move(items), std::move(f));
}

// Worker pool: `size` workers pull {job, Caller, N} and answer {done, N, N * N}.
std::vector<Pid> start_pool(Self self, int size);

}  // namespace ember::examples
