// The cookie the CLI proves: --cookie, else EMBER_COOKIE, else ~/.ember.cookie.
#pragma once

#include <string>

namespace ember::cli {

// `given` is --cookie or EMBER_COOKIE (CLI11 reads both); when empty, reads
// ~/.ember.cookie, creating it (mode 0400, 20 random letters) if absent, as Erlang does.
// Throws CliError(kUsage) when there is no cookie to be had.
std::string resolve_cookie(const std::string& given);

}  // namespace ember::cli
