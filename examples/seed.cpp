#include "seed.hpp"

#include <map>

#include <ember/node/http.hpp>
#include <ember/node/node.hpp>

namespace ember::examples {

Proc echo_loop(Self self) {
  for (;;) {
    auto m = co_await self.receive("{echo, _, _}"_p, match("stop"_a));
    if (m.is("stop"_a)) co_return;  // don't loop: the process ends
    self.send(m.pid(2), tuple("ok"_a, m[1]));
  }
}

Proc status_collector(Self self) {
  std::map<std::string, Term> statuses;
  for (;;) {
    auto m = co_await self.receive("{report, _, _}"_p, "{get_all, _}"_p, match("stop"_a));
    if (m.clause() == 0) statuses[m[1].as<std::string>()] = m[2];
    if (m.clause() == 1) self.send(m.pid(1), tuple("statuses"_a, statuses));
    if (m.clause() == 2) co_return;
  }
}

Proc supervised_worker(Self self) {
  for (;;) {
    auto m = co_await self.receive(match("crash"_a), any);
    if (m.clause() == 0) throw std::runtime_error("Intentional crash");
  }
}

Proc supervisor(Self self, Pid observer) {
  self.trap_exit(true);
  Pid worker = self.spawn_link(supervised_worker);
  self.send(observer, tuple("started"_a, worker));
  for (;;) {
    co_await self.receive(match(tuple(Atom("EXIT"), worker, _)));
    worker = self.spawn_link(supervised_worker);  // restart
    self.send(observer, tuple("restarted"_a, worker));
  }
}

Co<StartResult> start_worker_supervisor(Self self) {
  std::vector<ChildSpec> children{supervisor::worker("worker"_a, supervised_worker)};
  return supervisor::start_link(self, std::move(children));
}

Proc worker_monitor(Self self, int count, Pid observer) {
  for (int i = 0; i < count; ++i) {
    Pid pid = self.spawn([i](Self w) -> Proc {
      co_await w.sleep(milliseconds(10 * (i + 1)));
      if (i % 2) w.exit("overloaded"_a);
    });
    self.monitor(pid);
  }
  for (;;) {
    auto m = co_await self.receive("{'DOWN', _, process, _, _}"_p);
    self.send(observer, tuple("worker_died"_a, m[4]));
  }
}

namespace {
// HTTP.get(url) with {:ok, %{status: 200}} as the healthy case. The timeout stays under
// Task.await's default 5 s, so a hung service reads as unhealthy, not as a crash.
Co<bool> http_healthy(Self self, std::string url) {
  HttpResult r = co_await http_get(self, std::move(url), milliseconds(4000));
  co_return r.status == 200;
}

bool is_url(const Term& service) {
  if (!service.is_binary()) return false;
  auto text = service.as<std::string_view>();
  return text.starts_with("http://") || text.starts_with("https://");
}

Co<Term> perform_check(Self self, Term service, milliseconds delay) {
  if (Node::of(self) && is_url(service))
    co_return (co_await http_healthy(self, service.as<std::string>())) ? "healthy"_a
                                                                       : "unhealthy"_a;
  co_await self.sleep(delay);  // the seed's stub: "Check logic", then :healthy
  co_return "healthy"_a;
}
}  // namespace

Proc health_checker(Self self, milliseconds delay) {
  self.register_name("health_checker"_a);
  for (;;) {
    auto m = co_await self.receive("{check, _, _}"_p);
    Term status = co_await perform_check(self, m[1], delay);
    self.send(m.pid(2), tuple("result"_a, status));
  }
}

void check_services(Self self, std::vector<std::string> urls, Pid observer) {
  for (std::string& url : urls)
    self.spawn([url = std::move(url), observer](Self s) -> Proc {
      bool up = co_await http_healthy(s, url);
      s.send(observer, tuple("checked"_a, url, up ? "healthy"_a : "down"_a));
    });
}

Co<std::vector<Term>> check_all(Self self, std::vector<std::string> urls) {
  std::vector<Task> tasks;
  for (std::string& url : urls)
    tasks.push_back(task::async(self, [url = std::move(url)](Self s) -> Co<Term> {
      co_return tuple(url, (co_await http_healthy(s, url)) ? "healthy"_a : "unhealthy"_a);
    }));
  std::vector<Term> results;
  for (const Task& t : tasks) results.push_back(co_await task::await(self, t));
  co_return results;
}

Co<Term> health_check(Self self, Term service, milliseconds timeout) {
  self.send("health_checker"_a, tuple("check"_a, service, self.pid()));
  auto m = co_await self.receive("{result, _}"_p).after(timeout);
  if (m.timed_out()) co_return tuple("error"_a, "timeout"_a);
  co_return m[1];
}

Co<Term> api_call(Self self, Pid service, Term request, milliseconds timeout) {
  self.send(service, tuple(request, self.pid()));
  auto m = co_await self.receive("{response, _}"_p, "{error, _}"_p).after(timeout);
  if (m.timed_out()) co_return tuple("error"_a, "timeout"_a);
  co_return tuple(m.clause() == 0 ? "ok"_a : "error"_a, m[1]);
}

Proc metric_collector(Self self) {
  self.register_name("metric_collector"_a);
  std::map<std::string, std::vector<double>> metrics;
  for (;;) {
    auto m = co_await self.receive("{record, _, _, _}"_p, "{get_average, _, _}"_p, match("stop"_a));
    if (m.clause() == 2) co_return;
    if (m.clause() == 0) {
      metrics[m[1].as<std::string>()].push_back(m[2].as<double>());
      continue;
    }
    auto it = metrics.find(m[1].as<std::string>());
    if (it == metrics.end()) {
      self.send(m.pid(2), "not_found"_a);
      continue;
    }
    double sum = 0;
    for (double v : it->second) sum += v;
    self.send(m.pid(2), tuple("average"_a, sum / double(it->second.size())));
  }
}

void metric_record(Self self, std::string_view name, double value) {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  self.send("metric_collector"_a, tuple("record"_a, name, value, std::int64_t(now)));
}

Co<Term> metric_average(Self self, std::string_view name) {
  self.send("metric_collector"_a, tuple("get_average"_a, name, self.pid()));
  auto m = co_await self.receive("{average, _}"_p, match("not_found"_a)).after(milliseconds(1000));
  if (m.timed_out()) co_return tuple("error"_a, "timeout"_a);
  if (m.clause() == 1) co_return tuple("error"_a, "not_found"_a);
  co_return tuple("ok"_a, m[1]);
}

Proc counter(Self self, std::int64_t count) {
  for (;;) {
    auto m = co_await self.receive("{inc, _}"_p, "{get, _}"_p);
    if (m.clause() == 0) ++count;
    self.send(m.pid(1), count);
  }
}

std::vector<Pid> start_pool(Self self, int size) {
  std::vector<Pid> workers;
  for (int i = 0; i < size; ++i)
    workers.push_back(self.spawn([](Self w) -> Proc {
      for (;;) {
        auto m = co_await w.receive("{job, _, _}"_p);
        std::int64_t n = m[2].as<std::int64_t>();
        w.send(m.pid(1), tuple("done"_a, n, n * n));
      }
    }));
  return workers;
}

}  // namespace ember::examples
