// ember-bench: the runtime's and the distribution's workloads, named and shaped as the
// Erlang anchors (bench/erlang/ebench.erl and edist.erl, from shared/anchors/erlang) so the
// two line up by name.
//   ember-bench [spawn_idle|spawn_idle_10m|spawn_exit|ring_10k|ring_1m|pingpong|many_to_one|
//                selective|dist_pingpong|dist_throughput|dist_down|global|global_sync]...
// With no argument it runs all but spawn_idle_10m. Prints `name: value unit` lines.
// `ember-bench dist_child NAME COOKIE` (hidden) is the peer dist_down starts and kills, and
// the nodes B and C of the global workloads.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bench_util.hpp"
#include "ember/core/runtime.hpp"
#include "ember/node/global.hpp"
#include "ember/node/node.hpp"
#include "gen_server_bench.hpp"
#include "ring_node.hpp"

extern char** environ;

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// CLOCK_MONOTONIC: one clock for every OS process on the machine (the global workloads
// compare times taken on different nodes).
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

void rec(const std::string& name, double value, const char* unit) {
  std::printf("%s: %.4g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

// Waits (politely) until every run queue is empty and `last` is waiting in receive.
void wait_idle(Runtime& rt, Pid last) {
  for (;;) {
    auto s = rt.stats();
    std::size_t queued = 0;
    for (auto n : s.run_queue_lengths) queued += n;
    auto info = rt.info(last);
    if (queued == 0 && info && info->status == ProcessStatus::kWaiting) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

Proc idle(Self self) {
  co_await self.receive(match("stop"_a));
}

// 1. spawn_idle: spawn N processes that wait in receive; time, RSS per process, kill time.
void spawn_idle(std::size_t n, const std::string& name) {
  Runtime rt;
  long rss0 = rss_bytes();
  double spawn_ns = 0;
  std::vector<Pid> pids;
  pids.reserve(n);
  rt.run([&](Self self) -> Proc {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i)
      pids.push_back(self.spawn(idle));  // (spawn is not a yield point)
    spawn_ns = ns_since(t0);
    co_return;
  });
  wait_idle(rt, pids.back());
  long rss1 = rss_bytes();
  rec(name + "_us_per_spawn", spawn_ns / 1000 / double(n), "us");
  rec(name + "_bytes_per_proc_rss", double(rss1 - rss0 - long(n * sizeof(Pid))) / double(n),
      "bytes");
  rec(name + "_process_info_memory", double(rt.info(pids.back())->memory), "bytes");
  auto t0 = Clock::now();
  for (Pid p : pids) rt.exit(p, Atom("kill"));
  while (rt.process_count() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  rec(name + "_kill_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
}

// 2. spawn_exit: N processes that message the parent and end; then N spawn_monitor'ed ones.
void spawn_exit(std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid parent = self.pid();
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) self.spawn([parent](Self s) { s.send(parent, "done"_a); });
    for (std::size_t i = 0; i < n; ++i) co_await self.receive(match("done"_a));
    rec("spawn_exit_1M_msg_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
    t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) self.spawn_monitor([](Self) {});
    for (std::size_t i = 0; i < n; ++i)
      co_await self.receive(match(tuple(Atom("DOWN"), _, _, _, _)));
    rec("spawn_exit_1M_monitor_us_per_proc", ns_since(t0) / 1000 / double(n), "us");
  });
}

// 3. ring: N processes pass a token M times round (N*M hops).
using bench::ring_node;

void ring(std::size_t n, std::size_t m, const std::string& name) {
  Runtime rt;
  std::vector<Pid> pids;
  rt.run([&](Self self) -> Proc {
    Pid main = self.pid();
    auto t0 = Clock::now();
    Pid first = self.spawn([main](Self s) { return ring_node(s, main, Pid()); });
    Pid last = first;
    pids.push_back(first);
    for (std::size_t i = 1; i < n; ++i) {
      Pid next = last;
      last = self.spawn([main, next](Self s) { return ring_node(s, main, next); });
      pids.push_back(last);
    }
    self.send(first, tuple("next"_a, last));
    double setup = ns_since(t0);
    auto t1 = Clock::now();
    self.send(last, tuple("token"_a, std::int64_t(n * m)));
    co_await self.receive(match("ring_done"_a));
    double ns_hop = ns_since(t1) / double(n * m);
    rec(name + "_ns_per_hop", ns_hop, "ns");
    rec(name + "_hops_per_sec", 1e9 / ns_hop, "hops/s");
    rec(name + "_setup_us_per_proc", setup / 1000 / double(n), "us");
    for (Pid p : pids) self.exit(p, Atom("kill"));
  });
}

// 4. pingpong: N round trips between two processes.
void pingpong(std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid ponger = self.spawn([](Self s) -> Proc {
      for (;;) {
        auto m = co_await s.receive("{ping, _, _}"_p);
        s.send(m.pid(1), tuple("pong"_a, m[2]));
      }
    });
    auto t0 = Clock::now();
    for (std::size_t k = n; k > 0; --k) {
      self.send(ponger, tuple("ping"_a, self.pid(), std::int64_t(k)));
      co_await self.receive(match(tuple("pong"_a, std::int64_t(k))));
    }
    rec("pingpong_local_ns_per_roundtrip", ns_since(t0) / double(n), "ns");
    self.exit(ponger, Atom("kill"));
  });
}

// 5. many_to_one: P producers each send N {msg, I} to one consumer.
void many_to_one(std::size_t producers, std::size_t n) {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid main = self.pid();
    std::size_t total = producers * n;
    Pid consumer = self.spawn([main, total](Self s) -> Proc {
      for (std::size_t i = 0; i < total; ++i) co_await s.receive("{msg, _}"_p);
      s.send(main, "consumed"_a);
    });
    std::vector<Pid> ps;
    for (std::size_t p = 0; p < producers; ++p)
      ps.push_back(self.spawn([consumer, n](Self s) -> Proc {
        co_await s.receive(match("go"_a));
        for (std::size_t k = n; k > 0; --k)
          co_await s.send(consumer, tuple("msg"_a, std::int64_t(k)));
      }));
    co_await self.sleep(std::chrono::milliseconds(10));
    auto t0 = Clock::now();
    for (Pid p : ps) self.send(p, "go"_a);
    co_await self.receive(match("consumed"_a));
    double secs = ns_since(t0) / 1e9;
    rec("many_to_one_" + std::to_string(producers) + "p_msgs_per_sec", double(total) / secs,
        "msgs/s");
  });
}

// 6. selective: call/reply with a fresh ref while Q unrelated messages sit in the mailbox.
void selective() {
  Runtime rt;
  rt.run([&](Self self) -> Proc {
    Pid server = self.spawn([](Self s) -> Proc {
      for (;;) {
        auto m = co_await s.receive("{req, _, _}"_p);
        s.send(m.pid(1), tuple(m[2], "reply"_a));
      }
    });
    for (std::int64_t q : {0, 10000}) {
      constexpr std::size_t kCalls = 100000;
      std::vector<double> runs;
      for (int rep = 0; rep < 5; ++rep) {
        Pid parent = self.pid();
        self.spawn([server, parent, q](Self c) -> Proc {
          for (std::int64_t i = 0; i < q; ++i) c.send(c.pid(), tuple("junk"_a, i));
          auto t0 = Clock::now();
          for (std::size_t k = 0; k < kCalls; ++k) {
            Ref ref = c.make_ref();
            c.send(server, tuple("req"_a, c.pid(), ref));
            co_await c.receive(match(tuple(ref, _))).since(ref);
          }
          c.send(parent, tuple("ns"_a, ns_since(t0) / double(kCalls)));
        });
        runs.push_back((co_await self.receive("{ns, _}"_p))[1].as<double>());
      }
      std::sort(runs.begin(), runs.end());
      rec("selective_receive_ref_" + std::to_string(q) + "queued_ns_per_roundtrip",
          runs[runs.size() / 2], "ns");
    }
    self.exit(server, Atom("kill"));
  });
}

// --- Distribution (edist.erl's workloads) ----------------------------------------------
// dist_pingpong and dist_throughput run two Nodes in this OS process on 127.0.0.1 (the
// Erlang side has two VMs); dist_down kills a Node in a child OS process (this program,
// re-executed as `dist_child`).

using namespace std::chrono_literals;

const char* const kCookie = "ember_bench_cookie";

NodeConfig dist_config(const std::string& name) {
  NodeConfig c;
  c.name = name + "@127.0.0.1:0";
  c.cookie = kCookie;
  c.cork_process_sends = ember::bench::bench_cork();
  // EMBER_BENCH_BUSY_KIB=N: the outbox's busy limit (NodeConfig::busy_bytes), for
  // comparing queue depths (docs/BENCHMARKS.md).
  if (const char* kib = std::getenv("EMBER_BENCH_BUSY_KIB"))
    c.busy_bytes = std::size_t(std::strtoull(kib, nullptr, 10)) << 10;
  return c;
}

// CPU time of every thread of this OS process (both Nodes), in seconds.
double process_cpu_secs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// edist's sink/2: counts every message but {done, _}; once `senders` senders are done
// (per-pair order: all their messages came first) sends Main {ack, Count}.
Proc sink(Self s, std::int64_t senders, Pid main) {
  std::int64_t count = 0;
  while (senders > 0) {
    auto m = co_await s.receive();
    const Term& t = m.term();
    if (t.is_tuple(2) && t[0].is("done"_a))
      --senders;
    else
      ++count;
  }
  s.send(main, tuple("ack"_a, count));
}

// What edist's peers run (pong_loop, sink, poller); its idle/0 is dist_child's bench_waiter.
void register_dist_functions() {
  register_remote_function("bench_pong", [](Self s, Term) -> Proc {
    for (;;) {
      auto m = co_await s.receive("{ping, _, _}"_p);
      s.send(m.pid(1), tuple("pong"_a, m[2]));
    }
  });
  register_remote_function("bench_sink", [](Self s, Term args) -> Proc {
    return sink(s, args[0].as<std::int64_t>(), args[1].pid());
  });
  // dist_bulk's receiver of the big message: tells Main its size once it is whole.
  register_remote_function("bench_bulk_sink", [](Self s, Term main) -> Proc {
    for (;;) {
      auto m = co_await s.receive("{bulk, _}"_p);
      s.send(main.pid(), tuple("bulk_got"_a, std::int64_t(m[1].size())));
    }
  });
  // dist_down's normal exit (edist's exit_on_stop/1): on stop, tells Main when it exits.
  register_remote_function("bench_exit_on_stop", [](Self s, Term main) -> Proc {
    co_await s.receive(match("stop"_a));
    s.send(main.pid(), tuple("exiting"_a, s.pid(), now_ns()));
  });
  // The global workloads' helpers on nodes B and C. edist's poller/1: on {watch, Name}
  // answers {polling, self()}, spins (yielding) on whereis_global until Name appears and
  // sends {seen, self(), Name, T} with T from the machine-wide monotonic clock.
  register_remote_function("bench_global_poller", [](Self s, Term args) -> Proc {
    Pid main = args.pid();
    for (;;) {
      auto m = co_await s.receive("{watch, _}"_p, match("stop"_a));
      if (m.clause() == 1) co_return;
      Atom name = m[1].atom();
      s.send(main, tuple("polling"_a, s.pid()));
      while (!whereis_global(s, name)) co_await s.yield();
      s.send(main, tuple("seen"_a, s.pid(), name, now_ns()));
    }
  });
  // args Main: sends Main {node_info, NodesConnected, GlobalNames, GlobalDigest}.
  register_remote_function("bench_node_info", [](Self s, Term args) -> Proc {
    Node& node = *Node::of(s);
    s.send(args.pid(),
           tuple("node_info"_a, std::int64_t(node.nodes().size()),
                 std::int64_t(node.global_names().size()), std::int64_t(node.global_digest())));
    co_return;
  });
}

// The peer of dist_down and dist_pingpong's second half: a Node whose registered
// `bench_waiter` answers {where, From} with {here, self()} (and which runs the functions
// above). Prints its node name, then lives until stdin closes (or it is killed).
int dist_child(const char* name, const char* cookie) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
  NodeConfig c;
  c.name = name;
  c.cookie = cookie;
  c.cork_process_sends = ember::bench::bench_cork();
  Node node(c);
  Pid waiter = node.runtime().spawn([](Self s) -> Proc {
    for (;;) {
      auto m = co_await s.receive("{where, _}"_p);
      s.send(m.pid(1), tuple("here"_a, s.pid()));
    }
  });
  node.runtime().register_name(Atom("bench_waiter"), waiter);
  std::printf("node %.*s\n", int(node.name().text().size()), node.name().text().data());
  std::fflush(stdout);
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}

// A dist_child OS process; killed (SIGKILL) and reaped by the destructor whatever happened.
class Child {
 public:
  explicit Child(std::string name = "child@127.0.0.1:0") {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    char* argv[] = {const_cast<char*>("ember-bench"), const_cast<char*>("dist_child"), name.data(),
                    const_cast<char*>(kCookie), nullptr};
    if (posix_spawn(&pid_, "/proc/self/exe", &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdin_ >= 0) ::close(stdin_);
    if (stdout_ >= 0) ::close(stdout_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // The child's resident set in kB (what the kernel tears down on kill -9).
  long rss_kb() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
    return -1;
  }

  // The child's node name (its line `node NAME`), or "" after `timeout`.
  std::string node_name(std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return "";
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      char ch;
      if (::read(stdout_, &ch, 1) != 1) return "";
      if (ch != '\n') {
        line += ch;
      } else if (line.starts_with("node ")) {
        return line.substr(5);
      } else {
        line.clear();
      }
    }
    return "";
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
};

// Round trips of {ping, From, K} / {pong, K} (edist's ping/2) from a process on `from` to a
// pong on `to`: 3 x 20,000 after 1,000; us per round trip, fewer than 3 on failure.
std::vector<double> pingpong_reps(Node& from, Atom to, const char* what) {
  std::vector<double> reps;
  Term why = from.runtime().run([&](Self self) -> Proc {
    auto [pong, ref] = co_await spawn_remote(self, to, "bench_pong", Term(), {.monitor = true});
    // A lost connection ends the run (DOWN); no receive timeout, as a timer armed per
    // round trip would keep the timer thread ticking every millisecond.
    const auto down = match(tuple(Atom("DOWN"), ref, _, _, _));
    auto ping = [&](std::size_t n) -> Co<bool> {
      for (std::size_t k = n; k > 0; --k) {
        self.send(pong, tuple("ping"_a, self.pid(), std::int64_t(k)));
        Message m = co_await self.receive(match(tuple("pong"_a, std::int64_t(k))), down);
        if (m.clause() != 0) co_return false;
      }
      co_return true;
    };
    if (!co_await ping(1000)) co_return;  // warm up the connection
    for (int rep = 0; rep < 3; ++rep) {
      constexpr std::size_t kN = 20000;
      auto t0 = Clock::now();
      if (!co_await ping(kN)) co_return;
      reps.push_back(ns_since(t0) / 1000 / double(kN));
      std::printf("# %s rep %d: %.2f us per round trip\n", what, rep + 1, reps.back());
    }
    self.exit(pong, Atom("kill"));
  });
  if (reps.size() < 3)
    std::printf("# %s failed (%zu reps done; exit %s)\n", what, reps.size(),
                why.to_string().c_str());
  return reps;
}

// Two Nodes in this OS process (the figure named as edist's), then the same against a Node
// in a child OS process, as Erlang's two VMs are.
void dist_pingpong() {
  {
    Node a(dist_config("bench_a")), b(dist_config("bench_b"));
    auto reps = pingpong_reps(a, b.name(), "dist_pingpong");
    if (reps.size() == 3) rec("dist_pingpong_us_per_roundtrip", median(reps), "us");
  }
  Node a(dist_config("bench_a"));
  Child child;
  std::string name = child.node_name(10s);
  if (name.empty()) {
    std::printf("# dist_pingpong_2proc: the child did not start\n");
    return;
  }
  auto reps = pingpong_reps(a, Atom(name), "dist_pingpong_2proc");
  if (reps.size() == 3) rec("dist_pingpong_2proc_us_per_roundtrip", median(reps), "us");
}

// edist's throughput/5: `senders` processes on A each send `n` messages to one sink on B,
// then {done, self()}; timed from 'go' until the sink's {ack, Total} is back on A. Returns
// seconds (0 on failure).
double dist_oneway(Node& a, Node& b, std::size_t senders, std::size_t n, const Term* payload) {
  double secs = 0, sent_secs = 0;
  std::string failure = "no reply";
  double cpu0 = process_cpu_secs();
  std::int64_t total = std::int64_t(senders * n);
  a.runtime().run([&](Self self) -> Proc {
    Pid main = self.pid();
    // The sink is monitored so that a lost connection ends the run at once; the spawn's
    // reply means the sink exists.
    Pid sink =
        (co_await spawn_remote(self, b.name(), "bench_sink", tuple(std::int64_t(senders), main)))
            .pid;
    Ref ref = self.monitor(sink);
    std::vector<Pid> ps;
    for (std::size_t i = 0; i < senders; ++i)
      ps.push_back(self.spawn([sink, n, payload, main](Self s) -> Proc {
        co_await s.receive(match("go"_a));
        if (payload) {
          // Each sender's own binary, as edist's big/1 keeps one per process: one the
          // senders shared would have its reference count bounce between the cores.
          Term mine(Bytes{payload->bytes()});
          for (std::size_t k = n; k > 0; --k)
            co_await s.send(sink, tuple("seq"_a, std::int64_t(k), mine));
        } else
          for (std::size_t k = n; k > 0; --k)
            co_await s.send(sink, tuple("seq"_a, std::int64_t(k)));
        s.send(sink, tuple("done"_a, s.pid()));
        s.send(main, "sent"_a);
      }));
    const auto down = match(tuple(Atom("DOWN"), ref, _, _, _));
    auto t0 = Clock::now();
    for (Pid p : ps) self.send(p, "go"_a);
    // (No co_await inside ?: here: GCC 12 mishandles the temporaries of such a Message.)
    auto failed = [&](const Message& m) {
      if (!m.timed_out() && m.clause() == 0) return false;
      failure = m.timed_out() ? "timed out" : "sink DOWN: " + m[4].to_string();
      for (Pid p : ps) self.exit(p, Atom("kill"));
      self.exit(sink, Atom("kill"));
      return true;
    };
    for (std::size_t i = 0; i < senders; ++i) {
      Message m = co_await self.receive(match("sent"_a), down).after(60s);
      if (failed(m)) co_return;
    }
    sent_secs = ns_since(t0) / 1e9;
    Message m = co_await self.receive(match(tuple("ack"_a, _)), down).after(60s);
    if (failed(m)) co_return;
    if (m[1].as<std::int64_t>() != total) {
      failure = "sink counted " + m[1].to_string();
      co_return;
    }
    secs = ns_since(t0) / 1e9;
  });
  if (secs > 0)
    std::printf(
        "# dist_oneway %zux%zu%s: senders done after %.3f s, last received after %.3f s, "
        "%.2f cores busy\n",
        senders, n, payload ? " 1KiB" : "", sent_secs, secs, (process_cpu_secs() - cpu0) / secs);
  else
    std::printf("# dist_oneway %zux%zu%s failed: %s\n", senders, n, payload ? " 1KiB" : "",
                failure.c_str());
  return secs;
}

void dist_throughput() {
  Node a(dist_config("bench_a")), b(dist_config("bench_b"));
  if (!a.connect(b.name())) {
    std::printf("# dist_throughput: cannot connect\n");
    return;
  }
  dist_oneway(a, b, 1, 100000, nullptr);  // warm-up, as edist's tp_bench
  std::vector<std::byte> bytes(1024);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte((i + 1) % 256);
  const Term bin(Bytes{bytes});
  struct Case {
    const char* name;
    std::size_t senders, n;
    const Term* payload;
  };
  for (const Case& c : {Case{"dist_oneway_1sender_small", 1, 2000000, nullptr},
                        Case{"dist_oneway_4senders_small", 4, 500000, nullptr},
                        Case{"dist_oneway_1sender_1KiB", 1, 500000, &bin},
                        Case{"dist_oneway_4senders_1KiB", 4, 125000, &bin}}) {
    // EMBER_BENCH_CASE=TEXT runs only the cases whose name holds TEXT (for perf record).
    const char* only = std::getenv("EMBER_BENCH_CASE");
    if (only && !std::strstr(c.name, only)) continue;
    std::vector<double> rates;
    for (int rep = 0; rep < 3; ++rep)
      if (double s = dist_oneway(a, b, c.senders, c.n, c.payload); s > 0)
        rates.push_back(double(c.senders * c.n) / s);
    if (rates.size() < 3) std::printf("# %s: %zu of 3 runs failed\n", c.name, 3 - rates.size());
    if (rates.empty()) continue;
    double r = median(rates);
    rec(std::string(c.name) + "_msgs_per_sec", r, "msgs/s");
    if (c.payload) rec(std::string(c.name) + "_payload_MB_per_sec", r * 1024 / 1e6, "MB/s");
  }
}

// Monitors the child's bench_waiter from `parent`, sends the child OS process `sig` and
// returns ms from kill() to the DOWN (noconnection); < 0 on failure.
double down_after(Node& parent, int sig) {
  Child child;
  std::string name = child.node_name(10s);
  if (name.empty()) {
    std::printf("# dist_down: the child did not start\n");
    return -1;
  }
  double ms = -1;
  long rss_kb = 0;
  Term reason;
  parent.runtime().run([&](Self self) -> Proc {
    RemoteName where{Atom("bench_waiter"), Atom(name)};
    self.send(where, tuple("where"_a, self.pid()));
    auto m = co_await self.receive("{here, _}"_p).after(10s);
    if (m.timed_out()) co_return;
    Pid waiter = m.pid(1);
    Ref ref = self.monitor(waiter);
    // Once this is answered the monitor is in place on the child too (per-pair order).
    self.send(waiter, tuple("where"_a, self.pid()));
    if ((co_await self.receive("{here, _}"_p).after(5s)).timed_out()) co_return;
    rss_kb = child.rss_kb();
    auto t0 = Clock::now();
    ::kill(child.pid(), sig);
    auto d = co_await self.receive(match(tuple(Atom("DOWN"), ref, _, _, _))).after(20s);
    if (d.timed_out()) co_return;
    ms = ns_since(t0) / 1e6;
    reason = d[4];
  });
  if (ms >= 0 && !reason.is("noconnection"_a)) {
    std::printf("# dist_down: DOWN with %s, not noconnection\n", reason.to_string().c_str());
    return -1;
  }
  std::printf("# %s: child node %s, VmRSS %ld kB\n", sig == SIGKILL ? "kill -9" : "SIGSTOP",
              name.c_str(), rss_kb);
  return ms;  // ~Child: SIGKILL (the stopped one too) and waitpid
}

// edist's down_normal_exit: a process here monitors one on a child OS process, which
// exits normally when told; DOWN normal timed from the child's exit (one way, on the
// machine-wide clock) and from the stop's send.
void down_normal_exit(Node& parent, int reps) {
  Child child;
  std::string name = child.node_name(10s);
  if (name.empty()) {
    std::printf("# dist_down: the child did not start\n");
    return;
  }
  std::vector<double> one_way, full;
  parent.runtime().run([&](Self self) -> Proc {
    for (int i = 0; i < reps; ++i) {
      auto [pid, ref] = co_await spawn_remote(self, Atom(name), "bench_exit_on_stop",
                                              Term(self.pid()), {.monitor = true});
      std::int64_t t0 = now_ns();
      self.send(pid, "stop"_a);
      auto exiting = co_await self.receive(match(tuple("exiting"_a, pid, _))).after(5s);
      auto down = co_await self.receive(match(tuple("DOWN"_a, ref, _, _, _))).after(5s);
      if (exiting.timed_out() || down.timed_out() || !down[4].is("normal"_a)) co_return;
      std::int64_t t1 = now_ns();
      one_way.push_back(double(t1 - exiting[2].integer()) / 1e6);
      full.push_back(double(t1 - t0) / 1e6);
    }
  });
  if (int(full.size()) != reps) {
    std::printf("# dist_down: normal exit failed after %zu of %d reps\n", full.size(), reps);
    return;
  }
  rec("dist_down_normal_exit_oneway_ms", median(one_way), "ms");
  rec("dist_down_normal_exit_stop_to_down_ms", median(full), "ms");
}

// A child OS process's Node, idle but connected to `parent` (as edist's peer is to A):
// its resident size, the figure `ps` shows. edist's peer for this has the default +P.
void dist_idle_node() {
  Node parent(dist_config("bench_parent"));
  std::vector<double> reps;
  for (int rep = 0; rep < 3; ++rep) {
    Child child;
    std::string name = child.node_name(10s);
    bool connected = false;
    if (!name.empty())
      parent.runtime().run(
          [&](Self self) -> Proc { connected = co_await ping(self, Atom(name)) == "pong"_a; });
    if (!connected) {
      std::printf("# dist_idle_node: the child did not start or answer\n");
      return;
    }
    reps.push_back(double(child.rss_kb()));
  }
  rec("dist_idle_node_rss_kB", median(reps), "kB");
}

void dist_down() {
  Node parent(dist_config("bench_parent"));
  down_normal_exit(parent, 1000);
  for (auto [sig, name] :
       {std::pair{SIGKILL, "dist_down_kill9_ms"}, std::pair{SIGSTOP, "dist_down_sigstop_ms"}}) {
    std::vector<double> reps;
    for (int rep = 0; rep < 3; ++rep) {
      double ms = down_after(parent, sig);
      std::printf("# %s rep %d: %.3f ms\n", name, rep + 1, ms);
      if (ms >= 0) reps.push_back(ms);
    }
    if (reps.size() == 3) rec(name, median(reps), "ms");
  }
}

// --- Global registry (edist.erl's global_bench, plus global_whereis and global_sync) -----
// Node A is a Node in this OS process; B and C are dist_child OS processes (Erlang's are
// three VMs), meshed before anything is timed. Names are atoms (edist's are tuples).

// `info` of `node`: {node_info, NodesConnected, GlobalNames, GlobalDigest}, or [] after 5 s.
Co<Term> node_info(Self self, Atom node) {
  RemoteSpawn r = co_await spawn_remote(self, node, "bench_node_info", Term(self.pid()));
  (void)r;
  Message m = co_await self.receive("{node_info, _, _, _}"_p).after(5s);
  if (m.timed_out()) co_return Term();
  co_return m.term();
}

// Starts `n` dist_child OS processes, connects `a` to each and waits until every node sees
// all the others (the mesh is closed by the nodes themselves). Their names, or {}.
std::vector<Atom> start_cluster(Node& a, std::vector<std::unique_ptr<Child>>& children,
                                std::size_t n) {
  std::vector<Atom> names;
  for (std::size_t i = 0; i < n; ++i) {
    children.push_back(std::make_unique<Child>("gchild" + std::to_string(i) + "@127.0.0.1:0"));
    std::string name = children.back()->node_name(10s);
    if (name.empty() || !a.connect(Atom(name), 10s)) {
      std::printf("# global: node %zu did not start or connect\n", i + 1);
      return {};
    }
    names.emplace_back(name);
  }
  bool meshed = false;
  auto deadline = Clock::now() + 10s;
  while (!meshed && Clock::now() < deadline) {
    a.runtime().run([&](Self self) -> Proc {
      meshed = a.nodes().size() == n;
      for (Atom peer : names) {
        Term info = co_await node_info(self, peer);
        if (!info.is_tuple(4) || info[1].integer() != std::int64_t(n)) meshed = false;
      }
    });
    if (!meshed) std::this_thread::sleep_for(10ms);
  }
  if (!meshed) {
    std::printf("# global: the %zu nodes did not mesh\n", n + 1);
    return {};
  }
  return names;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / double(v.size());
}

// Spawns `n` idle processes (edist's idle/0) with the names prefix_0 .. prefix_{n-1}.
void idle_named(Self self, std::size_t n, const std::string& prefix, std::vector<Pid>& pids,
                std::vector<Atom>& names) {
  pids.clear();
  names.clear();
  for (std::size_t i = 0; i < n; ++i) {
    pids.push_back(self.spawn(idle));
    names.emplace_back(prefix + std::to_string(i));
  }
}

void global_bench() {
  Node a(dist_config("bench_ga"));
  std::vector<std::unique_ptr<Child>> children;
  std::vector<Atom> peers = start_cluster(a, children, 2);
  if (peers.empty()) return;
  std::printf("# global: node A %.*s, B %.*s, C %.*s\n", int(a.name().text().size()),
              a.name().text().data(), int(peers[0].text().size()), peers[0].text().data(),
              int(peers[1].text().size()), peers[1].text().data());
  std::string failure;
  Term why = a.runtime().run([&](Self self) -> Proc {
    const Atom kill("kill");
    std::vector<Pid> pids;
    std::vector<Atom> names;

    // 1. global_register_round/2: 1,000 names registered then unregistered, one at a
    // time, 3 rounds; each figure is the median of the rounds.
    std::vector<double> reg_mean, reg_median, unreg_mean;
    for (int round = 1; round <= 3; ++round) {
      constexpr std::size_t kN = 1000;
      idle_named(self, kN, "bench_" + std::to_string(round) + "_", pids, names);
      std::vector<double> reg, unreg;
      for (std::size_t i = 0; i < kN; ++i) {
        auto t0 = Clock::now();
        GlobalResult r = co_await register_global(self, names[i], pids[i]);
        reg.push_back(ns_since(t0) / 1000);
        if (r != GlobalResult::kYes) {
          failure = std::string("register_global: ") + to_string(r);
          co_return;
        }
      }
      for (std::size_t i = 0; i < kN; ++i) {
        auto t0 = Clock::now();
        GlobalResult r = co_await unregister_global(self, names[i]);
        unreg.push_back(ns_since(t0) / 1000);
        if (r != GlobalResult::kYes) {
          failure = std::string("unregister_global: ") + to_string(r);
          co_return;
        }
      }
      for (Pid p : pids) self.exit(p, kill);
      reg_mean.push_back(mean(reg));
      reg_median.push_back(median(reg));
      unreg_mean.push_back(mean(unreg));
      std::printf(
          "# global register round %d: register mean %.1f us, median %.1f us, max %.1f us; "
          "unregister mean %.1f us, median %.1f us\n",
          round, reg_mean.back(), reg_median.back(), *std::max_element(reg.begin(), reg.end()),
          unreg_mean.back(), median(unreg));
    }
    rec("global_register_name_mean_us", median(reg_mean), "us");
    rec("global_register_name_median_us", median(reg_median), "us");
    rec("global_unregister_name_mean_us", median(unreg_mean), "us");

    // 2. global_visibility/2: pollers on B and C spin (yielding) on whereis_global; time
    // from the start of register_global on A until both have seen the name, 200 names.
    std::vector<Pid> pollers;
    for (Atom peer : peers) {
      RemoteSpawn r = co_await spawn_remote(self, peer, "bench_global_poller", Term(self.pid()));
      pollers.push_back(r.pid);
    }
    Pid target = self.spawn(idle);
    std::vector<double> regs, max_seen, all_seen;
    int seen_before_return = 0;
    constexpr int kVis = 200;
    for (int i = 0; i < kVis; ++i) {
      Atom name("bench_vis_" + std::to_string(i));
      for (Pid po : pollers) self.send(po, tuple("watch"_a, name));
      for (Pid po : pollers) {
        Message m = co_await self.receive(match(tuple("polling"_a, po))).after(10s);
        if (m.timed_out()) {
          failure = "a poller did not answer";
          co_return;
        }
      }
      std::int64_t t0 = now_ns();
      GlobalResult r = co_await register_global(self, name, target);
      std::int64_t t1 = now_ns();
      if (r != GlobalResult::kYes) {
        failure = std::string("register_global (visibility): ") + to_string(r);
        co_return;
      }
      double latest = 0;
      for (Pid po : pollers) {
        Message m = co_await self.receive(match(tuple("seen"_a, po, name, _))).after(10s);
        if (m.timed_out()) {
          failure = "a poller never saw " + std::string(name.text());
          co_return;
        }
        double us = double(m[3].integer() - t0) / 1000;
        all_seen.push_back(us);
        latest = std::max(latest, us);
      }
      GlobalResult u = co_await unregister_global(self, name);
      (void)u;
      regs.push_back(double(t1 - t0) / 1000);
      max_seen.push_back(latest);
      if (latest <= regs.back()) ++seen_before_return;
    }
    for (Pid po : pollers) self.send(po, "stop"_a);
    self.exit(target, kill);
    rec("global_visible_on_other_nodes_median_us", median(max_seen), "us");
    rec("global_visible_on_other_nodes_mean_us", mean(max_seen), "us");
    rec("global_register_name_with_pollers_median_us", median(regs), "us");
    std::printf(
        "# global visibility over %d names: register call median %.1f us (while 2 pollers "
        "spin), name seen on each other node median %.1f us after the call started, on both "
        "median %.1f us; seen before register_global returned in %.1f%% of cases\n",
        kVis, median(regs), median(all_seen), median(max_seen), 100.0 * seen_before_return / kVis);

    // 3. global_whereis (ours; edist.erl run(global_whereis)): whereis_global on A over
    // 1,000 registered names, 1,000,000 lookups x 5; then the same from two processes at
    // once (one per worker), each timing its own lookups.
    constexpr std::size_t kNames = 1000;
    idle_named(self, kNames, "bench_w_", pids, names);
    for (std::size_t i = 0; i < kNames; ++i) {
      GlobalResult r = co_await register_global(self, names[i], pids[i]);
      if (r != GlobalResult::kYes) {
        failure = "register_global (whereis)";
        co_return;
      }
    }
    constexpr std::size_t kLookups = 1000000;
    std::vector<double> lookups;
    for (int rep = 0; rep < 5; ++rep) {
      std::size_t found = 0;
      auto t0 = Clock::now();
      for (std::size_t k = 0; k < kLookups; ++k) {
        std::optional<Pid> p = whereis_global(self, names[k % kNames]);
        bench::keep(p);
        found += p.has_value();
        if ((k & 0xffff) == 0xffff) co_await self.yield();
      }
      lookups.push_back(ns_since(t0) / double(kLookups));
      if (found != kLookups) {
        failure = "whereis_global missed";
        co_return;
      }
    }
    rec("global_whereis_ns", median(lookups), "ns");
    std::vector<double> both;
    for (int rep = 0; rep < 3; ++rep) {
      Pid main = self.pid();
      for (int w = 0; w < 2; ++w)
        self.spawn([&names, main](Self s) -> Proc {
          auto t0 = Clock::now();
          for (std::size_t k = 0; k < kLookups; ++k) {
            std::optional<Pid> p = whereis_global(s, names[k % kNames]);
            bench::keep(p);
            if ((k & 0xffff) == 0xffff) co_await s.yield();
          }
          s.send(main, tuple("ns"_a, ns_since(t0) / double(kLookups)));
        });
      for (int w = 0; w < 2; ++w) {
        Message m = co_await self.receive("{ns, _}"_p);
        both.push_back(m[1].number());
      }
    }
    rec("global_whereis_2procs_ns", median(both), "ns");
    for (std::size_t i = 0; i < kNames; ++i) {
      GlobalResult r = co_await unregister_global(self, names[i]);
      (void)r;
    }
    for (Pid p : pids) self.exit(p, kill);

    // 4. global_send/3: send_global of {seq, K} to a sink on B (500,000 x 3), then to one
    // on A (1,000,000 x 3); timed until the sink's {ack, N} is back.
    Pid main = self.pid();
    std::vector<double> remote_rates, local_rates;
    for (bool remote : {true, true, true, false, false, false}) {
      std::size_t n = remote ? 500000 : 1000000;
      Pid sink_pid;
      if (remote) {
        RemoteSpawn r =
            co_await spawn_remote(self, peers[0], "bench_sink", tuple(std::int64_t(1), main));
        sink_pid = r.pid;
      } else {
        sink_pid = self.spawn([main](Self s) { return sink(s, 1, main); });
      }
      Ref ref = self.monitor(sink_pid);
      Atom gname("bench_sink_" + std::to_string(now_ns()));
      GlobalResult r = co_await register_global(self, gname, sink_pid);
      if (r != GlobalResult::kYes) {
        failure = "register_global (sink)";
        co_return;
      }
      auto t0 = Clock::now();
      for (std::size_t k = n; k > 0; --k) {
        send_global(self, gname, tuple("seq"_a, std::int64_t(k)));
        if ((k & 1023) == 0) co_await self.yield();
      }
      send_global(self, gname, tuple("done"_a, self.pid()));
      Message m =
          co_await self.receive(match(tuple("ack"_a, _)), match(tuple(Atom("DOWN"), ref, _, _, _)))
              .after(50s);
      if (m.timed_out() || m.clause() != 0 || m[1].integer() != std::int64_t(n)) {
        failure = "send_global: no ack";
        co_return;
      }
      double secs = ns_since(t0) / 1e9;
      self.demonitor(ref);
      GlobalResult u = co_await unregister_global(self, gname);
      (void)u;
      (remote ? remote_rates : local_rates).push_back(double(n) / secs);
      std::printf("# global_send_to_%s: %zu messages in %.3f s\n", remote ? "remote" : "local", n,
                  secs);
    }
    rec("global_send_to_remote_msgs_per_sec", median(remote_rates), "msgs/s");
    rec("global_send_to_local_msgs_per_sec", median(local_rates), "msgs/s");
  });
  if (!failure.empty() || !why.is("normal"_a))
    std::printf("# global failed: %s (exit %s)\n", failure.c_str(), why.to_string().c_str());
}

// global_sync (ours; edist.erl run(global_sync)): 10,000 names (pids on A) on a 2-node
// cluster, A here and B a dist_child; then a third node C (a Node in this OS process, so
// its table can be read directly) connects to A: time from connect() until C holds all
// 10,000 names and its digest equals A's. C meets B through the mesh. 3 runs, a fresh C
// each time; the median.
void global_sync() {
  constexpr std::size_t kN = 10000;
  Node a(dist_config("bench_ga"));
  std::vector<std::unique_ptr<Child>> children;
  std::vector<Atom> peers = start_cluster(a, children, 1);
  if (peers.empty()) return;
  std::vector<Pid> pids;
  std::vector<Atom> names;
  std::string failure;
  double reg_secs = 0;
  std::int64_t b_names = -1;
  a.runtime().run([&](Self self) -> Proc {
    idle_named(self, kN, "bench_sync_", pids, names);
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < kN; ++i) {
      GlobalResult r = co_await register_global(self, names[i], pids[i]);
      if (r != GlobalResult::kYes) {
        failure = std::string("register_global: ") + to_string(r);
        co_return;
      }
    }
    reg_secs = ns_since(t0) / 1e9;
    Term info = co_await node_info(self, peers[0]);
    if (info.is_tuple(4)) b_names = info[2].integer();
  });
  if (!failure.empty()) {
    std::printf("# global_sync failed: %s\n", failure.c_str());
    return;
  }
  std::printf("# global_sync: %zu names registered from A in %.2f s; B holds %lld\n", kN, reg_secs,
              static_cast<long long>(b_names));
  const std::uint64_t digest = a.global_digest();
  std::vector<double> runs;
  for (int rep = 1; rep <= 3; ++rep) {
    Node c(dist_config("bench_gc" + std::to_string(rep)));
    auto t0 = Clock::now();
    if (!c.connect(a.name(), 10s)) {
      std::printf("# global_sync rep %d: C could not connect\n", rep);
      continue;
    }
    double connect_ms = ns_since(t0) / 1e6;
    bool done = false;
    std::size_t have = 0;
    while (!done && Clock::now() - t0 < 20s) {
      have = c.global_names().size();
      done = have == kN && c.global_digest() == digest;
      if (!done) std::this_thread::sleep_for(200us);
    }
    double ms = ns_since(t0) / 1e6;
    std::printf(
        "# global_sync rep %d: connected after %.2f ms, all %zu names and equal digests after "
        "%.2f ms; C sees %zu nodes\n",
        rep, connect_ms, have, ms, c.nodes().size());
    if (done) runs.push_back(ms);
  }
  if (runs.size() == 3) rec("global_sync_10000_names_ms", median(runs), "ms");
}

// Ends the program if a distribution workload hangs (a lost message with the connection up
// would otherwise wait forever); a dist_child dies with it (PR_SET_PDEATHSIG).
class Watchdog {
 public:
  void arm(std::string what, std::chrono::seconds limit) {
    {
      std::lock_guard lock(mutex_);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      what_ = std::move(what);
      deadline_ = Clock::now() + limit;
      ++epoch_;
    }
    changed_.notify_all();
  }
  void disarm() {
    {
      std::lock_guard lock(mutex_);
      deadline_.reset();
      ++epoch_;
    }
    changed_.notify_all();
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      auto epoch = epoch_;
      auto moved = [&] { return stop_ || epoch_ != epoch; };
      if (!deadline_) {
        changed_.wait(lock, moved);
      } else if (!changed_.wait_until(lock, *deadline_, moved)) {
        std::fprintf(stderr, "ember-bench: %s still running after its time limit\n", what_.c_str());
        std::fflush(stdout);
        std::_Exit(3);
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Clock::time_point> deadline_;
  std::string what_;
  std::uint64_t epoch_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// Small-message latency while a 100 MiB message is in flight on the same connection: a
// process on A ping-pongs with a pong on B (edist's ping/2) while another sends B a
// 100 MiB binary; the round trips from the start of that send until B has the whole of
// it are the samples (a round trip bounds both one-way latencies). Five reps; each
// figure is the median of the reps'.
void dist_bulk() {
  constexpr std::size_t kBig = 100u << 20;
  NodeConfig ca = dist_config("bench_a"), cb = dist_config("bench_b");
  ca.max_message_bytes = cb.max_message_bytes = 2 * kBig;  // the default limit is 64 MiB
  Node a(ca), b(cb);
  std::vector<std::byte> bytes(kBig);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i % 251);
  const Term big = tuple("bulk"_a, Bytes{bytes});
  std::vector<double> p50s, p99s, maxes, transfers;
  std::size_t fewest = SIZE_MAX;
  std::string failure;
  a.runtime().run([&](Self self) -> Proc {
    Pid main = self.pid();
    auto [pong, pref] =
        co_await spawn_remote(self, b.name(), "bench_pong", Term(), {.monitor = true});
    auto [sink, sref] =
        co_await spawn_remote(self, b.name(), "bench_bulk_sink", Term(main), {.monitor = true});
    const auto down = match(tuple(Atom("DOWN"), _, _, _, _));
    std::int64_t k = 0;
    for (; k < 1000; ++k) {  // warm up the connection
      self.send(pong, tuple("ping"_a, main, k));
      if ((co_await self.receive(match(tuple("pong"_a, k)), down).after(10s)).clause() != 0) {
        failure = "warm-up failed";
        co_return;
      }
    }
    for (int rep = 0; rep < 5; ++rep) {
      std::vector<double> rtts;
      auto t0 = Clock::now();
      self.spawn([sink, &big](Self s) -> Proc { co_await s.send(sink, big); });
      bool got = false;
      while (!got) {
        auto p0 = Clock::now();
        self.send(pong, tuple("ping"_a, main, ++k));
        for (;;) {
          Message m =
              co_await self.receive(match(tuple("pong"_a, k)), match(tuple("bulk_got"_a, _)), down)
                  .after(30s);
          if (m.timed_out() || m.clause() == 2) {
            failure = m.timed_out() ? "timed out" : "DOWN: " + m[4].to_string();
            co_return;
          }
          if (m.clause() == 1) {
            got = true;
            if (m[1].as<std::int64_t>() != std::int64_t(kBig)) {
              failure = "sink got " + m[1].to_string() + " bytes";
              co_return;
            }
            transfers.push_back(ns_since(t0) / 1e6);
          }
          if (m.clause() != 0) continue;
          if (!got) rtts.push_back(ns_since(p0) / 1e6);
          break;
        }
      }
      if (rtts.empty()) {
        failure = "no round trip while the big message was in flight";
        co_return;
      }
      std::sort(rtts.begin(), rtts.end());
      auto pct = [&](double q) {
        return rtts[std::min(rtts.size() - 1, std::size_t(q * rtts.size()))];
      };
      std::printf(
          "# dist_bulk rep %d: %zu round trips while 100 MiB was in flight: p50 %.3f ms, "
          "p99 %.3f ms, max %.3f ms; the 100 MiB took %.1f ms\n",
          rep + 1, rtts.size(), pct(0.5), pct(0.99), rtts.back(), transfers.back());
      p50s.push_back(pct(0.5));
      p99s.push_back(pct(0.99));
      maxes.push_back(rtts.back());
      fewest = std::min(fewest, rtts.size());
    }
    self.exit(pong, Atom("kill"));
    self.exit(sink, Atom("kill"));
  });
  if (p99s.size() < 5) {
    std::printf("# dist_bulk failed: %s\n", failure.c_str());
    return;
  }
  rec("dist_rtt_during_100MiB_send_p50_ms", median(p50s), "ms");
  rec("dist_rtt_during_100MiB_send_p99_ms", median(p99s), "ms");
  rec("dist_rtt_during_100MiB_send_max_ms", median(maxes), "ms");
  rec("dist_100MiB_send_ms", median(transfers), "ms");
}

const std::map<std::string, std::function<void()>>& workloads() {
  static const std::map<std::string, std::function<void()>> w = {
      {"spawn_idle", [] { spawn_idle(1000000, "spawn_idle_1M"); }},
      {"spawn_idle_10m", [] { spawn_idle(10000000, "spawn_idle_10M"); }},
      {"spawn_exit", [] { spawn_exit(1000000); }},
      {"ring_10k", [] { ring(10000, 1000, "ring_10k_x1000"); }},
      {"ring_1m", [] { ring(1000000, 10, "ring_1M_x10"); }},
      {"pingpong", [] { pingpong(1000000); }},
      {"many_to_one",
       [] {
         many_to_one(2, 1000000);
         many_to_one(8, 1000000);
       }},
      {"selective", [] { selective(); }},
      {"gen_server", [] { bench::gen_server_bench(); }},
      {"dist_gen_server", [] { bench::dist_gen_server_bench(); }},
      {"dist_pingpong", [] { dist_pingpong(); }},
      {"dist_throughput", [] { dist_throughput(); }},
      {"dist_bulk", [] { dist_bulk(); }},
      {"dist_down", [] { dist_down(); }},
      {"dist_idle_node", [] { dist_idle_node(); }},
      {"global", [] { global_bench(); }},
      {"global_sync", [] { global_sync(); }},
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  // The node layer logs connections (spdlog, stdout by default): keep stdout for figures.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ember-bench"));
  register_dist_functions();
  if (argc == 4 && std::strcmp(argv[1], "dist_child") == 0) return dist_child(argv[2], argv[3]);
  std::vector<std::string> chosen(argv + 1, argv + argc);
  if (chosen.empty())
    for (const auto& [name, fn] : workloads())
      if (name != "spawn_idle_10m") chosen.push_back(name);
  for (const auto& name : chosen) {
    if (!workloads().count(name)) {
      std::fprintf(
          stderr,
          "ember-bench: unknown workload '%s'\nusage: ember-bench [WORKLOAD...]\nworkloads:",
          name.c_str());
      for (const auto& [w, fn] : workloads()) std::fprintf(stderr, " %s", w.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  std::printf("# ember-bench: %u hardware threads\n", std::thread::hardware_concurrency());
  Watchdog watchdog;
  for (const auto& name : chosen) {
    if (name.starts_with("dist_") || name.starts_with("global"))
      watchdog.arm(name, std::chrono::seconds(180));
    workloads().at(name)();
    watchdog.disarm();
  }
  return 0;
}
