#include "cookie.hpp"

#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "cli_error.hpp"
#include "ember/node/cookie_file.hpp"

namespace ember::cli {

std::string resolve_cookie(const std::string& given) {
  if (!given.empty()) return given;
  try {
    const char* home = std::getenv("HOME");
    return read_or_create_cookie(
        cookie_path(home ? std::optional<std::string>(home) : std::nullopt));
  } catch (const std::runtime_error& e) {
    throw CliError(kUsage,
                   std::string("no cookie: ") + e.what() + " (pass --cookie or set EMBER_COOKIE)");
  }
}

}  // namespace ember::cli
