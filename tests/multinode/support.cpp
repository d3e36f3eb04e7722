#define CATCH_CONFIG_EXTERNAL_INTERFACES  // the listener base classes
#include "support.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace multinode {

namespace {

bool failed_flag = false;

struct FailureTracker : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    failed_flag = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(Catch::AssertionStats const& stats) override {
    if (!stats.assertionResult.succeeded()) failed_flag = true;
    return TestEventListenerBase::assertionEnded(stats);
  }
};

CATCH_REGISTER_LISTENER(FailureTracker)

}  // namespace

bool current_test_failed() {
  return failed_flag;
}

RawPeer::RawPeer(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + why);
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
  local_port_ = ntohs(local.sin_port);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

RawPeer::~RawPeer() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawPeer::send(const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0 && !closed_) {
    ssize_t sent = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (sent > 0) {
      p += sent;
      n -= std::size_t(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pf{fd_, POLLOUT, 0};
      ::poll(&pf, 1, 100);
      continue;
    }
    closed_ = true;  // EPIPE, ECONNRESET: the node hung up
  }
  if (closed_ && fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return !closed_;
}

bool RawPeer::drain(std::vector<std::byte>* into) {
  char buf[65536];
  while (!closed_) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      if (into)
        into->insert(into->end(), reinterpret_cast<std::byte*>(buf),
                     reinterpret_cast<std::byte*>(buf) + n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    closed_ = true;  // 0: EOF; ECONNRESET and the rest: gone
  }
  if (closed_ && fd_ >= 0) {  // our end too, so nothing lingers in CLOSE_WAIT
    ::close(fd_);
    fd_ = -1;
  }
  return !closed_;
}

bool RawPeer::wait_closed(Clock::time_point deadline) {
  while (drain()) {
    auto left = left_until(deadline);
    if (left.count() == 0) return false;
    pollfd pf{fd_, POLLIN, 0};
    ::poll(&pf, 1, int(std::min<long long>(left.count(), 200)));
  }
  return true;
}

}  // namespace multinode
