#include "metrics.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "ember/node/node.hpp"
#include "ember/node/process_groups.hpp"

namespace ember::detail {

namespace {

// A label value with the escapes the text format asks for: backslash, quote, newline.
std::string label(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

class Page {
 public:
  // One metric family: its HELP and TYPE lines, then its samples.
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }
  // A sample of the current family; labels is "" or `key="value",...`.
  void sample(const std::string& labels, const std::string& value) {
    text_ += name_;
    if (!labels.empty()) text_ += "{" + labels + "}";
    text_ += ' ';
    text_ += value;
    text_ += '\n';
  }
  void sample(const std::string& labels, std::uint64_t value) {
    sample(labels, std::to_string(value));
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  const char* name_ = "";
};

// Resident set size from /proc/self/statm (pages), 0 where there is none.
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * std::uint64_t(::sysconf(_SC_PAGESIZE));
}

}  // namespace

std::string prometheus_text(Node& node) {
  Page p;
  RuntimeStats rt = node.runtime().stats();
  p.family("ember_node_info", "gauge", "This node's name and creation (always 1).");
  p.sample("node=\"" + label(node.name().text()) + "\",creation=\"" +
               std::to_string(node.creation()) + "\"",
           1);
  p.family("ember_uptime_seconds", "gauge", "Seconds since this node started.");
  p.sample("", number(double(node.uptime().count()) / 1000));
  p.family("ember_processes", "gauge", "Processes alive on this node.");
  p.sample("", rt.processes);
  p.family("ember_run_queue_length", "gauge",
           "Processes waiting to run, per scheduler and in the injection queue.");
  for (std::size_t i = 0; i < rt.run_queue_lengths.size(); ++i) {
    bool injection = i + 1 == rt.run_queue_lengths.size();
    p.sample(injection ? "queue=\"injection\"" : "queue=\"" + std::to_string(i) + "\"",
             rt.run_queue_lengths[i]);
  }
  p.family("ember_process_memory_bytes", "gauge",
           "Bytes held by process slots: control blocks, queued messages, bookkeeping.");
  p.sample("", rt.memory);
  p.family("ember_resident_memory_bytes", "gauge", "Resident set size of the OS process.");
  p.sample("", resident_bytes());
  p.family("ember_long_runs_total", "counter",
           "Times a process held a scheduler thread for more than 100 ms.");
  p.sample("", rt.long_runs);
  p.family(
      "ember_os_yields_total", "counter",
      "yield()s in a polling loop, with nothing else to run, that let the OS run its threads.");
  p.sample("", rt.os_yields);
  p.family("ember_connected_nodes", "gauge", "Visible nodes connected now.");
  p.sample("", node.nodes().size());
  p.family("ember_node_downs_total", "counter",
           "Visible nodes lost after their connection had come up.");
  p.sample("", node.node_downs());
  p.family("ember_global_names", "gauge", "Names in the global registry, as this node sees it.");
  p.sample("", node.global_names().size());
  p.family("ember_pg_groups", "gauge", "Process groups with members anywhere, per scope.");
  Atom scope = ProcessGroups::default_scope();
  p.sample("scope=\"" + label(scope.text()) + "\"", node.groups().which_groups(scope).size());

  // Per peer: visible nodes only (a CLI's random name would make a new series each run).
  std::vector<net::ConnectionStats> peers;
  for (auto& c : node.connection_stats())
    if (!c.hidden) peers.push_back(std::move(c));
  struct PerPeer {
    const char* name;
    const char* type;
    const char* help;
    std::string (*value)(const net::ConnectionStats&);
  };
  static const PerPeer kPerPeer[] = {
      {"ember_peer_messages_in_total", "counter", "Messages received from the peer.",
       [](const net::ConnectionStats& c) { return std::to_string(c.messages_in); }},
      {"ember_peer_messages_out_total", "counter", "Messages sent to the peer.",
       [](const net::ConnectionStats& c) { return std::to_string(c.messages_out); }},
      {"ember_peer_bytes_in_total", "counter", "Bytes read from the peer's connection.",
       [](const net::ConnectionStats& c) { return std::to_string(c.bytes_in); }},
      {"ember_peer_bytes_out_total", "counter", "Bytes written to the peer's connection.",
       [](const net::ConnectionStats& c) { return std::to_string(c.bytes_out); }},
      {"ember_peer_frames_in_total", "counter",
       "Frames received from the peer (ticks and handshake included).",
       [](const net::ConnectionStats& c) { return std::to_string(c.frames_in); }},
      {"ember_peer_frames_out_total", "counter",
       "Frames queued for the peer (ticks and handshake included).",
       [](const net::ConnectionStats& c) { return std::to_string(c.frames_out); }},
      {"ember_peer_queue_bytes", "gauge", "Bytes waiting in the connection's outbox.",
       [](const net::ConnectionStats& c) { return std::to_string(c.queued_bytes); }},
      {"ember_peer_uptime_seconds", "gauge", "Seconds since the connection came up.",
       [](const net::ConnectionStats& c) { return number(double(c.uptime.count()) / 1000); }},
      {"ember_peer_last_read_seconds", "gauge", "Seconds since a byte was last read from the peer.",
       [](const net::ConnectionStats& c) {
         return number(double(c.since_last_read.count()) / 1000);
       }},
  };
  for (const PerPeer& m : kPerPeer) {
    p.family(m.name, m.type, m.help);
    for (const auto& c : peers) p.sample("peer=\"" + label(c.peer) + "\"", m.value(c));
  }
  return p.take();
}

HttpResponse metrics_route(Node& node, const HttpRequest& request) {
  bool known = request.path == "/metrics" || request.path == "/health";
  if (!known) return {404, "text/plain; charset=utf-8", "not found: try /metrics or /health\n"};
  if (request.method != "GET" && request.method != "HEAD")
    return {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  if (request.path == "/health") return {200, "text/plain; charset=utf-8", "ok\n"};
  return {200, "text/plain; version=0.0.4; charset=utf-8", prometheus_text(node)};
}

}  // namespace ember::detail
