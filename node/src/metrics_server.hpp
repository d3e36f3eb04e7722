// A small HTTP/1.1 server on a Transport's libuv loop, for the metrics endpoint: requests
// parsed by Debian's http_parser, answered by a handler that runs on the loop thread.
// It serves GETs of a few short pages, so it is plain: keep-alive and pipelining as
// http_parser allows, no bodies, one response per request in order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ember::net {
class Transport;
}

namespace ember::detail {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ... as http_parser names it
  std::string path;    // the URL's path, without the query
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Runs on the loop thread; it must not block (the loop also carries the node's traffic).
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class MetricsServer {
 public:
  // Binds host:port (an IPv4 address or a host name, port 0 for any free one) on the
  // transport's loop and waits until it listens; throws std::runtime_error saying which
  // address failed and why. Call from outside the loop thread.
  MetricsServer(net::Transport& transport, const std::string& host, std::uint16_t port,
                HttpHandler handler);
  // Stops listening and closes every client connection on the loop, and returns once
  // that is under way: the handler is not called again. Before the transport stops.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::uint16_t port() const { return port_; }

  struct State;

 private:
  net::Transport& transport_;
  State* state_;  // lives on the loop; freed there once its last handle has closed
  std::uint16_t port_ = 0;
};

}  // namespace ember::detail
