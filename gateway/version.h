// berth's version and the git revision this build was made from, baked in at build time
// (CMake regenerates version_info.cc on every build when the revision changes; Bazel stamps
// it from STABLE_GIT_COMMIT when built with --stamp, else "unknown").
//
// Thread-safety: constants.
#ifndef BERTH_GATEWAY_VERSION_H_
#define BERTH_GATEWAY_VERSION_H_

namespace berth::gateway {

// "0.1.0" (the project version).
const char* BerthVersion();
// Full git commit id, with "-dirty" when the work tree had changes; "unknown" outside git.
const char* BerthRevision();

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_VERSION_H_
