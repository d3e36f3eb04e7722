// The metrics endpoint's pages: Prometheus text (format 0.0.4) about one Node, /health,
// and the routing between them. Runs on the node's loop thread (see metrics_server.hpp).
#pragma once

#include <string>

#include "metrics_server.hpp"

namespace ember {
class Node;
}

namespace ember::detail {

// Every metric, # HELP and # TYPE first, one sample a line.
std::string prometheus_text(Node& node);

// GET /metrics, GET /health (200 "ok"), HEAD of either; another path is 404, another
// method 405.
HttpResponse metrics_route(Node& node, const HttpRequest& request);

}  // namespace ember::detail
