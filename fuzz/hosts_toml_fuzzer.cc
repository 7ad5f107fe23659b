// Fuzzes services/image/remotes/hosts: ParseHostsToml on arbitrary hosts.toml text (an admin
// writes it, but a broken file must be an error, never a crash), plus ParseGoDuration,
// IsLocalhost and SplitConfigPath on the same bytes. The first byte picks the registry host
// and the plain_http option; the rest is the file. Every endpoint returned must be usable:
// scheme http or https, a host, a path without a trailing '/', known capabilities.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "services/image/remotes/hosts.h"

namespace r = berth::remotes;

namespace {

constexpr std::string_view kHosts[] = {"docker.io",  "localhost:5000", "registry.example.com",
                                       "[::1]:5000", "127.0.0.1",      "myreg.io:5000"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  const std::string_view host = kHosts[(data[0] >> 1) % std::size(kHosts)];
  r::HostsOptions options;
  options.plain_http = (data[0] & 1) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  auto hosts = r::ParseHostsToml(text, host, "/etc/containerd/certs.d/host", options);
  if (hosts.ok()) {
    FUZZ_CHECK(!hosts->empty(), "no endpoint and no error");
    for (const r::RegistryHost& h : *hosts) {
      FUZZ_CHECK(h.scheme == "http" || h.scheme == "https", "scheme " + h.scheme);
      FUZZ_CHECK(!h.host.empty(), "endpoint without a host: " + h.BaseUrl());
      FUZZ_CHECK(h.path.empty() || h.path.back() != '/', "path ends in '/': " + h.path);
      FUZZ_CHECK((h.capabilities & ~r::kAllCapabilities) == 0, "unknown capability bits");
      FUZZ_CHECK(h.dial_timeout.count() >= 0, "negative dial_timeout");
      for (const std::string& ca : h.ca_files) {
        FUZZ_CHECK(!ca.empty() && ca[0] == '/', "relative CA path: " + ca);
      }
      (void)h.BaseUrl();
    }
  } else {
    FUZZ_CHECK(hosts.status().code() == absl::StatusCode::kInvalidArgument,
               "unexpected code: " + hosts.status().ToString());
  }

  auto d = r::ParseGoDuration(text);
  if (d.ok()) FUZZ_CHECK(d->count() >= 0, "negative duration from " + std::string(text));
  (void)r::IsLocalhost(text);
  for (const std::string& part : r::SplitConfigPath(text)) {
    FUZZ_CHECK(!part.empty(), "SplitConfigPath kept an empty part");
  }
  (void)r::DefaultHost(text, options);
  return 0;
}
