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
  // Runs the parsed subcommand: its exit code, with CliError as a one-line stderr message.
  int run();

 private:
  using Action = std::function<int(Commands&)>;
  CLI::App* add(const char* name, const char* help, Action action);

  CLI::App app_{"ember: poke an Ember cluster"};
  Options options_;
  std::vector<std::pair<CLI::App*, Action>> actions_;
  // Arguments of the subcommands (only one is parsed per run).
  std::string text_, node_, target_, function_, args_, pid_, reason_, name_, group_;
  std::string scope_ = "pg";
  bool all_nodes_ = false, global_ = false, local_ = false;
  bool connections_ = false;  // nodes --verbose
  long timeout_ms_ = 5000;
};

}  // namespace ember::cli
