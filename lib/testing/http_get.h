// HttpGet: a minimal HTTP/1.0 GET over a plain TCP socket, for tests that scrape a local
// endpoint (Prometheus /metrics) without pulling in an HTTP client library.
//
// Thread-safety: free function, safe from any thread.
#ifndef BERTH_LIB_TESTING_HTTP_GET_H_
#define BERTH_LIB_TESTING_HTTP_GET_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace berth::testing {

struct HttpResponse {
  int status = 0;    // e.g. 200
  std::string body;  // everything after the header block
};

// GETs http://<host>:<port><path> (host is a numeric IPv4 address such as "127.0.0.1") and
// reads the reply until the server closes the connection. Unavailable when nothing listens,
// DeadlineExceeded after `timeout`, Internal for a reply that is not HTTP.
absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_HTTP_GET_H_
