// Process groups (pg) across real ember-node processes: joins and leaves seen on every
// node, a broadcast from one node reaching members on all three, a member's death, a node
// killed with SIGKILL (its members leave on the survivors), the same node restarted (its
// new members appear, its old ones stay gone), and scopes that never mix. ember-node's
// pg_member and pg_broadcaster functions make the members and the broadcast; the test
// reads every node's view through ember_admin's pg requests.
#include <map>

#include "support.hpp"

using namespace multinode;

namespace {

const Atom kPg("pg");

// ember_admin requests with arguments, built outside the co_await (g++ 12 cannot compile
// a braced list of arguments inside one).
template <class... Args>
Co<Term> ask(Self self, Atom node, Atom command, Args... args) {
  return testing::admin_call(self, node, command, std::vector<Term>{Term(std::move(args))...}, 10s);
}

// (g++ 12 cannot compile a braced list inside a co_await expression either: the helpers
// below take lists and vectors made by calls.)
template <class... P>
std::vector<Pid> pids(P... p) {
  return std::vector<Pid>{p...};
}

// A member process on `node` in each group of the list `groups` (of `scope`): its pid once
// it reports {pg_joined, Pid}, Pid() if it did not.
Co<Pid> member(Self self, Atom node, Term groups, Atom scope = kPg) {
  Term args = tuple(scope, groups, self.pid());
  auto s = co_await spawn_remote(self, node, "pg_member", args);
  auto m = co_await self.receive(match(tuple("pg_joined"_a, s.pid))).after(10s);
  co_return m.timed_out() ? Pid() : s.pid;
}

// A node's view of a group, sorted (repeats kept); nullopt if the node did not answer.
Co<std::optional<std::vector<Pid>>> view(Self self, Atom node, Term group, Atom scope = kPg,
                                         bool local = false) {
  Term pids = co_await ask(self, node, local ? "pg_local_members"_a : "pg_members"_a, scope, group);
  if (!pids.is_list()) co_return std::nullopt;
  std::vector<Pid> out;
  for (const Term& p : pids)
    if (p.is_pid()) out.push_back(p.pid());
  std::sort(out.begin(), out.end());
  co_return out;
}

std::vector<Pid> sorted(std::vector<Pid> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Every node in `nodes` sees exactly `want` (any order) in `group`, within `timeout`.
Co<bool> all_see(Self self, std::vector<Atom> nodes, Term group, std::vector<Pid> want,
                 Atom scope = kPg, milliseconds timeout = 10s) {
  want = sorted(std::move(want));
  co_return co_await eventually_co(
      self,
      [&]() -> Co<bool> {
        for (Atom n : nodes)
          if (co_await view(self, n, group, scope) != want) co_return false;
        co_return true;
      },
      timeout);
}

// What each node sees of `group`, for failure messages.
Co<std::string> views_text(Self self, std::vector<Atom> nodes, Term group, Atom scope = kPg) {
  std::string out;
  for (Atom n : nodes) {
    auto v = co_await view(self, n, group, scope);
    out += std::string(n.text()) + ": ";
    out += v ? print_term(list_of(*v)) : std::string("no answer");
    out += "\n";
  }
  co_return out;
}

}  // namespace

TEST_CASE(
    "pg: joins and leaves on three nodes are seen on every node and a broadcast reaches all") {
  ThreeNodes t;
  std::vector<Atom> nodes = names_of({&t.a, &t.b, &t.c});
  const Term workers = "workers"_a, tagged = tuple("svc"_a, 1);
  Pid pa, pb, pc;
  bool joined = false, second_join = false, left_msg = false, left_admin = false;
  Term local_b, local_a_of_b, groups_c, not_local, not_joined, dead_join, left_reply;
  std::int64_t sent = -1;
  std::map<Pid, int> got;
  std::string text;
  t.cluster.run([&](Self self) -> Proc {
    pa = co_await member(self, t.a.name(), list(workers));
    pb = co_await member(self, t.b.name(), list(workers, tagged));
    pc = co_await member(self, t.c.name(), list(workers));
    if (!pa.valid() || !pb.valid() || !pc.valid()) co_return;
    joined = co_await all_see(self, nodes, workers, pids(pa, pb, pc));
    if (!joined) text = co_await views_text(self, nodes, workers);
    // c's member joins the group a second time through ember_admin: a member twice.
    Term again = co_await ask(self, t.c.name(), "pg_join"_a, kPg, workers, pc);
    second_join = co_await all_see(self, nodes, workers, pids(pa, pb, pc, pc));
    second_join = second_join && again == Term("ok"_a);
    auto lb = co_await view(self, t.b.name(), workers, kPg, true);
    local_b = lb ? list_of(*lb) : Term("no_answer"_a);
    auto la = co_await view(self, t.a.name(), tagged, kPg, true);
    local_a_of_b = la ? list_of(*la) : Term("no_answer"_a);
    groups_c = co_await ask(self, t.c.name(), "pg_which_groups"_a, kPg);

    // A broadcast from a reaches each membership once, on every node.
    Term bargs = tuple(kPg, workers, tuple("tick"_a, 7), self.pid());
    co_await spawn_remote(self, t.a.name(), "pg_broadcaster", bargs);
    auto b = co_await self.receive("{pg_broadcast, _, _}"_p).after(10s);
    sent = b.timed_out() ? -1 : b[2].as<std::int64_t>();
    for (int i = 0; i < 4; ++i) {
      auto m = co_await self.receive(match(tuple("pg_got"_a, _, tuple("tick"_a, 7)))).after(10s);
      if (m.timed_out()) break;
      got[m.pid(1)]++;
    }

    // Leaves: b's member by itself, one of c's two memberships through ember_admin.
    self.send(pb, tuple("leave"_a, workers));
    auto l = co_await self.receive(match(tuple("pg_left"_a, pb, workers, _))).after(10s);
    left_reply = l.timed_out() ? Term("timeout"_a) : l[3];
    left_msg = co_await all_see(self, nodes, workers, pids(pa, pc, pc));
    Term lv = co_await ask(self, t.c.name(), "pg_leave"_a, kPg, workers, pc);
    left_admin = co_await all_see(self, nodes, workers, pids(pa, pc));
    // b's member is still in its other group everywhere.
    bool kept_other = co_await all_see(self, nodes, tagged, pids(pb));
    left_admin = left_admin && kept_other && lv == Term("ok"_a);
    not_joined = co_await ask(self, t.b.name(), "pg_leave"_a, kPg, workers, pb);
    // Only a node's own pids join there, as in pg.
    not_local = co_await ask(self, t.a.name(), "pg_join"_a, kPg, workers, pb);
    self.send(pb, "stop"_a);
    Ref r = self.monitor(pb);
    co_await self.receive(match(tuple(kDown, r, _, _, _))).after(10s);
    dead_join = co_await ask(self, t.b.name(), "pg_join"_a, kPg, workers, pb);
    for (Pid p : {pa, pc}) self.send(p, "stop"_a);
  });
  REQUIRE(pa.valid());
  REQUIRE(pb.valid());
  REQUIRE(pc.valid());
  INFO(text);
  CHECK(joined);
  CHECK(second_join);
  CHECK(local_b == list(pb));
  CHECK(local_a_of_b == list());  // b's member is not a's
  REQUIRE(groups_c.is_list());
  CHECK(groups_c.size() == 2);
  CHECK(sent == 4);
  CHECK(got == std::map<Pid, int>{{pa, 1}, {pb, 1}, {pc, 2}});
  CHECK(left_reply == Term(true));
  CHECK(left_msg);
  CHECK(left_admin);
  CHECK(not_joined == Term("not_joined"_a));
  CHECK(not_local == tuple("error"_a, tuple("badarg"_a, tuple("not_local"_a, pb))));
  CHECK(dead_join == tuple("error"_a, "noproc"_a));
  t.teardown();
}

TEST_CASE("pg: a member that is killed or crashes leaves every group on every node") {
  ThreeNodes t;
  std::vector<Atom> nodes = names_of({&t.a, &t.b, &t.c});
  const Term g1 = "g1"_a, g2 = "g2"_a;
  Pid killed, crashed, stays;
  bool seen = false, gone = false, other_gone = false;
  Term kill_reply;
  t.cluster.run([&](Self self) -> Proc {
    killed = co_await member(self, t.b.name(), list(g1, g2));
    crashed = co_await member(self, t.c.name(), list(g1));
    stays = co_await member(self, t.a.name(), list(g1, g2));
    if (!killed.valid() || !crashed.valid() || !stays.valid()) co_return;
    seen = co_await all_see(self, nodes, g1, pids(killed, crashed, stays));
    bool seen2 = co_await all_see(self, nodes, g2, pids(killed, stays));
    seen = seen && seen2;
    kill_reply = co_await ask(self, t.b.name(), "kill"_a, killed, "kill"_a);
    gone = co_await all_see(self, nodes, g1, pids(crashed, stays));
    bool gone2 = co_await all_see(self, nodes, g2, pids(stays));
    gone = gone && gone2;
    self.send(crashed, tuple("exit"_a, "crash"_a));
    other_gone = co_await all_see(self, nodes, g1, pids(stays));
    self.send(stays, "stop"_a);
  });
  REQUIRE(killed.valid());
  CHECK(seen);
  CHECK(kill_reply == Term(true));
  CHECK(gone);
  CHECK(other_gone);
  t.teardown();
}

TEST_CASE(
    "pg: kill -9 of a node drops its members and after a restart only its new members appear") {
  ThreeNodes t;
  std::vector<Atom> all = names_of({&t.a, &t.b, &t.c}), survivors = names_of({&t.a, &t.b});
  const Term svc = "svc"_a;
  Pid on_a, on_b, old1, old2, fresh;
  bool seen = false, dropped = false, rejoined = false, c_learned = false, stays_gone = false;
  double dropped_ms = -1;
  std::string text;
  t.cluster.run([&](Self self) -> Proc {
    on_a = co_await member(self, t.a.name(), list(svc));
    on_b = co_await member(self, t.b.name(), list(svc));
    old1 = co_await member(self, t.c.name(), list(svc));
    old2 = co_await member(self, t.c.name(), list(svc, "c_only"_a));
    if (!on_a.valid() || !on_b.valid() || !old1.valid() || !old2.valid()) co_return;
    seen = co_await all_see(self, all, svc, pids(on_a, on_b, old1, old2));
    if (!seen) co_return;

    auto killed = Clock::now();
    co_await blocking(self, [&] { t.c.kill(); });
    dropped = co_await all_see(self, survivors, svc, pids(on_a, on_b));
    bool dropped2 = co_await all_see(self, survivors, "c_only"_a, pids());
    dropped = dropped && dropped2;
    dropped_ms = ms_since(killed);
    if (!dropped) text = co_await views_text(self, survivors, svc);

    // The same name and port again, a new incarnation: it joins a, meets b, and exchanges
    // shares with both. Its old pids are of the dead incarnation and must not return.
    co_await blocking(self, [&] { t.c.restart(); });
    fresh = co_await member(self, t.c.name(), list(svc));
    std::vector<Atom> just_c{t.c.name()};
    if (!fresh.valid()) co_return;
    rejoined = co_await all_see(self, survivors, svc, pids(on_a, on_b, fresh), kPg, 20s);
    c_learned = co_await all_see(self, just_c, svc, pids(on_a, on_b, fresh), kPg, 20s);
    if (!rejoined || !c_learned) text += co_await views_text(self, all, svc);
    stays_gone = co_await all_see(self, all, "c_only"_a, pids());
    for (Pid p : {on_a, on_b, fresh}) self.send(p, "stop"_a);
  });
  REQUIRE(on_a.valid());
  REQUIRE(old2.valid());
  INFO(text);
  CHECK(seen);
  CHECK(dropped);
  std::printf("pg: kill -9 of a node: its members gone on both survivors after %.0f ms\n",
              dropped_ms);
  CHECK(dropped_ms < 5000);
  REQUIRE(fresh.valid());
  CHECK(fresh != old1);
  CHECK(fresh != old2);
  CHECK(rejoined);
  CHECK(c_learned);
  CHECK(stays_gone);
  CHECK(t.cluster.wait_for_mesh());
  t.teardown();
}

TEST_CASE("pg: scopes are independent on every node") {
  ThreeNodes t;
  std::vector<Atom> nodes = names_of({&t.a, &t.b, &t.c});
  const Atom other("metrics_scope");
  const Term group = "all"_a;
  Pid in_pg, in_other, in_both;
  bool apart = false, left_one = false;
  Term groups_pg, groups_other, groups_none;
  std::int64_t sent = -1;
  Term got;
  t.cluster.run([&](Self self) -> Proc {
    in_pg = co_await member(self, t.a.name(), list(group));
    in_other = co_await member(self, t.b.name(), list(group), other);
    in_both = co_await member(self, t.c.name(), list(group));
    if (!in_pg.valid() || !in_other.valid() || !in_both.valid()) co_return;
    Term j = co_await ask(self, t.c.name(), "pg_join"_a, other, group, in_both);
    bool in_pg_scope = co_await all_see(self, nodes, group, pids(in_pg, in_both));
    bool in_other_scope = co_await all_see(self, nodes, group, pids(in_other, in_both), other);
    apart = j == Term("ok"_a) && in_pg_scope && in_other_scope;
    // Leaving in one scope leaves the other alone.
    Term l = co_await ask(self, t.c.name(), "pg_leave"_a, other, group, in_both);
    bool left_other = co_await all_see(self, nodes, group, pids(in_other), other);
    bool kept_pg = co_await all_see(self, nodes, group, pids(in_pg, in_both));
    left_one = l == Term("ok"_a) && left_other && kept_pg;
    groups_pg = co_await ask(self, t.b.name(), "pg_which_groups"_a, kPg);
    groups_other = co_await ask(self, t.a.name(), "pg_which_groups"_a, other);
    groups_none = co_await ask(self, t.a.name(), "pg_which_groups"_a, "unused_scope"_a);
    // A broadcast in one scope reaches that scope's members only.
    Term bargs = tuple(other, group, "hello"_a, self.pid());
    co_await spawn_remote(self, t.a.name(), "pg_broadcaster", bargs);
    auto b = co_await self.receive("{pg_broadcast, _, _}"_p).after(10s);
    sent = b.timed_out() ? -1 : b[2].as<std::int64_t>();
    auto m = co_await self.receive(match(tuple("pg_got"_a, _, "hello"_a))).after(10s);
    got = m.timed_out() ? Term("timeout"_a) : m[1];
    for (Pid p : {in_pg, in_other, in_both}) self.send(p, "stop"_a);
  });
  REQUIRE(in_both.valid());
  CHECK(apart);
  CHECK(left_one);
  CHECK(groups_pg == list(group));
  CHECK(groups_other == list(group));
  CHECK(groups_none == list());
  CHECK(sent == 1);
  CHECK(got == Term(in_other));
  t.teardown();
}
