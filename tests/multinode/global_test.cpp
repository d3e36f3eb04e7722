// The global registry across real ember-node processes: racers for the same names on three
// nodes, an owner killed, an owner's node killed with SIGKILL, a node joining a cluster that
// holds many names, and a partition (Node::block through ember_admin) that heals with the
// same name registered on both sides. ember-node's global_racers and global_holder
// functions do the registering; the test reads every node's table through ember_admin.
//
// EMBER_MULTINODE_GLOBAL_TRIALS (names raced for) and EMBER_MULTINODE_GLOBAL_NAMES (names
// a joining node receives) scale the first and the fourth: 1,000 and 10,000 by default,
// 200 and 2,000 in sanitizer builds.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "support.hpp"

using namespace multinode;

namespace {

std::int64_t env_or(const char* name, std::int64_t release, std::int64_t sanitized) {
  if (const char* e = std::getenv(name); e && *e) return std::atoll(e);
#ifdef EMBER_MULTINODE_SANITIZED
  (void)release;
  return sanitized;
#else
  (void)sanitized;
  return release;
#endif
}

std::vector<Term> numbered(const std::string& prefix, std::int64_t n) {
  std::vector<Term> names;
  names.reserve(std::size_t(n));
  for (std::int64_t i = 0; i < n; ++i) names.emplace_back(Atom(prefix + std::to_string(i)));
  return names;
}

// A node's global table, through its ember_admin: name -> pid (empty on no answer).
using Table = std::map<std::string, Pid>;

Co<std::optional<Table>> table_of(Self self, Atom node) {
  Term rows = co_await testing::admin_call(self, node, "global_names"_a, {}, 10s);
  if (!rows.is_list()) co_return std::nullopt;
  Table t;
  for (const Term& r : rows)
    if (r.is_tuple(2) && r[0].is_atom() && r[1].is_pid())
      t[std::string(r[0].as<Atom>().text())] = r[1].pid();
  co_return t;
}

// ember_admin requests with arguments. (g++ 12 cannot compile a braced list of arguments
// inside a co_await expression: "array used as initializer".)
Co<Term> ask(Self self, Atom node, Atom command, Term arg) {
  return testing::admin_call(self, node, command, std::vector<Term>{std::move(arg)});
}
Co<Term> ask(Self self, Atom node, Atom command, Term arg1, Term arg2) {
  return testing::admin_call(self, node, command,
                             std::vector<Term>{std::move(arg1), std::move(arg2)});
}

Co<Term> digest_of(Self self, Atom node) {
  co_return co_await testing::admin_call(self, node, "global_digest"_a, {}, 10s);
}

// Every node answers the same table and the same digest.
Co<bool> converged(Self self, const std::vector<Atom>& nodes) {
  std::optional<Table> first;
  Term first_digest;
  for (Atom n : nodes) {
    auto t = co_await table_of(self, n);
    Term d = co_await digest_of(self, n);
    if (!t || !d.is_integer()) co_return false;
    if (!first) {
      first = std::move(t);
      first_digest = d;
    } else if (*t != *first || d != first_digest) {
      co_return false;
    }
  }
  co_return true;
}

// Starts global_holder on `node` for `names` and waits for its {holding, Pid, Yes, No,
// Timeout}: the pid and the counts (Pid() if it did not report).
struct Holding {
  Pid pid;
  std::int64_t yes = 0, no = 0, timeout = 0;
};

Co<Holding> hold(Self self, Atom node, std::vector<Term> names, bool trap = false,
                 milliseconds within = 30s) {
  Term args =
      trap ? tuple(list_of(names), self.pid(), "trap"_a) : tuple(list_of(names), self.pid());
  Holding h;
  auto s = co_await spawn_remote(self, node, "global_holder", args);
  auto m = co_await self.receive(match(tuple("holding"_a, s.pid, _, _, _))).after(within);
  if (m.timed_out()) co_return h;
  h.pid = s.pid;
  h.yes = m[2].as<std::int64_t>();
  h.no = m[3].as<std::int64_t>();
  h.timeout = m[4].as<std::int64_t>();
  co_return h;
}

// What each node's table holds that the first node's does not, and the other way round:
// for the failure message when tables differ.
Co<std::string> differences(Self self, const std::vector<Atom>& nodes) {
  std::vector<std::optional<Table>> tables;
  for (Atom n : nodes) tables.push_back(co_await table_of(self, n));
  std::string out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out += std::string(nodes[i].text()) + ": ";
    if (!tables[i]) {
      out += "no answer\n";
      continue;
    }
    out += std::to_string(tables[i]->size()) + " names";
    if (i > 0 && tables[0]) {
      for (const auto& [name, pid] : *tables[i]) {
        auto it = tables[0]->find(name);
        if (it == tables[0]->end() || it->second != pid)
          out += ", has " + name + " -> " + print_term(Term(pid));
      }
      for (const auto& [name, pid] : *tables[0])
        if (!tables[i]->count(name)) out += ", lacks " + name;
    }
    out += "\n";
  }
  co_return out;
}

}  // namespace

TEST_CASE("global: racers on three nodes, one yes per name, the same table everywhere") {
  ThreeNodes t;
  const std::int64_t trials = env_or("EMBER_MULTINODE_GLOBAL_TRIALS", 1000, 200);
  std::vector<Term> names = numbered("race_", trials);
  std::vector<Atom> nodes = names_of({&t.a, &t.b, &t.c});
  bool ready = false;
  std::int64_t reports = 0;
  double race_ms = 0;
  // name -> (result -> count), and the winner's pid.
  std::map<std::string, std::map<std::string, int>> results;
  std::map<std::string, Pid> winners;
  std::vector<std::optional<Table>> tables;
  std::vector<Term> digests;
  t.cluster.run([&](Self self) -> Proc {
    // One coordinator per node, holding its racers back until `go`.
    std::vector<Pid> coordinators;
    Term args = tuple(list_of(names), self.pid());
    for (Atom n : nodes) {
      auto s = co_await spawn_remote(self, n, "global_racers", args);
      coordinators.push_back(s.pid);
    }
    int ready_count = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      ready_count += !(co_await self.receive("{racers_ready, _}"_p).after(10s)).timed_out();
    ready = ready_count == 3;
    if (!ready) co_return;
    auto start = Clock::now();
    for (Pid p : coordinators) self.send(p, "go"_a);
    auto deadline = start + 60s;
    while (reports < 3 * trials) {
      auto m = co_await self.receive("{race, _, _, _}"_p).after(left_until(deadline));
      if (m.timed_out()) break;
      ++reports;
      std::string name(m[1].as<Atom>().text());
      std::string result(m[2].as<Atom>().text());
      results[name][result]++;
      if (result == "yes") winners[name] = m.pid(3);
    }
    race_ms = ms_since(start);
    // A yes means every connected node already has the name: no waiting here.
    for (Atom n : nodes) {
      tables.push_back(co_await table_of(self, n));
      digests.push_back(co_await digest_of(self, n));
    }
    for (Pid p : coordinators) self.send(p, "stop"_a);
  });
  REQUIRE(ready);
  std::printf("global: %lld names raced for by 3 nodes (%lld racers) in %.0f ms\n",
              static_cast<long long>(trials), static_cast<long long>(3 * trials), race_ms);
  CHECK(reports == 3 * trials);
  CHECK(results.size() == std::size_t(trials));
  int bad = 0;
  for (const auto& [name, r] : results) {
    bool ok =
        r.size() == 2 && r.count("yes") && r.at("yes") == 1 && r.count("no") && r.at("no") == 2;
    if (!ok && ++bad <= 5) {
      std::string s;
      for (const auto& [k, v] : r) s += k + "=" + std::to_string(v) + " ";
      FAIL_CHECK(name << ": " << s);
    }
  }
  CHECK(bad == 0);
  REQUIRE(tables.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO(nodes[i].text());
    REQUIRE(tables[i]);
    // The table holds the races' names (and nothing else) with the winning pids.
    CHECK(tables[i]->size() == std::size_t(trials));
    CHECK(*tables[i] == winners);
    CHECK(digests[i].is_integer());
    CHECK(digests[i] == digests[0]);
  }
  t.teardown();
}

TEST_CASE("global: an owner killed through ember_admin loses its names on every node") {
  ThreeNodes t;
  std::vector<Atom> nodes = names_of({&t.a, &t.b, &t.c});
  std::vector<Term> names = numbered("victim_", 10);
  Holding h;
  bool seen_everywhere = false, gone = false;
  Term killed, down;
  double gone_ms = 0;
  t.cluster.run([&](Self self) -> Proc {
    h = co_await hold(self, t.b.name(), names);
    if (!h.pid.valid()) co_return;
    seen_everywhere = true;
    for (Atom n : nodes) {
      Term w = co_await ask(self, n, "whereis_global"_a, names[3]);
      seen_everywhere &= w == Term(h.pid);
    }
    Ref ref = self.monitor(h.pid);
    auto start = Clock::now();
    killed = co_await ask(self, t.b.name(), "kill"_a, h.pid, "kill"_a);
    auto d = co_await self.receive(match(tuple(kDown, ref, _, _, _))).after(10s);
    down = d.timed_out() ? Term("timeout"_a) : d[4];
    gone = co_await eventually_co(
        self,
        [&]() -> Co<bool> {
          for (Atom n : nodes) {
            auto table = co_await table_of(self, n);
            if (!table || !table->empty()) co_return false;
          }
          co_return true;
        },
        10s);
    gone_ms = ms_since(start);
  });
  REQUIRE(h.pid.valid());
  CHECK(h.yes == 10);
  CHECK(seen_everywhere);
  CHECK(killed == Term(true));
  CHECK(down == Term("killed"_a));
  CHECK(gone);
  std::printf("global: names of a killed owner gone on 3 nodes within %.0f ms\n", gone_ms);
  t.teardown();
}

TEST_CASE("global: kill -9 of an owner's node drops its names on the survivors") {
  ThreeNodes t;
  std::vector<Atom> survivors = names_of({&t.a, &t.b});
  Holding on_c, on_a;
  bool gone = false, kept = false, same = false;
  std::array<double, 2> gone_ms{-1, -1};
  t.cluster.run([&](Self self) -> Proc {
    on_c = co_await hold(self, t.c.name(), numbered("on_c_", 100));
    on_a = co_await hold(self, t.a.name(), numbered("on_a_", 10));
    if (!on_c.pid.valid() || !on_a.pid.valid()) co_return;
    auto killed = Clock::now();
    co_await blocking(self, [&] { t.c.kill(); });
    // Each survivor's first poll without c's names, under a generous deadline.
    auto deadline = killed + 10s;
    while (Clock::now() < deadline && (gone_ms[0] < 0 || gone_ms[1] < 0)) {
      for (std::size_t i = 0; i < 2; ++i) {
        if (gone_ms[i] >= 0) continue;
        auto table = co_await table_of(self, survivors[i]);
        if (table && !table->count("on_c_0") && !table->count("on_c_99"))
          gone_ms[i] = ms_since(killed);
      }
      co_await self.sleep(5ms);  // pacing between polls
    }
    gone = gone_ms[0] >= 0 && gone_ms[1] >= 0;
    auto ta = co_await table_of(self, t.a.name());
    auto tb = co_await table_of(self, t.b.name());
    kept = ta && tb && ta->size() == 10 && *ta == *tb && ta->at("on_a_9") == on_a.pid;
    same = co_await converged(self, survivors);
  });
  REQUIRE(on_c.pid.valid());
  CHECK(on_c.yes == 100);
  CHECK(on_a.yes == 10);
  CHECK(gone);
  std::printf(
      "global: kill -9 of the owner's node: names gone on a after %.0f ms, on b after "
      "%.0f ms\n",
      gone_ms[0], gone_ms[1]);
  CHECK(gone_ms[0] < 5000);
  CHECK(gone_ms[1] < 5000);
  CHECK(kept);
  CHECK(same);
  t.teardown();
}

TEST_CASE("global: a node joining a cluster that holds many names receives them all") {
  ClusterTest t;
  auto& a = t.cluster.start("a");
  auto& b = t.cluster.start("b");
  REQUIRE(t.cluster.wait_for_mesh());
  const std::int64_t count = env_or("EMBER_MULTINODE_GLOBAL_NAMES", 10000, 2000);
  Holding h;
  double register_ms = 0;
  t.cluster.run([&](Self self) -> Proc {
    auto start = Clock::now();
    h = co_await hold(self, a.name(), numbered("joined_", count), false, 120s);
    register_ms = ms_since(start);
  });
  REQUIRE(h.pid.valid());
  CHECK(h.yes == count);
  std::printf("global: %lld names registered on a 2-node cluster in %.0f ms\n",
              static_cast<long long>(count), register_ms);

  auto start = Clock::now();
  auto& c = t.cluster.start("c");  // joins a
  double ready_ms = ms_since(start);
  bool same = false;
  double same_ms = 0;
  std::size_t c_names = 0;
  std::vector<Atom> nodes = names_of({&a, &b, &c});
  t.cluster.run([&](Self self) -> Proc {
    Term want = co_await digest_of(self, a.name());
    same = co_await eventually_co(
        self, [&]() -> Co<bool> { co_return (co_await digest_of(self, c.name())) == want; }, 30s);
    same_ms = ms_since(start);
    auto table = co_await table_of(self, c.name());
    c_names = table ? table->size() : 0;
    same = same && co_await converged(self, nodes);
  });
  CHECK(same);
  CHECK(c_names == std::size_t(count));
  std::printf(
      "global: a joining node had all %lld names %.0f ms after it was started (%.0f ms "
      "after its ready line)\n",
      static_cast<long long>(count), same_ms, same_ms - ready_ms);
  t.teardown();
}

namespace {

// How a partition test registers its names (see the test cases below).
struct PartitionPlan {
  // The pids that meet over `split` hold a second name each (only_a_extra, only_c_extra):
  // the loser's goes with it when it dies.
  bool losers_hold_more = false;
  // {a, b} register their 50 one-side names before `split`, so that their Lamport clock
  // runs ahead and c's registration of split is the older one (which then keeps it).
  bool left_clock_ahead = false;
};

// Four nodes; the cables between {a, b} and {c, d} cut (Node::block through ember_admin on
// both ends) until each side sees only itself; `split` registered on a (pa) and c (pc), a
// trapping `split_trap` on b (qb) and d (qd), 50 names on each side only, and before the
// cut `before_split`; then the cut mended. Exactly one of pa and pc dies of
// {global_name_conflict, split}, exactly one of qb and qd reports
// {global_name_conflict, split_trap} and lives, and all four nodes end with one table.
void partition_and_heal(const PartitionPlan& plan) {
  ClusterTest t;
  auto& a = t.cluster.start("a");
  auto& b = t.cluster.start("b");
  auto& c = t.cluster.start("c");
  auto& d = t.cluster.start("d");
  REQUIRE(t.cluster.wait_for_mesh());
  std::vector<NodeProcess*> left{&a, &b}, right{&c, &d};
  std::vector<std::pair<NodeProcess*, NodeProcess*>> partners{
      {&a, &b}, {&b, &a}, {&c, &d}, {&d, &c}};
  std::vector<Atom> all = names_of({&a, &b, &c, &d}), left_names = names_of({&a, &b}),
                    right_names = names_of({&c, &d});
  auto connect_args = [](NodeProcess* n) { return std::vector<Term>{Term(n->name())}; };
  auto atoms = [](std::initializer_list<const char*> names) {
    std::vector<Term> v;
    for (const char* n : names) v.emplace_back(Atom(n));
    return v;
  };
  const std::vector<Term> before_names = atoms({"before_split"}),
                          pa_names = plan.losers_hold_more ? atoms({"split", "only_a_extra"})
                                                           : atoms({"split"}),
                          pc_names = plan.losers_hold_more ? atoms({"split", "only_c_extra"})
                                                           : atoms({"split"}),
                          trap_names = atoms({"split_trap"}), ab_names = numbered("only_ab_", 50),
                          cd_names = numbered("only_cd_", 50);

  Holding before, pa, pc, qb, qd, ab, cd;
  bool split = false, dropped = false, sides_differ = false, mended = false, same = false;
  Term down_a, down_c, exit_b, exit_d, extra_exit;
  std::optional<Table> final_table;
  std::string tables_text;
  bool survivor_alive = false;
  t.cluster.run([&](Self self) -> Proc {
    before = co_await hold(self, a.name(), before_names);

    // Cut every cable between {a, b} and {c, d}, on both ends.
    for (NodeProcess* x : left)
      for (NodeProcess* y : right) {
        co_await ask(self, x->name(), "block"_a, y->name());
        co_await ask(self, y->name(), "block"_a, x->name());
      }
    split = co_await eventually_co(
        self,
        [&]() -> Co<bool> {
          for (auto [n, p] : partners) {
            Term seen = co_await testing::admin_call(self, n->name(), "nodes"_a);
            if (seen != list(p->name())) co_return false;
          }
          co_return true;
        },
        20s);
    if (!split) co_return;
    // c and d lost a, and a's names with it.
    dropped = co_await eventually_co(
        self,
        [&]() -> Co<bool> {
          for (NodeProcess* y : right) {
            auto table = co_await table_of(self, y->name());
            if (!table || !table->empty()) co_return false;
          }
          co_return true;
        },
        10s);

    // The same names on both sides, to different pids, and some on one side only.
    if (plan.left_clock_ahead) ab = co_await hold(self, b.name(), ab_names);
    pa = co_await hold(self, a.name(), pa_names);
    pc = co_await hold(self, c.name(), pc_names);
    qb = co_await hold(self, b.name(), trap_names, true);
    qd = co_await hold(self, d.name(), trap_names, true);
    if (!plan.left_clock_ahead) ab = co_await hold(self, b.name(), ab_names);
    cd = co_await hold(self, d.name(), cd_names);
    if (!pa.pid.valid() || !pc.pid.valid() || !qb.pid.valid() || !qd.pid.valid()) co_return;
    Ref mon_a = self.monitor(pa.pid), mon_c = self.monitor(pc.pid);
    bool left_same = co_await converged(self, left_names);
    bool right_same = co_await converged(self, right_names);
    Term left_digest = co_await digest_of(self, a.name());
    Term right_digest = co_await digest_of(self, c.name());
    sides_differ = left_same && right_same && left_digest != right_digest;

    for (NodeProcess* x : left)
      for (NodeProcess* y : right) {
        co_await ask(self, x->name(), "unblock"_a, y->name());
        co_await ask(self, y->name(), "unblock"_a, x->name());
      }
    for (NodeProcess* x : left)
      for (NodeProcess* y : right)
        co_await testing::admin_call(self, x->name(), "connect"_a, connect_args(y), 10s);

    // One of pa and pc dies of the conflict; one of qb and qd traps it and says so.
    auto d1 = co_await self
                  .receive(match(tuple(kDown, mon_a, _, _, _)), match(tuple(kDown, mon_c, _, _, _)))
                  .after(20s);
    if (!d1.timed_out()) (d1.clause() == 0 ? down_a : down_c) = d1[4];
    auto e1 = co_await self
                  .receive(match(tuple("holder_exit"_a, qb.pid, _)),
                           match(tuple("holder_exit"_a, qd.pid, _)))
                  .after(20s);
    if (!e1.timed_out()) (e1.clause() == 0 ? exit_b : exit_d) = e1[2];

    mended = co_await eventually_co(
        self,
        [&]() -> Co<bool> {
          for (Atom n : all) {
            Term seen = co_await testing::admin_call(self, n, "nodes"_a);
            if (!seen.is_list() || seen.size() != 3) co_return false;
          }
          co_return true;
        },
        20s);
    same = co_await eventually_co(
        self, [&]() { return converged(self, all); }, 20s);
    if (!same) tables_text = co_await differences(self, all);
    final_table = co_await table_of(self, a.name());
    // Nothing more: the survivors got no second exit signal.
    auto more = co_await self
                    .receive(match(tuple(kDown, mon_a, _, _, _)),
                             match(tuple(kDown, mon_c, _, _, _)), "{holder_exit, _, _}"_p)
                    .after(0ms);
    extra_exit = more.timed_out() ? Term() : more.term();
    bool a_survived = down_a.is_nil();
    Pid survivor = a_survived ? pa.pid : pc.pid;
    Term info = co_await ask(self, (a_survived ? a : c).name(), "info"_a, survivor);
    survivor_alive = info.is_map();
  });
  REQUIRE(split);
  CHECK(before.yes == 1);
  CHECK(dropped);
  REQUIRE(pa.pid.valid());
  REQUIRE(pc.pid.valid());
  REQUIRE(qb.pid.valid());
  REQUIRE(qd.pid.valid());
  CHECK(pa.yes == std::int64_t(pa_names.size()));
  CHECK(pc.yes == std::int64_t(pc_names.size()));
  CHECK(qb.yes == 1);
  CHECK(qd.yes == 1);
  CHECK(ab.yes == 50);
  CHECK(cd.yes == 50);
  CHECK(sides_differ);
  CHECK(mended);
  INFO(tables_text);
  CHECK(same);
  // Exactly one of pa and pc died, of the conflict.
  INFO("down_a " << print_term(down_a) << ", down_c " << print_term(down_c));
  CHECK(down_a.is_nil() != down_c.is_nil());
  CHECK((down_a.is_nil() ? down_c : down_a) == tuple("global_name_conflict"_a, "split"_a));
  INFO("exit_b " << print_term(exit_b) << ", exit_d " << print_term(exit_d));
  CHECK(exit_b.is_nil() != exit_d.is_nil());
  CHECK((exit_b.is_nil() ? exit_d : exit_b) == tuple("global_name_conflict"_a, "split_trap"_a));
  INFO("extra " << print_term(extra_exit));
  CHECK(extra_exit.is_nil());
  CHECK(survivor_alive);
  REQUIRE(final_table);
  const Table& ft = *final_table;
  bool a_won = down_a.is_nil();
  // The older registration keeps the name (the default resolver).
  if (plan.left_clock_ahead) CHECK_FALSE(a_won);
  auto holder = [&](const char* name) {
    auto it = ft.find(name);
    return it == ft.end() ? Pid() : it->second;
  };
  CHECK(holder("split") == (a_won ? pa.pid : pc.pid));
  CHECK(holder("split_trap") == (exit_b.is_nil() ? qb.pid : qd.pid));
  // The dead loser's other name went with it.
  if (plan.losers_hold_more) {
    CHECK(holder("only_a_extra") == (a_won ? pa.pid : Pid()));
    CHECK(holder("only_c_extra") == (a_won ? Pid() : pc.pid));
  }
  CHECK(holder("before_split") == before.pid);
  CHECK(holder("only_ab_49") == ab.pid);
  CHECK(holder("only_cd_49") == cd.pid);
  CHECK(ft.size() == 1 + 1 + 1 + 50 + 50 + (plan.losers_hold_more ? 1 : 0));
  t.teardown();
}

}  // namespace

TEST_CASE("global: a healed partition keeps one pid per name, and the other is told") {
  partition_and_heal({});
}

// The loser's other names: a GlobalSync that crossed the removal of the dead loser's names
// brought them back on some nodes until every node watched every owner.
TEST_CASE("global: a healed partition's dead loser loses its other names everywhere") {
  partition_and_heal({.losers_hold_more = true});
}

// The clocks: GlobalTable::merge once raised the kept entry to the loser's version, so a
// later merge on another node met two equal versions, fell to the pid order, and both died.
TEST_CASE("global: a healed partition keeps the older registration when clocks differ") {
  partition_and_heal({.left_clock_ahead = true});
}
