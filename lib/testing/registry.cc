#include "lib/testing/registry.h"

#include <crypt.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <sstream>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/wait_for.h"

namespace berth::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return ErrnoToStatus("write", path, errno != 0 ? errno : EIO);
  return absl::OkStatus();
}

// Double-quoted YAML scalar.
std::string Yaml(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

absl::StatusOr<std::string> Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // Cost 5: bcrypt's minimum is 4; the registry checks every request, so keep it cheap.
  if (crypt_gensalt_rn("$2b$", 5, nullptr, 0, salt, sizeof(salt)) == nullptr) {
    return ErrnoToStatus("crypt_gensalt_rn", "", errno);
  }
  auto data = std::make_unique<struct crypt_data>();
  const char* hash = crypt_rn(password.c_str(), salt, data.get(), sizeof(*data));
  if (hash == nullptr || hash[0] == '*') return ErrnoToStatus("crypt_rn", "", errno);
  return std::string(hash);
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t WriteBody(char* ptr, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * nmemb);
  return size * nmemb;
}

size_t WriteHeader(char* ptr, size_t size, size_t nmemb, void* user) {
  std::string line(ptr, size * nmemb);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
      value.erase(0, 1);
    }
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
      value.pop_back();
    }
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * nmemb;
}

absl::Status Expect(const HttpReply& reply, long status, const std::string& what) {
  if (reply.status == status) return absl::OkStatus();
  return InternalError(fmt::format("registry: {}: HTTP {} (want {}): {}", what, reply.status,
                                   status, reply.body.substr(0, 500)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Start(RegistryOptions options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidArgumentError("registry: TLS needs both tls_cert and tls_key");
  }
  if (access(options.binary.c_str(), X_OK) != 0) {
    return ErrnoToStatus("registry binary", options.binary, errno);
  }
  GlobalInit();
  std::unique_ptr<Registry> registry(new Registry());
  registry->options_ = std::move(options);
  RETURN_IF_ERROR(registry->Launch());
  return registry;
}

absl::Status Registry::Launch() {
  const std::string config_path = dir_.Path("config.yml");
  std::string config = fmt::format(
      "version: 0.1\n"
      "log:\n"
      "  level: info\n"
      "storage:\n"
      "  filesystem:\n"
      "    rootdirectory: {}\n"
      "  delete:\n"
      "    enabled: true\n"
      "  maintenance:\n"
      "    uploadpurging:\n"
      "      enabled: false\n"
      "http:\n"
      "  addr: 127.0.0.1:0\n"
      "  secret: berth-test-registry\n",
      Yaml(storage()));
  if (!options_.tls_cert.empty()) {
    config += fmt::format("  tls:\n    certificate: {}\n    key: {}\n", Yaml(options_.tls_cert),
                          Yaml(options_.tls_key));
  }
  if (!options_.users.empty()) {
    std::string htpasswd;
    for (const auto& [user, password] : options_.users) {
      ASSIGN_OR_RETURN(std::string hash, Bcrypt(password));
      htpasswd += user + ":" + hash + "\n";
    }
    RETURN_IF_ERROR(WriteAll(dir_.Path("htpasswd"), htpasswd));
    config += fmt::format("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                          Yaml(dir_.Path("htpasswd")));
  }
  RETURN_IF_ERROR(WriteAll(config_path, config));

  ChildProcessOptions child;
  child.argv = {options_.binary, "serve", config_path};
  child.stdout_path = dir_.Path("registry.log");
  child.stderr_path = child.stdout_path;
  ASSIGN_OR_RETURN(ChildProcess process, ChildProcess::Start(child));
  child_ = std::make_unique<ChildProcess>(std::move(process));

  // The port the kernel picked, from `msg="listening on 127.0.0.1:<port>"`.
  bool up = WaitFor(
      [&] {
        const std::string log = Logs();
        constexpr char kListening[] = "listening on 127.0.0.1:";
        size_t at = log.find(kListening);
        if (at != std::string::npos) {
          int port = 0;
          for (size_t i = at + sizeof(kListening) - 1;
               i < log.size() && std::isdigit(static_cast<unsigned char>(log[i])); ++i) {
            port = port * 10 + (log[i] - '0');
          }
          if (port > 0 && port < 65536) {
            port_ = port;
            return true;
          }
        }
        return !child_->Running();
      },
      options_.start_timeout);
  if (!up || port_ == 0) {
    return InternalError(fmt::format("registry: did not start listening:\n{}", Logs()));
  }
  // Listening is not yet serving: wait for /v2/ (401 when auth is on).
  long last = 0;
  up = WaitFor(
      [&] {
        if (!child_->Running()) return true;
        absl::StatusOr<HttpReply> r = Request("GET", "/v2/");
        if (!r.ok()) return false;
        last = r->status;
        return r->status == 200 || (!options_.users.empty() && r->status == 401);
      },
      options_.start_timeout);
  if (!up || !child_->Running() || last == 0) {
    return InternalError(
        fmt::format("registry: /v2/ does not answer (last HTTP {}):\n{}", last, Logs()));
  }
  return absl::OkStatus();
}

Registry::~Registry() {
  if (child_ != nullptr && child_->Running()) (void)child_->Terminate(std::chrono::seconds(5));
  child_.reset();
}

std::string Registry::host() const { return fmt::format("127.0.0.1:{}", port_); }

std::string Registry::url() const {
  return fmt::format("{}://{}", options_.tls_cert.empty() ? "http" : "https", host());
}

std::string Registry::Reference(const std::string& repo, const std::string& tag) const {
  return fmt::format("{}/{}:{}", host(), repo, tag);
}

std::string Registry::Logs() const { return ReadAll(dir_.Path("registry.log")); }

std::string Registry::LogsWith(const std::string& needle,
                               std::chrono::milliseconds timeout) const {
  std::string logs;
  WaitFor([&] { return (logs = Logs()).find(needle) != std::string::npos; }, timeout);
  return logs;
}

absl::StatusOr<HttpReply> Registry::Request(const std::string& method, const std::string& path,
                                            const std::string& body,
                                            const std::vector<std::string>& headers) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (curl == nullptr) return InternalError("registry: curl_easy_init failed");
  const std::string target = path.rfind("http", 0) == 0 ? path : url() + path;
  HttpReply reply;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  // Never a proxy from the environment: the registry is on loopback.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply.headers);
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  }
  const std::string ca = options_.tls_ca.empty() ? options_.tls_cert : options_.tls_ca;
  if (!ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
  std::string userpwd;
  if (!options_.users.empty()) {
    userpwd = options_.users[0].first + ":" + options_.users[0].second;
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.c_str());
  }
  struct curl_slist* list = nullptr;
  // No "Expect: 100-continue" round trip for large bodies.
  list = curl_slist_append(list, "Expect:");
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<struct curl_slist, decltype(&curl_slist_free_all)> list_owner(
      list, &curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return UnavailableError(
        fmt::format("registry: {} {}: {}", method, target, curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

absl::StatusOr<HttpReply> Registry::Get(const std::string& path, const std::string& accept) {
  std::vector<std::string> headers;
  if (!accept.empty()) headers.push_back("Accept: " + accept);
  return Request("GET", path, "", headers);
}

absl::Status Registry::PushBlob(const std::string& repo, const Blob& blob) {
  ASSIGN_OR_RETURN(HttpReply head,
                   Request("HEAD", fmt::format("/v2/{}/blobs/{}", repo, blob.digest)));
  if (head.status == 200) return absl::OkStatus();
  ASSIGN_OR_RETURN(HttpReply start, Request("POST", fmt::format("/v2/{}/blobs/uploads/", repo)));
  RETURN_IF_ERROR(Expect(start, 202, "start upload of " + blob.digest));
  auto location = start.headers.find("location");
  if (location == start.headers.end()) {
    return InternalError("registry: upload of " + blob.digest + ": no Location header");
  }
  std::string target = location->second;
  target += target.find('?') == std::string::npos ? "?" : "&";
  target += "digest=" + blob.digest;
  ASSIGN_OR_RETURN(HttpReply put,
                   Request("PUT", target, blob.data, {"Content-Type: application/octet-stream"}));
  return Expect(put, 201, "upload of " + blob.digest);
}

absl::Status Registry::PushManifest(const std::string& repo, const std::string& reference,
                                    const Blob& manifest) {
  ASSIGN_OR_RETURN(HttpReply put,
                   Request("PUT", fmt::format("/v2/{}/manifests/{}", repo, reference),
                           manifest.data, {"Content-Type: " + manifest.media_type}));
  RETURN_IF_ERROR(Expect(put, 201, fmt::format("put manifest {}:{}", repo, reference)));
  auto d = put.headers.find("docker-content-digest");
  if (d == put.headers.end() || d->second != manifest.digest) {
    return InternalError(fmt::format("registry: manifest {}:{} stored as {:?}, expected {}", repo,
                                     reference, d == put.headers.end() ? "" : d->second,
                                     manifest.digest));
  }
  return absl::OkStatus();
}

absl::Status Registry::Push(const std::string& repo, const std::string& tag,
                            const OciImage& image) {
  for (const Blob* blob : image.ManifestBlobs()) RETURN_IF_ERROR(PushBlob(repo, *blob));
  return PushManifest(repo, tag, image.manifest);
}

absl::Status Registry::Push(const std::string& repo, const std::string& tag,
                            const OciIndex& index) {
  for (const OciImage& image : index.images) {
    for (const Blob* blob : image.ManifestBlobs()) RETURN_IF_ERROR(PushBlob(repo, *blob));
    RETURN_IF_ERROR(PushManifest(repo, image.manifest.digest, image.manifest));
  }
  return PushManifest(repo, tag, index.index);
}

std::string Registry::BlobDataPath(const std::string& digest) const {
  const std::string hex = digest.substr(digest.find(':') + 1);
  return fmt::format("{}/docker/registry/v2/blobs/sha256/{}/{}/data", storage(), hex.substr(0, 2),
                     hex);
}

absl::Status Registry::CorruptBlob(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0 || digest.size() != 7 + 64) {
    return InvalidArgumentError(fmt::format("corrupt blob: bad digest {:?}", digest));
  }
  const std::string path = BlobDataPath(digest);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus("fstat", path, err);
  }
  if (st.st_size == 0) {
    close(fd);
    return InvalidArgumentError(fmt::format("corrupt blob {}: it is empty", digest));
  }
  // Up to 16 bytes from the middle, inverted: the size stays, the digest cannot.
  const off_t offset = st.st_size / 2;
  const size_t n = static_cast<size_t>(std::min<off_t>(16, st.st_size - offset));
  char buf[16];
  if (pread(fd, buf, n, offset) != static_cast<ssize_t>(n)) {
    int err = errno;
    close(fd);
    return ErrnoToStatus("pread", path, err != 0 ? err : EIO);
  }
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(~buf[i]);
  if (pwrite(fd, buf, n, offset) != static_cast<ssize_t>(n)) {
    int err = errno;
    close(fd);
    return ErrnoToStatus("pwrite", path, err != 0 ? err : EIO);
  }
  if (close(fd) != 0) return ErrnoToStatus("close", path, errno);
  return absl::OkStatus();
}

}  // namespace berth::testing
