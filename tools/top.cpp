// `ember top`: a live view of a node or the cluster, from ember_admin's ps and stats.
// Interactive on a terminal (raw mode, redrawn in place, q quits, s changes the sort);
// one frame, plain text, with --once or when stdout is not a terminal.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "cli_error.hpp"
#include "commands.hpp"
#include "table.hpp"

namespace ember::cli {
namespace {

using Clock = std::chrono::steady_clock;

Term field(const Term& map, const char* key) {
  return map.is_map() ? map.get(Atom(key)).value_or(Term(Atom("undefined")))
                      : Term(Atom("undefined"));
}

std::int64_t number(const Term& map, const char* key) {
  Term v = field(map, key);
  return v.is_integer() ? v.as<std::int64_t>() : 0;
}

// The terminal's state before raw mode, for the restorer and the signal handler (which
// may only use async-signal-safe calls: tcsetattr and write are).
termios g_saved;
volatile std::sig_atomic_t g_raw = 0;
constexpr char kShowCursor[] = "\x1b[?25h";

void restore_terminal() {
  if (!g_raw) return;
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, kShowCursor, sizeof kShowCursor - 1);
  g_raw = 0;
}

extern "C" void on_signal(int sig) {
  restore_terminal();
  std::signal(sig, SIG_DFL);
  std::raise(sig);  // die of the signal, as without the handler (the shell sees it)
}

// Raw input (no line buffering, no echo) for the life of the object; the terminal comes
// back at its end, and on SIGINT / SIGTERM / SIGHUP. Output processing stays on, so "\n"
// is still a new line.
class RawTerminal {
 public:
  RawTerminal() {
    if (::tcgetattr(STDIN_FILENO, &g_saved) != 0) return;
    termios raw = g_saved;
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_signal);
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) g_raw = 1;
    std::cout << "\x1b[?25l" << std::flush;  // hide the cursor while redrawing
  }
  ~RawTerminal() {
    restore_terminal();
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_DFL);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
};

std::string clock_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string bytes_text(std::int64_t b) {
  char buf[32];
  if (b >= 10 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1024.0 * 1024.0));
  else if (b >= 10 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  return buf;
}

int terminal_rows() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row > 0) return w.ws_row;
  return 24;
}

// Messages and bytes per second on each visible connection of each node that answered,
// from the counters' growth between two samples (a connection that came up again meanwhile,
// and so counts from zero, counts from zero here too).
void connection_rates(std::ostream& out, const std::vector<std::pair<Atom, Term>>& before,
                      const std::vector<std::pair<Atom, Term>>& now, double seconds) {
  std::map<std::pair<std::string, std::string>, Term> previous;
  auto key = [](Atom node, const Term& c) {
    return std::make_pair(std::string(node.text()), cell_text(field(c, "node")));
  };
  for (const auto& [node, list] : before)
    for (const Term& c : list) previous[key(node, c)] = c;
  Table t({"NODE", "PEER", "MSGS IN/S", "MSGS OUT/S", "BYTES IN/S", "BYTES OUT/S", "QUEUE"});
  for (std::size_t c = 2; c < 7; ++c) t.align_right(c);
  for (const auto& [node, list] : now)
    for (const Term& c : list) {
      if (!field(c, "node").is_atom() || field(c, "hidden").is(Atom("true"))) continue;
      auto it = previous.find(key(node, c));
      bool same = it != previous.end() && number(it->second, "creation") == number(c, "creation") &&
                  number(it->second, "uptime_ms") <= number(c, "uptime_ms");
      auto rate = [&](const char* k) {
        std::int64_t d = number(c, k) - (same ? number(it->second, k) : 0);
        return std::to_string(std::llround(double(std::max<std::int64_t>(d, 0)) / seconds));
      };
      t.add({std::string(node.text()), cell_text(field(c, "node")), rate("messages_in"),
             rate("messages_out"), rate("bytes_in"), rate("bytes_out"),
             std::to_string(number(c, "queue_bytes"))});
    }
  t.print(out);
}

}  // namespace

// One sample of every node asked: ps rows and stats, or why the node did not answer.
struct TopSample {
  struct NodeSample {
    Atom node;
    std::vector<Term> rows;
    Term stats;
    Term connections;   // the admin's `connections` list: counters per peer
    std::string error;  // empty when it answered
  };
  std::vector<NodeSample> nodes;
};

TopSample Commands::top_sample(bool all_nodes) {
  Atom node = attached();
  std::vector<Atom> targets = this->targets(all_nodes);
  TopSample sample;
  for (Atom n : targets) {
    TopSample::NodeSample ns{n, {}, Term(), Term(), ""};
    try {
      ns.rows = ps_rows(n);
      ns.stats = session().ask(n, "stats");
      ns.connections = session().ask(n, "connections");
    } catch (const CliError& e) {
      if (n == node) throw;  // the attached node must answer; the others are shown failing
      ns.error = e.what();
    }
    sample.nodes.push_back(std::move(ns));
  }
  return sample;
}

std::string Commands::top_frame(const TopSample& before, const TopSample& now,
                                const std::string& sort, double seconds, long limit) {
  std::map<std::uint64_t, std::int64_t> previous;  // pid bits -> reductions
  for (const auto& n : before.nodes)
    for (const Term& r : n.rows) previous[field(r, "pid").pid().bits()] = number(r, "reductions");

  std::ostringstream out;
  std::size_t processes = 0, queued = 0, runnable = 0;
  std::int64_t memory = 0;
  Table nodes({"NODE", "PROCESSES", "MEMORY", "MESSAGES QUEUED", "RUN QUEUES"});
  for (std::size_t c = 1; c < 4; ++c) nodes.align_right(c);
  struct Row {
    Term r;
    std::int64_t delta;
  };
  std::vector<Row> rows;
  for (const auto& n : now.nodes) {
    if (!n.error.empty()) {
      nodes.add({std::string(n.node.text()), "-", "-", "-", n.error});
      continue;
    }
    std::size_t node_queued = 0;
    for (const Term& r : n.rows) {
      node_queued += std::size_t(number(r, "message_queue_len"));
      auto it = previous.find(field(r, "pid").pid().bits());
      // A process born during the interval counts all its reductions.
      std::int64_t delta = number(r, "reductions") - (it == previous.end() ? 0 : it->second);
      rows.push_back({r, std::max<std::int64_t>(delta, 0)});
    }
    std::string queues;
    for (const Term& q : field(n.stats, "run_queues")) {
      queues += (queues.empty() ? "" : " ") + cell_text(q);
      runnable += q.is_integer() ? std::size_t(q.as<std::int64_t>()) : 0;
    }
    processes += std::size_t(number(n.stats, "processes"));
    memory += number(n.stats, "memory");
    queued += node_queued;
    nodes.add({std::string(n.node.text()), std::to_string(number(n.stats, "processes")),
               bytes_text(number(n.stats, "memory")), std::to_string(node_queued), queues});
  }
  auto key = [&](const Row& row) -> std::int64_t {
    if (sort == "queue") return number(row.r, "message_queue_len");
    if (sort == "memory") return number(row.r, "memory");
    return row.delta;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    std::int64_t ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    return number(a.r, "reductions") > number(b.r, "reductions");
  });

  char interval[32];
  std::snprintf(interval, sizeof interval, "%.1f s", seconds);
  out << "ember top - " << attached().text() << " - " << clock_text() << " - " << now.nodes.size()
      << (now.nodes.size() == 1 ? " node" : " nodes") << ", " << processes << " processes, "
      << queued << " messages queued, " << runnable << " runnable, " << bytes_text(memory)
      << " in process slots\n";
  out << "sorted by " << sort << ", reductions over the last " << interval << "\n\n";
  nodes.print(out);
  out << '\n';
  auto links = [](const TopSample& t) {
    std::vector<std::pair<Atom, Term>> v;
    for (const auto& n : t.nodes)
      if (n.error.empty() && n.connections.is_list()) v.emplace_back(n.node, n.connections);
    return v;
  };
  connection_rates(out, links(before), links(now), seconds);
  out << '\n';
  Table procs({"PID", "NAME", "STATUS", "QUEUE", "REDS/INTERVAL", "REDUCTIONS", "MEMORY"});
  for (std::size_t c = 3; c < 7; ++c) procs.align_right(c);
  std::size_t shown = limit > 0 ? std::min(rows.size(), std::size_t(limit)) : rows.size();
  for (std::size_t i = 0; i < shown; ++i) {
    const Term& r = rows[i].r;
    Term name = field(r, "name");
    procs.add({pid_text(field(r, "pid").pid()), name.is(Atom("undefined")) ? "" : cell_text(name),
               cell_text(field(r, "status")), cell_text(field(r, "message_queue_len")),
               std::to_string(rows[i].delta), cell_text(field(r, "reductions")),
               cell_text(field(r, "memory"))});
  }
  procs.print(out);
  if (shown < rows.size()) out << "... " << rows.size() - shown << " more\n";
  return out.str();
}

int Commands::top(bool all_nodes, long interval_ms, const std::string& sort_arg, bool once,
                  long limit) {
  static const std::vector<std::string> sorts{"reductions", "queue", "memory"};
  if (std::find(sorts.begin(), sorts.end(), sort_arg) == sorts.end())
    throw CliError(kUsage, "bad --sort '" + sort_arg + "': reductions, queue or memory");
  std::string sort = sort_arg;
  auto interval = std::chrono::milliseconds(interval_ms);
  bool interactive = !once && ::isatty(STDOUT_FILENO) && ::isatty(STDIN_FILENO);

  TopSample before = top_sample(all_nodes);
  auto taken = Clock::now();
  if (!interactive) {
    // One frame: the deltas need a second sample one interval later.
    std::this_thread::sleep_for(interval);
    TopSample now = top_sample(all_nodes);
    double s = std::chrono::duration<double>(Clock::now() - taken).count();
    std::cout << top_frame(before, now, sort, s, limit) << std::flush;
    return kOk;
  }

  RawTerminal raw;
  for (;;) {
    // Wait out the interval, reading keys meanwhile.
    auto until = taken + interval;
    bool quit = false;
    while (!quit) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) != 1) continue;
      if (c == 'q' || c == 'Q' || c == 3 /* Ctrl-C in raw mode */) quit = true;
      if (c == 's') {  // the next sort order, redrawn at once
        auto it = std::find(sorts.begin(), sorts.end(), sort);
        sort = ++it == sorts.end() ? sorts.front() : *it;
        break;
      }
    }
    if (quit) break;
    TopSample now = top_sample(all_nodes);
    double s = std::chrono::duration<double>(Clock::now() - taken).count();
    // Room for the headers and the node table: the rest of the screen is processes.
    long rows =
        limit > 0 ? limit : std::max(1L, long(terminal_rows()) - 8 - long(now.nodes.size()));
    std::cout << "\x1b[H\x1b[2J" << top_frame(before, now, sort, s, rows)
              << "\nq quits, s sorts by the next of reductions, queue, memory" << std::flush;
    before = std::move(now);
    taken = Clock::now();
  }
  std::cout << '\n';
  return kOk;
}

}  // namespace ember::cli
