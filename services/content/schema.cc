#include "services/content/schema.h"

#include <string>
#include <string_view>

#include "lib/digest/digest.h"

namespace berth::content::schema {
namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(part.data(), part.size());
  }
  return out;
}

}  // namespace

std::string IngestId(std::string_view ns, std::string_view ref) {
  digest::Sha256 h;
  h.Update(ns);
  h.Update("/", 1);
  h.Update(ref);
  return std::string(h.Finish().hex());
}

std::string BlobKey(std::string_view ns, const digest::Digest& d) {
  return Join({kSchemaVersion, ns, "content", "blob", d.ToString()});
}
std::string BlobPrefix(std::string_view ns) {
  return Join({kSchemaVersion, ns, "content", "blob", ""});
}
std::string NamespacePrefix(std::string_view ns) { return Join({kSchemaVersion, ns, ""}); }
std::string LeaseContentKey(std::string_view ns, std::string_view lease, const digest::Digest& d) {
  return Join({kSchemaVersion, ns, "content", "lease", lease, "content", d.ToString()});
}
std::string LeaseIngestKey(std::string_view ns, std::string_view lease, std::string_view id) {
  return Join({kSchemaVersion, ns, "content", "lease", lease, "ingests", id});
}
std::string LeasePrefix(std::string_view ns, std::string_view lease) {
  return Join({kSchemaVersion, ns, "content", "lease", lease, ""});
}
std::string LeasesPrefix(std::string_view ns) {
  return Join({kSchemaVersion, ns, "content", "lease", ""});
}
std::string HolderKey(const digest::Digest& d, std::string_view ns) {
  return Join({kSchemaVersion, "_content", "holders", d.ToString(), ns});
}
std::string HoldersPrefix(const digest::Digest& d) {
  return Join({kSchemaVersion, "_content", "holders", d.ToString(), ""});
}
std::string AllHoldersPrefix() { return Join({kSchemaVersion, "_content", "holders", ""}); }
std::string IngestKey(std::string_view id) {
  return Join({kSchemaVersion, "_content", "ingest", id});
}
std::string AllIngestsPrefix() { return Join({kSchemaVersion, "_content", "ingest", ""}); }

}  // namespace berth::content::schema
