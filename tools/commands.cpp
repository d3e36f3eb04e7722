#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "cli_error.hpp"
#include "cookie.hpp"
#include "ember/core/term_text.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "table.hpp"

namespace ember::cli {
namespace {

std::string node_text(Atom node) {
  return std::string(node.text());
}

// The value under `key` of an admin reply map, or undefined.
Term field(const Term& map, const char* key) {
  return map.is_map() ? map.get(Atom(key)).value_or(Term(Atom("undefined")))
                      : Term(Atom("undefined"));
}

// Sorting key of a pid: its node's name, then its slot.
bool pid_less(Pid a, Pid b) {
  auto na = pid_node(a).text(), nb = pid_node(b).text();
  return na != nb ? na < nb : a.slot() < b.slot();
}

[[noreturn]] void bad_reply(Atom node, std::string_view command, const Term& reply) {
  throw CliError(kFailed, node_text(node) + " answered " + std::string(command) + " with " +
                              print_cli_term(reply));
}

}  // namespace

int term_command(const std::string& text, bool json) {
  Term t;
  try {
    t = parse_term(text);
  } catch (const ParseError& e) {
    std::cerr << "ember term: " << e.what() << "\n  " << text << "\n  "
              << std::string(e.position(), ' ') << "^\n";
    return kUsage;
  }
  std::vector<std::byte> frame;
  net::FrameEncoder encoder;
  std::size_t bytes = encoder.encode_send(frame, Pid(), Pid(), t);
  net::decode_all(frame);  // what a receiving node would do
  if (json) {
    std::cout << "{\"term\": " << json_string(print_term(t)) << ", \"frame_bytes\": " << bytes
              << ", \"heap_bytes\": " << t.heap_bytes() << "}\n";
  } else {
    std::cout << print_term(t) << "\nframe: " << bytes << " bytes, heap: " << t.heap_bytes()
              << " bytes\n";
  }
  return kOk;
}

// --- plumbing ---

Session& Commands::session() {
  if (!session_)
    session_ = std::make_unique<Session>(resolve_cookie(options_.cookie), options_.verbose);
  return *session_;
}

Atom Commands::attached() {
  if (options_.node.empty())
    throw CliError(kUsage, "no node to attach to: pass --node NODE or set EMBER_NODE");
  return canonical_node(options_.node);
}

Term Commands::parse(const std::string& text) {
  auto fail = [&](const ParseError& e) -> CliError {
    return CliError(kUsage, "bad term '" + text + "': " + e.what());
  };
  // Syntax first, before connecting anywhere: a typo is exit 2 whatever the network does.
  try {
    parse_cli_term(text, [](const PidText&) { return Pid(); });
  } catch (const ParseError& e) {
    throw fail(e);
  }
  try {
    return parse_cli_term(text, [&](const PidText& p) {
      return session().resolve(p, p.node ? *p.node : attached());
    });
  } catch (const ParseError& e) {
    throw fail(e);
  }
}

Pid Commands::live_pid(const std::string& text) {
  PidText typed = parse_pid_text(text);
  Pid pid = session().resolve(typed, typed.node ? *typed.node : attached());
  Term info = session().ask(pid_node(pid), "info", {Term(pid)});
  if (!info.is_map()) throw CliError(kFailed, "no process " + pid_text(pid));
  return pid;
}

Address Commands::address(const std::string& text) {
  Target t = parse_target(text);
  if (t.pid) return live_pid(text);
  Atom node = t.node ? *t.node : attached();
  if (t.global) {
    // Looked up where --node (or @NODE) sees it, then sent to the pid: what global:send does.
    Term pid = session().ask(node, "whereis_global", {Term(t.name)});
    if (pid.is_pid()) return pid.pid();
    if (!pid.is(Atom("undefined"))) bad_reply(node, "whereis_global", pid);
    throw CliError(kFailed, "no process registered globally as " + std::string(t.name.text()) +
                                " (as " + node_text(node) + " sees it)");
  }
  Term names = session().ask(node, "registry");
  for (const Term& entry : names)
    if (entry.is_tuple(2) && entry[0].is(t.name)) return RemoteName{t.name, node};
  throw CliError(
      kFailed, "no process registered as " + std::string(t.name.text()) + " on " + node_text(node));
}

Pid Commands::target_pid(const std::string& text) {
  Address to = address(text);
  if (auto* pid = std::get_if<Pid>(&to)) return *pid;
  const RemoteName& name = std::get<RemoteName>(to);
  Term names = session().ask(name.node, "registry");
  for (const Term& entry : names)
    if (entry.is_tuple(2) && entry[0].is(name.name) && entry[1].is_pid()) return entry[1].pid();
  throw CliError(kFailed, "no process registered as " + std::string(name.name.text()) + " on " +
                              node_text(name.node));
}

// --- commands ---

int Commands::ping(const std::string& node_arg) {
  Atom node = node_arg.empty() ? attached() : canonical_node(node_arg);
  session().attach(node);
  auto start = std::chrono::steady_clock::now();
  Term reply = session().ask(node, "ping");
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!reply.is(Atom("pong"))) bad_reply(node, "ping", reply);
  if (options_.json) {
    char rtt[32];
    std::snprintf(rtt, sizeof rtt, "%.3f", ms);
    std::cout << "{\"node\": " << json_string(node.text())
              << ", \"result\": \"pong\", \"ms\": " << rtt << "}\n";
  } else {
    std::cout << "pong\n";
  }
  return kOk;
}

namespace {

// 850 ms -> "0.9s", 75 s -> "1m15s", 2 h -> "2h00m": short enough for a table cell.
std::string duration_text(std::int64_t ms) {
  char buf[32];
  if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", double(ms) / 1000);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(ms / 60'000),
                  (long long)(ms / 1000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(ms / 3'600'000),
                  (long long)(ms / 60'000 % 60));
  }
  return buf;
}

std::int64_t int_field(const Term& row, const char* key) {
  Term v = field(row, key);
  return v.is_integer() ? v.as<std::int64_t>() : -1;
}

}  // namespace

// `nodes --verbose`: one row per visible connection of --node, from its admin service.
int Commands::connections() {
  Atom node = attached();
  Term list = session().ask(node, "connections");
  if (!list.is_list()) bad_reply(node, "connections", list);
  std::vector<Term> rows;
  for (const Term& r : list)
    if (field(r, "node").is_atom() && !field(r, "hidden").is(Atom("true"))) rows.push_back(r);
  std::sort(rows.begin(), rows.end(), [](const Term& a, const Term& b) {
    return field(a, "node").atom().text() < field(b, "node").atom().text();
  });
  const char* numbers[] = {"creation",     "up_since_ms", "uptime_ms",   "bytes_in",
                           "bytes_out",    "frames_in",   "frames_out",  "messages_in",
                           "messages_out", "queue_bytes", "last_read_ms"};
  if (options_.json) {
    std::cout << "{\"node\": " << json_string(node.text()) << ", \"connections\": [";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Term& r = rows[i];
      std::cout << (i ? ",\n " : "") << "{\"node\": " << json_string(field(r, "node").atom().text())
                << ", \"address\": " << term_to_json(field(r, "address"));
      for (const char* key : numbers) std::cout << ", \"" << key << "\": " << int_field(r, key);
      std::cout << ", \"last_tick_ms\": " << term_to_json(field(r, "last_tick_ms")) << "}";
    }
    std::cout << "]}\n";
    return kOk;
  }
  Table table({"NODE", "ADDRESS", "CREATION", "UPTIME", "BYTES IN", "BYTES OUT", "FRAMES IN",
               "FRAMES OUT", "QUEUE", "LAST TICK"});
  for (std::size_t c = 2; c < 10; ++c) table.align_right(c);
  for (const Term& r : rows) {
    std::int64_t tick = int_field(r, "last_tick_ms");
    table.add({cell_text(field(r, "node")), cell_text(field(r, "address")),
               std::to_string(int_field(r, "creation")), duration_text(int_field(r, "uptime_ms")),
               std::to_string(int_field(r, "bytes_in")), std::to_string(int_field(r, "bytes_out")),
               std::to_string(int_field(r, "frames_in")),
               std::to_string(int_field(r, "frames_out")),
               std::to_string(int_field(r, "queue_bytes")),
               // None yet: a connection busy with data sends no ticks.
               tick < 0 ? std::string("-") : duration_text(tick) + " ago"});
  }
  table.print(std::cout);
  return kOk;
}

int Commands::nodes(bool verbose) {
  if (verbose) return connections();
  Atom node = attached();
  Term list = session().ask(node, "nodes");
  if (!list.is_list()) bad_reply(node, "nodes", list);
  std::vector<std::string> names;
  for (const Term& n : list) names.push_back(cell_text(n));
  std::sort(names.begin(), names.end());
  if (options_.json) {
    std::cout << "{\"node\": " << json_string(node.text()) << ", \"nodes\": [";
    for (std::size_t i = 0; i < names.size(); ++i)
      std::cout << (i ? ", " : "") << json_string(names[i]);
    std::cout << "]}\n";
  } else {
    for (const auto& n : names) std::cout << n << '\n';
  }
  return kOk;
}

std::vector<Term> Commands::ps_rows(Atom node) {
  Term rows = session().ask(node, "ps");
  if (!rows.is_list()) bad_reply(node, "ps", rows);
  std::vector<Term> out;
  for (const Term& r : rows)
    if (field(r, "pid").is_pid()) out.push_back(r);
  return out;
}

std::vector<Atom> Commands::targets(bool all_nodes) {
  Atom node = attached();
  std::vector<Atom> out{node};
  if (!all_nodes) return out;
  Term others = session().ask(node, "nodes");
  if (!others.is_list()) bad_reply(node, "nodes", others);
  for (const Term& n : others)
    if (n.is_atom()) out.push_back(n.atom());
  std::sort(out.begin() + 1, out.end(), [](Atom a, Atom b) { return a.text() < b.text(); });
  return out;
}

int Commands::ps(bool all_nodes) {
  Atom node = attached();
  std::vector<Atom> targets = this->targets(all_nodes);
  int rc = kOk;
  std::vector<Term> rows;
  for (Atom n : targets) {
    try {
      auto r = ps_rows(n);
      rows.insert(rows.end(), r.begin(), r.end());
    } catch (const CliError& e) {
      if (!all_nodes || n == node) throw;
      std::cerr << "ember: " << e.what() << '\n';  // the other nodes still get listed
      rc = e.code();
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Term& a, const Term& b) {
    return pid_less(field(a, "pid").pid(), field(b, "pid").pid());
  });
  if (options_.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Term& r = rows[i];
      Pid pid = field(r, "pid").pid();
      std::cout << (i ? ",\n " : "") << "{\"pid\": " << json_string(pid_text(pid))
                << ", \"node\": " << json_string(pid_node(pid).text())
                << ", \"name\": " << term_to_json(field(r, "name"))
                << ", \"status\": " << term_to_json(field(r, "status"))
                << ", \"message_queue_len\": " << term_to_json(field(r, "message_queue_len"))
                << ", \"reductions\": " << term_to_json(field(r, "reductions"))
                << ", \"memory\": " << term_to_json(field(r, "memory")) << "}";
    }
    std::cout << "]\n";
    return rc;
  }
  Table table({"PID", "NAME", "STATUS", "QUEUE", "REDUCTIONS", "MEMORY"});
  for (std::size_t c = 3; c < 6; ++c) table.align_right(c);
  for (const Term& r : rows) {
    Term name = field(r, "name");
    table.add({pid_text(field(r, "pid").pid()), name.is(Atom("undefined")) ? "" : cell_text(name),
               cell_text(field(r, "status")), cell_text(field(r, "message_queue_len")),
               cell_text(field(r, "reductions")), cell_text(field(r, "memory"))});
  }
  table.print(std::cout);
  return rc;
}

int Commands::info(const std::string& text) {
  PidText typed = parse_pid_text(text);
  Pid pid = session().resolve(typed, typed.node ? *typed.node : attached());
  Term info = session().ask(pid_node(pid), "info", {Term(pid)});
  if (!info.is_map()) throw CliError(kFailed, "no process " + pid_text(pid));
  if (options_.json) {
    std::cout << term_to_json(info) << '\n';
    return kOk;
  }
  // The summary fields first, in ps's order, then whatever else the node tells.
  std::vector<std::string> order{"pid",    "name",  "status",   "message_queue_len", "reductions",
                                 "memory", "links", "monitors", "monitored_by",      "trap_exit"};
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto& key : order)
    if (auto v = info.get(Atom(key))) lines.emplace_back(key, print_cli_term(*v));
  for (std::size_t i = 0; i < info.size(); ++i) {
    std::string key = cell_text(info.map_key(i));
    if (std::find(order.begin(), order.end(), key) == order.end())
      lines.emplace_back(key, print_cli_term(info.map_value(i)));
  }
  std::size_t width = 0;
  for (const auto& [k, v] : lines) width = std::max(width, k.size());
  for (const auto& [k, v] : lines)
    std::cout << k << std::string(width - k.size() + 2, ' ') << v << '\n';
  return kOk;
}

int Commands::send(const std::string& target, const std::string& text) {
  parse_target(target);  // a malformed target is exit 2 before anything connects
  Term message = parse(text);
  Address to = address(target);
  session().send(to, message);
  if (options_.json && parse_target(target).global)
    std::cout << "{\"sent\": true, \"pid\": " << json_string(pid_text(std::get<Pid>(to))) << "}\n";
  else if (options_.json)
    std::cout << "{\"sent\": true}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

int Commands::call(const std::string& target, const std::string& text, long timeout_ms) {
  parse_target(target);
  Term request = parse(text);
  Address to = address(target);
  // The seed's convention: the caller's pid is the request's last element.
  auto build = [&](Pid self) {
    std::vector<Term> items;
    if (request.is_tuple())
      items.assign(request.begin(), request.end());
    else
      items.push_back(request);
    items.emplace_back(self);
    return tuple_of(items);
  };
  Term reply;
  try {
    reply = session().call(to, build, milliseconds(timeout_ms));
  } catch (const CliError& e) {
    throw CliError(e.code(), "call " + target + ": " + e.what());
  }
  if (options_.json)
    std::cout << "{\"reply\": " << json_string(print_cli_term(reply)) << "}\n";
  else
    std::cout << print_cli_term(reply) << '\n';
  return kOk;
}

int Commands::spawn(const std::string& node_arg, const std::string& function,
                    const std::string& args_text) {
  Atom node = canonical_node(node_arg);
  Term args = args_text.empty() ? Term() : parse(args_text);
  Term reply = session().ask(node, "spawn", {Term(std::string_view(function)), args});
  if (reply.is_tuple(2) && reply[0].is(Atom("ok")) && reply[1].is_pid()) {
    if (options_.json)
      std::cout << "{\"pid\": " << json_string(pid_text(reply[1].pid())) << "}\n";
    else
      std::cout << pid_text(reply[1].pid()) << '\n';
    return kOk;
  }
  if (reply.is_tuple(2) && reply[0].is(Atom("error")))
    throw CliError(kFailed, "spawn " + function + " on " + node_text(node) +
                                " failed: " + print_cli_term(reply[1]));
  bad_reply(node, "spawn", reply);
}

int Commands::kill(const std::string& text, const std::string& reason_text) {
  Term reason = reason_text.empty() ? Term(Atom("kill")) : parse(reason_text);
  Pid pid = live_pid(text);
  Term reply = session().ask(pid_node(pid), "kill", {Term(pid), reason});
  if (!reply.is(Atom("true"))) bad_reply(pid_node(pid), "kill", reply);
  if (options_.json)
    std::cout << "{\"killed\": " << json_string(pid_text(pid))
              << ", \"reason\": " << json_string(print_cli_term(reason)) << "}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

int Commands::registry(bool global) {
  Atom node = attached();
  const char* command = global ? "global_names" : "registry";
  Term names = session().ask(node, command);
  if (!names.is_list()) bad_reply(node, command, names);
  std::vector<std::pair<std::string, Pid>> rows;
  for (const Term& e : names)
    if (e.is_tuple(2) && e[0].is_atom() && e[1].is_pid())
      rows.emplace_back(std::string(e[0].atom().text()), e[1].pid());
  std::sort(rows.begin(), rows.end());
  if (options_.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::cout << (i ? ",\n " : "") << "{\"name\": " << json_string(rows[i].first)
                << ", \"pid\": " << json_string(pid_text(rows[i].second)) << "}";
    std::cout << "]\n";
    return kOk;
  }
  Table table({"NAME", "PID"});
  for (const auto& [name, pid] : rows) table.add({name, pid_text(pid)});
  table.print(std::cout);
  return kOk;
}

int Commands::global_change(bool reg, const std::string& name_text, const std::string& pid_text_) {
  Atom node = attached();
  Target t = parse_target(name_text);
  if (t.pid || t.node || t.global)
    throw CliError(kUsage, "bad global name '" + name_text + "': expected a plain name");
  std::vector<Term> args{Term(t.name)};
  if (reg) args.emplace_back(live_pid(pid_text_));
  const char* command = reg ? "register_global" : "unregister_global";
  // The node waits up to 5 s for the name's arbiter; give it longer than that to answer.
  Term reply = session().ask(node, command, args, milliseconds(8000));
  std::string name(t.name.text());
  if (reply.is(Atom("no")))
    throw CliError(kFailed, reg ? name + " is registered globally to another pid"
                                : name + " is not registered globally");
  if (reply.is(Atom("timeout")))
    throw CliError(kTimeout, std::string(reg ? "register " : "unregister ") + name +
                                 ": not confirmed by every node in time");
  if (!reply.is(Atom("yes"))) bad_reply(node, command, reply);
  if (options_.json)
    std::cout << "{\"name\": " << json_string(name) << ", \""
              << (reg ? "registered" : "unregistered") << "\": true}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

int Commands::global_digest(bool all_nodes) {
  Atom node = attached();
  std::vector<Atom> targets = this->targets(all_nodes);
  std::sort(targets.begin(), targets.end(), [](Atom a, Atom b) { return a.text() < b.text(); });
  int rc = kOk;
  std::vector<std::pair<std::string, std::string>> rows;  // node, digest (16 hex digits)
  for (Atom n : targets) {
    try {
      Term d = session().ask(n, "global_digest");
      if (!d.is_integer()) bad_reply(n, "global_digest", d);
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx",
                    static_cast<unsigned long long>(std::uint64_t(d.as<std::int64_t>())));
      rows.emplace_back(node_text(n), hex);
    } catch (const CliError& e) {
      if (!all_nodes || n == node) throw;
      std::cerr << "ember: " << e.what() << '\n';  // the other nodes still get listed
      rc = e.code();
    }
  }
  if (options_.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::cout << (i ? ",\n " : "") << "{\"node\": " << json_string(rows[i].first)
                << ", \"digest\": " << json_string(rows[i].second) << "}";
    std::cout << "]\n";
    return rc;
  }
  if (!all_nodes) {
    std::cout << rows.at(0).second << '\n';
    return rc;
  }
  Table table({"NODE", "DIGEST"});
  for (const auto& [n, d] : rows) table.add({n, d});
  table.print(std::cout);
  return rc;
}

Atom Commands::scope_atom(const std::string& text) {
  Term t;
  try {
    t = parse_term(text);
  } catch (const ParseError&) {
  }
  if (!t.is_atom()) throw CliError(kUsage, "bad scope '" + text + "': expected an atom");
  return t.atom();
}

std::vector<Pid> Commands::pg_pids(Atom node, const char* command, Atom scope, const Term& group) {
  Term pids = session().ask(node, command, {Term(scope), group});
  if (!pids.is_list()) bad_reply(node, command, pids);
  std::vector<Pid> out;
  for (const Term& p : pids)
    if (p.is_pid()) out.push_back(p.pid());
  std::sort(out.begin(), out.end(), pid_less);
  return out;
}

int Commands::pg_groups(const std::string& scope_text) {
  Atom scope = scope_atom(scope_text);
  Atom node = attached();
  Term groups = session().ask(node, "pg_which_groups", {Term(scope)});
  if (!groups.is_list()) bad_reply(node, "pg_which_groups", groups);
  // Each group with its member count; sorted by the group's text, which reads back.
  std::vector<std::pair<std::string, std::size_t>> rows;
  for (const Term& g : groups)
    rows.emplace_back(print_cli_term(g), pg_pids(node, "pg_members", scope, g).size());
  std::sort(rows.begin(), rows.end());
  if (options_.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::cout << (i ? ",\n " : "") << "{\"group\": " << json_string(rows[i].first)
                << ", \"members\": " << rows[i].second << "}";
    std::cout << "]\n";
    return kOk;
  }
  Table table({"GROUP", "MEMBERS"});
  table.align_right(1);
  for (const auto& [g, n] : rows) table.add({g, std::to_string(n)});
  table.print(std::cout);
  return kOk;
}

int Commands::pg_members(const std::string& group_text, const std::string& scope_text, bool local) {
  Atom scope = scope_atom(scope_text);
  Term group = parse(group_text);
  Atom node = attached();
  auto pids = pg_pids(node, local ? "pg_local_members" : "pg_members", scope, group);
  if (options_.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < pids.size(); ++i)
      std::cout << (i ? ",\n " : "") << "{\"pid\": " << json_string(pid_text(pids[i]))
                << ", \"node\": " << json_string(pid_node(pids[i]).text()) << "}";
    std::cout << "]\n";
    return kOk;
  }
  for (Pid p : pids) std::cout << pid_text(p) << '\n';  // a pid joined twice: two lines
  return kOk;
}

int Commands::pg_change(bool join, const std::string& group_text, const std::string& pid_arg,
                        const std::string& scope_text) {
  Atom scope = scope_atom(scope_text);
  Term group = parse(group_text);
  Pid pid = live_pid(pid_arg);
  Atom node = pid_node(pid);  // the authority on its own processes' memberships
  const char* command = join ? "pg_join" : "pg_leave";
  Term reply = session().ask(node, command, {Term(scope), group, Term(pid)});
  std::string what =
      pid_text(pid) + (join ? " cannot join " : " cannot leave ") + print_cli_term(group) + ": ";
  if (reply.is(Atom("not_joined")))
    throw CliError(kFailed, pid_text(pid) + " is not a member of " + print_cli_term(group) +
                                " in scope " + std::string(scope.text()));
  if (reply.is_tuple(2) && reply[0].is(Atom("error")))
    throw CliError(kFailed, what + print_cli_term(reply[1]));
  if (!reply.is(Atom("ok"))) bad_reply(node, command, reply);
  if (options_.json)
    std::cout << "{\"group\": " << json_string(print_cli_term(group))
              << ", \"scope\": " << json_string(scope.text())
              << ", \"pid\": " << json_string(pid_text(pid)) << ", \"" << (join ? "joined" : "left")
              << "\": true}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

namespace {

// Local wall-clock time with microseconds, as a trace line starts.
std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06lld", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us));
  return buf;
}

}  // namespace

int Commands::trace(const std::string& target, double seconds, long count) {
  parse_target(target);  // a malformed target is exit 2 before anything connects
  if (!(seconds > 0)) throw CliError(kUsage, "--seconds must be positive");
  Pid pid = target_pid(target);
  std::string who = pid_text(pid);
  auto duration = milliseconds(std::int64_t(seconds * 1000));
  auto started = [&] {
    // On stderr, so that stdout holds only the trace; a script can wait for this line.
    std::cerr << "tracing " << who << " for " << seconds << " s"
              << (count ? " or " + std::to_string(count) + " messages" : std::string())
              << " (Ctrl-C stops)" << std::endl;
  };
  auto on_message = [&](const Term& m) {
    // Flushed per line: the trace is read as it happens (pipes are block-buffered).
    if (options_.json)
      std::cout << "{\"time\": " << json_string(timestamp()) << ", \"pid\": " << json_string(who)
                << ", \"message\": " << json_string(print_cli_term(m)) << "}" << std::endl;
    else
      std::cout << timestamp() << ' ' << who << " << " << print_cli_term(m) << std::endl;
  };
  Session::TraceEnd end = session().trace(pid, duration, count, started, on_message);
  std::cerr << end.messages << (end.messages == 1 ? " message" : " messages");
  if (end.why == Session::TraceEnd::kExited)
    std::cerr << "; " << who << " exited: " << print_cli_term(end.reason);
  std::cerr << std::endl;
  return kOk;
}

int Commands::bench(const std::vector<std::string>& node_args, double seconds, long calls) {
  if (!(seconds > 0)) throw CliError(kUsage, "--seconds must be positive");
  std::vector<Atom> targets;
  for (const auto& n : node_args) targets.push_back(canonical_node(n));  // bad name: exit 2
  if (targets.empty()) {
    Atom node = attached();
    targets.push_back(node);
    Term others = session().ask(node, "nodes");
    if (!others.is_list()) bad_reply(node, "nodes", others);
    for (const Term& n : others)
      if (n.is_atom()) targets.push_back(n.atom());
    std::sort(targets.begin() + 1, targets.end(),
              [](Atom a, Atom b) { return a.text() < b.text(); });
  }
  auto fixed = [](double v, int digits) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return std::string(buf);
  };
  int rc = kOk;
  std::size_t ok = 0;
  double total_rate = 0, worst_median = 0;
  std::string json = "[";
  for (Atom node : targets) {
    std::string name = node_text(node);
    auto line = [&](const std::string& metric, const std::string& value, const char* unit) {
      if (!options_.json)
        std::cout << name << ' ' << metric << ": " << value << ' ' << unit << '\n';
    };
    try {
      session().attach(node);
      auto start = std::chrono::steady_clock::now();
      Term pong = session().ask(node, "ping");
      double ping_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (!pong.is(Atom("pong"))) bad_reply(node, "ping", pong);
      line("ping", fixed(ping_ms, 3), "ms");
      std::vector<double> rtt = session().echo_round_trips(node, int(calls));
      std::sort(rtt.begin(), rtt.end());
      double median = rtt.size() % 2 ? rtt[rtt.size() / 2]
                                     : (rtt[rtt.size() / 2 - 1] + rtt[rtt.size() / 2]) / 2;
      line("echo_min", fixed(rtt.front(), 3), "ms");
      line("echo_median", fixed(median, 3), "ms");
      line("echo_max", fixed(rtt.back(), 3), "ms");
      Session::Burst b = session().burst(node, milliseconds(std::int64_t(seconds * 1000)));
      if (b.received != b.sent)
        throw CliError(kFailed, "the sink on " + name + " counted " + std::to_string(b.received) +
                                    " of " + std::to_string(b.sent) + " messages");
      double rate = double(b.sent) / b.seconds;
      line("burst", fixed(rate, 0), "msgs/s");
      line("burst_messages", std::to_string(b.sent), "messages");
      ++ok;
      total_rate += rate;
      worst_median = std::max(worst_median, median);
      json += std::string(json.size() > 1 ? ",\n " : "") + "{\"node\": " + json_string(name) +
              ", \"ok\": true, \"ping_ms\": " + fixed(ping_ms, 3) +
              ", \"echo_min_ms\": " + fixed(rtt.front(), 3) +
              ", \"echo_median_ms\": " + fixed(median, 3) +
              ", \"echo_max_ms\": " + fixed(rtt.back(), 3) +
              ", \"burst_msgs_per_s\": " + fixed(rate, 0) +
              ", \"burst_messages\": " + std::to_string(b.sent) + "}";
    } catch (const CliError& e) {
      // The other nodes are still measured; the exit code is the first failure's.
      if (!options_.json) std::cout << name << " failed: " << e.what() << '\n';
      std::cerr << "ember: " << name << ": " << e.what() << '\n';
      json += std::string(json.size() > 1 ? ",\n " : "") + "{\"node\": " + json_string(name) +
              ", \"ok\": false, \"error\": " + json_string(e.what()) + "}";
      if (rc == kOk) rc = e.code();
    }
    std::cout << std::flush;
  }
  std::size_t failed = targets.size() - ok;
  if (options_.json) {
    std::cout << json << "]\n";
    return rc;
  }
  std::cout << "summary: " << ok << " of " << targets.size() << " nodes ok, " << failed
            << " failed";
  if (ok)
    std::cout << "; worst echo median " << fixed(worst_median, 3) << " ms, burst "
              << fixed(total_rate, 0) << " msgs/s over " << ok << (ok == 1 ? " node" : " nodes");
  std::cout << '\n';
  return rc;
}

int Commands::connect(const std::string& node_arg) {
  Atom node = attached(), other = canonical_node(node_arg);
  // The node waits up to 5 s for the connection; give it longer than that to answer.
  Term reply = session().ask(node, "connect", {Term(other)}, milliseconds(8000));
  if (!reply.is(Atom("true")))
    throw CliError(kUnreachable, node_text(node) + " cannot connect to " + node_text(other));
  if (options_.json)
    std::cout << "{\"node\": " << json_string(node.text())
              << ", \"connected\": " << json_string(other.text()) << "}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

int Commands::disconnect(const std::string& node_arg) {
  Atom node = attached(), other = canonical_node(node_arg);
  Term reply = session().ask(node, "disconnect", {Term(other)});
  if (!reply.is(Atom("true"))) bad_reply(node, "disconnect", reply);
  if (options_.json)
    std::cout << "{\"node\": " << json_string(node.text())
              << ", \"disconnected\": " << json_string(other.text()) << "}\n";
  else
    std::cout << "ok\n";
  return kOk;
}

}  // namespace ember::cli
