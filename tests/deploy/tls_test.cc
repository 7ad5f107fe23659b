// The content service on TCP with mutual TLS, configured only in config.toml: certificates
// made with the openssl command, berth-content and a read replica on tcp://127.0.0.1 with
// [content] tls {cert, key, ca}, the gateway reaching both through
// [gateway.backends.content] tls {ca, cert, key, server_name}; clients without a
// certificate, with one from another CA, or speaking plaintext are refused.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/proxy/content_proxy.h"
#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "tests/deploy/deploy_testing.h"

namespace berth::deploy_testing {
namespace {

namespace api = containerd::services::content::v1;
using ::berth::testing::TempDir;

constexpr char kServerName[] = "content.berth.test";

class ContentTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // CA, server and client certificates; a second CA with a client certificate of its own.
    ASSERT_NO_FATAL_FAILURE(Openssl(
        {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", P("ca.key"), "-out", P("ca.crt"), "-days", "2", "-subj", "/CN=berth test CA"}));
    ASSERT_NO_FATAL_FAILURE(
        Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", P("rogue-ca.key"), "-out", P("rogue-ca.crt"), "-days", "2", "-subj",
                 "/CN=rogue CA"}));
    ASSERT_NO_FATAL_FAILURE(Sign("server", "ca",
                                 fmt::format("subjectAltName=DNS:{},IP:127.0.0.1\n"
                                             "extendedKeyUsage=serverAuth\n",
                                             kServerName)));
    ASSERT_NO_FATAL_FAILURE(Sign("client", "ca", "extendedKeyUsage=clientAuth\n"));
    ASSERT_NO_FATAL_FAILURE(Sign("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n"));

    ASSERT_OK(WriteText(P("content.toml"), fmt::format(R"([content]
address = "tcp://127.0.0.1:0"
replica_address = "tcp://127.0.0.1:0"
root = "{d}/content"
state = "{d}/state"
nats_url = ""
catch_up_interval = "50ms"
tls = {{ cert = "{d}/server.crt", key = "{d}/server.key", ca = "{d}/ca.crt" }}
)",
                                                       fmt::arg("d", dir_.path()))));
    ASSERT_OK_AND_ASSIGN(primary_, Service::Start("content",
                                                  {BinDir() + "/berth-content", "--config",
                                                   P("content.toml"), "--ready-file", P("c.ready")},
                                                  P("c.ready"), dir_.path()));
    ASSERT_OK_AND_ASSIGN(replica_,
                         Service::Start("replica",
                                        {BinDir() + "/berth-content", "--config", P("content.toml"),
                                         "--replica", "1", "--ready-file", P("r.ready")},
                                        P("r.ready"), dir_.path()));
    ASSERT_EQ(primary_->address().rfind("tcp://127.0.0.1:", 0), 0u) << primary_->address();
    ASSERT_EQ(replica_->address().rfind("tcp://127.0.0.1:", 0), 0u) << replica_->address();
    ASSERT_NE(primary_->address(), replica_->address());

    ASSERT_OK(WriteText(
        P("gateway.toml"),
        fmt::format(R"([gateway]
address = "unix://{d}/berth.sock"
root = "{d}/gateway"
state = "{d}/gateway-state"
nats_url = ""

[gateway.backends.content]
services = ["containerd.services.content.v1.Content"]
addresses = ["{primary}", "{replica}"]
read_methods = ["Info", "List", "Read", "Status", "ListStatuses"]
internal_api = "content"
lease_resources = ["content", "ingests"]
tls = {{ ca = "{d}/ca.crt", cert = "{d}/client.crt", key = "{d}/client.key", server_name = "{name}" }}
)",
                    fmt::arg("d", dir_.path()), fmt::arg("primary", primary_->address()),
                    fmt::arg("replica", replica_->address()), fmt::arg("name", kServerName))));
    ASSERT_OK_AND_ASSIGN(gateway_, Service::Start("gateway",
                                                  {BinDir() + "/berth-gateway", "--config",
                                                   P("gateway.toml"), "--ready-file", P("g.ready")},
                                                  P("g.ready"), dir_.path()));
  }

  std::string P(const std::string& name) const { return dir_.Path(name); }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    CommandResult r = RunCommand(args, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << "openssl " << args[1] << ": " << r.err;
  }

  // Makes <name>.key and <name>.crt, signed by <ca>.crt, with the extensions `ext`.
  void Sign(const std::string& name, const std::string& ca, const std::string& ext) {
    ASSERT_OK(WriteText(P(name + ".ext"), ext));
    ASSERT_NO_FATAL_FAILURE(
        Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 P(name + ".key"), "-out", P(name + ".csr"), "-subj", "/CN=" + name}));
    ASSERT_NO_FATAL_FAILURE(Openssl(
        {"x509", "-req", "-in", P(name + ".csr"), "-CA", P(ca + ".crt"), "-CAkey", P(ca + ".key"),
         "-CAcreateserial", "-out", P(name + ".crt"), "-days", "2", "-extfile", P(name + ".ext")}));
  }

  // TLS credentials trusting `ca`, presenting <client>.crt/.key unless `client` is empty.
  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca, const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadText(P(ca + ".crt"));
    if (!client.empty()) {
      ssl.pem_cert_chain = ReadText(P(client + ".crt"));
      ssl.pem_private_key = ReadText(P(client + ".key"));
    }
    return grpc::SslCredentials(ssl);
  }

  // One Info call on `channel`, with a deadline.
  static grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel, const digest::Digest& d) {
    auto stub = api::Content::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "default");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    api::InfoRequest req;
    req.set_digest(d.ToString());
    api::InfoResponse resp;
    return stub->Info(&ctx, req, &resp);
  }

  TempDir dir_{"btls"};
  std::unique_ptr<Service> primary_;
  std::unique_ptr<Service> replica_;
  std::unique_ptr<Service> gateway_;
};

TEST_F(ContentTlsTest, GatewayReachesContentOverMutualTls) {
  proxy::ContentProxy through_gateway(Connect(gateway_->address()));
  const std::string data = RandomBytes(3 << 20, 11);
  const digest::Digest d = digest::FromBytes(data);
  ASSERT_OK(Ingest(through_gateway, "default", "tls-blob", data))
      << primary_->Log() << gateway_->Log();
  // Round robin: the primary, then the replica, then the primary... all over mutual TLS.
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::string> read = ReadBlob(through_gateway, "default", d);
    ASSERT_OK(read.status()) << replica_->Log();
    EXPECT_TRUE(*read == data);
  }

  // A client with a certificate from the CA gets in, to both.
  for (const Service* s : {primary_.get(), replica_.get()}) {
    grpc::Status ok = Info(Connect(s->address(), Tls("ca", "client"), kServerName), d);
    EXPECT_TRUE(ok.ok()) << s->address() << ": " << ok.error_message();
  }
  // The replica over TLS still refuses writes.
  proxy::ContentProxy replica(Connect(replica_->address(), Tls("ca", "client"), kServerName));
  absl::Status refused = Ingest(replica, "default", "nope", "x");
  EXPECT_TRUE(IsFailedPrecondition(refused)) << refused;
}

TEST_F(ContentTlsTest, ClientsWithoutAGoodCertificateAreRefused) {
  const digest::Digest d = digest::FromBytes("anything");
  for (const Service* s : {primary_.get(), replica_.get()}) {
    // Sanity: the good client reaches it (NotFound: it answers).
    grpc::Status good = Info(Connect(s->address(), Tls("ca", "client"), kServerName), d);
    EXPECT_EQ(good.error_code(), grpc::StatusCode::NOT_FOUND) << good.error_message();

    grpc::Status no_cert = Info(Connect(s->address(), Tls("ca", ""), kServerName), d);
    EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << no_cert.error_message();
    grpc::Status rogue = Info(Connect(s->address(), Tls("ca", "rogue"), kServerName), d);
    EXPECT_EQ(rogue.error_code(), grpc::StatusCode::UNAVAILABLE) << rogue.error_message();
    grpc::Status plaintext = Info(Connect(s->address()), d);
    EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
    // And the client does not trust a server its CA did not sign.
    grpc::Status wrong_ca = Info(Connect(s->address(), Tls("rogue-ca", "client"), kServerName), d);
    EXPECT_EQ(wrong_ca.error_code(), grpc::StatusCode::UNAVAILABLE) << wrong_ca.error_message();
  }
}

// A gateway without a client certificate cannot reach the content service.
TEST_F(ContentTlsTest, GatewayWithoutClientCertificateIsRefused) {
  ASSERT_OK(WriteText(P("nocert.toml"), fmt::format(R"([gateway]
address = "unix://{d}/nocert.sock"
root = "{d}/gateway2"
state = "{d}/gateway2-state"
nats_url = ""

[gateway.backends.content]
services = ["containerd.services.content.v1.Content"]
addresses = ["{primary}"]
tls = {{ ca = "{d}/ca.crt", server_name = "{name}" }}
)",
                                                    fmt::arg("d", dir_.path()),
                                                    fmt::arg("primary", primary_->address()),
                                                    fmt::arg("name", kServerName))));
  ASSERT_OK_AND_ASSIGN(auto gateway,
                       Service::Start("gateway2",
                                      {BinDir() + "/berth-gateway", "--config", P("nocert.toml"),
                                       "--ready-file", P("g2.ready")},
                                      P("g2.ready"), dir_.path()));
  grpc::Status s = Info(Connect(gateway->address()), digest::FromBytes("x"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

}  // namespace
}  // namespace berth::deploy_testing
