#include "global_service.hpp"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

namespace ember::detail {

namespace {

const Atom& atom_yes() {
  static const Atom a("yes");
  return a;
}
const Atom& atom_no() {
  static const Atom a("no");
  return a;
}
const Atom& atom_retry() {
  static const Atom a("retry");
  return a;
}

template <class Fill>
std::vector<std::byte> encode(Fill&& fill) {
  thread_local net::FrameEncoder encoder;
  std::vector<std::byte> frame;
  encoder.encode(frame, std::forward<Fill>(fill));
  return frame;
}

// Frames are validated before they get here; a name can still fail to intern (a full
// atom table), and then the entry is skipped rather than the connection dropped.
std::optional<Atom> read_name(capnp::Text::Reader text) {
  Atom a;
  if (!Atom::try_intern(std::string_view(text.cStr(), text.size()), a)) {
    spdlog::warn("ember: global name skipped: the atom table is full");
    return std::nullopt;
  }
  return a;
}

wire::GlobalOp to_wire(GlobalOp op) {
  switch (op) {
    case GlobalOp::kRegister:
      return wire::GlobalOp::REGISTER;
    case GlobalOp::kUnregister:
      return wire::GlobalOp::UNREGISTER;
    case GlobalOp::kOwnerDown:
      return wire::GlobalOp::OWNER_DOWN;
  }
  return wire::GlobalOp::REGISTER;
}

GlobalOp from_wire(wire::GlobalOp op) {
  switch (op) {
    case wire::GlobalOp::UNREGISTER:
      return GlobalOp::kUnregister;
    case wire::GlobalOp::OWNER_DOWN:
      return GlobalOp::kOwnerDown;
    default:
      return GlobalOp::kRegister;
  }
}

}  // namespace

const Atom& global_reply_tag() {
  static const Atom a("$ember_global_reply");
  return a;
}

GlobalService::GlobalService(Runtime& runtime, Atom self, ClusterPeers& peers)
    : runtime_(runtime), self_(self), peers_(peers) {}

void GlobalService::start() {
  watcher_.start(runtime_, [this](Pid pid) { owner_down(pid); });
}

void GlobalService::set_resolver(GlobalResolver r) {
  std::lock_guard lock(mutex_);
  resolver_ = std::move(r);
}

Atom GlobalService::arbiter(Atom name) const {
  std::uint64_t key = name.hash();
  auto score = [key](Atom node) { return XXH3_64bits_withSeed(&key, sizeof key, node.hash()); };
  Atom best = self_;
  std::uint64_t best_score = score(self_);
  for (Atom m : peers_.members()) {
    std::uint64_t s = score(m);
    if (s > best_score || (s == best_score && m.text() < best.text())) {
      best = m;
      best_score = s;
    }
  }
  return best;
}

// --- asking ---------------------------------------------------------------------------

void GlobalService::request(GlobalOp op, Atom name, Pid pid, Pid from, Ref ref) {
  std::lock_guard lock(mutex_);
  Atom to = arbiter(name);
  if (to == self_) return arbitrate(op, name, pid, {self_, ref.id, from});
  outgoing_[ref.id] = {to, from, op, name, pid};
  auto frame = encode([&](wire::Frame::Builder f) {
    auto r = f.initGlobalRequest();
    r.setRequestId(ref.id);
    net::write_pid(r.initFrom(), from);
    r.setName(std::string(name.text()));
    net::write_pid(r.initPid(), pid);
    r.setOp(to_wire(op));
  });
  peers_.send_to(to, frame);
}

void GlobalService::forget(Ref ref) {
  std::lock_guard lock(mutex_);
  outgoing_.erase(ref.id);
}

// A local owner died: its names go here at once, and each name's arbiter takes it from
// everyone else.
void GlobalService::owner_down(Pid pid) {
  if (pid.node() != runtime_.node()) return remote_owner_down(pid);
  for (Atom name : table_.bury(pid))
    request(GlobalOp::kOwnerDown, name, pid, Pid(), runtime_.make_ref());
}

// A remote owner died. Its own node tells the arbiter, and the arbiter everyone; we drop our
// copy at once all the same, since it may be one that arrived after that removal.
void GlobalService::remote_owner_down(Pid pid) {
  std::lock_guard lock(mutex_);
  for (Atom name : table_.bury(pid))
    if (arbiter(name) == self_)
      commit({name, pid, table_.next_version()}, GlobalOp::kOwnerDown, {self_, 0, Pid()});
}

// --- deciding (the arbiter) -------------------------------------------------------------

void GlobalService::arbitrate(GlobalOp op, Atom name, Pid pid, Answer answer) {
  std::optional<GlobalEntry> e;
  switch (op) {
    case GlobalOp::kRegister:
      if (peers_.reachable(pid)) e = table_.claim(name, pid);
      if (e) took(*e);
      break;
    case GlobalOp::kUnregister:
      e = table_.release(name);
      break;
    case GlobalOp::kOwnerDown:
      // Whatever this table held: the peers may hold the name still, and a dead owner's
      // removal is safe in any order.
      table_.bury(pid);
      e = GlobalEntry{name, pid, table_.next_version()};
      break;
  }
  if (!e) return finish(answer);
  answer.yes = true;
  commit(*e, op, answer);
}

void GlobalService::commit(const GlobalEntry& e, GlobalOp op, Answer answer) {
  std::uint64_t id = next_commit_++;
  auto fill = [&](auto b) {
    b.setName(std::string(e.name.text()));
    net::write_pid(b.initPid(), e.pid);
    b.setVersion(e.version);
    b.setCommitId(id);
  };
  auto frame = encode([&](wire::Frame::Builder f) {
    if (op == GlobalOp::kRegister) return fill(f.initGlobalRegister());
    auto u = f.initGlobalUnregister();
    fill(u);
    u.setOwnerDown(op == GlobalOp::kOwnerDown);
  });
  Commit c{{}, answer};
  for (Atom m : peers_.members()) {
    peers_.send_to(m, frame);
    c.awaiting.insert(m.index());
  }
  if (c.awaiting.empty()) return finish(answer);
  commits_.emplace(id, std::move(c));
}

void GlobalService::finish(Answer a) {
  if (a.origin == self_) {
    if (a.to.valid())
      deliver_signal(runtime_, SignalKind::kMessage, Pid(), a.to, {},
                     tuple(global_reply_tag(), Ref{runtime_.node(), a.request},
                           a.yes ? atom_yes() : atom_no()));
    return;
  }
  if (a.request == 0) return;
  auto frame = encode([&](wire::Frame::Builder f) {
    auto r = f.initGlobalReply();
    r.setRequestId(a.request);
    net::write_pid(r.initTo(), a.to);
    r.setYes(a.yes);
  });
  peers_.send_to(a.origin, frame);
}

// The owner's node watches its pids and tells the arbiter, whose removal reaches everyone
// in order with its commits. A swapped table (GlobalSync) is not in that order: it can
// carry a name whose owner died, and whose removal passed, while it was on the way. So a
// name that arrives by merge has its owner watched here too, wherever it lives (as
// Erlang's global watches every owner); a dead pid's monitor answers noproc at once.
// Commits do not: a remote monitor per name per node made registration 2-3x slower.
void GlobalService::took(const GlobalEntry& e, bool merged) {
  if (merged || e.pid.node() == runtime_.node()) watcher_.watch(e.pid);
}

void GlobalService::ack(Atom to, std::uint64_t commit_id) {
  if (commit_id == 0) return;
  auto frame = encode([&](wire::Frame::Builder f) { f.initGlobalAck().setCommitId(commit_id); });
  peers_.send_to(to, frame);
}

// --- the node's events ----------------------------------------------------------------

void GlobalService::send_sync(Atom to) {
  std::vector<GlobalEntry> all = table_.entries();
  std::vector<Pid> dead = table_.dead_owners();
  auto frame = encode([&](wire::Frame::Builder f) {
    auto sync = f.initGlobalSync();
    auto list = sync.initEntries(unsigned(all.size()));
    for (unsigned i = 0; i < all.size(); ++i) {
      list[i].setName(std::string(all[i].name.text()));
      net::write_pid(list[i].initPid(), all[i].pid);
      list[i].setVersion(all[i].version);
    }
    auto gone = sync.initDeadOwners(unsigned(dead.size()));
    for (unsigned i = 0; i < dead.size(); ++i) net::write_pid(gone[i], dead[i]);
  });
  peers_.send_to(to, frame);
}

void GlobalService::on_peer_up(Atom node) {
  std::lock_guard lock(mutex_);
  send_sync(node);
}

void GlobalService::on_peer_down(Atom node) {
  std::lock_guard lock(mutex_);
  std::vector<GlobalEntry> gone = table_.drop_node(node);
  if (!gone.empty())
    spdlog::info("ember: {} dropped {} global name(s) of lost {}", self_.text(), gone.size(),
                 node.text());
  for (auto it = commits_.begin(); it != commits_.end();) {
    it->second.awaiting.erase(node.index());
    if (it->second.awaiting.empty()) {
      finish(it->second.answer);
      it = commits_.erase(it);
    } else {
      ++it;
    }
  }
  // Requests the lost node was deciding: a waiting process asks again (at the name's new
  // arbiter); an owner's death is passed on by us.
  std::vector<Outgoing> again;
  for (auto it = outgoing_.begin(); it != outgoing_.end();) {
    if (it->second.arbiter != node) {
      ++it;
      continue;
    }
    if (it->second.requester.valid())
      deliver_signal(runtime_, SignalKind::kMessage, Pid(), it->second.requester, {},
                     tuple(global_reply_tag(), Ref{runtime_.node(), it->first}, atom_retry()));
    else
      again.push_back(it->second);
    it = outgoing_.erase(it);
  }
  for (const Outgoing& o : again) {
    Ref ref = runtime_.make_ref();
    Atom to = arbiter(o.name);
    if (to == self_) {
      arbitrate(o.op, o.name, o.pid, {self_, 0, Pid()});
      continue;
    }
    outgoing_[ref.id] = {to, Pid(), o.op, o.name, o.pid};
    auto frame = encode([&](wire::Frame::Builder f) {
      auto r = f.initGlobalRequest();
      r.setRequestId(ref.id);
      net::write_pid(r.initFrom(), Pid());
      r.setName(std::string(o.name.text()));
      net::write_pid(r.initPid(), o.pid);
      r.setOp(to_wire(o.op));
    });
    peers_.send_to(to, frame);
  }
}

void GlobalService::resolve_conflicts(const std::vector<GlobalConflict>& conflicts) {
  static const Atom tag("global_name_conflict");
  for (const GlobalConflict& c : conflicts) {
    spdlog::warn("ember: {}: global name {} was registered on both sides of a partition; {}",
                 self_.text(), c.name.text(), c.kept.valid() ? "one pid keeps it" : "dropped");
    if (c.kept.valid()) took({c.name, c.kept, 0}, true);
    for (Pid loser : c.losers)
      if (loser.node() == runtime_.node())  // each node tells its own processes only
        deliver_signal(runtime_, SignalKind::kExit, watcher_.pid(), loser, {}, tuple(tag, c.name));
  }
}

void GlobalService::on_frame(Atom from, wire::Frame::Reader f) {
  std::lock_guard lock(mutex_);
  switch (f.which()) {
    case wire::Frame::GLOBAL_REQUEST: {
      auto r = f.getGlobalRequest();
      auto name = read_name(r.getName());
      Answer answer{from, r.getRequestId(), net::read_pid(r.getFrom())};
      if (!name) return finish(answer);
      return arbitrate(from_wire(r.getOp()), *name, net::read_pid(r.getPid()), answer);
    }
    case wire::Frame::GLOBAL_REGISTER: {
      auto c = f.getGlobalRegister();
      auto name = read_name(c.getName());
      GlobalEntry e{name.value_or(Atom()), net::read_pid(c.getPid()), c.getVersion()};
      if (name && peers_.reachable(e.pid)) {
        table_.apply(e);
        if (table_.whereis(e.name) == e.pid) took(e);
      }
      return ack(from, c.getCommitId());
    }
    case wire::Frame::GLOBAL_UNREGISTER: {
      auto c = f.getGlobalUnregister();
      if (c.getOwnerDown())
        table_.bury(net::read_pid(c.getPid()));
      else if (auto name = read_name(c.getName()))
        table_.apply_removal(*name, net::read_pid(c.getPid()), c.getVersion());
      return ack(from, c.getCommitId());
    }
    case wire::Frame::GLOBAL_ACK: {
      auto it = commits_.find(f.getGlobalAck().getCommitId());
      if (it == commits_.end()) return;
      it->second.awaiting.erase(from.index());
      if (!it->second.awaiting.empty()) return;
      finish(it->second.answer);
      commits_.erase(it);
      return;
    }
    case wire::Frame::GLOBAL_REPLY: {
      auto r = f.getGlobalReply();
      auto it = outgoing_.find(r.getRequestId());
      if (it == outgoing_.end() || it->second.arbiter != from) return;
      Pid requester = it->second.requester;
      outgoing_.erase(it);
      if (requester.valid())
        deliver_signal(runtime_, SignalKind::kMessage, Pid(), requester, {},
                       tuple(global_reply_tag(), Ref{runtime_.node(), r.getRequestId()},
                             r.getYes() ? atom_yes() : atom_no()));
      return;
    }
    case wire::Frame::GLOBAL_SYNC: {
      for (auto p : f.getGlobalSync().getDeadOwners()) table_.bury(net::read_pid(p));
      std::vector<GlobalEntry> theirs;
      for (auto e : f.getGlobalSync().getEntries()) {
        auto name = read_name(e.getName());
        Pid pid = net::read_pid(e.getPid());
        if (name && peers_.reachable(pid)) theirs.push_back({*name, pid, e.getVersion()});
      }
      auto merged = table_.merge(theirs, resolver_);
      for (const GlobalEntry& e : merged.added) took(e, true);
      return resolve_conflicts(merged.conflicts);
    }
    default:
      return;
  }
}

}  // namespace ember::detail
