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
    // One line, as every other error: what is wrong and where the help is. A word that is
    // no command leaves CLI11 saying only that a command is required: name the word.
    std::string what = e.what();
    auto left = cli.app().remaining();
    if (cli.app().get_subcommands().empty() && !left.empty())
      what = "unknown command '" + left.front() + "'";
    std::cerr << "ember: " << what << " (see " << cli.help_command() << ")\n";
    return ember::cli::kUsage;
  }
  return cli.run();
}
