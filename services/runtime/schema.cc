#include "services/runtime/schema.h"

#include <openssl/sha.h>

#include "fmt/format.h"

namespace berth::runtime::schema {

std::string ContainerKey(std::string_view ns, std::string_view id) {
  return fmt::format("v1/{}/containers/{}", ns, id);
}

std::string ContainersPrefix(std::string_view ns) { return fmt::format("v1/{}/containers/", ns); }

std::string OutboxKey(uint64_t seq) { return fmt::format("v1/_runtime/outbox/{:020}", seq); }

std::string OutboxPrefix() { return "v1/_runtime/outbox/"; }

std::string ExitKey(std::string_view ns, std::string_view id, std::string_view exec_id) {
  if (exec_id.empty()) return fmt::format("v1/_runtime/exits/{}/{}/init", ns, id);
  return fmt::format("v1/_runtime/exits/{}/{}/exec.{}", ns, id, exec_id);
}

std::string TaskExitsPrefix(std::string_view ns, std::string_view id) {
  return fmt::format("v1/_runtime/exits/{}/{}/", ns, id);
}

std::string BundleDir(std::string_view state, std::string_view ns, std::string_view id) {
  return fmt::format("{}/{}/{}", state, ns, id);
}

std::string NamespaceDir(std::string_view state, std::string_view ns) {
  return fmt::format("{}/{}", state, ns);
}

std::string SocketDir(std::string_view state) { return fmt::format("{}/{}", state, kSocketDir); }

std::string ShimSocket(std::string_view state, std::string_view ns, std::string_view id) {
  std::string bundle = BundleDir(state, ns, id);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bundle.data()), bundle.size(), digest);
  std::string hex;
  for (int i = 0; i < 16; ++i) hex += fmt::format("{:02x}", digest[i]);
  return fmt::format("{}/{}.sock", SocketDir(state), hex);
}

std::string RuncRoot(std::string_view state, std::string_view ns) {
  return fmt::format("{}/{}/{}", state, kRuncRootDir, ns);
}

std::string ExitFile(std::string_view bundle, std::string_view exec_id) {
  if (exec_id.empty()) return fmt::format("{}/init.exit", bundle);
  return fmt::format("{}/exec-{}.exit", bundle, exec_id);
}

}  // namespace berth::runtime::schema
