// The ember command line: options and subcommands (CLI11), each bound to a Commands call.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace ember::cli {

class CliApp {
 public:
  CliApp();
  CLI::App& app() { return app_; }
  // `ember [SUB...] --help` for the deepest subcommand parsed so far (after a parse error).
  std::string help_command();
  // Runs the parsed subcommand: its exit code, with CliError as a one-line stderr message.
  int run();

 private:
  using Action = std::function<int(Commands&)>;
  CLI::App* add(const char* name, const char* help, Action action);
  void add_examples();

  CLI::App app_{"ember: poke an Ember cluster"};
  Options options_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
  // Arguments of the subcommands (only one is parsed per run).
  std::string text_, node_, target_, function_, args_, pid_, reason_, name_, group_;
  std::string scope_ = "pg";
  bool all_nodes_ = false, global_ = false, local_ = false;
  bool connections_ = false;  // nodes --verbose
  long timeout_ms_ = 5000;
  double seconds_ = 10;
  long count_ = 0;
  long interval_ms_ = 1000, limit_ = 0;
  std::string sort_ = "reductions";
  bool once_ = false;
  std::vector<std::string> nodes_;
  double bench_seconds_ = 1;
  long calls_ = 100;
};

}  // namespace ember::cli
