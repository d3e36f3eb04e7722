// ember: the command-line tool. Cluster commands (ping, nodes, ps, send, ...) arrive with
// the distribution; today it checks terms the way the cluster will read them.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "ember/core/term_text.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"

namespace {

// `ember term TEXT`: parse, print canonical Erlang text, and the bytes it takes on the wire.
int term_command(const std::string& text, bool json) {
  using namespace ember;
  Term t;
  try {
    t = parse_term(text);
  } catch (const ParseError& e) {
    std::cerr << "ember term: " << e.what() << "\n  " << text << "\n  "
              << std::string(e.position(), ' ') << "^\n";
    return 2;
  }
  std::vector<std::byte> frame;
  net::FrameEncoder encoder;
  std::size_t bytes = encoder.encode_send(frame, Pid(), Pid(), t);
  net::decode_all(frame);  // what a receiving node would do
  if (json) {
    std::string canonical = print_term(t), quoted;
    for (char c : canonical) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    std::cout << "{\"term\": \"" << quoted << "\", \"frame_bytes\": " << bytes
              << ", \"heap_bytes\": " << t.heap_bytes() << "}\n";
  } else {
    std::cout << print_term(t) << "\nframe: " << bytes << " bytes, heap: " << t.heap_bytes()
              << " bytes\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember: poke an Ember cluster"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "machine-readable output");

  std::string text;
  auto* term = app.add_subcommand("term", "parse an Erlang term, print it back and its wire size");
  term->add_option("TERM", text, "the term, e.g. '{echo, <<\"hi\">>, 42}'")->required();
  app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ember: " << e.what() << "\n\n" << app.help();
    return 2;
  }
  if (term->parsed()) return term_command(text, json);
  std::cout << "ember " << EMBER_VERSION << "\n";
  return 0;
}
