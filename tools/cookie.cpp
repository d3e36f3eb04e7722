#include "cookie.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "cli_error.hpp"

namespace ember::cli {
namespace {

std::string trim(std::string s) {
  const char* space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  s.erase(s.find_last_not_of(space) + 1);
  return s;
}

// O_EXCL: when two programs race to create it, one writes and both read the same cookie.
void create_cookie_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0400);
  if (fd < 0) {
    if (errno == EEXIST) return;
    throw CliError(kUsage, "no cookie: cannot create " + path + ": " + std::strerror(errno) +
                               " (pass --cookie or set EMBER_COOKIE)");
  }
  std::random_device rd;
  std::string cookie;
  for (int i = 0; i < 20; ++i) cookie += char('A' + rd() % 26);
  cookie += '\n';
  bool ok = ::write(fd, cookie.data(), cookie.size()) == ssize_t(cookie.size());
  ::close(fd);
  if (!ok) throw CliError(kUsage, "no cookie: cannot write " + path);
}

}  // namespace

std::string resolve_cookie(const std::string& given) {
  if (!given.empty()) return given;
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw CliError(kUsage, "no cookie: pass --cookie, set EMBER_COOKIE or HOME");
  std::string path = std::string(home) + "/.ember.cookie";
  create_cookie_file(path);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string cookie = trim(text.str());
  if (!in.is_open() || cookie.empty())
    throw CliError(kUsage, "no cookie: " + path + " is unreadable or empty");
  return cookie;
}

}  // namespace ember::cli
