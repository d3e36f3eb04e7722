// HttpClient: HTTP(S) GETs on a Transport's loop thread, through libcurl's multi interface.
// libcurl never blocks that thread: the loop watches curl's sockets (one uv_poll_t each)
// and its timeout (one uv_timer_t), so any number of requests share the one thread and
// no thread is made per request. Host names are resolved on libuv's thread pool (a fixed
// few threads), not by libcurl's resolver, which would start a thread per lookup.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ember::net {

class Transport;

struct HttpResponse {
  // Why a request failed; kNone when a response came (whatever its status).
  enum class Error {
    kNone,
    kBadUrl,       // malformed, or not http/https
    kRefused,      // nothing listens there
    kUnreachable,  // no route to the host or network
    kNxdomain,     // the host name does not resolve
    kTimeout,      // the whole request took longer than its timeout
    kTooManyRedirects,
    kTls,           // handshake or certificate verification failed
    kBodyTooLarge,  // over HttpClient::kMaxBody
    kClosed,        // the server closed or reset the connection mid-request
    kOther,         // any other libcurl error (see message)
  };
  long status = 0;  // of the last response, after redirects were followed
  std::string body;
  Error error = Error::kNone;
  std::string message;  // libcurl's (or the resolver's) words for the error
};

class HttpClient {
 public:
  // Bodies beyond this fail the request (kBodyTooLarge) rather than fill memory; it is
  // the node's default message size limit, since the body travels as a message.
  static constexpr std::size_t kMaxBody = 64u << 20;
  static constexpr long kMaxRedirects = 10;

  // Runs once, on the loop thread, with the outcome.
  using Done = std::function<void(HttpResponse)>;

  explicit HttpClient(Transport& transport);
  ~HttpClient();  // after close(): the loop thread has let go of everything
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any thread. Starts a GET that follows redirects and gives up after `timeout` (name
  // lookup, connect, TLS and transfer together). Returns the request's id, or 0 when the
  // client is closed; `done` does not run for a request that is cancelled, or that the
  // client's close overtakes.
  std::uint64_t get(std::string url, std::chrono::milliseconds timeout, Done done);
  // Any thread: drops the request (its connection is closed) if it is still running.
  void cancel(std::uint64_t id);
  // Loop thread: drops every request and closes the curl and uv handles. Idempotent.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember::net
