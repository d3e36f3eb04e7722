// libcurl's multi interface on the transport's libuv loop (the "socket API"): curl tells us
// which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it
// (CURLMOPT_TIMERFUNCTION); uv_poll_t and uv_timer_t call it back. Every curl call and
// every handle below is touched on the loop thread only.
#include "ember/net/http_client.hpp"

#include <curl/curl.h>
#include <uv.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ember/net/transport.hpp"

namespace ember::net {

namespace {

using Clock = std::chrono::steady_clock;
using Error = HttpResponse::Error;

// curl_global_init is thread-safe in this libcurl (it has the "threadsafe" feature), but
// once is all it needs; it is never undone, as other code in the program may use curl.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Error error_of(CURLcode code, CURL* easy, bool too_large) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error::kBadUrl;
    case CURLE_COULDNT_RESOLVE_HOST:
      return Error::kNxdomain;
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
      return os_errno == EHOSTUNREACH || os_errno == ENETUNREACH ? Error::kUnreachable
                                                                 : Error::kRefused;
    }
    case CURLE_OPERATION_TIMEDOUT:
      return Error::kTimeout;
    case CURLE_TOO_MANY_REDIRECTS:
      return Error::kTooManyRedirects;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return Error::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return Error::kBodyTooLarge;
    case CURLE_WRITE_ERROR:
      return too_large ? Error::kBodyTooLarge : Error::kOther;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      return Error::kClosed;
    default:
      return Error::kOther;
  }
}

}  // namespace

// One GET. Owned by Impl::requests, except while its name lookup is in flight after a
// cancel or close: the lookup's callback frees it then (a running getaddrinfo cannot be
// taken back).
struct Request {
  HttpClient::Impl* owner = nullptr;
  std::uint64_t id = 0;
  std::string url;
  Clock::time_point deadline;
  HttpClient::Done done;
  CURL* easy = nullptr;
  curl_slist* resolve = nullptr;  // "+host:port:addresses", our lookup's answer for curl
  std::string body;
  bool too_large = false;
  bool resolving = false;
  bool cancelled = false;
  uv_getaddrinfo_t lookup{};
  char error[CURL_ERROR_SIZE] = {};
};

// A socket curl wants watched. Freed in its handle's close callback.
struct Socket {
  uv_poll_t poll{};
  curl_socket_t fd = CURL_SOCKET_BAD;
  HttpClient::Impl* owner = nullptr;
};

struct HttpClient::Impl {
  Transport& transport;
  std::atomic<std::uint64_t> next_id{1};
  std::mutex mutex;  // guards `closed`: get() on any thread refuses once it is set
  bool closed = false;

  // Loop thread only.
  uv_loop_t* loop = nullptr;
  CURLM* multi = nullptr;
  uv_timer_t timer{};
  bool shut = false;  // close() has run
  std::unordered_map<std::uint64_t, Request*> requests;
  std::unordered_set<Socket*> sockets;

  explicit Impl(Transport& t) : transport(t) {}

  ~Impl() {
    // close() ran on the loop thread (the transport sees to it); whatever a request that
    // never started left is freed with its task.
    for (auto& [id, r] : requests) delete r;
  }

  // --- setup (first request) ---

  void ensure_multi(uv_loop_t* l) {
    if (multi) return;
    loop = l;
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    uv_timer_init(loop, &timer);
    timer.data = this;
  }

  // --- a request's life ---

  void start(uv_loop_t* l, Request* r) {
    if (shut) {  // closed while this task waited: dropped, as close() promises
      delete r;
      return;
    }
    ensure_multi(l);
    requests[r->id] = r;
    std::string host, scheme;
    if (!parse(r->url, scheme, host)) return fail(r, Error::kBadUrl, "not an http or https URL");
    in6_addr a6;
    in_addr a4;
    bool literal = host.starts_with('[') || uv_inet_pton(AF_INET, host.c_str(), &a4) == 0 ||
                   uv_inet_pton(AF_INET6, host.c_str(), &a6) == 0;
    if (literal) return add(r);
    // A name: looked up on libuv's thread pool, then handed to curl with CURLOPT_RESOLVE.
    r->resolving = true;
    r->lookup.data = r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(loop, &r->lookup, &Impl::on_resolved, host.c_str(), nullptr, &hints);
    if (rc != 0) {
      r->resolving = false;
      add(r);  // curl resolves it then
    }
  }

  // The URL's scheme (http or https only) and host; false if libcurl cannot parse it.
  static bool parse(const std::string& url, std::string& scheme, std::string& host) {
    CURLU* u = curl_url();
    bool ok = curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK;
    char* part = nullptr;
    if (ok && curl_url_get(u, CURLUPART_SCHEME, &part, 0) == CURLUE_OK) {
      scheme = part;
      curl_free(part);
    }
    if (ok && curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
      host = part;
      curl_free(part);
    }
    curl_url_cleanup(u);
    return ok && (scheme == "http" || scheme == "https") && !host.empty();
  }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = static_cast<Request*>(req->data);
    if (r->cancelled) {
      uv_freeaddrinfo(res);
      delete r;
      return;
    }
    r->resolving = false;
    std::string addresses;
    for (addrinfo* ai = status == 0 ? res : nullptr; ai; ai = ai->ai_next) {
      char ip[INET6_ADDRSTRLEN] = {};
      if (ai->ai_family == AF_INET)
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(ai->ai_addr), ip, sizeof ip);
      else if (ai->ai_family == AF_INET6)
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(ai->ai_addr), ip, sizeof ip);
      else
        continue;
      std::string one = ai->ai_family == AF_INET6 ? "[" + std::string(ip) + "]" : ip;
      if (addresses.find(one) != std::string::npos) continue;  // one per socket type
      addresses += (addresses.empty() ? "" : ",") + one;
    }
    uv_freeaddrinfo(res);
    // A failed lookup is left to curl (behind a proxy, the proxy resolves it); its own
    // failure then reads as nxdomain.
    if (!addresses.empty()) r->resolve = resolve_entry(r->url, addresses);
    r->owner->add(r);
  }

  // "+host:port:addresses": a cache entry for curl that expires like a looked-up one.
  static curl_slist* resolve_entry(const std::string& url, const std::string& addresses) {
    CURLU* u = curl_url();
    curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
    char *host = nullptr, *port = nullptr;
    curl_slist* list = nullptr;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
      list = curl_slist_append(nullptr,
                               ("+" + std::string(host) + ":" + port + ":" + addresses).c_str());
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return list;
  }

  void add(Request* r) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(r->deadline - Clock::now());
    if (left.count() <= 0) return fail(r, Error::kTimeout, "timed out before connecting");
    CURL* e = r->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, r->url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM games: we are one thread of many
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(left.count()));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, kMaxRedirects);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl decodes
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(kMaxBody));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ember/0.1 libcurl");
    if (r->resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
    // curl asks for a timer (at 0 ms) at once; the transfer starts from that callback.
    if (CURLMcode mc = curl_multi_add_handle(multi, e); mc != CURLM_OK)
      fail(r, Error::kOther, curl_multi_strerror(mc));
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<Request*>(user);
    if (r->body.size() + n > kMaxBody) {  // no Content-Length told curl beforehand
      r->too_large = true;
      return 0;  // ends the transfer with CURLE_WRITE_ERROR
    }
    r->body.append(data, size * n);
    return size * n;
  }

  // Takes the request out of everything and frees it; `done` runs if given a response.
  void finish(Request* r, HttpResponse* response) {
    requests.erase(r->id);
    if (r->easy) {
      curl_multi_remove_handle(multi, r->easy);
      curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->resolve);
    Done done = std::move(r->done);
    delete r;
    if (!response) return;
    try {
      done(std::move(*response));
    } catch (const std::exception& e) {  // on the loop thread nothing may escape
      spdlog::error("ember: http completion threw: {}", e.what());
    }
  }

  void fail(Request* r, Error error, std::string message) {
    HttpResponse response;
    response.error = error;
    response.message = std::move(message);
    finish(r, &response);
  }

  // Every finished transfer curl has to report.
  void collect() {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* easy = m->easy_handle;
      CURLcode code = m->data.result;  // `m` dies with the handle's removal
      Request* r = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &r);
      HttpResponse response;
      if (code == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
        response.body = std::move(r->body);
      } else {
        response.error = error_of(code, easy, r->too_large);
        response.message = r->error[0] ? r->error : curl_easy_strerror(code);
      }
      finish(r, &response);
    }
  }

  void cancel(std::uint64_t id) {
    auto it = requests.find(id);
    if (it == requests.end()) return;  // done already
    Request* r = it->second;
    if (r->resolving) {  // the lookup's callback frees it
      requests.erase(it);
      r->cancelled = true;
      return;
    }
    finish(r, nullptr);
  }

  void close() {
    {
      std::lock_guard lock(mutex);
      closed = true;
    }
    if (shut) return;
    shut = true;
    std::vector<Request*> all;
    for (auto& [id, r] : requests) all.push_back(r);
    for (Request* r : all) cancel(r->id);
    if (!multi) return;
    curl_multi_cleanup(multi);  // closes cached connections: on_socket hears of them
    multi = nullptr;
    std::vector<Socket*> left(sockets.begin(), sockets.end());
    for (Socket* s : left) forget(s);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  }

  // --- libcurl's callbacks, and the uv callbacks that drive it ---

  void forget(Socket* s) {
    sockets.erase(s);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->poll),
             [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
  }

  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void* socketp) {
    auto* self = static_cast<Impl*>(user);
    auto* s = static_cast<Socket*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      // Before curl closes the fd: stopping the poll now means a new socket on the same
      // fd number can be watched at once.
      if (s) {
        if (self->multi) curl_multi_assign(self->multi, fd, nullptr);
        self->forget(s);
      }
      return 0;
    }
    if (!s) {
      s = new Socket;
      s->fd = fd;
      s->owner = self;
      s->poll.data = s;
      if (int rc = uv_poll_init_socket(self->loop, &s->poll, fd); rc != 0) {
        spdlog::error("ember: http: cannot watch socket {}: {}", fd, uv_strerror(rc));
        delete s;
        return -1;
      }
      self->sockets.insert(s);
      curl_multi_assign(self->multi, fd, s);
    }
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll, events, &Impl::on_poll);
    return 0;
  }

  static void on_poll(uv_poll_t* h, int status, int events) {
    auto* s = static_cast<Socket*>(h->data);
    Impl* self = s->owner;
    curl_socket_t fd = s->fd;  // `s` may be closed by the call below
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(self->multi, fd, flags, &running);
    self->collect();
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      uv_timer_stop(&self->timer);
      return 0;
    }
    // Even at 0 ms the timeout runs from the loop, never from inside this callback (curl
    // must not be re-entered from its own callbacks).
    uv_timer_start(
        &self->timer,
        [](uv_timer_t* t) {
          auto* impl = static_cast<Impl*>(t->data);
          int running = 0;
          curl_multi_socket_action(impl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
          impl->collect();
        },
        std::uint64_t(timeout_ms), 0);
    return 0;
  }
};

HttpClient::HttpClient(Transport& transport) : impl_(std::make_unique<Impl>(transport)) {
  init_curl_once();
}

HttpClient::~HttpClient() = default;

std::uint64_t HttpClient::get(std::string url, std::chrono::milliseconds timeout, Done done) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->closed) return 0;
  }
  std::uint64_t id = impl_->next_id++;
  auto deadline = Clock::now() + timeout;  // time spent waiting for the loop counts
  impl_->transport.post([impl = impl_.get(), id, url = std::move(url), deadline,
                         done = std::move(done)](uv_loop_t* loop) mutable {
    auto* r = new Request;
    r->owner = impl;
    r->id = id;
    r->url = std::move(url);
    r->deadline = deadline;
    r->done = std::move(done);
    impl->start(loop, r);
  });
  return id;
}

void HttpClient::cancel(std::uint64_t id) {
  impl_->transport.post([impl = impl_.get(), id](uv_loop_t*) { impl->cancel(id); });
}

void HttpClient::close() {
  impl_->close();
}

}  // namespace ember::net
