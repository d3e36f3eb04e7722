// Random terms for property tests, fuzz seeds and benchmarks.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ember/core/node_table.hpp"
#include "ember/core/term.hpp"

namespace ember::testing {

// Every kind of term, nested up to `depth`, with the awkward values mixed in: boundaries
// of the small-integer range, -0.0, empty containers, atoms that need quoting, bytes that
// need escaping.
class RandomTerm {
 public:
  // Pids and refs point at real node table entries, as they would on a running node.
  explicit RandomTerm(std::uint64_t seed)
      : rng_(seed),
        nodes_{NodeTable::kLocal, *NodeTable::intern(Atom("alpha@host1"), 1),
               *NodeTable::intern(Atom("beta@10.0.0.2:4370"), 3)} {}

  Term operator()(int depth = 4) {
    int kinds = depth > 0 ? 12 : 8;
    switch (pick(kinds)) {
      case 0:
        return Term(small_int());
      case 1:
        return Term(edge_int());
      case 2:
        return Term(real());
      case 3:
        return Term(Atom(atom_text()));
      case 4:
        return Term(bytes_text());
      case 5:
        return Term(Pid(node(), pick(1 << 20), pick(1 << 16)));
      case 6:
        return Term(Ref{node(), rng_()});
      case 7:
        return pick(2) ? Term(atoms::ok()) : Term();
      case 8:
        return container(depth, detail::Box::kTuple);
      case 9:
        return container(depth, detail::Box::kList);
      case 10:
        return map_of(depth);
      default:
        return container(depth, pick(2) ? detail::Box::kTuple : detail::Box::kList);
    }
  }

  std::uint32_t pick(std::uint32_t n) { return std::uint32_t(rng_() % n); }

 private:
  std::uint32_t node() { return nodes_[pick(3)]; }
  std::int64_t small_int() { return std::int64_t(pick(2001)) - 1000; }
  std::int64_t edge_int() {
    static constexpr std::int64_t kEdges[] = {detail::kSmallMax,
                                              detail::kSmallMax + 1,
                                              detail::kSmallMin,
                                              detail::kSmallMin - 1,
                                              INT64_MAX,
                                              INT64_MIN,
                                              0,
                                              -1};
    return pick(2) ? kEdges[pick(8)] : std::int64_t(rng_());
  }
  double real() {
    switch (pick(5)) {
      case 0:
        return -0.0;
      case 1:
        return double(small_int());  // equal in value to an integer
      case 2:
        return std::ldexp(double(rng_() >> 11), int(pick(200)) - 100);
      case 3:
        return 1e300 * (pick(2) ? 1 : -1);
      default:
        return (double(rng_() % 100000) - 50000) / 128.0;
    }
  }
  std::string atom_text() {
    static const char* kAtoms[] = {"ok",  "error", "EXIT",        "Quoted atom",   "",
                                   "a'b", "end",   "with\\slash", "nonode@nohost", "tab\there",
                                   "déjà"};
    if (pick(3)) return kAtoms[pick(sizeof kAtoms / sizeof *kAtoms)];
    std::string s;
    for (std::uint32_t i = 0, n = pick(8); i < n; ++i) s += char('a' + pick(26));
    return s;
  }
  std::string bytes_text() {
    std::string s;
    bool binary = pick(3) == 0;
    for (std::uint32_t i = 0, n = pick(pick(10) ? 12 : 300); i < n; ++i)
      s += binary ? char(pick(256)) : char(32 + pick(95));
    return s;
  }
  Term container(int depth, detail::Box kind) {
    std::vector<Term> items;
    for (std::uint32_t i = 0, n = pick(5); i < n; ++i) items.push_back((*this)(depth - 1));
    return kind == detail::Box::kList ? detail::build(items) : tuple_of(items);
  }
  Term map_of(int depth) {
    std::vector<std::pair<Term, Term>> kv;
    for (std::uint32_t i = 0, n = pick(5); i < n; ++i)
      kv.emplace_back((*this)(depth - 1), (*this)(depth - 1));
    return map(kv);
  }

  std::mt19937_64 rng_;
  std::uint32_t nodes_[3];
};

}  // namespace ember::testing
