// The global registry: cases 50 and 51 of ../shared/semantics/CASES.md, the table's rules,
// and races, losses, joins and healed partitions among Node objects in one binary.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "ember/core/errors.hpp"
#include "ember/node/detail/global_table.hpp"
#include "ember/node/global.hpp"
#include "ember/node/node.hpp"
#include "ember/testing.hpp"

using namespace ember;
using namespace std::chrono_literals;

namespace {

NodeConfig config(const std::string& name) {
  NodeConfig c;
  c.name = name + "@127.0.0.1:0";
  c.cookie = "globalcookie";
  c.schedulers = 1;
  return c;
}

// Waits for a condition, polling every 2 ms (see ember/testing.hpp).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  return testing::eventually(condition, timeout, 2ms);
}

// A process that waits for {stop} and then ends; it traps exits and reports any exit
// signal it gets to `report` as {exit_signal, Self, Reason}.
Pid spawn_holder(Node& n, Pid report = Pid()) {
  return n.runtime().spawn([report](Self self) -> Proc {
    self.trap_exit(true);
    for (;;) {
      auto m = co_await self.receive();
      if (m.term().is_tuple(3) && m[0].is("EXIT"_a)) {
        if (report.valid()) self.send(report, tuple("exit_signal"_a, self.pid(), m[2]));
        co_return;
      }
      if (m.term().is_tuple(2) && m[0].is("ping"_a)) self.send(m.pid(1), "pong"_a);
      if (m.term().is("stop"_a)) co_return;
    }
  });
}

GlobalResult register_on(Node& n, Atom name, Pid pid) {
  GlobalResult r = GlobalResult::kTimeout;
  n.runtime().run([&](Self self) -> Proc { r = co_await register_global(self, name, pid); });
  return r;
}

// Three nodes, fully meshed.
struct Trio {
  std::unique_ptr<Node> a, b, c;
  Trio(const std::string& tag = "") {
    a = std::make_unique<Node>(config("ga" + tag));
    b = std::make_unique<Node>(config("gb" + tag));
    c = std::make_unique<Node>(config("gc" + tag));
    REQUIRE(a->connect(b->name()));
    REQUIRE(a->connect(c->name()));
    REQUIRE(eventually([&] { return b->nodes().size() == 2 && c->nodes().size() == 2; }));
  }
  std::vector<Node*> all() { return {a.get(), b.get(), c.get()}; }
};

}  // namespace

TEST_CASE("50_dist_global_visible") {
  Node origin(config("origin")), peer(config("peer"));
  REQUIRE(origin.connect(peer.name()));
  Pid g = spawn_holder(peer);
  CHECK(register_on(peer, "sem_global_svc"_a, g) == GlobalResult::kYes);
  // Registration returns once every connected node has the name: no sync needed.
  CHECK(origin.whereis_global("sem_global_svc"_a) == g);
  Term reply;
  origin.runtime().run([&](Self self) -> Proc {
    CHECK(whereis_global(self, "sem_global_svc"_a) == g);
    send_global(self, "sem_global_svc"_a, tuple("ping"_a, self.pid()));
    auto m = co_await self.receive().after(5s);
    reply = m.term();
  });
  CHECK(reply == Term("pong"_a));
}

TEST_CASE("51_dist_global_removed_on_death") {
  Node origin(config("origin")), peer(config("peer"));
  REQUIRE(origin.connect(peer.name()));
  Pid g = spawn_holder(peer);
  REQUIRE(register_on(peer, "sem_global_svc"_a, g) == GlobalResult::kYes);
  REQUIRE(origin.whereis_global("sem_global_svc"_a) == g);
  Term reason;
  origin.runtime().run([&](Self self) -> Proc {
    Ref r = self.monitor(g);
    self.send(g, "stop"_a);
    auto m = co_await self.receive(match(tuple("DOWN"_a, r, _, _, _))).after(5s);
    reason = m[4];
  });
  CHECK(reason == Term("normal"_a));
  CHECK(eventually([&] { return !origin.whereis_global("sem_global_svc"_a); }, 5s));
  CHECK(!peer.whereis_global("sem_global_svc"_a));
}

TEST_CASE("global: register, names, unregister, send to an unknown name") {
  Node n(config("solo"));
  Pid p = spawn_holder(n), q = spawn_holder(n);
  std::vector<std::string> results;
  n.runtime().run([&](Self self) -> Proc {
    results.push_back(to_string(co_await register_global(self, "one"_a, p)));
    results.push_back(to_string(co_await register_global(self, "one"_a, p)));  // its own already
    results.push_back(to_string(co_await register_global(self, "one"_a, q)));
    results.push_back(to_string(co_await register_global(self, "two"_a, p)));  // a second name
    CHECK(global_names(self).size() == 2);
    results.push_back(to_string(co_await unregister_global(self, "one"_a)));
    results.push_back(to_string(co_await unregister_global(self, "one"_a)));
    CHECK(!whereis_global(self, "one"_a));
    bool threw = false;
    try {
      send_global(self, "one"_a, "hi"_a);
    } catch (const ErlangError& e) {
      threw = e.reason() == tuple("badarg"_a, tuple("one"_a, "hi"_a));
    }
    CHECK(threw);
  });
  CHECK(results == std::vector<std::string>{"yes", "yes", "no", "yes", "yes", "no"});
  CHECK(n.whereis_global("two"_a) == p);
}

TEST_CASE("global: racers on three nodes, exactly one wins each name everywhere") {
  Trio t;
  constexpr int kTrials = 300;
  std::atomic<int> yes{0}, no{0}, timeouts{0};
  std::map<std::string, int> winners_per_name;
  std::mutex m;
  // Every node starts a racer per name at once; each racer registers itself.
  std::vector<std::thread> threads;
  for (Node* n : t.all())
    threads.emplace_back([&, n] {
      n->runtime().run([&](Self self) -> Proc {
        std::vector<Pid> racers;
        for (int i = 0; i < kTrials; ++i) {
          Atom name("race_" + std::to_string(i));
          racers.push_back(self.spawn([&, name, parent = self.pid()](Self s) -> Proc {
            GlobalResult r = co_await register_global(s, name, s.pid());
            (r == GlobalResult::kYes ? yes : r == GlobalResult::kNo ? no : timeouts)++;
            if (r == GlobalResult::kYes) {
              std::lock_guard lock(m);
              winners_per_name[std::string(name.text())]++;
            }
            s.send(parent, "done"_a);
            co_await s.receive("stop"_p);
          }));
        }
        for (int i = 0; i < kTrials; ++i) co_await self.receive("done"_p).after(30s);
      });
    });
  for (auto& th : threads) th.join();
  CHECK(timeouts == 0);
  CHECK(yes == kTrials);
  CHECK(no == 2 * kTrials);
  CHECK(winners_per_name.size() == std::size_t(kTrials));
  for (auto& [name, wins] : winners_per_name) CHECK(wins == 1);
  // Every node has every name, and the same table.
  for (Node* n : t.all()) CHECK(n->global_names().size() == std::size_t(kTrials));
  CHECK(t.a->global_digest() == t.b->global_digest());
  CHECK(t.b->global_digest() == t.c->global_digest());
}

TEST_CASE("global: a lost node's names disappear everywhere") {
  Trio t("l");
  Pid held = spawn_holder(*t.c);
  REQUIRE(register_on(*t.a, "on_c"_a, held) == GlobalResult::kYes);
  REQUIRE(t.b->whereis_global("on_c"_a) == held);
  t.c.reset();  // the node halts: its connections close
  CHECK(eventually([&] { return !t.a->whereis_global("on_c"_a) && !t.b->whereis_global("on_c"_a); },
                   5s));
  CHECK(t.a->global_digest() == t.b->global_digest());
}

TEST_CASE("global: a joining node receives the whole table") {
  Node a(config("ja")), b(config("jb"));
  REQUIRE(a.connect(b.name()));
  Pid p = spawn_holder(a);
  a.runtime().run([&](Self self) -> Proc {
    for (int i = 0; i < 2000; ++i)
      REQUIRE(co_await register_global(self, Atom("join_" + std::to_string(i)), p) ==
              GlobalResult::kYes);
  });
  Node c(config("jc"));
  REQUIRE(c.connect(b.name()));
  CHECK(eventually([&] { return c.global_names().size() == 2000; }, 10s));
  CHECK(c.global_digest() == a.global_digest());
  CHECK(c.whereis_global("join_1999"_a) == p);
}

TEST_CASE("global: a healed partition keeps one pid per name and tells the other") {
  Node a(config("pa")), b(config("pb"));
  REQUIRE(a.connect(b.name()));
  a.block(b.name());
  b.block(a.name());
  REQUIRE(eventually([&] { return a.nodes().empty() && b.nodes().empty(); }));
  Pid report_a, report_b;
  Term told;
  std::atomic<bool> got{false};
  Pid watcher = a.runtime().spawn([&](Self self) -> Proc {
    auto m = co_await self.receive(match(tuple("exit_signal"_a, _, _))).after(20s);
    told = m.term();
    got = true;
  });
  // A second watcher on b: the loser may be on either side.
  Term told_b;
  std::atomic<bool> got_b{false};
  Pid watcher_b = b.runtime().spawn([&](Self self) -> Proc {
    auto m = co_await self.receive(match(tuple("exit_signal"_a, _, _))).after(20s);
    told_b = m.term();
    got_b = true;
  });
  Pid pa = spawn_holder(a, watcher), pb = spawn_holder(b, watcher_b);
  REQUIRE(register_on(a, "split"_a, pa) == GlobalResult::kYes);
  REQUIRE(register_on(b, "split"_a, pb) == GlobalResult::kYes);
  REQUIRE(register_on(b, "only_b"_a, pb) == GlobalResult::kYes);
  CHECK(a.global_digest() != b.global_digest());
  a.unblock(b.name());
  b.unblock(a.name());
  REQUIRE(a.connect(b.name()));
  REQUIRE(eventually([&] { return got || got_b; }));
  Pid loser = got ? pa : pb, winner = got ? pb : pa;
  CHECK((got ? told : told_b) ==
        tuple("exit_signal"_a, loser, tuple("global_name_conflict"_a, "split"_a)));
  CHECK(eventually([&] {
    return a.whereis_global("split"_a) == winner && b.whereis_global("split"_a) == winner;
  }));
  // only_b was pb's: it stays if pb won, and goes with pb if pb lost (the exit kills it).
  CHECK(eventually([&] {
    return a.whereis_global("only_b"_a) == (winner == pb ? std::optional<Pid>(pb) : std::nullopt);
  }));
  // The loser held only_b too if it was pb; its death frees it everywhere.
  CHECK(eventually([&] { return a.global_digest() == b.global_digest(); }));
  CHECK(got != got_b);  // exactly one of the two was told
}

TEST_CASE("global: a resolver chooses the pid that keeps the name") {
  Node a(config("ra")), b(config("rb"));
  // Keep the second (the newer registration), on both nodes.
  for (Node* n : {&a, &b}) n->set_global_resolver([](Atom, Pid, Pid second) { return second; });
  Pid pa = spawn_holder(a), pb = spawn_holder(b);
  REQUIRE(register_on(a, "pick"_a, pa) == GlobalResult::kYes);
  REQUIRE(register_on(b, "pick"_a, pb) == GlobalResult::kYes);
  REQUIRE(a.connect(b.name()));
  CHECK(eventually([&] {
    auto x = a.whereis_global("pick"_a), y = b.whereis_global("pick"_a);
    return x && y && *x == *y;
  }));
  Pid kept = *a.whereis_global("pick"_a);
  Pid lost = kept == pa ? pb : pa;
  CHECK(eventually([&] { return !a.runtime().alive(lost) && !b.runtime().alive(lost); }));
  CHECK((a.runtime().alive(kept) || b.runtime().alive(kept)));
}

TEST_CASE("global: the table's merge settles a conflict the same way from both sides") {
  using detail::GlobalEntry;
  using detail::GlobalTable;
  Pid p(0, 5, 1), q(0, 6, 1);
  GlobalTable x, y;
  x.apply({"n"_a, p, 3});
  y.apply({"n"_a, q, 7});
  auto mx = x.merge(y.entries(), {});
  auto my = y.merge(x.entries(), {});
  REQUIRE(mx.conflicts.size() == 1);
  REQUIRE(my.conflicts.size() == 1);
  CHECK(mx.conflicts[0].kept == p);  // the older registration
  CHECK(my.conflicts[0].kept == p);
  CHECK(mx.conflicts[0].losers == std::vector<Pid>{q});
  CHECK(x.digest() == y.digest());
  CHECK(x.whereis("n"_a) == p);
  CHECK(y.whereis("n"_a) == p);
}

// Node x merged first; y still holds the younger entry when x's merged table reaches it,
// and z, which only ever saw the younger one, then hears from both. All must keep p.
TEST_CASE("global: a merged entry keeps its own version, so later merges agree") {
  using detail::GlobalTable;
  Pid p(0, 9, 1), q(0, 2, 1);  // q sorts first: a tie of versions would pick it
  GlobalTable x, y, z;
  x.apply({"n"_a, p, 3});
  y.apply({"n"_a, q, 60});
  z.apply({"n"_a, q, 60});
  x.merge(y.entries(), {});
  REQUIRE(x.whereis("n"_a) == p);
  CHECK(x.entries()[0].version == 3);
  auto my = y.merge(x.entries(), {});
  auto mz = z.merge(x.entries(), {});
  REQUIRE(my.conflicts.size() == 1);
  CHECK(my.conflicts[0].kept == p);
  CHECK(mz.conflicts[0].kept == p);
  z.merge(y.entries(), {});
  CHECK(z.whereis("n"_a) == p);
  CHECK(x.digest() == y.digest());
  CHECK(y.digest() == z.digest());
}

TEST_CASE("global: the table applies newer commits only, and removals of the holder only") {
  detail::GlobalTable t;
  Pid p(0, 5, 1), q(0, 6, 1);
  CHECK(t.apply({"n"_a, p, 5}));
  CHECK(!t.apply({"n"_a, q, 4}));  // late
  CHECK(t.whereis("n"_a) == p);
  CHECK(!t.apply_removal("n"_a, q, 9));
  CHECK(t.apply_removal("n"_a, p, 9));
  CHECK(!t.whereis("n"_a));
  auto c = t.claim("m"_a, p);
  REQUIRE(c);
  CHECK(c->version > 9);  // the Lamport clock saw 9
  CHECK(!t.claim("m"_a, q));
  CHECK(t.names_of(p) == std::vector<Atom>{"m"_a});
  CHECK(t.release("m"_a, q) == std::nullopt);
  CHECK(t.release("m"_a, p));
  CHECK(t.size() == 0);
}

// The healed-partition race: a node that missed the arbiter's removal of a dead owner's
// name (it was not yet connected to that arbiter) learns the death from a GlobalSync.
TEST_CASE("global: a buried owner loses every name and no commit or merge brings one back") {
  detail::GlobalTable stale, arbiter;
  Pid dead(0, 5, 1), live(0, 6, 1);
  stale.apply({"x"_a, dead, 3});
  stale.apply({"y"_a, dead, 4});
  stale.apply({"z"_a, live, 5});
  arbiter.merge(stale.entries(), {});
  auto gone = arbiter.bury(dead);
  CHECK(gone.size() == 2);
  CHECK(arbiter.buried(dead));
  CHECK_FALSE(arbiter.buried(live));
  // The stale table's own sync reaches the arbiter late: nothing of the dead comes back.
  arbiter.merge(stale.entries(), {});
  CHECK(!arbiter.whereis("x"_a));
  CHECK(!arbiter.apply({"x"_a, dead, 99}));
  CHECK(!arbiter.claim("w"_a, dead));
  // The arbiter's dead owners reach the stale table.
  REQUIRE(arbiter.dead_owners() == std::vector<Pid>{dead});
  for (Pid p : arbiter.dead_owners()) stale.bury(p);
  CHECK(stale.digest() == arbiter.digest());
  CHECK(stale.whereis("z"_a) == live);
  CHECK(stale.size() == 1);
}

TEST_CASE("global: registrations survive the loss of their arbiter mid-way") {
  Trio t("m");
  constexpr int kNames = 200;
  std::atomic<int> yes{0}, other{0};
  std::atomic<int> started{0};
  std::thread registrar([&] {
    t.a->runtime().run([&](Self self) -> Proc {
      for (int i = 0; i < kNames; ++i)
        self.spawn([&, i, parent = self.pid()](Self s) -> Proc {
          started++;
          GlobalResult r = co_await register_global(s, Atom("mid_" + std::to_string(i)), s.pid());
          (r == GlobalResult::kYes ? yes : other)++;
          s.send(parent, "done"_a);
          co_await s.receive("stop"_p);
        });
      for (int i = 0; i < kNames; ++i) co_await self.receive("done"_p).after(30s);
    });
  });
  REQUIRE(eventually([&] { return started > kNames / 4; }));
  t.c.reset();  // about a third of the names had c as their arbiter
  registrar.join();
  CHECK(yes == kNames);  // each asked the name's next arbiter: none hung, none refused
  CHECK(other == 0);
  CHECK(eventually([&] { return t.b->global_names().size() == std::size_t(kNames); }));
  CHECK(t.a->global_digest() == t.b->global_digest());
}
