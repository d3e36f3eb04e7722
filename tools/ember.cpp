// ember: the command-line tool. Attaches to a cluster as a hidden node and asks the
// ember_admin service of its nodes; `term` checks terms offline. The commands are in
// cli_app.cpp (the command line) and commands.cpp (what each does).
#include <iostream>

#include "cli_app.hpp"
#include "cli_error.hpp"

int main(int argc, char** argv) {
  ember::cli::CliApp cli;
  try {
    cli.app().parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.app().exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ember: " << e.what() << "\n\n" << cli.app().help();
    return ember::cli::kUsage;
  }
  return cli.run();
}
