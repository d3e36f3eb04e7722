// Pattern matching over term words: no allocation, no reference counting.
#include "ember/core/pattern.hpp"

#include "ember/core/errors.hpp"

namespace ember {

using namespace detail;

namespace {

bool match_word(Word p, Word t) {
  if (p == make_atom(_)) return true;
  if (p == t) return true;
  if (tag_of(p) != Tag::kBoxed || tag_of(t) != Tag::kBoxed) return false;
  const Word *pb = box_of(p), *tb = box_of(t);
  Box kind = box_kind(pb);
  if (kind != box_kind(tb)) return equal(p, t);  // e.g. a boxed int against a float: never equal
  std::uint64_t n = box_count(pb);
  switch (kind) {
    case Box::kTuple:
    case Box::kList:
      if (n != box_count(tb)) return false;
      for (std::uint64_t i = 1; i <= n; ++i)
        if (!match_word(pb[i], tb[i])) return false;
      return true;
    case Box::kMap: {
      // Every pattern key must be in the term (keys are plain terms, no wildcards).
      std::uint64_t m = box_count(tb), j = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        while (j < m && compare(tb[1 + j], pb[1 + i]) < 0) ++j;
        if (j == m || !equal(tb[1 + j], pb[1 + i])) return false;
        if (!match_word(pb[1 + n + i], tb[1 + m + j])) return false;
      }
      return true;
    }
    default:
      return equal(p, t);
  }
}

}  // namespace

bool Pattern::operator()(const Term& t) const {
  return match_word(pattern_.word(), t.word());
}

ErlangError::ErlangError(Term reason)
    : std::runtime_error("erlang error: " + reason.to_string()), reason_(std::move(reason)) {}

}  // namespace ember
