// A real HTTP server for tests of http_get: python3's http.server in a child process on a
// free loopback port, with a few fixed routes. Killed with the test (or its process).
//   /ok        200 "hello"          /fail      500 "boom"
//   /redirect  302 -> /ok           /loop      302 -> /loop (forever)
//   /slow?ms=N 200 "slow" after N ms
// With a certificate and key it speaks HTTPS instead.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember::test {

inline constexpr const char* kHttpServerScript = R"PY(
import http.server, ssl, sys, time, urllib.parse

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == '/ok':
            self.reply(200, b'hello')
        elif url.path == '/fail':
            self.reply(500, b'boom')
        elif url.path in ('/redirect', '/loop'):
            self.send_response(302)
            self.send_header('Location', '/ok' if url.path == '/redirect' else '/loop')
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif url.path == '/slow':
            time.sleep(int(query['ms'][0]) / 1000)
            self.reply(200, b'slow')
        else:
            self.reply(404, b'not found')

    def reply(self, code, body):
        self.send_response(code)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 4096  # a thousand clients connect at once
    daemon_threads = True
    def handle_error(self, request, address):
        pass  # clients that time out and hang up are expected

server = Server(('127.0.0.1', 0), Handler)
if len(sys.argv) == 3:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
)PY";

class LocalHttpServer {
 public:
  // `tls`: a self-signed certificate for localhost, made with the openssl tool.
  explicit LocalHttpServer(bool tls = false) {
    dir_ = std::filesystem::temp_directory_path() /
           ("ember-http-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    std::string script = (dir_ / "server.py").string();
    std::ofstream(script) << kHttpServerScript;
    std::vector<std::string> argv{"python3", script};
    if (tls) {
      std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
      std::string cmd =
          "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
          " -keyout " +
          key + " -out " + cert + " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
      argv.push_back(cert);
      argv.push_back(key);
    }
    start(argv);
  }
  ~LocalHttpServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }

  void start(const std::vector<std::string>& args) {
    tls_ = args.size() > 2;
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], 1);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      ::close(out[0]);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // The port line, within a deadline generous enough for a loaded machine.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[64];
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, std::size_t(n));
    }
    ::close(out[0]);
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) throw std::runtime_error("the python3 HTTP server did not start");
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace ember::test
