// The functions `make demo`'s tour (examples/ember_demo.cpp) starts on the ember-node
// daemons with spawn_remote: the seed's examples, spread over a cluster. ember-node
// registers them at start (C++ cannot ship closures, so every node's binary carries them).
//
//   report_status         {CollectorNode, ReplyTo}: sends {report, <<ThisNode>>, up} to
//                         status_collector on CollectorNode, then ReplyTo gets
//                         {reported, ThisNode}.
//   record_metric         {CollectorNode, Metric, ReplyTo}: times one round trip from here
//                         to CollectorNode's echo (microseconds), records it there as Metric
//                         ({record, Metric, Value, Time} to metric_collector), then ReplyTo
//                         gets {recorded, ThisNode, Value}.
//   worker_supervisor     ReplyTo: the seed's Supervisor (trap_exit, restarts its worker),
//                         telling ReplyTo {started, Worker} and {restarted, NewWorker}.
//   global_health_checker {Name, ReplyTo}: registers itself globally as Name; ReplyTo gets
//                         {health_checker, Name, yes | no | timeout, Self}; then answers
//                         {check, Service, From} with {result, healthy} until `stop`.
//   health_monitor        {[Name], ReplyTo}: the seed's HealthChecker turned around: finds
//                         each Name in the global registry, checks it, monitors it, and
//                         tells ReplyTo each change: {health, Name, Pid, healthy},
//                         {health, Name, Pid, {down, Reason}}, {health, Name, missing}.
//   global_standby        {Name, ReplyTo}: waits for Name's holder to die and then takes the
//                         name: {standby, Name, watching, Holder}, then
//                         {standby, Name, took_over, Self}; keeps it until `stop`.
#pragma once

namespace ember::examples {

void register_demo_functions();

}  // namespace ember::examples
