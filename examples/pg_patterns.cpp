#include "pg_patterns.hpp"

#include <algorithm>
#include <chrono>

#include <ember/node/http.hpp>
#include <ember/node/node.hpp>
#include <ember/node/process_groups.hpp>

namespace ember::examples {

namespace {

bool is_url(const Term& service) {
  if (!service.is_binary()) return false;
  auto text = service.as<std::string_view>();
  return text.starts_with("http://") || text.starts_with("https://");
}

}  // namespace

Proc service_checker(Self self, Term service, Term group) {
  pg::join(self, group);
  for (;;) {
    auto m = co_await self.receive("{check, _, _}"_p, match("stop"_a));
    if (m.clause() == 1) co_return;
    bool up = true;  // the seed's stub for what is not a URL
    if (is_url(service)) {
      // Under check_group's default 5 s, so a hung service reads as down, not as silent.
      HttpResult r = co_await http_get(self, service.as<std::string>(), milliseconds(4000));
      up = r.status == 200;
    }
    self.send(m.pid(1), tuple("checked"_a, m[2], service, up ? "healthy"_a : "down"_a));
  }
}

Co<GroupCheck> check_group(Self self, Term group, milliseconds timeout) {
  GroupCheck out;
  Ref ref = self.make_ref();
  out.asked = pg::broadcast(self, group, tuple("check"_a, self.pid(), ref));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.results.size() < out.asked) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    auto m = co_await self.receive(match(tuple("checked"_a, ref, _, _)))
                 .after(std::max(left, milliseconds(0)));
    if (m.timed_out()) break;
    out.results.push_back(tuple(m[2], m[3]));
  }
  co_return out;
}

Proc metric_reporter(Self self, std::string metric, std::function<double(Self)> sample,
                     Term group) {
  pg::join(self, group);
  for (;;) {
    auto m = co_await self.receive("{report_metrics, _, _, _}"_p, match("stop"_a));
    if (m.clause() == 1) co_return;
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    self.send(m.pid(1), tuple("record"_a, metric, sample(self), std::int64_t(now)));
    self.send(m.pid(2), tuple("reported"_a, m[3]));
  }
}

Co<std::size_t> record_from_every_node(Self self, Pid collector, Term group, milliseconds timeout) {
  Ref ref = self.make_ref();
  std::size_t asked =
      pg::broadcast(self, group, tuple("report_metrics"_a, collector, self.pid(), ref));
  std::size_t reported = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (reported < asked) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    auto m = co_await self.receive(match(tuple("reported"_a, ref)))
                 .after(std::max(left, milliseconds(0)));
    if (m.timed_out()) break;
    ++reported;
  }
  co_return reported;
}

}  // namespace ember::examples
