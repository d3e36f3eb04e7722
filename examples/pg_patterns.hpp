// Two of the seed's patterns as broadcasts to a process group (pg, process_groups.hpp):
//
// - "Check 100 services": instead of a process spawned per URL on the caller's node, each
//   service has a long-lived checker that joins a group, on whichever node is near it; one
//   broadcast asks them all, and they check in parallel wherever they run.
// - "Record metrics from every node": each node runs a reporter in a group; one broadcast
//   makes every node record its sample in the seed's MetricCollector.
//
// Members come and go by themselves (pg drops dead members and lost nodes), so neither the
// caller nor the collector keeps a list of services or nodes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ember/core/co.hpp>
#include <ember/core/runtime.hpp>

namespace ember::examples {

inline Term service_checkers_group() {
  return Term(Atom("service_checkers"));
}
inline Term metric_reporters_group() {
  return Term(Atom("metric_reporters"));
}

// The checker of one service, a member of `group` (default scope): on {check, From, Ref}
// it checks the service (a URL: an HTTP GET, healthy on a 200; anything else: the seed's
// stub, healthy) and answers From {checked, Ref, Service, healthy | down}. `stop` ends it.
Proc service_checker(Self self, Term service, Term group = service_checkers_group());

// One broadcast of {check, Self, Ref} to `group`, then the answers until every membership
// it reached has answered or `timeout` has passed.
struct GroupCheck {
  std::size_t asked = 0;      // memberships the broadcast reached
  std::vector<Term> results;  // {Service, healthy | down}, in the order they came
  std::size_t unanswered() const { return asked - results.size(); }
};
Co<GroupCheck> check_group(Self self, Term group = service_checkers_group(),
                           milliseconds timeout = milliseconds(5000));

// A node's reporter, a member of `group`: on {report_metrics, Collector, From, Ref} it
// records {record, Metric, sample(Self), Time} in Collector (a MetricCollector, by pid, on
// any node), then tells From {reported, Ref}. `stop` ends it.
Proc metric_reporter(Self self, std::string metric, std::function<double(Self)> sample,
                     Term group = metric_reporters_group());

// One broadcast of {report_metrics, Collector, Self, Ref} to `group`; waits for every
// reporter's {reported, Ref} or `timeout`: how many reported. With the collector on the
// caller's node, each record is in its mailbox before the caller has that reporter's
// answer (both travel the same connection, in order), so metric_average afterwards counts
// every reported sample.
Co<std::size_t> record_from_every_node(Self self, Pid collector,
                                       Term group = metric_reporters_group(),
                                       milliseconds timeout = milliseconds(5000));

}  // namespace ember::examples
