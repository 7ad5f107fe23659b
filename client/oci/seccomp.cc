#include "client/oci/seccomp.h"

#include <sched.h>

#include <cerrno>
#include <cstdint>
#include <utility>

namespace berth::oci {
namespace {

using json = nlohmann::json;

// Allowed for every container, whatever its capabilities (names of every architecture; the
// runtime ignores those its architecture lacks).
const char* const kAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socket",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // containerd adds ptrace on kernels >= 4.8, where seccomp can no longer be bypassed
    // through it.
    "ptrace",
};

// personality(2) values allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and
// the query 0xffffffff.
const uint64_t kPersonalities[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffff};

// Syscalls a capability in the bounding set allows.
struct CapSyscalls {
  const char* cap;
  std::vector<std::string> names;
};

const std::vector<CapSyscalls>& CapabilitySyscalls() {
  static const auto* table = new std::vector<CapSyscalls>{
      {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
      {"CAP_SYS_ADMIN",
       {"bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "name_to_handle_at",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_CHROOT", {"chroot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE",
       {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
        "ptrace"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYSLOG", {"syslog"}},
      {"CAP_BPF", {"bpf"}},
      {"CAP_PERFMON", {"perf_event_open"}},
  };
  return *table;
}

// Syscalls of this architecture only.
std::vector<std::string> ArchSyscalls() {
#if defined(__x86_64__)
  return {"arch_prctl", "modify_ldt"};
#elif defined(__i386__)
  return {"modify_ldt"};
#elif defined(__aarch64__) || defined(__arm__)
  return {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
          "breakpoint",       "cacheflush",          "set_tls"};
#else
  return {};
#endif
}

json Allow(std::vector<std::string> names) {
  return json{{"names", std::move(names)}, {"action", "SCMP_ACT_ALLOW"}};
}

}  // namespace

std::vector<std::string> SeccompArchitectures() {
#if defined(__x86_64__)
  return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  return {"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"};
#else
  return {};
#endif
}

json DefaultSeccompProfile(const std::vector<std::string>& bounding) {
  json syscalls = json::array();
  syscalls.push_back(Allow(std::vector<std::string>(std::begin(kAllowed), std::end(kAllowed))));
  for (uint64_t value : kPersonalities) {
    json rule = Allow({"personality"});
    rule["args"] = json::array({{{"index", 0}, {"value", value}, {"op", "SCMP_CMP_EQ"}}});
    syscalls.push_back(std::move(rule));
  }
  if (std::vector<std::string> arch = ArchSyscalls(); !arch.empty()) {
    syscalls.push_back(Allow(std::move(arch)));
  }

  bool admin = false;
  for (const std::string& cap : bounding) {
    for (const CapSyscalls& entry : CapabilitySyscalls()) {
      if (cap != entry.cap) continue;
      syscalls.push_back(Allow(entry.names));
      if (cap == "CAP_SYS_ADMIN") admin = true;
    }
  }
  if (!admin) {
    // clone without namespace flags: flags are argument 0 (1 on s390).
    constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                         CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
#if defined(__s390__) || defined(__s390x__)
    constexpr int kFlagsArg = 1;
#else
    constexpr int kFlagsArg = 0;
#endif
    json clone = Allow({"clone"});
    clone["args"] = json::array({{{"index", kFlagsArg},
                                  {"value", kNamespaceFlags},
                                  {"valueTwo", 0},
                                  {"op", "SCMP_CMP_MASKED_EQ"}}});
    syscalls.push_back(std::move(clone));
    // clone3's flags live in a struct seccomp cannot look into: ENOSYS makes libcs fall back
    // to clone, which the rule above checks.
    syscalls.push_back(
        json{{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  }

  return json{{"defaultAction", "SCMP_ACT_ERRNO"},
              {"architectures", SeccompArchitectures()},
              {"syscalls", std::move(syscalls)}};
}

absl::Status WithDefaultSeccomp(const SpecContext& /*ctx*/, Spec* spec) {
  if (!spec->is_object()) *spec = Spec::object();
  std::vector<std::string> bounding;
  const auto process = spec->find("process");
  if (process != spec->end() && process->is_object()) {
    const auto caps = process->find("capabilities");
    if (caps != process->end() && caps->is_object()) {
      const auto b = caps->find("bounding");
      if (b != caps->end() && !b->is_null()) {
        if (!b->is_array()) {
          return absl::InvalidArgumentError(
              "with default seccomp: process.capabilities.bounding is not a list");
        }
        for (const auto& cap : *b) {
          if (!cap.is_string()) {
            return absl::InvalidArgumentError(
                "with default seccomp: process.capabilities.bounding holds a non-string");
          }
          bounding.push_back(cap.get<std::string>());
        }
      }
    }
  }
  json& lx = (*spec)["linux"];
  if (!lx.is_object()) lx = json::object();
  lx["seccomp"] = DefaultSeccompProfile(bounding);
  return absl::OkStatus();
}

absl::Status WithoutSeccomp(const SpecContext& /*ctx*/, Spec* spec) {
  if (spec->is_object()) {
    auto lx = spec->find("linux");
    if (lx != spec->end() && lx->is_object()) lx->erase("seccomp");
  }
  return absl::OkStatus();
}

}  // namespace berth::oci
