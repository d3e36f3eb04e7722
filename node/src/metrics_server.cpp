// The metrics endpoint's HTTP server: a uv_tcp_t listener on the transport's loop, one
// http_parser per client connection. Everything here runs on the loop thread except the
// constructor and destructor, which hand their work to it with Transport::post and wait.
#include "metrics_server.hpp"

#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

#include "ember/net/transport.hpp"

namespace ember::detail {

namespace {

// Past these a request is malformed (400): the server reads GETs of short URLs only.
constexpr std::size_t kMaxUrl = 8192;
constexpr std::size_t kMaxBody = 64 * 1024;
// A client that sends nothing for this long is closed (so idle or stuck clients cannot pile
// up), and past this many at once a new one is closed at once.
constexpr std::uint64_t kIdleMs = 10'000;
constexpr std::size_t kMaxClients = 512;

std::string uv_text(int status) {
  return std::string(uv_err_name(status)) + ": " + uv_strerror(status);
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Unknown";
}

std::string peer_of(uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.ss_family != AF_INET)
    return "?";
  char ip[INET_ADDRSTRLEN] = "?";
  auto* in = reinterpret_cast<sockaddr_in*>(&addr);
  uv_ip4_name(in, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(in->sin_port));
}

// An IPv4 literal as is, a host name through the resolver (on the calling thread, before
// anything runs on the loop), as the transport does for its own listener.
sockaddr_in resolve(const std::string& host, std::uint16_t port) {
  sockaddr_in addr{};
  if (uv_ip4_addr(host.c_str(), port, &addr) == 0) return addr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res)
    throw std::runtime_error("metrics endpoint: cannot resolve " + host + ": " + gai_strerror(rc));
  addr = *reinterpret_cast<const sockaddr_in*>(res->ai_addr);
  addr.sin_port = htons(port);
  freeaddrinfo(res);
  return addr;
}

}  // namespace

struct Client;

struct MetricsServer::State {
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener{};
  uv_timer_t sweeper{};
  HttpHandler handler;
  http_parser_settings settings{};
  std::unordered_set<Client*> clients;
  int open_handles = 0;  // listener, sweeper, clients: freed when the last one closes
  bool stopping = false;

  void release() {
    if (--open_handles == 0) delete this;
  }
  void close_client(Client* c);
};

struct Client {
  MetricsServer::State* server = nullptr;
  uv_tcp_t tcp{};
  http_parser parser{};
  std::string peer;
  std::string url;
  std::size_t body = 0;
  const char* limit_error = nullptr;  // set when a callback refused the request
  std::uint64_t last_active = 0;
  int writes = 0;     // responses being written
  bool last = false;  // no more requests on this connection: close after writing
  bool closing = false;
  char buffer[4096];
};

namespace {

struct Write {
  uv_write_t req;
  std::string bytes;
  Client* client;
};

void respond(Client* c, const HttpResponse& r, bool head, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                    "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (r.status == 405) out += "Allow: GET, HEAD\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head) out += r.body;
  auto* w = new Write{{}, std::move(out), c};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), unsigned(w->bytes.size()));
  ++c->writes;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                    [](uv_write_t* req, int status) {
                      auto* w = static_cast<Write*>(req->data);
                      Client* c = w->client;
                      delete w;
                      --c->writes;
                      if (status < 0 || (c->last && c->writes == 0)) c->server->close_client(c);
                    });
  if (rc != 0) {
    delete w;
    --c->writes;
    c->server->close_client(c);
  }
}

// The connection is done reading: whatever is being written still goes out, then it closes.
void finish(Client* c) {
  c->last = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  if (c->writes == 0) c->server->close_client(c);
}

int on_message_begin(http_parser* p) {
  auto* c = static_cast<Client*>(p->data);
  c->url.clear();
  c->body = 0;
  return 0;
}

int on_url(http_parser* p, const char* at, std::size_t n) {
  auto* c = static_cast<Client*>(p->data);
  if (c->url.size() + n > kMaxUrl) {
    c->limit_error = "URL longer than 8192 bytes";
    return 1;
  }
  c->url.append(at, n);
  return 0;
}

int on_body(http_parser* p, const char*, std::size_t n) {
  auto* c = static_cast<Client*>(p->data);
  c->body += n;
  if (c->body > kMaxBody) {
    c->limit_error = "request body larger than 64 KiB";
    return 1;
  }
  return 0;
}

int on_message_complete(http_parser* p) {
  auto* c = static_cast<Client*>(p->data);
  if (p->upgrade) return 0;  // not ours to switch protocols: on_read answers 400
  HttpRequest request;
  request.method = http_method_str(http_method(p->method));
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(c->url.data(), c->url.size(), 0, &u) == 0 &&
      (u.field_set & (1 << UF_PATH)))
    request.path = c->url.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  else
    request.path = c->url;  // "*" or garbage: the handler's 404
  HttpResponse response;
  try {
    response = c->server->handler(request);
  } catch (const std::exception& e) {
    spdlog::error("ember: metrics endpoint: {} {} failed: {}", request.method, request.path,
                  e.what());
    response = {500, "text/plain; charset=utf-8", "internal error\n"};
  }
  bool keep = http_should_keep_alive(p) != 0;
  respond(c, response, p->method == HTTP_HEAD, !keep);
  if (!keep) http_parser_pause(p, 1);  // nothing after this request is read
  return 0;
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(stream->data);
  if (c->closing || c->last) return;
  if (n < 0) {  // EOF (the client is done) or an error: nothing to answer
    c->server->close_client(c);
    return;
  }
  if (n == 0) return;
  c->last_active = uv_now(c->server->loop);
  std::size_t used = http_parser_execute(&c->parser, &c->server->settings, buf->base, size_t(n));
  auto err = HTTP_PARSER_ERRNO(&c->parser);
  if (err == HPE_PAUSED) return finish(c);  // answered, and not keep-alive
  if (err != HPE_OK || used != std::size_t(n) || c->parser.upgrade) {
    std::string why = c->limit_error ? c->limit_error
                      : c->parser.upgrade
                          ? "protocol upgrade requested"
                          : std::string(http_errno_name(err)) + ": " + http_errno_description(err);
    spdlog::warn("ember: metrics endpoint: bad request from {}: {}", c->peer, why);
    respond(c, {400, "text/plain; charset=utf-8", "bad request: " + why + "\n"}, false, true);
    finish(c);
  }
}

void on_connection(uv_stream_t* listener, int status) {
  auto* s = static_cast<MetricsServer::State*>(listener->data);
  if (status < 0) {
    spdlog::warn("ember: metrics endpoint: accept failed: {}", uv_text(status));
    return;
  }
  auto* c = new Client;
  c->server = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  ++s->open_handles;
  s->clients.insert(c);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return s->close_client(c);
  c->peer = peer_of(&c->tcp);
  if (s->clients.size() > kMaxClients) {
    spdlog::warn("ember: metrics endpoint: more than {} clients; closing {}", kMaxClients, c->peer);
    return s->close_client(c);
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->last_active = uv_now(s->loop);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* c = static_cast<Client*>(h->data);
        *buf = uv_buf_init(c->buffer, sizeof c->buffer);
      },
      on_read);
}

// Once a second: clients silent for kIdleMs are closed (a response still being written
// counts as activity: a slow reader of a large page is not cut off).
void sweep(uv_timer_t* t) {
  auto* s = static_cast<MetricsServer::State*>(t->data);
  std::uint64_t now = uv_now(s->loop);
  std::vector<Client*> idle;
  for (Client* c : s->clients)
    if (c->writes == 0 && now - c->last_active > kIdleMs) idle.push_back(c);
  for (Client* c : idle) s->close_client(c);
}

}  // namespace

void MetricsServer::State::close_client(Client* c) {
  if (c->closing) return;
  c->closing = true;
  clients.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
    auto* c = static_cast<Client*>(h->data);
    State* s = c->server;
    delete c;
    s->release();
  });
}

namespace {
// Runs `fn` on the transport's loop and waits for it.
template <class F>
void on_loop(net::Transport& t, F fn) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  t.post([&](uv_loop_t* loop) {
    fn(loop);
    std::lock_guard lock(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
}
}  // namespace

MetricsServer::MetricsServer(net::Transport& transport, const std::string& host, std::uint16_t port,
                             HttpHandler handler)
    : transport_(transport), state_(nullptr) {
  sockaddr_in addr = resolve(host, port);
  state_ = new State;
  state_->handler = std::move(handler);
  http_parser_settings& s = state_->settings;
  s.on_message_begin = on_message_begin;
  s.on_url = on_url;
  s.on_body = on_body;
  s.on_message_complete = on_message_complete;
  std::string error;
  on_loop(transport_, [&](uv_loop_t* loop) {
    State* st = state_;
    st->loop = loop;
    uv_tcp_init(loop, &st->listener);
    st->listener.data = st;
    uv_timer_init(loop, &st->sweeper);
    st->sweeper.data = st;
    st->open_handles = 2;
    int rc = uv_tcp_bind(&st->listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&st->listener), 128, on_connection);
    if (rc != 0) {
      error = "metrics endpoint: cannot listen on " + host + ":" + std::to_string(port) + ": " +
              uv_text(rc);
      auto release = [](uv_handle_t* h) { static_cast<State*>(h->data)->release(); };
      uv_close(reinterpret_cast<uv_handle_t*>(&st->listener), release);
      uv_close(reinterpret_cast<uv_handle_t*>(&st->sweeper), release);
      return;
    }
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&st->listener, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
    uv_timer_start(&st->sweeper, sweep, 1000, 1000);
  });
  if (!error.empty()) throw std::runtime_error(error);  // the state frees itself on the loop
}

MetricsServer::~MetricsServer() {
  on_loop(transport_, [st = state_](uv_loop_t*) {
    st->stopping = true;
    auto release = [](uv_handle_t* h) { static_cast<State*>(h->data)->release(); };
    uv_close(reinterpret_cast<uv_handle_t*>(&st->listener), release);
    uv_close(reinterpret_cast<uv_handle_t*>(&st->sweeper), release);
    std::vector<Client*> all(st->clients.begin(), st->clients.end());
    for (Client* c : all) st->close_client(c);
  });
}

}  // namespace ember::detail
