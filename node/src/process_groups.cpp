// Process groups, pg's way: each node is the authority on its own processes' memberships
// and tells its peers (join, leave, and its whole share on connect); a peer's share goes
// with the peer. No node ever speaks for another's processes, so there is nothing to agree
// on and nothing to lock across the network.
#include "ember/node/process_groups.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "cluster_peers.hpp"
#include "ember/core/errors.hpp"
#include "ember/core/node_table.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"
#include "ember/node/node.hpp"
#include "pg_access.hpp"
#include "pid_watcher.hpp"

namespace ember {

namespace {

struct Key {
  Atom scope;
  Term group;
  friend bool operator==(const Key& a, const Key& b) {
    return a.scope == b.scope && a.group == b.group;
  }
};
struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept {
    return k.group.hash() * 31 + k.scope.index();
  }
};

struct Group {
  std::vector<Pid> local;                                      // with repeats
  std::unordered_map<std::uint32_t, std::vector<Pid>> remote;  // by node name atom index
  bool empty() const { return local.empty() && remote.empty(); }
};

// Removes one occurrence of `pid`; false if there was none.
bool remove_one(std::vector<Pid>& pids, Pid pid) {
  auto it = std::find(pids.begin(), pids.end(), pid);
  if (it == pids.end()) return false;
  pids.erase(it);
  return true;
}

void write_members(wire::PgMembers::Builder b, const Key& k, const std::vector<Pid>& pids) {
  b.setScope(std::string(k.scope.text()));
  net::write_term(b.initGroup(), k.group);
  auto list = b.initPids(unsigned(pids.size()));
  for (unsigned i = 0; i < pids.size(); ++i) net::write_pid(list[i], pids[i]);
}

}  // namespace

struct ProcessGroups::Impl {
  Runtime& runtime;
  Atom self;
  detail::ClusterPeers& peers;
  detail::PidWatcher watcher;

  mutable std::mutex mutex;  // before the node's own mutex; frames leave in its order
  std::unordered_map<Key, Group, KeyHash> groups;
  std::unordered_map<std::uint64_t, std::vector<Key>> keys_of;  // local pid -> its groups

  Impl(Runtime& r, Atom s, detail::ClusterPeers& p) : runtime(r), self(s), peers(p) {}

  template <class Fill>
  void broadcast(Fill&& fill) {
    thread_local net::FrameEncoder encoder;
    std::vector<std::byte> frame;
    encoder.encode(frame, std::forward<Fill>(fill));
    for (Atom m : peers.members()) peers.send_to(m, frame);
  }
  void announce(bool join, const Key& k, const std::vector<Pid>& pids) {
    broadcast([&](wire::Frame::Builder f) {
      write_members(join ? f.initPgJoin() : f.initPgLeave(), k, pids);
    });
  }

  void erase_if_empty(const Key& k) {
    auto it = groups.find(k);
    if (it != groups.end() && it->second.empty()) groups.erase(it);
  }

  void member_down(Pid pid) {
    std::lock_guard lock(mutex);
    auto node = keys_of.extract(pid.bits());
    if (node.empty()) return;
    std::unordered_map<Key, std::vector<Pid>, KeyHash> left;
    for (const Key& k : node.mapped()) {
      auto it = groups.find(k);
      if (it != groups.end() && remove_one(it->second.local, pid)) left[k].push_back(pid);
      erase_if_empty(k);
    }
    for (auto& [k, pids] : left) announce(false, k, pids);
  }

  // --- the node's events ---

  void sync_to(Atom node) {
    std::lock_guard lock(mutex);
    std::vector<const std::pair<const Key, Group>*> mine;
    for (auto& g : groups)
      if (!g.second.local.empty()) mine.push_back(&g);
    thread_local net::FrameEncoder encoder;
    std::vector<std::byte> frame;
    encoder.encode(frame, [&](wire::Frame::Builder f) {
      auto list = f.initPgSync().initGroups(unsigned(mine.size()));
      for (unsigned i = 0; i < mine.size(); ++i)
        write_members(list[i], mine[i]->first, mine[i]->second.local);
    });
    peers.send_to(node, frame);
  }

  void drop(Atom node) {
    std::lock_guard lock(mutex);
    for (auto it = groups.begin(); it != groups.end();) {
      it->second.remote.erase(node.index());
      it = it->second.empty() ? groups.erase(it) : std::next(it);
    }
  }

  // A peer speaks only for its own processes; anything else in its frames is ignored.
  static std::optional<Key> read_key(wire::PgMembers::Reader m) {
    Atom scope;
    if (!Atom::try_intern(std::string_view(m.getScope().cStr(), m.getScope().size()), scope))
      return std::nullopt;
    return Key{scope, net::read_term(m.getGroup())};
  }
  static std::vector<Pid> read_pids(Atom from, wire::PgMembers::Reader m) {
    std::vector<Pid> out;
    for (auto p : m.getPids()) {
      Pid pid = net::read_pid(p);
      if (NodeTable::identity(pid.node()).name == from) out.push_back(pid);
    }
    return out;
  }

  void add_remote(Atom from, wire::PgMembers::Reader m) {
    auto k = read_key(m);
    if (!k) return;
    auto pids = read_pids(from, m);
    if (pids.empty()) return;
    auto& v = groups[*k].remote[from.index()];
    v.insert(v.end(), pids.begin(), pids.end());
  }

  void on_frame(Atom from, wire::Frame::Reader f) {
    std::lock_guard lock(mutex);
    switch (f.which()) {
      case wire::Frame::PG_JOIN:
        return add_remote(from, f.getPgJoin());
      case wire::Frame::PG_LEAVE: {
        auto k = read_key(f.getPgLeave());
        if (!k) return;
        auto it = groups.find(*k);
        if (it == groups.end()) return;
        auto r = it->second.remote.find(from.index());
        if (r == it->second.remote.end()) return;
        for (Pid pid : read_pids(from, f.getPgLeave())) remove_one(r->second, pid);
        if (r->second.empty()) it->second.remote.erase(r);
        return erase_if_empty(*k);
      }
      case wire::Frame::PG_SYNC: {  // the peer's whole share replaces what we had of it
        for (auto it = groups.begin(); it != groups.end();) {
          it->second.remote.erase(from.index());
          it = it->second.empty() ? groups.erase(it) : std::next(it);
        }
        for (auto m : f.getPgSync().getGroups()) add_remote(from, m);
        return;
      }
      default:
        return;
    }
  }
};

const Atom& ProcessGroups::default_scope() {
  static const Atom a("pg");
  return a;
}

ProcessGroups::ProcessGroups(Runtime& runtime, Atom self, detail::ClusterPeers& peers)
    : impl_(std::make_unique<Impl>(runtime, self, peers)) {}

ProcessGroups::~ProcessGroups() = default;

void ProcessGroups::join(Atom scope, const Term& group, const std::vector<Pid>& pids) {
  for (Pid p : pids)
    if (p.node() != impl_->runtime.node())
      throw ErlangError(tuple(Atom("badarg"), tuple(Atom("not_local"), p)));
  Impl& i = *impl_;
  std::lock_guard lock(i.mutex);
  Key k{scope, group};
  auto& local = i.groups[k].local;
  local.insert(local.end(), pids.begin(), pids.end());
  for (Pid p : pids) {
    i.keys_of[p.bits()].push_back(k);
    i.watcher.watch(p);
  }
  i.announce(true, k, pids);
}

bool ProcessGroups::leave(Atom scope, const Term& group, const std::vector<Pid>& pids) {
  Impl& i = *impl_;
  std::lock_guard lock(i.mutex);
  Key k{scope, group};
  auto it = i.groups.find(k);
  if (it == i.groups.end()) return false;
  std::vector<Pid> left;
  for (Pid p : pids) {
    if (!remove_one(it->second.local, p)) continue;
    left.push_back(p);
    auto& keys = i.keys_of[p.bits()];
    if (auto kt = std::find(keys.begin(), keys.end(), k); kt != keys.end()) keys.erase(kt);
    if (keys.empty()) i.keys_of.erase(p.bits());
  }
  i.erase_if_empty(k);
  if (left.empty()) return false;
  i.announce(false, k, left);
  return true;
}

std::vector<Pid> ProcessGroups::members(Atom scope, const Term& group) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->groups.find(Key{scope, group});
  if (it == impl_->groups.end()) return {};
  std::vector<Pid> out = it->second.local;
  for (auto& [node, pids] : it->second.remote) out.insert(out.end(), pids.begin(), pids.end());
  return out;
}

std::vector<Pid> ProcessGroups::local_members(Atom scope, const Term& group) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->groups.find(Key{scope, group});
  return it == impl_->groups.end() ? std::vector<Pid>{} : it->second.local;
}

std::vector<Term> ProcessGroups::which_groups(Atom scope) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<Term> out;
  for (auto& [k, g] : impl_->groups)
    if (k.scope == scope) out.push_back(k.group);
  return out;
}

// --- the Node's side ----------------------------------------------------------------------

namespace detail {

void PgAccess::start(ProcessGroups& g) {
  ProcessGroups::Impl* i = g.impl_.get();
  i->watcher.start(i->runtime, [i](Pid pid) { i->member_down(pid); });
}
void PgAccess::on_peer_up(ProcessGroups& g, Atom node) {
  g.impl_->sync_to(node);
}
void PgAccess::on_peer_down(ProcessGroups& g, Atom node) {
  g.impl_->drop(node);
}
void PgAccess::on_frame(ProcessGroups& g, Atom from, wire::Frame::Reader f) {
  g.impl_->on_frame(from, f);
}

}  // namespace detail

// --- from processes -------------------------------------------------------------------

namespace pg {

namespace {
ProcessGroups& groups_of(Self self) {
  Node* n = Node::of(self);
  if (!n) throw ErlangError(Atom("not_distributed"));
  return n->groups();
}
}  // namespace

void join(Self self, const Term& group, Atom scope) {
  groups_of(self).join(scope, group, {self.pid()});
}
void join(Self self, const Term& group, const std::vector<Pid>& pids, Atom scope) {
  groups_of(self).join(scope, group, pids);
}
bool leave(Self self, const Term& group, Atom scope) {
  return groups_of(self).leave(scope, group, {self.pid()});
}
std::vector<Pid> members(Self self, const Term& group, Atom scope) {
  return groups_of(self).members(scope, group);
}
std::vector<Pid> local_members(Self self, const Term& group, Atom scope) {
  return groups_of(self).local_members(scope, group);
}
std::vector<Term> which_groups(Self self, Atom scope) {
  return groups_of(self).which_groups(scope);
}
std::size_t broadcast(Self self, const Term& group, const Term& message, Atom scope) {
  auto pids = groups_of(self).members(scope, group);
  for (Pid p : pids) self.send(p, message);
  return pids.size();
}

}  // namespace pg

}  // namespace ember
