// http_get: the request goes to the node's HttpClient (net/, on the transport's loop
// thread); the loop thread sends the outcome back to the caller as a message, which the
// caller waits for like a call's reply.
#include "ember/node/http.hpp"

#include <atomic>
#include <memory>

#include "ember/net/http_client.hpp"
#include "ember/net/transport.hpp"
#include "ember/node/node.hpp"

namespace ember {

namespace {

using namespace std::chrono_literals;
using Error = net::HttpResponse::Error;

// The client's own timeout answers first; this is a backstop for the one phase it does
// not time, a name lookup stuck on libuv's thread pool, and for a loop thread held up.
constexpr std::chrono::milliseconds kBackstop = 500ms;

Atom http_tag() {
  static const Atom tag("$ember_http");
  return tag;
}

Atom reason(Error e) {
  switch (e) {
    case Error::kNone:
      return Atom("ok");
    case Error::kBadUrl:
      return Atom("bad_url");
    case Error::kRefused:
      return Atom("econnrefused");
    case Error::kUnreachable:
      return Atom("ehostunreach");
    case Error::kNxdomain:
      return Atom("nxdomain");
    case Error::kTimeout:
      return Atom("timeout");
    case Error::kTooManyRedirects:
      return Atom("too_many_redirects");
    case Error::kTls:
      return Atom("tls");
    case Error::kBodyTooLarge:
      return Atom("body_too_large");
    case Error::kClosed:
      return Atom("closed");
    case Error::kOther:
      break;
  }
  return Atom("curl_error");
}

// The message's result: {ok, Status, Body} | {error, Reason, Message}.
Term result_term(const net::HttpResponse& r) {
  if (r.error == Error::kNone)
    return tuple("ok"_a, std::int64_t(r.status), std::string_view(r.body));
  return tuple("error"_a, reason(r.error), std::string_view(r.message));
}

HttpResult failure(Atom why, std::string message) {
  HttpResult r;
  r.error = why;
  r.message = std::move(message);
  return r;
}

// Who sends the result: the loop thread, unless the caller gave up first. Both race for
// it, so a result never lands in the mailbox of a caller that has stopped waiting.
enum : int { kWaiting, kSent, kAbandoned };

// Stops the request when the caller's frame goes without it (the caller was killed).
struct CancelOnExit {
  net::HttpClient* client;
  std::uint64_t id;
  std::shared_ptr<std::atomic<int>> state;
  ~CancelOnExit() {
    int expected = kWaiting;
    if (client && state->compare_exchange_strong(expected, kAbandoned)) client->cancel(id);
  }
};

}  // namespace

Term HttpResult::term() const {
  if (ok()) return tuple("ok"_a, std::int64_t(status), std::string_view(body));
  return tuple("error"_a, *error);
}

Co<HttpResult> http_get(Self self, std::string url, std::chrono::milliseconds timeout) {
  Node* node = Node::of(self);
  if (!node) co_return failure("no_node"_a, "http_get runs on a Node's processes");
  net::HttpClient& client = node->transport().http();
  Ref ref = self.make_ref();  // before the request: the reply is looked for after it
  auto state = std::make_shared<std::atomic<int>>(kWaiting);
  Runtime* rt = &self.runtime();
  Pid pid = self.pid();
  std::uint64_t id =
      client.get(std::move(url), timeout, [rt, pid, ref, state](net::HttpResponse r) {
        int expected = kWaiting;
        if (state->compare_exchange_strong(expected, kSent))
          rt->send(pid, tuple(http_tag(), ref, result_term(r)));
      });
  if (id == 0) co_return failure("closed"_a, "the node is stopping");
  CancelOnExit guard{&client, id, state};
  auto reply = match(tuple(http_tag(), ref, _));
  auto m = co_await self.receive(reply).since(ref).after(timeout + kBackstop);
  if (m.timed_out()) {
    int expected = kWaiting;
    if (state->compare_exchange_strong(expected, kAbandoned)) {
      client.cancel(id);
      co_return failure("timeout"_a, "no answer within the timeout");
    }
    m = co_await self.receive(reply).since(ref);  // lost the race: it is being sent now
  }
  Term result = m[2];
  if (result[0].is("ok"_a)) {
    HttpResult r;
    r.status = long(result[1].as<std::int64_t>());
    r.body = result[2].as<std::string>();
    co_return r;
  }
  co_return failure(result[1].atom(), result[2].as<std::string>());
}

}  // namespace ember
