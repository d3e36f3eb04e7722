// http_get: an HTTP(S) GET from a process that never holds its scheduler worker.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ember/core/co.hpp"
#include "ember/core/runtime.hpp"

namespace ember {

struct HttpResult {
  long status = 0;  // of the last response, after redirects; 0 when the request failed
  std::string body;
  // Why no response came, in Erlang's words where it has them: econnrefused,
  // ehostunreach, nxdomain, timeout, bad_url, too_many_redirects, tls, body_too_large,
  // closed (the server hung up), curl_error (see message), no_node (not on a Node).
  // Empty whenever a response came, whatever its status.
  std::optional<Atom> error;
  std::string message;  // libcurl's words for the error

  bool ok() const { return !error; }
  // {ok, Status, Body} or {error, Reason}: a result to send on.
  Term term() const;
};

// GETs `url` (http or https; redirects followed, TLS verified against the system's CAs)
// and gives up after `timeout` with error timeout. Only on a Node's processes: libcurl
// runs on the node's I/O thread (the transport's libuv loop), and the result comes back
// as a message {'$ember_http', Ref, Result} that only this call receives, so the worker
// runs other processes meanwhile and a thousand requests need no thread more than one.
// Exit signals act while it waits, as in any receive; a killed caller's request stops.
Co<HttpResult> http_get(Self self, std::string url,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace ember
