// The cookie file: ~/.ember.cookie, read (or created) as Erlang does with ~/.erlang.cookie.
// Shared by the ember-node daemon and the ember CLI.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace ember {

// ~/.ember.cookie under `home_variable` ($HOME), else the password database's home
// directory. Throws std::runtime_error when there is no home directory.
std::filesystem::path cookie_path(const std::optional<std::string>& home_variable);

// An existing file is read (surrounding whitespace dropped) and must be readable by its
// owner only; a missing one is created with mode 0400 and 20 random capital letters (of
// two programs creating it at once, one wins and both read the same cookie). Throws
// std::runtime_error saying what is wrong.
std::string read_or_create_cookie(const std::filesystem::path& path);

}  // namespace ember
