// containerd's default seccomp profile as a runtime-spec `linux.seccomp` object, and the spec
// option that installs it (containerd's contrib/seccomp DefaultProfile / WithDefaultProfile).
//
// The profile denies every syscall (SCMP_ACT_ERRNO, so EPERM) except an allow-list of the
// ordinary ones; `personality` only with the values 0, 0x8, 0x20000, 0x20008 and 0xffffffff;
// per architecture a few more (arch_prctl and modify_ldt on amd64; arm_fadvise64_64,
// sync_file_range2, breakpoint, cacheflush, set_tls on arm64); and syscalls that need a
// capability only when the spec's bounding set has it (CAP_SYS_ADMIN: mount, unshare, setns,
// clone with any flags, clone3, bpf...; CAP_SYS_PTRACE: ptrace friends; CAP_SYS_TIME,
// CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_CHROOT, CAP_SYS_PACCT, CAP_SYS_RAWIO,
// CAP_SYS_TTY_CONFIG, CAP_DAC_READ_SEARCH, CAP_SYSLOG, CAP_BPF, CAP_PERFMON). Without
// CAP_SYS_ADMIN, clone is allowed only without the namespace flags (CLONE_NEWNS, NEWUTS,
// NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP) and clone3 fails with ENOSYS so that libcs fall
// back to clone. Architectures: x86_64, x86, x32 on amd64; arm, aarch64 on arm64 (none on
// others: the runtime's native architecture only). ptrace is allowed as containerd does on
// kernels >= 4.8 (berth does not run on older ones).
//
// Thread-safety: pure functions.
#ifndef BERTH_CLIENT_OCI_SECCOMP_H_
#define BERTH_CLIENT_OCI_SECCOMP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/oci/spec.h"

namespace berth::oci {

// The seccomp architectures of the profile on the machine berth was built for.
std::vector<std::string> SeccompArchitectures();

// The default profile (the `linux.seccomp` object) for a container whose bounding
// capabilities are `bounding`.
nlohmann::json DefaultSeccompProfile(const std::vector<std::string>& bounding);

// Sets linux.seccomp to the default profile for the spec's process.capabilities.bounding
// (apply after the capability options: the profile follows the capabilities). A spec
// without a bounding set gets the profile for no capabilities. InvalidArgument when the
// bounding set is not a list of strings.
absl::Status WithDefaultSeccomp(const SpecContext& ctx, Spec* spec);

// Removes linux.seccomp (unconfined).
absl::Status WithoutSeccomp(const SpecContext& ctx, Spec* spec);

}  // namespace berth::oci

#endif  // BERTH_CLIENT_OCI_SECCOMP_H_
