// Process groups (Erlang's pg): named groups of processes across the cluster. A process
// joins a group on its own node; every node learns of it and answers `members` locally.
// Eventually consistent, as pg is: a join is visible elsewhere one hop later, a member that
// dies or whose node is lost leaves by itself. Groups live in scopes that never mix
// (pg's scopes; the default is `pg`). Groups are any term.
//
//   pg::join(self, "workers"_a);                 // self joins
//   pg::broadcast(self, "workers"_a, msg);       // to every member, on every node
//
// Choice: a scope exists wherever it is used; pg needs pg:start(Scope) on each node first.
#pragma once

#include <memory>
#include <vector>

#include "ember/core/self.hpp"

namespace ember {

namespace detail {
class ClusterPeers;
struct PgAccess;
}  // namespace detail

// One per Node (Node::groups()).
class ProcessGroups {
 public:
  static const Atom& default_scope();

  ProcessGroups(Runtime& runtime, Atom self, detail::ClusterPeers& peers);
  ~ProcessGroups();
  ProcessGroups(const ProcessGroups&) = delete;
  ProcessGroups& operator=(const ProcessGroups&) = delete;

  // Local pids only (ErlangError badarg otherwise, as pg). A pid may join a group more
  // than once; it is then a member that many times, until it leaves as often.
  void join(Atom scope, const Term& group, const std::vector<Pid>& pids);
  // False if none of `pids` was a member (pg's not_joined).
  bool leave(Atom scope, const Term& group, const std::vector<Pid>& pids);
  std::vector<Pid> members(Atom scope, const Term& group) const;
  std::vector<Pid> local_members(Atom scope, const Term& group) const;
  std::vector<Term> which_groups(Atom scope) const;

 private:
  friend struct detail::PgAccess;  // the Node's events: node/src/pg_access.hpp
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace pg {

void join(Self self, const Term& group, Atom scope = ProcessGroups::default_scope());
void join(Self self, const Term& group, const std::vector<Pid>& pids,
          Atom scope = ProcessGroups::default_scope());
bool leave(Self self, const Term& group, Atom scope = ProcessGroups::default_scope());
std::vector<Pid> members(Self self, const Term& group, Atom scope = ProcessGroups::default_scope());
std::vector<Pid> local_members(Self self, const Term& group,
                               Atom scope = ProcessGroups::default_scope());
std::vector<Term> which_groups(Self self, Atom scope = ProcessGroups::default_scope());
// Sends `message` to every member (once per membership); returns how many sends.
std::size_t broadcast(Self self, const Term& group, const Term& message,
                      Atom scope = ProcessGroups::default_scope());

}  // namespace pg

}  // namespace ember
