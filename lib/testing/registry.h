// Registry: Debian's real Docker registry (`/usr/bin/docker-registry`, distribution 2.8) run
// by a test on loopback, with images pushed to it through the registry's own HTTP API (libcurl).
//
//   ASSERT_OK_AND_ASSIGN(auto registry, Registry::Start());
//   ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
//   ASSERT_OK(registry->Push("test/busybox", "1.0", image));
//   ctr images pull --plain-http <registry->Reference("test/busybox", "1.0")>
//
// Start writes the registry's config.yml into a temporary directory (filesystem storage there,
// `http.addr` 127.0.0.1:0 — the kernel picks a free port, read back from the registry's
// "listening on" log line —, optional TLS, optional htpasswd Basic auth), starts the registry
// as a child process and returns once `GET /v2/` answers (200, or 401 with auth). The
// destructor stops the registry by its pid (SIGTERM, then SIGKILL; lib/testing/child_process.h)
// and removes the directory, also when the test failed.
//
// Push uploads each blob the way a client does (POST /v2/<repo>/blobs/uploads/, then PUT the
// Location with ?digest=), then PUTs manifests by digest and the root (manifest or index) by
// tag. CorruptBlob overwrites bytes of a stored blob in the registry's storage
// (docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data), keeping its size, so that the registry
// serves bytes that do not match their digest.
//
// Thread-safety: one thread drives a Registry.
#ifndef BERTH_LIB_TESTING_REGISTRY_H_
#define BERTH_LIB_TESTING_REGISTRY_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/temp_dir.h"

namespace berth::testing {

struct RegistryOptions {
  // The registry binary (Debian package docker-registry).
  std::string binary = "/usr/bin/docker-registry";
  // TLS: PEM files of the server certificate (chain) and its key. Both empty: plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  // The CA the fixture's own HTTP client trusts; empty: tls_cert itself (self-signed).
  std::string tls_ca;
  // Basic auth (htpasswd with bcrypt hashes): user and password pairs. Empty: anonymous
  // access. The fixture's own requests authenticate as the first user.
  std::vector<std::pair<std::string, std::string>> users;
  // How long the registry may take to answer /v2/ after it started.
  std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
};

// One HTTP exchange with the registry.
struct HttpReply {
  long status = 0;
  std::string body;
  // Response headers, names lowercased (the last value when repeated).
  std::map<std::string, std::string> headers;
};

class Registry {
 public:
  // Starts the registry. NotFound when the binary is missing, InvalidArgument for half a TLS
  // configuration, Internal (with the registry's log) when it exits or does not answer in time.
  static absl::StatusOr<std::unique_ptr<Registry>> Start(RegistryOptions options = {});

  // Stops the registry and removes its directory.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The bound port, "127.0.0.1:<port>", and "http(s)://127.0.0.1:<port>".
  int port() const { return port_; }
  std::string host() const;
  std::string url() const;
  // "127.0.0.1:<port>/<repo>:<tag>": what `ctr images pull` takes.
  std::string Reference(const std::string& repo, const std::string& tag) const;
  // The registry's storage directory and its log so far.
  std::string storage() const { return dir_.Path("data"); }
  std::string Logs() const;
  // The log once it contains `needle` (or as it is after `timeout`). The registry logs a
  // request after it has answered it, so a client can be done before its line is written.
  std::string LogsWith(const std::string& needle,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // pid of the registry process.
  pid_t pid() const { return child_->Pid(); }

  // Uploads one blob into `repo` (skipped when the registry already has it there).
  absl::Status PushBlob(const std::string& repo, const Blob& blob);
  // PUTs a manifest or index under `reference` (a tag or its digest) with its media type as
  // Content-Type; checks the registry's Docker-Content-Digest against blob.digest.
  absl::Status PushManifest(const std::string& repo, const std::string& reference,
                            const Blob& manifest);
  // Everything of an image or an index, blobs first, the root by `tag` last.
  absl::Status Push(const std::string& repo, const std::string& tag, const OciImage& image);
  absl::Status Push(const std::string& repo, const std::string& tag, const OciIndex& index);

  // One request to `path` (starting with "/v2/"), with extra "Name: value" headers.
  // Transport failures are Unavailable; any HTTP status is a reply.
  absl::StatusOr<HttpReply> Request(const std::string& method, const std::string& path,
                                    const std::string& body = "",
                                    const std::vector<std::string>& headers = {});
  // GET `path`; `accept` is sent as the Accept header when not empty.
  absl::StatusOr<HttpReply> Get(const std::string& path, const std::string& accept = "");

  // Where the registry keeps the bytes of `digest` ("sha256:<hex>").
  std::string BlobDataPath(const std::string& digest) const;
  // Flips bytes in the middle of the stored blob `digest`, keeping its size. NotFound when the
  // registry does not store it; InvalidArgument for an empty blob or a malformed digest.
  absl::Status CorruptBlob(const std::string& digest);

 private:
  Registry() = default;
  absl::Status Launch();

  RegistryOptions options_;
  TempDir dir_{"breg"};
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
};

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_REGISTRY_H_
