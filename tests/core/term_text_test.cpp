#include <catch2/catch.hpp>

#include "ember/core/term_text.hpp"

using namespace ember;

TEST_CASE("the issue's example prints and parses both ways") {
  std::string text = "{echo, <<\"hello\">>, 42, [1,2], #{a => 1.5}, 'Quoted atom'}";
  Term t = parse_term(text);
  REQUIRE(t.is_tuple(6));
  CHECK(t[0].is("echo"_a));
  CHECK(t[1].as<std::string>() == "hello");
  CHECK(t[2].as<int>() == 42);
  CHECK(t[3].as<std::vector<int>>() == std::vector<int>{1, 2});
  CHECK(t[4].get("a"_a)->as<double>() == 1.5);
  CHECK(t[5].is(Atom("Quoted atom")));
  CHECK(print_term(t) == "{echo,<<\"hello\">>,42,[1,2],#{a => 1.5},'Quoted atom'}");
  CHECK(parse_term(print_term(t)) == t);
}

TEST_CASE("Elixir-style strings and atoms read as binaries and atoms") {
  CHECK(parse_term("\"text\"") == Term("text"));
  CHECK(parse_term(":ok") == Term("ok"_a));
  CHECK(parse_term(":\"EXIT\"") == Term(Atom("EXIT")));
  CHECK(parse_term("<<\"héllo\"/utf8>>") == Term("héllo"));
}

TEST_CASE("atoms are quoted exactly when Erlang would quote them") {
  CHECK(print_term(Term("ok"_a)) == "ok");
  CHECK(print_term(Term("node@host"_a)) == "node@host");
  CHECK(print_term(Term(Atom("EXIT"))) == "'EXIT'");
  CHECK(print_term(Term(Atom(""))) == "''");
  CHECK(print_term(Term(Atom("end"))) == "'end'");  // reserved word
  CHECK(print_term(Term(Atom("it's"))) == "'it\\'s'");
  CHECK(print_term(Term(Atom("a b"))) == "'a b'");
}

TEST_CASE("numbers print in Erlang's form and read back exactly") {
  CHECK(print_term(Term(1.0)) == "1.0");
  CHECK(print_term(Term(-0.5)) == "-0.5");
  CHECK(print_term(Term(1e21)) == "1.0e21");
  CHECK(print_term(Term(1.5e-7)) == "1.5e-7");
  CHECK(print_term(Term(-0.0)) == "-0.0");
  CHECK(parse_term("1.0e21").as<double>() == 1e21);
  CHECK(parse_term("2.5E+3").as<double>() == 2500.0);
  CHECK(parse_term("-17") == Term(-17));
  CHECK(parse_term("9223372036854775807") == Term(INT64_MAX));
  CHECK(parse_term("-9223372036854775808") == Term(INT64_MIN));
  double tricky = 0.1 + 0.2;
  CHECK(parse_term(print_term(Term(tricky))).as<double>() == tricky);
}

TEST_CASE("binaries print as text when printable, as bytes otherwise") {
  CHECK(print_term(Term("a\"b\\c\n")) == "<<\"a\\\"b\\\\c\\n\">>");
  std::byte raw[] = {std::byte{0}, std::byte{255}, std::byte{10}};
  CHECK(print_term(Term(Bytes{raw})) == "<<0,255,10>>");
  CHECK(print_term(Term("")) == "<<>>");
  CHECK(parse_term("<<1,2,3>>").bytes().size() == 3);
  CHECK(parse_term("<<\"ab\",99>>") == Term("abc"));
  CHECK(parse_term("<<\"\\x41\\101\\x{42}\">>") == Term("AAB"));
}

TEST_CASE("pids and refs print as text that parses back to the same value") {
  Pid p(3, 12345, 7);
  CHECK(print_term(Term(p)) == "<3.12345.7>");
  CHECK(parse_term("<3.12345.7>").as<Pid>() == p);
  Ref r{2, (std::uint64_t(5) << 32) | 9};
  CHECK(print_term(Term(r)) == "#Ref<2.5.9>");
  CHECK(parse_term("#Ref<2.5.9>").as<Ref>() == r);
}

namespace {
// The offset and expectation a parse error reports.
std::pair<std::size_t, std::string> error_of(std::string_view text) {
  try {
    parse_term(text);
  } catch (const ParseError& e) {
    return {e.position(), e.expected()};
  }
  FAIL("parsed without error: " << text);
  return {};
}
}  // namespace

TEST_CASE("a parse error names the position and what was expected") {
  CHECK(error_of("{a, b") == std::pair<std::size_t, std::string>{5, "',' or '}'"});
  CHECK(error_of("{a b}") == std::pair<std::size_t, std::string>{3, "',' or '}'"});
  CHECK(error_of("#{a 1}").second == "'=>'");
  CHECK(error_of("X").second == "a term (variables are not terms)");
  CHECK(error_of("[1|2]").second == "',' or ']' (improper lists are not supported)");
  CHECK(error_of("<<256>>").second == "an integer from 0 to 255");
  CHECK(error_of("99999999999999999999").second == "an integer within 64 bits");
  CHECK(error_of("1.0e999").second == "a finite float");
  CHECK(error_of("'abc").second == "closing '");
  CHECK(error_of("ok ok") == std::pair<std::size_t, std::string>{3, "end of input"});
  CHECK(error_of("") == std::pair<std::size_t, std::string>{0, "a term"});
  CHECK(error_of("<1.2>").second == "'.'");
  CHECK(error_of(std::string(300, 'a')).second == "an atom of at most 255 characters");
  try {
    parse_term("{a, b");
  } catch (const ParseError& e) {
    CHECK(std::string(e.what()) == "parse error at offset 5: expected ',' or '}'");
  }
}

TEST_CASE("nesting past the limit is an error, not a stack overflow") {
  std::string deep(10000, '[');
  CHECK(error_of(deep).second.find("nesting") != std::string::npos);
  std::string ok = std::string(kMaxParseDepth, '[') + std::string(kMaxParseDepth, ']');
  CHECK(parse_term(ok).is_list());
}
