// Unit tests of the pure parts of the HTTP layer: URL handling and the redirect credential
// rule (CVE-2020-15157). The network behaviour is tested against a real registry in
// registry_test.cc.
#include "services/image/remotes/http_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "lib/testing/status_matchers.h"

namespace berth::remotes {
namespace {

using ::testing::HasSubstr;

TEST(UrlTest, Parse) {
  ASSERT_OK_AND_ASSIGN(Url u, ParseUrl("HTTPS://Registry.Example.COM:5000/v2/a/b?x=1#frag"));
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.host, "registry.example.com:5000");
  EXPECT_EQ(u.path_query, "/v2/a/b?x=1");
  EXPECT_EQ(u.Origin(), "https://registry.example.com:5000");
  ASSERT_OK_AND_ASSIGN(Url bare, ParseUrl("http://h"));
  EXPECT_EQ(bare.path_query, "/");
  EXPECT_EQ(bare.Origin(), "http://h:80");
  ASSERT_OK_AND_ASSIGN(Url v6, ParseUrl("https://[::1]/x"));
  EXPECT_EQ(v6.Origin(), "https://[::1]:443");
  ASSERT_OK_AND_ASSIGN(Url q, ParseUrl("https://h?x=1"));
  EXPECT_EQ(q.path_query, "/?x=1");
  for (const char* bad : {"", "h/x", "ftp://h/x", "file:///etc/passwd", "https://u:p@h/",
                          "https:///x", "https://h/a b", "https://h/\n"}) {
    EXPECT_TRUE(IsInvalidArgument(ParseUrl(bad).status())) << bad;
  }
}

TEST(UrlTest, ResolveLocation) {
  ASSERT_OK_AND_ASSIGN(Url base, ParseUrl("https://reg:5000/v2/a/blobs/uploads/?x=1"));
  EXPECT_EQ(ResolveLocation(base, "/v2/a/blobs/uploads/uuid?_state=s")->ToString(),
            "https://reg:5000/v2/a/blobs/uploads/uuid?_state=s");
  EXPECT_EQ(ResolveLocation(base, "https://storage.example.com/blob?sig=1")->ToString(),
            "https://storage.example.com/blob?sig=1");
  EXPECT_EQ(ResolveLocation(base, "//cdn.example.com/b")->ToString(), "https://cdn.example.com/b");
  EXPECT_EQ(ResolveLocation(base, "uuid")->ToString(), "https://reg:5000/v2/a/blobs/uploads/uuid");
  // A relative path whose query holds "://" stays relative.
  EXPECT_EQ(ResolveLocation(base, "/p?next=http://x")->ToString(),
            "https://reg:5000/p?next=http://x");
  EXPECT_FALSE(ResolveLocation(base, "").ok());
  EXPECT_FALSE(ResolveLocation(base, "gopher://x/").ok());
}

TEST(RedirectTest, CredentialsOnlyForTheSameOrigin) {
  auto url = [](const char* s) { return *ParseUrl(s); };
  Url registry = url("https://registry.example.com/v2/a/blobs/sha256:x");
  EXPECT_TRUE(ForwardCredentials(registry, url("https://registry.example.com/other")));
  EXPECT_TRUE(ForwardCredentials(registry, url("https://REGISTRY.example.com:443/other")));
  EXPECT_FALSE(ForwardCredentials(registry, url("https://storage.example.com/blob")));
  EXPECT_FALSE(ForwardCredentials(registry, url("https://registry.example.com:8443/x")));
  EXPECT_FALSE(ForwardCredentials(registry, url("http://registry.example.com/x")));
  EXPECT_FALSE(ForwardCredentials(registry, url("https://registry.example.com.evil.com/x")));
  EXPECT_FALSE(ForwardCredentials(url("http://127.0.0.1:5000/v2/"), url("http://localhost:5000/")));
}

TEST(QueryEscapeTest, Escapes) {
  EXPECT_EQ(QueryEscape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
  EXPECT_EQ(QueryEscape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(QueryEscape("a b&c=d"), "a%20b%26c%3Dd");
}

TEST(TlsSettingsTest, KeyDistinguishesSettings) {
  TlsSettings a;
  TlsSettings b;
  b.skip_verify = true;
  TlsSettings c;
  c.ca_files = {"/x.crt"};
  EXPECT_NE(a.Key(), b.Key());
  EXPECT_NE(a.Key(), c.Key());
  EXPECT_EQ(a.Key(), TlsSettings().Key());
}

TEST(HttpClientTest, UnreachableHostIsUnavailable) {
  HttpClient client;
  NetErrorKind kind = NetErrorKind::kNone;
  HttpRequest req;
  // Port 1 on loopback: nothing listens there in a test environment (connection refused).
  req.url = "http://127.0.0.1:1/v2/";
  auto resp = client.Do(CallContext::Background(), req, 1024, &kind);
  ASSERT_FALSE(resp.ok());
  EXPECT_TRUE(IsUnavailable(resp.status())) << resp.status();
  EXPECT_EQ(kind, NetErrorKind::kConnect);
  EXPECT_THAT(std::string(resp.status().message()), HasSubstr("http://127.0.0.1:1/v2/"));
}

// A loopback socket that accepts connections (through the kernel's backlog) and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd_); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v2/"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HttpClientTest, CancelledWhileWaiting) {
  SilentServer server;
  HttpClient client;
  HttpRequest req;
  req.url = server.Url();
  CallContext ctx = CallContext::Background();
  ctx.cancelled = [] { return true; };
  auto resp = client.Do(ctx, req, 1024);
  ASSERT_FALSE(resp.ok());
  EXPECT_TRUE(IsCancelled(resp.status())) << resp.status();
}

TEST(HttpClientTest, DeadlineWhileWaiting) {
  SilentServer server;
  HttpClient client;
  HttpRequest req;
  req.url = server.Url();
  CallContext ctx = CallContext::Background();
  ctx.deadline = std::chrono::system_clock::now();
  auto resp = client.Do(ctx, req, 1024);
  ASSERT_FALSE(resp.ok());
  EXPECT_TRUE(IsDeadlineExceeded(resp.status())) << resp.status();
}

TEST(HttpClientTest, StalledServerIsUnavailable) {
  SilentServer server;
  HttpOptions options;
  options.stall_timeout = std::chrono::seconds(1);
  HttpClient client(options);
  HttpRequest req;
  req.url = server.Url();
  NetErrorKind kind = NetErrorKind::kNone;
  auto resp = client.Do(CallContext::Background(), req, 1024, &kind);
  ASSERT_FALSE(resp.ok());
  EXPECT_TRUE(IsUnavailable(resp.status())) << resp.status();
  EXPECT_EQ(kind, NetErrorKind::kTransfer);
}

}  // namespace
}  // namespace berth::remotes
