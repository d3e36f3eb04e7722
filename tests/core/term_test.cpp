#include <catch2/catch.hpp>

#include <map>
#include <thread>
#include <unordered_set>

#include "ember/core/node_table.hpp"
#include "ember/core/term.hpp"
#include "ember/core/term_text.hpp"

using namespace ember;

namespace {
struct Report {
  std::string service;
  std::int64_t code = 0;
  std::vector<std::string> tags;
};
}  // namespace

template <>
struct ember::Record<Report> {
  static constexpr std::string_view name = "report";
  static constexpr auto fields = std::tuple{&Report::service, &Report::code, &Report::tags};
};

TEST_CASE("atoms are interned: same text, same atom, compared as integers") {
  Atom a("hello"), b(std::string("hel") + "lo");
  CHECK(a == b);
  CHECK(a.index() == b.index());
  CHECK(a.text() == "hello");
  CHECK("hello"_a == a);
  CHECK("hello"_a != "world"_a);
  CHECK(a.hash() == Atom("hello").hash());
  CHECK_THROWS_AS(Atom(std::string(256, 'x')), std::length_error);
  Atom ok;
  CHECK_FALSE(Atom::try_intern(std::string(300, 'y'), ok));
}

TEST_CASE("atoms interned from many threads agree") {
  std::vector<std::uint32_t> seen[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) seen[t].push_back(Atom("race_" + std::to_string(i)).index());
    });
  for (auto& th : threads) th.join();
  for (int t = 1; t < 4; ++t) CHECK(seen[t] == seen[0]);
  std::unordered_set<std::uint32_t> unique(seen[0].begin(), seen[0].end());
  CHECK(unique.size() == 2000);
}

TEST_CASE("a tuple is built from C++ values and read back typed") {
  Term t = tuple("report"_a, "api", 42, 1.5, Pid(0, 7, 1));
  REQUIRE(t.is_tuple(5));
  CHECK(t[0].is("report"_a));
  CHECK(t[1].as<std::string>() == "api");
  CHECK(t[1].is_binary());
  CHECK(t[2].as<int>() == 42);
  CHECK(t[3].as<double>() == 1.5);
  CHECK(t[4].as<Pid>() == Pid(0, 7, 1));
  CHECK(t.is_tuple_of<Atom, std::string, int, double, Pid>());
  CHECK_FALSE(t.is_tuple_of<Atom, int, int, double, Pid>());
  CHECK_FALSE(t.is_tuple_of<Atom, std::string>());
  CHECK_THROWS_AS(t[1].as<int>(), BadTerm);
  CHECK_THROWS_AS(t[5], BadTerm);
  CHECK_FALSE(t[2].try_as<std::string>());
  CHECK(t[2].try_as<std::int64_t>() == 42);
}

TEST_CASE("integer conversions respect the target's range") {
  Term big(std::int64_t(1) << 40);
  CHECK(big.try_as<std::int64_t>() == (std::int64_t(1) << 40));
  CHECK_FALSE(big.try_as<int>());
  CHECK_FALSE(Term(-1).try_as<unsigned>());
  CHECK_THROWS_AS(Term(std::uint64_t(-1)), std::out_of_range);
  CHECK(Term(INT64_MAX).integer() == INT64_MAX);
  CHECK(Term(INT64_MIN).integer() == INT64_MIN);
  CHECK(Term(INT64_MIN).is_integer());
}

TEST_CASE("a whole term tree lives in one heap allocation") {
  Term inner = tuple("x"_a, "a binary of some length", list(1, 2, 3));
  Term outer = tuple(inner, inner, map({{"k"_a, 1.5}}));
  // Copying the inner term into the outer one gives the outer its own single heap.
  CHECK(outer.heap_bytes() > 0);
  Term e = outer[0];
  CHECK(e == inner);
  CHECK(e.heap_bytes() == outer.heap_bytes());  // an element shares its parent's heap
  Term immediate = tuple();
  CHECK(immediate.heap_bytes() == 0);
  CHECK(Term(5).heap_bytes() == 0);
  CHECK(Term("ok"_a).heap_bytes() == 0);
}

TEST_CASE("copies share the heap and may be read from many threads") {
  Term t = tuple("payload"_a, std::string(1000, 'z'), list(1, 2, 3));
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([t, &good] {
      for (int j = 0; j < 1000; ++j) {
        Term copy = t;
        Term e = copy[1];
        if (e.size() == 1000) good.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(good.load() == 4000);
}

TEST_CASE("lists and maps from containers, and back") {
  std::vector<int> v{3, 1, 2};
  Term l = v;
  CHECK(l.is_list());
  CHECK(l.as<std::vector<int>>() == v);
  std::map<std::string, int> m{{"b", 2}, {"a", 1}};
  Term tm = m;
  CHECK(tm.is_map());
  CHECK(tm.size() == 2);
  CHECK(tm.get("a")->as<int>() == 1);
  CHECK_FALSE(tm.get("c"));
  CHECK((tm.as<std::map<std::string, int>>()) == m);
  CHECK(Term(std::vector<int>{}).is_nil());
  int sum = 0;
  for (const Term& e : l) sum += e.as<int>();
  CHECK(sum == 6);
}

TEST_CASE("map keys are unique, the last write wins, order does not matter") {
  Term a = map({{"a"_a, 1}, {"b"_a, 2}, {"a"_a, 3}});
  CHECK(a.size() == 2);
  CHECK(a.get("a"_a)->as<int>() == 3);
  Term b = map({{"b"_a, 2}, {"a"_a, 3}});
  CHECK(a == b);
  CHECK(a.hash() == b.hash());
  CHECK(map({{1, "int"}, {1.0, "float"}}).size() == 2);  // 1 and 1.0 are different keys
}

TEST_CASE("user structs map to record tuples and back") {
  Report r{"api", 503, {"prod", "eu"}};
  Term t = r;
  CHECK(print_term(t) == "{report,<<\"api\">>,503,[<<\"prod\">>,<<\"eu\">>]}");
  Report back = t.as<Report>();
  CHECK(back.service == "api");
  CHECK(back.code == 503);
  CHECK(back.tags == r.tags);
  CHECK(t.try_as<Report>());
  CHECK_FALSE(tuple("report"_a, "api").try_as<Report>());
  CHECK_FALSE(tuple("other"_a, "api", 1, list()).try_as<Report>());
  CHECK_THROWS_AS(Term(1).as<Report>(), BadTerm);
  Term nested = tuple("ok"_a, r);
  CHECK(nested[1].as<Report>().code == 503);
}

TEST_CASE("optional maps to undefined") {
  std::optional<int> none, some = 4;
  CHECK(Term(none).is("undefined"_a));
  CHECK(Term(some).as<std::optional<int>>() == 4);
  CHECK(Term("undefined"_a).as<std::optional<int>>() == std::nullopt);
}

TEST_CASE("floats must be finite, as in Erlang") {
  CHECK_THROWS_AS(Term(std::numeric_limits<double>::infinity()), std::domain_error);
  CHECK_THROWS_AS(Term(std::nan("")), std::domain_error);
}

TEST_CASE("Erlang term order across kinds") {
  // number < atom < reference < pid < tuple < map < list < binary
  std::vector<Term> ascending{Term(-5),      Term(1),     Term(1.0),       Term(1.5),
                              Term("a"_a),   Term("b"_a), Term(Ref{0, 1}), Term(Pid(0, 1, 0)),
                              tuple(),       tuple(1),    tuple(0, 0),     map({}),
                              map({{1, 1}}), Term(),      list(1),         list(1, 2),
                              list(2),       Term(""),    Term("a"),       Term("ab"),
                              Term("b")};
  for (std::size_t i = 0; i + 1 < ascending.size(); ++i) {
    INFO(print_term(ascending[i]) << " < " << print_term(ascending[i + 1]));
    CHECK(ascending[i] < ascending[i + 1]);
  }
  CHECK(Term(2) > Term(1.5));
  CHECK(Term(1) != Term(1.0));  // exact equality, like =:=
  CHECK(Term(-0.0) == Term(0.0));
  CHECK(Term(-0.0).hash() == Term(0.0).hash());
  CHECK(Term(INT64_MAX) < Term(1e19));
  CHECK(Term(INT64_MIN) > Term(-1e19));
}

TEST_CASE("the node table gives a new index to a new creation") {
  auto a = NodeTable::intern(Atom("alpha@host"), 1);
  auto b = NodeTable::intern(Atom("alpha@host"), 2);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(NodeTable::intern(Atom("alpha@host"), 1) == a);
  CHECK(NodeTable::identity(*b).creation == 2);
  CHECK(NodeTable::identity(NodeTable::kLocal).name == Atom("nonode@nohost"));
}

TEST_CASE("a heap writer over a caller's buffer stops with HeapFull at its end") {
  detail::Word buffer[4];
  detail::HeapWriter w(buffer, 4);
  detail::Word* elems = nullptr;
  w.box_tuple(detail::Box::kTuple, 3, elems);  // 4 words: the header and 3 elements
  CHECK(w.used() == 4);
  CHECK_THROWS_AS(w.box_float(1.5), detail::HeapFull);
  CHECK(w.release() == nullptr);  // the buffer stays the caller's
}
