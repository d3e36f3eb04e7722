#include "ember/node/cookie_file.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace ember {

namespace {

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::filesystem::path cookie_path(const std::optional<std::string>& home_variable) {
  std::string home;
  if (home_variable && !home_variable->empty()) home = *home_variable;
  if (home.empty()) {
    passwd pw{}, *found = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && pw.pw_dir)
      home = pw.pw_dir;
  }
  if (home.empty()) throw std::runtime_error("no home directory for ~/.ember.cookie (set HOME)");
  return std::filesystem::path(home) / ".ember.cookie";
}

namespace {

std::string errno_text(int e) {
  return std::strerror(e);
}

// Writes a fresh cookie next to `path`, then links it into place: a concurrent reader
// sees either no file or a complete one, and of two daemons creating it one wins.
void create_cookie(const std::filesystem::path& path) {
  std::random_device rd;
  std::uniform_int_distribution<int> letter('A', 'Z');
  std::string value;
  for (int i = 0; i < 20; ++i) value += char(letter(rd));
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0)
    throw std::runtime_error("cannot create the cookie file " + path.string() + ": " +
                             errno_text(errno));
  bool ok = ::write(fd, value.data(), value.size()) == ssize_t(value.size());
  int e = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write the cookie file " + path.string() + ": " +
                             errno_text(e));
  }
  ::chmod(tmp.c_str(), 0400);  // whatever the umask said
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot create the cookie file " + path.string() + ": " +
                             errno_text(e));
  }
  ::unlink(tmp.c_str());
}

}  // namespace

std::string read_or_create_cookie(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    create_cookie(path);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0)
    throw std::runtime_error("cannot read the cookie file " + path.string() + ": " +
                             errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("the cookie file " + path.string() + " is not a regular file");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    throw std::runtime_error("the cookie file " + path.string() +
                             " must be accessible by its owner only (chmod 400 " + path.string() +
                             ")");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, std::size_t(n));
    if (text.size() > 65536) break;
  }
  ::close(fd);
  text = trim(text);
  if (text.empty()) throw std::runtime_error("the cookie file " + path.string() + " is empty");
  return text;
}

}  // namespace ember
