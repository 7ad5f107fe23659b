#include "lib/server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "lib/log/log.h"
#include "lib/status/status.h"

namespace berth::server {
namespace {

// After the grace period gRPC cancels the calls still running; handlers that ignore
// cancellation get this much longer before Run() ends the process.
constexpr std::chrono::seconds kForceExitSlack(5);

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::string> ReadFile(const std::string& op, const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoToStatus(op, path, errno);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(op, path, errno);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

absl::Status TlsError(const std::string& what, const std::string& path, std::string_view reason) {
  ERR_clear_error();
  return absl::InvalidArgumentError(fmt::format("{} {:?}: {}", what, path, reason));
}

// Reads the TLS files and checks them with OpenSSL before gRPC sees them: gRPC would only
// fail BuildAndStart() with a log line, we want the file and the reason named.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const TlsConfig& tls) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile("tls cert", tls.cert));
  ASSIGN_OR_RETURN(std::string key_pem, ReadFile("tls key", tls.key));
  std::string ca_pem;
  if (!tls.ca.empty()) {
    ASSIGN_OR_RETURN(ca_pem, ReadFile("tls ca", tls.ca));
  }

  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  if (cert == nullptr) return TlsError("tls cert", tls.cert, "no PEM certificate");
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  if (key == nullptr) {
    X509_free(cert);
    return TlsError("tls key", tls.key, "no PEM private key (or it is encrypted)");
  }
  const bool match = X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  if (!match) {
    return TlsError("tls key", tls.key, fmt::format("does not match certificate {:?}", tls.cert));
  }
  if (!tls.ca.empty()) {
    BIO* ca_bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
    X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
    BIO_free(ca_bio);
    if (ca == nullptr) return TlsError("tls ca", tls.ca, "no PEM certificate");
    X509_free(ca);
  }

  grpc::SslServerCredentialsOptions options(
      tls.ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem;
  options.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  return grpc::SslServerCredentials(options);
}

// Creates `dir` and its missing parents with mode 0700 (exactly: chmod after mkdir, whatever
// the umask). Existing directories are left as they are (for example /run/berth made by
// systemd's RuntimeDirectory=).
absl::Status MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "/") return absl::OkStatus();
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          fmt::format("mkdir {:?}: exists and is not a directory", dir));
    }
    return absl::OkStatus();
  }
  if (errno != ENOENT) return ErrnoToStatus("stat", dir, errno);
  const size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return absl::OkStatus();  // made by someone else meanwhile
    return ErrnoToStatus("mkdir", dir, errno);
  }
  if (chmod(dir.c_str(), 0700) != 0) return ErrnoToStatus("chmod", dir, errno);
  return absl::OkStatus();
}

// Gets a unix socket path ready for bind(). gRPC unlinks an existing socket file before it
// binds, which would silently take the address from a running server: so first connect()
// to it, refuse when something answers, and only remove it when nothing listens (a stale
// file left by a crashed process).
absl::Status PrepareUnixSocket(const std::string& address, const std::string& path) {
  const size_t slash = path.rfind('/');
  RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));

  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("stat", path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("listen {:?}: {:?} exists and is not a socket", address, path));
  }
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return ErrnoToStatus("socket", "", errno);
  struct sockaddr_un sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());  // length checked by ParseListenAddress
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0 ||
      errno == EAGAIN || errno == EINPROGRESS) {
    // EAGAIN: a listener whose backlog is full is still a listener.
    return absl::FailedPreconditionError(
        fmt::format("listen {:?}: another server is already listening on {:?}", address, path));
  }
  switch (errno) {
    case ECONNREFUSED:
      if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoToStatus("unlink", path, errno);
      log::Info("removed stale socket path={:?}", path);
      return absl::OkStatus();
    case ENOENT:
      return absl::OkStatus();
    default:
      return ErrnoToStatus("connect", path, errno);
  }
}

// Writes `content` to `path` atomically (temporary file in the same directory + rename), so
// a launcher polling for the file never reads half of it.
absl::Status WriteReadyFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoToStatus("ready-file", tmp, errno);
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        unlink(tmp.c_str());
        return ErrnoToStatus("ready-file", tmp, err);
      }
      done += static_cast<size_t>(n);
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoToStatus("ready-file", path, err);
  }
  return absl::OkStatus();
}

void Notify(const char* state) {
  // sd_notify returns 0 when $NOTIFY_SOCKET is unset (not run by systemd): nothing to do.
  int r = sd_notify(0, state);
  if (r < 0) log::Warn("sd_notify failed state={:?} error={:?}", state, std::strerror(-r));
}

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

absl::Status BlockShutdownSignals() {
  sigset_t set = ShutdownSignals();
  int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) return ErrnoToStatus("pthread_sigmask", "", err);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerConfig config, ServerOptions options) {
  std::unique_ptr<Server> server(new Server());
  server->config_ = std::move(config);
  // On error the destructor undoes whatever was done (stops gRPC, removes our socket).
  RETURN_IF_ERROR(server->StartInternal(std::move(options)));
  return server;
}

absl::Status Server::StartInternal(ServerOptions options) {
  ASSIGN_OR_RETURN(listen_, ParseListenAddress(config_.address));

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (config_.tls.has_value()) {
    ASSIGN_OR_RETURN(credentials, TlsCredentials(*config_.tls));
  }
  if (listen_.kind == ListenAddress::Kind::kUnix) {
    RETURN_IF_ERROR(PrepareUnixSocket(config_.address, listen_.path));
  }

  grpc::ServerBuilder builder;
  // Our HealthService replaces gRPC's default one (see health_service.h for why); this
  // keeps the default off even if something in the process enabled it globally.
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  builder.RegisterService(&health_);
  int selected_port = 0;
  builder.AddListeningPort(listen_.GrpcTarget(), credentials, &selected_port);
  // gRPC sets SO_REUSEPORT on TCP listeners by default, so a second server on the same port
  // would start and share it; a port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxMessageSize);
  builder.SetMaxSendMessageSize(kMaxMessageSize);
  for (grpc::Service* service : options.services) builder.RegisterService(service);
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    return absl::UnavailableError(fmt::format(
        "listen {:?}: could not bind (address in use or not available)", config_.address));
  }

  if (listen_.kind == ListenAddress::Kind::kUnix) {
    const char* path = listen_.path.c_str();
    struct stat st;
    if (stat(path, &st) != 0) return ErrnoToStatus("stat", listen_.path, errno);
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
    socket_bound_ = true;
    // The parent directory (0700 when we made it) keeps others out meanwhile.
    if (chmod(path, 0660) != 0) return ErrnoToStatus("chmod", listen_.path, errno);
    address_ = listen_.ToString();
  } else {
    port_ = selected_port;
    ListenAddress bound = listen_;
    bound.port = selected_port;
    address_ = bound.ToString();
  }

  health_.SetServingStatus(true);
  if (!config_.ready_file.empty()) {
    RETURN_IF_ERROR(WriteReadyFile(config_.ready_file, address_ + "\n"));
  }
  Notify(fmt::format("READY=1\nSTATUS=serving on {}", address_).c_str());
  log::Info("serving address={:?} tls={} mutual_tls={}", address_, config_.tls.has_value(),
            config_.tls.has_value() && !config_.tls->ca.empty());
  return absl::OkStatus();
}

Server::~Server() { Shutdown(); }

void Server::Shutdown() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (state_ != State::kServing) {
      cv_.wait(lock, [this] { return state_ == State::kStopped; });
      return;
    }
    state_ = State::kStopping;
    cv_.notify_all();  // wakes Run()
  }
  if (server_ != nullptr) {
    log::Info(
        "shutting down address={:?} timeout_ms={}", address_,
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.shutdown_timeout).count());
    health_.Shutdown();
    Notify("STOPPING=1");
    if (!config_.ready_file.empty()) unlink(config_.ready_file.c_str());
    server_->Shutdown(std::chrono::system_clock::now() + config_.shutdown_timeout);
    server_->Wait();
  }
  if (socket_bound_) {
    // Remove the socket file only if it is still the one we bound: after a forced takeover
    // by an operator it may belong to someone else.
    struct stat st;
    if (stat(listen_.path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
        st.st_ino == socket_ino_) {
      unlink(listen_.path.c_str());
    }
  }
  if (server_ != nullptr) log::Info("stopped address={:?}", address_);
  std::lock_guard<std::mutex> lock(mu_);
  state_ = State::kStopped;
  cv_.notify_all();
}

void Server::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return state_ == State::kStopped; });
}

absl::Status Server::Run() {
  const sigset_t signals = ShutdownSignals();
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  if (sigismember(&blocked, SIGTERM) != 1 || sigismember(&blocked, SIGINT) != 1) {
    return absl::FailedPreconditionError(
        "Server::Run: SIGTERM and SIGINT are not blocked; call BlockShutdownSignals() first in "
        "main(), before any thread starts");
  }

  // Signals are taken here, in an ordinary thread, with sigwait: no async handler runs.
  bool signalled = false;
  bool stop_thread = false;
  std::thread signal_thread([&] {
    bool shutting_down = false;
    std::chrono::steady_clock::time_point force_at;
    for (;;) {
      int sig = 0;
      if (!shutting_down) {
        if (sigwait(&signals, &sig) != 0) continue;
      } else {
        auto left = force_at - std::chrono::steady_clock::now();
        if (left < std::chrono::nanoseconds(0)) left = std::chrono::nanoseconds(0);
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
        struct timespec ts;
        ts.tv_sec = static_cast<time_t>(secs.count());
        ts.tv_nsec = static_cast<long>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count());
        sig = sigtimedwait(&signals, nullptr, &ts);
        if (sig < 0) {
          if (errno == EINTR) continue;
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_thread) return;
          }
          log::Error("calls did not end after the shutdown timeout; exiting address={:?}",
                     address_);
          std::_Exit(1);
        }
      }
      bool second = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_thread) return;
        second = shutting_down;
        if (!shutting_down) {
          log::Info("received {}; shutting down", strsignal(sig));
          shutting_down = true;
          force_at = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         config_.shutdown_timeout) +
                     kForceExitSlack;
          signalled = true;
          cv_.notify_all();
        }
      }
      if (second) {
        log::Error("received {} during shutdown; exiting now", strsignal(sig));
        std::_Exit(1);
      }
    }
  });

  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return signalled || state_ != State::kServing; });
  }
  Shutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_thread = true;
  }
  // Wakes the signal thread: SIGTERM is blocked there, so this is queued for it and taken by
  // its sigwait, which then sees stop_thread.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return absl::OkStatus();
}

}  // namespace berth::server
