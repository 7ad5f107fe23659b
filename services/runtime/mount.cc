#include "services/runtime/mount.h"

#include <algorithm>

#include "fmt/format.h"
#include "lib/mount/mount.h"
#include "lib/status/status.h"

namespace berth::runtime {

absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts,
                      const std::string& target) {
  std::vector<mount::Mount> converted;
  for (size_t i = 0; i < mounts.size(); ++i) {
    const containerd::types::Mount& m = mounts[i];
    const bool bind = m.type() == "bind" || m.type() == "rbind" ||
                      std::any_of(m.options().begin(), m.options().end(), [](const auto& o) {
                        return o == "bind" || o == "rbind";
                      });
    if (m.source().empty() || (!bind && m.type().empty())) {
      return InvalidArgumentError(
          fmt::format("mount rootfs {:?}: mount {} needs a type and a source", target, i));
    }
    converted.push_back(mount::Mount{m.type(), m.source(), m.target(),
                                     {m.options().begin(), m.options().end()}});
  }
  return mount::MountAll(converted, target);
}

absl::Status UnmountAll(const std::string& target) {
  if (mount::UnmountAll(target, /*detach=*/false).ok()) return absl::OkStatus();
  // Busy (something still has it open): detach it lazily, as the last resort.
  return mount::UnmountAll(target, /*detach=*/true);
}

bool IsMountPoint(const std::string& path) { return mount::IsMountPoint(path); }

}  // namespace berth::runtime
