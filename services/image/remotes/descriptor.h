// Descriptor: an OCI content descriptor as the registry client hands it around — what a
// reference resolves to, what an index or manifest points at, what a fetch or push is for.
//
// Thread-safety: a plain value type.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_DESCRIPTOR_H_
#define BERTH_SERVICES_IMAGE_REMOTES_DESCRIPTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/digest/digest.h"
#include "lib/platforms/platforms.h"

namespace berth::remotes {

struct Descriptor {
  // Media type of the referenced content, as the document or the registry declared it.
  std::string media_type;
  // Digest of the referenced bytes (always non-empty in a validated descriptor).
  digest::Digest digest;
  // Exact size in bytes (never negative in a validated descriptor).
  std::int64_t size = 0;
  // `urls` of the descriptor (foreign / non-distributable layers). berth never fetches from
  // them: sending a request, let alone credentials, to a host named by untrusted image data
  // is the CVE-2020-15157 bug class. Kept so that documents round-trip.
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  // Platform of an index entry (os, architecture, variant), when the index gave one.
  std::optional<platforms::Platform> platform;
  // `platform.os.version` and `platform.os.features` of an index entry (Windows images).
  std::string os_version;
  std::vector<std::string> os_features;
  // `artifactType` (OCI 1.1), when present.
  std::string artifact_type;
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_DESCRIPTOR_H_
