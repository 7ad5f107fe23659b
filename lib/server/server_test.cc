#include "lib/server/server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include "lib/server/dial.h"
#include "lib/server/health_client.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace berth::server {
namespace {

using containerd::services::version::v1::VersionResponse;
using testing::TempDir;

class VersionService final : public containerd::services::version::v1::Version::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const google::protobuf::Empty*,
                       VersionResponse* response) override {
    response->set_version("test");
    return grpc::Status::OK;
  }
};

ServerConfig UnixConfig(const std::string& path) {
  ServerConfig c;
  c.address = "unix://" + path;
  return c;
}

ServerConfig TcpConfig() {
  ServerConfig c;
  c.address = "tcp://127.0.0.1:0";
  return c;
}

std::shared_ptr<grpc::Channel> UnixChannel(const std::string& path) {
  return grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TcpChannel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureChannelCredentials());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// ---- unix sockets ---------------------------------------------------------------------------

TEST(Server, UnixSocketModesAndHealth) {
  TempDir dir("srv");
  const std::string sock = dir.Path("run/berth/test.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(UnixConfig(sock), {}));
  EXPECT_EQ(server->address(), "unix://" + sock);
  EXPECT_EQ(server->port(), 0);

  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  for (const char* d : {"run", "run/berth"}) {
    ASSERT_EQ(stat(dir.Path(d).c_str(), &st), 0) << d;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << d;
  }

  absl::StatusOr<HealthStatus> health = CheckHealth(*UnixChannel(sock));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

// DialService: lazy (the service may start after the channel), and a service that went
// away and came back is reached again on the same channel.
TEST(Server, DialServiceReachesAServiceStartedLaterAndRestarted) {
  EXPECT_TRUE(absl::IsInvalidArgument(DialService("nonsense").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DialService("unix://relative.sock").status()));
  TempDir dir("dial");
  const std::string sock = dir.Path("svc.sock");
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<grpc::Channel> channel, DialService("unix://" + sock));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(UnixConfig(sock), {}));
    absl::StatusOr<HealthStatus> health = CheckHealth(*channel);
    ASSERT_OK(health);
    EXPECT_EQ(*health, HealthStatus::kServing);
    server->Shutdown();
  }
}

TEST(Server, ExistingParentDirectoryIsLeftAlone) {
  TempDir dir("srv");
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server,
                       Server::Start(UnixConfig(dir.Path("s.sock")), {}));
  struct stat st;
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST(Server, SecondServerOnTheSameSocketIsRefused) {
  TempDir dir("srv");
  const std::string sock = dir.Path("s.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start(UnixConfig(sock), {}));
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(UnixConfig(sock), {});
  ASSERT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("another server is already listening"),
            absl::string_view::npos)
      << second.status();
  // The first server keeps its socket and keeps serving.
  absl::StatusOr<HealthStatus> health = CheckHealth(*UnixChannel(sock));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST(Server, StaleSocketFileIsReplaced) {
  TempDir dir("srv");
  const std::string sock = dir.Path("s.sock");
  // A socket file nobody listens on, as a crashed server leaves behind.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  close(fd);
  ASSERT_TRUE(Exists(sock));

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(UnixConfig(sock), {}));
  absl::StatusOr<HealthStatus> health = CheckHealth(*UnixChannel(sock));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST(Server, PathThatIsNotASocketIsRefused) {
  TempDir dir("srv");
  const std::string path = dir.Path("s.sock");
  std::ofstream(path) << "not a socket";
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(UnixConfig(path), {});
  ASSERT_TRUE(absl::IsFailedPrecondition(server.status())) << server.status();
  EXPECT_NE(server.status().message().find("is not a socket"), absl::string_view::npos);
  EXPECT_EQ(ReadFile(path), "not a socket");
}

TEST(Server, ParentThatIsAFileIsAnError) {
  TempDir dir("srv");
  std::ofstream(dir.Path("file")) << "x";
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(UnixConfig(dir.Path("file/s.sock")), {});
  EXPECT_FALSE(server.ok());
}

TEST(Server, ShutdownRemovesTheSocketAndStopsServing) {
  TempDir dir("srv");
  const std::string sock = dir.Path("s.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(UnixConfig(sock), {}));
  server->Shutdown();
  server->Shutdown();  // idempotent
  server->Wait();
  EXPECT_FALSE(Exists(sock));
  EXPECT_FALSE(CheckHealth(*UnixChannel(sock), "", std::chrono::seconds(2)).ok());
}

TEST(Server, ShutdownLeavesASocketThatIsNotOurs) {
  TempDir dir("srv");
  const std::string sock = dir.Path("s.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(UnixConfig(sock), {}));
  // An operator moved ours away and something else now has the name.
  ASSERT_EQ(rename(sock.c_str(), dir.Path("old.sock").c_str()), 0);
  std::ofstream(sock) << "other";
  server->Shutdown();
  EXPECT_EQ(ReadFile(sock), "other");
}

TEST(Server, BadAddressIsInvalidArgument) {
  ServerConfig c;
  c.address = "unix:@abstract";
  EXPECT_TRUE(absl::IsInvalidArgument(Server::Start(c, {}).status()));
  c.address = "tcp://127.0.0.1";
  EXPECT_TRUE(absl::IsInvalidArgument(Server::Start(c, {}).status()));
}

// ---- TCP ---------------------------------------------------------------------------------------

TEST(Server, TcpPortZeroBindsAFreePort) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TcpConfig(), {}));
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "tcp://127.0.0.1:" + std::to_string(server->port()));
  absl::StatusOr<HealthStatus> health = CheckHealth(*TcpChannel(server->port()));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST(Server, TcpPortInUseIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start(TcpConfig(), {}));
  ServerConfig c;
  c.address = "tcp://127.0.0.1:" + std::to_string(first->port());
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(c, {});
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
}

// ---- services, interceptors, limits
// ---------------------------------------------------------------

class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(std::atomic<int>* calls) : calls_(calls) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      calls_->fetch_add(1);
    }
    methods->Proceed();
  }

 private:
  std::atomic<int>* calls_;
};

class CountingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(std::atomic<int>* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CountingInterceptor(calls_);
  }

 private:
  std::atomic<int>* calls_;
};

TEST(Server, ServesRegisteredServicesThroughInterceptors) {
  VersionService version;
  std::atomic<int> calls{0};
  ServerOptions options;
  options.services.push_back(&version);
  options.interceptors.push_back(std::make_unique<CountingFactory>(&calls));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server,
                       Server::Start(TcpConfig(), std::move(options)));

  auto stub = containerd::services::version::v1::Version::NewStub(TcpChannel(server->port()));
  grpc::ClientContext ctx;
  google::protobuf::Empty request;
  VersionResponse response;
  grpc::Status status = stub->Version(&ctx, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), "test");
  EXPECT_EQ(calls.load(), 1);
}

// Calls Version.Version with a request of `size` bytes: one unknown length-delimited field,
// which an Empty parses and ignores, so only the transport's size limit matters.
grpc::Status CallWithRequestOfSize(grpc::Channel& channel, size_t size) {
  // Tag (1 byte) + length as a varint padded to 5 bytes, so the total is exactly `size`.
  const size_t payload = size - 6;
  std::string bytes;
  bytes.push_back(0x12);  // field 2, length-delimited
  size_t v = payload;
  for (int i = 0; i < 4; ++i) {
    bytes.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  bytes.push_back(static_cast<char>(v & 0x7f));
  bytes.append(payload, 'x');
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  return grpc::internal::BlockingUnaryCall(
      &channel,
      grpc::internal::RpcMethod("/containerd.services.version.v1.Version/Version",
                                grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, request, &response);
}

TEST(Server, AcceptsMessagesUpTo16MiB) {
  VersionService version;
  ServerOptions options;
  options.services.push_back(&version);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server,
                       Server::Start(TcpConfig(), std::move(options)));
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server->port()),
                                           grpc::InsecureChannelCredentials(), args);
  // gRPC's own default limit is 4 MiB: 5 MiB passes only because the server raised it.
  grpc::Status five = CallWithRequestOfSize(*channel, 5 << 20);
  EXPECT_TRUE(five.ok()) << five.error_code() << " " << five.error_message();
  grpc::Status sixteen = CallWithRequestOfSize(*channel, 16 << 20);
  EXPECT_TRUE(sixteen.ok()) << sixteen.error_code() << " " << sixteen.error_message();
  grpc::Status seventeen = CallWithRequestOfSize(*channel, (16 << 20) + 1);
  EXPECT_EQ(seventeen.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << seventeen.error_message();
}

// ---- health during shutdown ---------------------------------------------------------------------

TEST(Server, HealthTurnsNotServingWhenShutdownBeginsAndWatchesEnd) {
  ServerConfig c = TcpConfig();
  // Were the open watch to hold the shutdown up, the test would time out.
  c.shutdown_timeout = std::chrono::hours(1);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(c, {}));
  HealthWatch watch(TcpChannel(server->port()));
  absl::StatusOr<HealthStatus> first = watch.Next();
  ASSERT_OK(first);
  EXPECT_EQ(*first, HealthStatus::kServing);

  std::thread stopper([&] { server->Shutdown(); });
  absl::StatusOr<HealthStatus> second = watch.Next();
  absl::StatusOr<HealthStatus> end = watch.Next();
  stopper.join();
  ASSERT_OK(second);
  EXPECT_EQ(*second, HealthStatus::kNotServing);
  EXPECT_TRUE(absl::IsUnavailable(end.status())) << end.status();
  EXPECT_NE(end.status().message().find("server is shutting down"), absl::string_view::npos)
      << end.status();
}

TEST(Server, PerServiceHealth) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TcpConfig(), {}));
  const std::string name = "containerd.services.content.v1.Content";
  auto channel = TcpChannel(server->port());
  EXPECT_TRUE(absl::IsNotFound(CheckHealth(*channel, name).status()));

  HealthWatch watch(channel, name);
  absl::StatusOr<HealthStatus> unknown = watch.Next();
  ASSERT_OK(unknown);
  EXPECT_EQ(*unknown, HealthStatus::kServiceUnknown);

  server->health()->SetServingStatus(name, false);
  absl::StatusOr<HealthStatus> h = CheckHealth(*channel, name);
  ASSERT_OK(h);
  EXPECT_EQ(*h, HealthStatus::kNotServing);
  absl::StatusOr<HealthStatus> changed = watch.Next();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, HealthStatus::kNotServing);

  server->health()->SetServingStatus(name, false);  // no change: nothing sent
  server->health()->SetServingStatus(name, true);
  changed = watch.Next();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, HealthStatus::kServing);
  // The whole server is unaffected.
  EXPECT_EQ(*CheckHealth(*channel), HealthStatus::kServing);
}

TEST(Server, MalformedHealthRequestIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TcpConfig(), {}));
  auto channel = TcpChannel(server->port());
  const std::string garbage(
      "\x0a\x05"
      "ab");  // field 1 claims 5 bytes, has 2
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  grpc::Status status = grpc::internal::BlockingUnaryCall(
      channel.get(),
      grpc::internal::RpcMethod("/grpc.health.v1.Health/Check",
                                grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

// ---- readiness ---------------------------------------------------------------------------------

// A datagram socket standing in for systemd's notify socket; restores $NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    // A ceiling for a broken test, not a timing the test relies on.
    struct timeval tv = {10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? std::string("<recv failed: ") + std::strerror(errno) + ">"
                 : std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST(Server, NotifiesSystemdReadyAndStopping) {
  TempDir dir("srv");
  NotifySocket notify(dir.Path("notify"));
  ASSERT_TRUE(notify.ok());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TcpConfig(), {}));
  const std::string ready = notify.Receive();
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready;
  EXPECT_NE(ready.find("STATUS=serving on " + server->address()), std::string::npos) << ready;
  server->Shutdown();
  EXPECT_EQ(notify.Receive(), "STOPPING=1");
}

TEST(Server, ReadyFileHoldsTheAddressWhileServing) {
  TempDir dir("srv");
  ServerConfig c = TcpConfig();
  c.ready_file = dir.Path("ready");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(c, {}));
  EXPECT_EQ(ReadFile(c.ready_file), server->address() + "\n");
  EXPECT_FALSE(Exists(c.ready_file + ".tmp"));
  server->Shutdown();
  EXPECT_FALSE(Exists(c.ready_file));
}

TEST(Server, UnwritableReadyFileFailsStartAndStopsTheServer) {
  TempDir dir("srv");
  ServerConfig c = UnixConfig(dir.Path("s.sock"));
  c.ready_file = dir.Path("missing-dir/ready");
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(c, {});
  EXPECT_TRUE(absl::IsNotFound(server.status())) << server.status();
  EXPECT_FALSE(Exists(dir.Path("s.sock")));
}

TEST(Server, RunRequiresBlockedSignals) {
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  ASSERT_NE(sigismember(&blocked, SIGTERM), 1) << "test runner blocks SIGTERM";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TcpConfig(), {}));
  EXPECT_TRUE(absl::IsFailedPrecondition(server->Run()));
}

// ---- TLS ---------------------------------------------------------------------------------------

// Runs the openssl CLI; the test fails if it does.
void Openssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  testing::ChildProcessOptions options;
  options.argv = args;
  options.cwd = dir;
  options.stderr_path = dir + "/openssl.log";
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess child, testing::ChildProcess::Start(options));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(60)));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "openssl " << args[1] << " failed: " << ReadFile(dir + "/openssl.log");
}

// Generates into `dir`: ca.pem/ca.key, server.pem/server.key (127.0.0.1 and localhost),
// client.pem/client.key (signed by the CA), rogue.pem/rogue.key (a client certificate from
// another CA, other-ca.pem).
void MakeCertificates(const std::string& dir) {
  std::ofstream(dir + "/server.ext") << "basicConstraints=CA:FALSE\n"
                                        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                        "extendedKeyUsage=serverAuth\n";
  std::ofstream(dir + "/client.ext") << "basicConstraints=CA:FALSE\n"
                                        "extendedKeyUsage=clientAuth\n";
  for (const char* ca : {"ca", "other-ca"}) {
    ASSERT_NO_FATAL_FAILURE(Openssl(
        dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", std::string(ca) + ".key", "-out", std::string(ca) + ".pem", "-days", "2",
              "-subj", std::string("/CN=berth test ") + ca}));
  }
  int serial = 2;
  for (const auto& [name, ca, ext] :
       {std::tuple<const char*, const char*, const char*>{"server", "ca", "server.ext"},
        {"client", "ca", "client.ext"},
        {"rogue", "other-ca", "client.ext"}}) {
    const std::string n(name);
    ASSERT_NO_FATAL_FAILURE(
        Openssl(dir, {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", n + ".key", "-out", n + ".csr", "-subj",
                      "/CN=" + (n == "server" ? std::string("localhost") : "berth test " + n)}));
    ASSERT_NO_FATAL_FAILURE(
        Openssl(dir, {"x509", "-req", "-in", n + ".csr", "-CA", std::string(ca) + ".pem", "-CAkey",
                      std::string(ca) + ".key", "-set_serial", std::to_string(serial++), "-days",
                      "2", "-extfile", ext, "-out", n + ".pem"}));
  }
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("tls");
    MakeCertificates(dir_->path());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(Exists(Path("rogue.pem"))) << "certificate generation failed";
  }

  static std::string Path(const std::string& name) { return dir_->Path(name); }

  static ServerConfig TlsConfig(bool mutual) {
    ServerConfig c = TcpConfig();
    c.tls = server::TlsConfig{Path("server.pem"), Path("server.key"), mutual ? Path("ca.pem") : ""};
    return c;
  }

  // A TLS channel to 127.0.0.1:port trusting `ca`, presenting `client` ("" for none).
  static std::shared_ptr<grpc::Channel> Channel(int port, const std::string& ca,
                                                const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(Path(ca + ".pem"));
    if (!client.empty()) {
      options.pem_cert_chain = ReadFile(Path(client + ".pem"));
      options.pem_private_key = ReadFile(Path(client + ".key"));
    }
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(options));
  }

  static TempDir* dir_;
};
TempDir* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, MutualTlsAcceptsAClientCertificateFromTheCa) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(true), {}));
  absl::StatusOr<HealthStatus> health = CheckHealth(*Channel(server->port(), "ca", "client"));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutCertificate) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(true), {}));
  absl::StatusOr<HealthStatus> health = CheckHealth(*Channel(server->port(), "ca", ""));
  EXPECT_TRUE(absl::IsUnavailable(health.status())) << health.status();
}

TEST_F(TlsTest, MutualTlsRefusesAClientCertificateFromAnotherCa) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(true), {}));
  absl::StatusOr<HealthStatus> health = CheckHealth(*Channel(server->port(), "ca", "rogue"));
  EXPECT_TRUE(absl::IsUnavailable(health.status())) << health.status();
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(true), {}));
  EXPECT_TRUE(absl::IsUnavailable(CheckHealth(*TcpChannel(server->port())).status()));
}

TEST_F(TlsTest, ServerOnlyTlsNeedsNoClientCertificate) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(false), {}));
  absl::StatusOr<HealthStatus> health = CheckHealth(*Channel(server->port(), "ca", ""));
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
}

TEST_F(TlsTest, ClientThatDoesNotTrustTheServerFails) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(TlsConfig(false), {}));
  EXPECT_TRUE(absl::IsUnavailable(CheckHealth(*Channel(server->port(), "other-ca", "")).status()));
}

TEST_F(TlsTest, BadFilesAreNamed) {
  ServerConfig c = TlsConfig(true);
  c.tls->cert = Path("missing.pem");
  absl::StatusOr<std::unique_ptr<Server>> s = Server::Start(c, {});
  EXPECT_TRUE(absl::IsNotFound(s.status())) << s.status();
  EXPECT_EQ(std::string(s.status().message()),
            "tls cert \"" + Path("missing.pem") + "\": No such file or directory");

  c = TlsConfig(true);
  c.tls->cert = Path("server.ext");  // not PEM
  s = Server::Start(c, {});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  EXPECT_EQ(std::string(s.status().message()),
            "tls cert \"" + Path("server.ext") + "\": no PEM certificate");

  c = TlsConfig(true);
  c.tls->key = Path("client.key");  // a key, but not the certificate's
  s = Server::Start(c, {});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("does not match certificate"), absl::string_view::npos)
      << s.status();

  c = TlsConfig(true);
  c.tls->key = Path("server.pem");  // a certificate where the key should be
  s = Server::Start(c, {});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();

  c = TlsConfig(true);
  c.tls->ca = Path("client.ext");
  s = Server::Start(c, {});
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("tls ca"), absl::string_view::npos) << s.status();
}

}  // namespace
}  // namespace berth::server
