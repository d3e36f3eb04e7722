// Properties over thousands of random terms: text round trip, total order, hash.
#include <catch2/catch.hpp>

#include <algorithm>

#include "../support/random_term.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;

TEST_CASE("print then parse is the identity on random terms") {
  testing::RandomTerm gen(1);
  for (int i = 0; i < 5000; ++i) {
    Term t = gen();
    std::string text = print_term(t);
    INFO(text);
    Term back = parse_term(text);
    REQUIRE(back == t);
    REQUIRE(print_term(back) == text);
    REQUIRE(back.hash() == t.hash());
  }
}

TEST_CASE("term order is a total order consistent with equality and hash") {
  testing::RandomTerm gen(2);
  std::vector<Term> terms;
  for (int i = 0; i < 600; ++i) terms.push_back(gen(2));
  // Duplicates made independently (fresh heaps) must compare equal to their originals.
  for (int i = 0; i < 100; ++i) terms.push_back(parse_term(print_term(terms[i])));
  for (const Term& a : terms) {
    REQUIRE(std::is_eq(a <=> a));
    for (const Term& b : terms) {
      auto ab = a <=> b, ba = b <=> a;
      REQUIRE((ab < 0) == (ba > 0));   // antisymmetric
      REQUIRE((ab == 0) == (a == b));  // consistent with equality
      if (a == b) REQUIRE(a.hash() == b.hash());
    }
  }
  // Transitivity, checked along a sort: every later element is >= every earlier one.
  std::sort(terms.begin(), terms.end());
  for (std::size_t i = 0; i + 1 < terms.size(); ++i) {
    REQUIRE(terms[i] <= terms[i + 1]);
    for (std::size_t j = i + 1; j < std::min(terms.size(), i + 20); ++j)
      REQUIRE(terms[i] <= terms[j]);
  }
}
