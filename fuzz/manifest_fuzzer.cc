// Fuzzes the parsing of what registries serve and berth stores: manifests, indexes and image
// configs (services/image/remotes/manifest.h, services/image/pull/labels.h ParseImageConfig).
// The first input byte picks the parser (low 2 bits) and the declared media type (the rest);
// the remaining bytes are the document. Every accepted document must satisfy the header's
// promises: its descriptors validate (media type, sha256 digest, non-negative size), an index
// and a manifest are never confused, and platform selection over an index works.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "lib/platforms/platforms.h"
#include "services/image/pull/labels.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"

namespace r = berth::remotes;

namespace {

constexpr std::string_view kDeclared[] = {
    "",
    r::kOciIndex,
    r::kOciManifest,
    r::kDockerManifestList,
    r::kDockerManifest,
    r::kOciConfig,
    r::kOciLayerGzip,
    r::kDockerSchema1Manifest,
};

void CheckDescriptor(const r::Descriptor& d, const std::string& what) {
  const absl::Status st = r::ValidateDescriptor(d, what);
  FUZZ_CHECK(st.ok(), "accepted document has an invalid descriptor: " + st.ToString());
  FUZZ_CHECK(d.digest.algorithm() == "sha256", what + ": digest " + d.digest.ToString());
}

void CheckIndex(const r::Index& index) {
  for (size_t i = 0; i < index.manifests.size(); ++i) {
    CheckDescriptor(index.manifests[i], "manifests[" + std::to_string(i) + "]");
  }
  if (index.subject) CheckDescriptor(*index.subject, "subject");
  static const berth::platforms::Matcher all = berth::platforms::All();
  const auto picked = r::SelectManifests(index, all, 0, true);
  FUZZ_CHECK(picked.size() <= index.manifests.size(), "SelectManifests invented entries");
  const auto one = r::SelectManifests(index, berth::platforms::Default(), 1, false);
  FUZZ_CHECK(one.size() <= 1, "SelectManifests ignored its limit");
}

void CheckManifest(const r::Manifest& m) {
  CheckDescriptor(m.config, "config");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    CheckDescriptor(m.layers[i], "layers[" + std::to_string(i) + "]");
  }
  if (m.subject) CheckDescriptor(*m.subject, "subject");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int which = data[0] & 3;
  const std::string_view declared = kDeclared[(data[0] >> 2) % std::size(kDeclared)];
  const std::string_view doc(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which) {
    case 0: {
      auto d = r::ParseDocument(doc, declared);
      if (!d.ok()) break;
      FUZZ_CHECK(!d->media_type.empty(), "document without a media type");
      if (d->kind == r::Document::Kind::kIndex) {
        CheckIndex(d->index);
        // What was accepted as an index must not parse as a manifest too.
        FUZZ_CHECK(!r::ParseManifest(doc, d->media_type).ok(),
                   "document is both an index and a manifest");
      } else {
        CheckManifest(d->manifest);
        FUZZ_CHECK(!r::ParseIndex(doc, d->media_type).ok(),
                   "document is both a manifest and an index");
      }
      break;
    }
    case 1: {
      auto index = r::ParseIndex(doc, declared);
      if (index.ok()) CheckIndex(*index);
      break;
    }
    case 2: {
      auto m = r::ParseManifest(doc, declared);
      if (m.ok()) CheckManifest(*m);
      break;
    }
    default: {
      auto config = berth::image::pull::ParseImageConfig(doc);
      if (config.ok()) {
        for (const auto& d : config->diff_ids) {
          FUZZ_CHECK(d.algorithm() == "sha256", "diff ID " + d.ToString());
        }
        (void)berth::image::pull::ChainIds(config->diff_ids);
      }
      break;
    }
  }
  return 0;
}
