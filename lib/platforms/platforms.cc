#include "lib/platforms/platforms.h"

#include <sys/utsname.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace berth::platforms {
namespace {

constexpr std::string_view kHostOs = "linux";
constexpr std::size_t kMaxQuoted = 100;

// Quotes input for an error message: escaped, cut after kMaxQuoted bytes with "...".
std::string QuoteForMessage(std::string_view s) {
  std::string out = "\"";
  std::string_view shown = s.substr(0, kMaxQuoted);
  for (char c : shown) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (shown.size() < s.size()) out += "...";
  out += '"';
  return out;
}

absl::Status Invalid(std::string_view specifier, std::string_view reason) {
  return absl::InvalidArgumentError(
      fmt::format("{}: invalid platform specifier: {}", QuoteForMessage(specifier), reason));
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// ^[A-Za-z0-9_.-]+$
bool ValidComponent(std::string_view c) {
  return !c.empty() && std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
  });
}

// Go's syslist (GOOS values).
bool IsKnownOs(std::string_view os) {
  static constexpr std::string_view kKnown[] = {
      "aix",   "android", "darwin", "dragonfly", "freebsd", "hurd",    "illumos", "ios",     "js",
      "linux", "nacl",    "netbsd", "openbsd",   "plan9",   "solaris", "wasip1",  "windows", "zos"};
  return std::find(std::begin(kKnown), std::end(kKnown), os) != std::end(kKnown);
}

// Go's syslist (GOARCH values).
bool IsKnownArch(std::string_view arch) {
  static constexpr std::string_view kKnown[] = {
      "386",     "amd64",  "amd64p32", "arm",      "armbe",     "arm64",       "arm64be", "loong64",
      "mips",    "mipsle", "mips64",   "mips64le", "mips64p32", "mips64p32le", "ppc",     "ppc64",
      "ppc64le", "riscv",  "riscv64",  "s390",     "s390x",     "sparc",       "sparc64", "wasm"};
  return std::find(std::begin(kKnown), std::end(kKnown), arch) != std::end(kKnown);
}

std::string NormalizeOs(std::string_view os) {
  if (os.empty()) return std::string(kHostOs);
  std::string out = ToLower(os);
  if (out == "macos") out = "darwin";
  return out;
}

// containerd's normalizeArch: returns {architecture, variant}.
std::pair<std::string, std::string> NormalizeArch(std::string_view arch_in,
                                                  std::string_view variant_in) {
  std::string arch = ToLower(arch_in);
  std::string variant = ToLower(variant_in);
  if (arch == "i386") {
    arch = "386";
    variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant == "8" || variant == "v8") variant.clear();
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch == "arm") {
    if (variant.empty() || variant == "7") {
      variant = "v7";
    } else if (variant == "5" || variant == "6" || variant == "8") {
      variant = "v" + variant;
    }
  }
  return {arch, variant};
}

// "v7" -> 7; nullopt unless the text after an optional "v" is one or two digits. Real
// variants are single digits (arm v5-v8, amd64 v1-v4, arm64 v8.x/v9.x); PlatformVector lists
// every version below the given one, so a longer number ("arm/v999999", found by fuzzing)
// would make each matcher a million entries long and every Match scan them all.
std::optional<int> VersionNumber(std::string_view variant) {
  if (StartsWith(variant, "v")) variant.remove_prefix(1);
  if (variant.empty() || variant.size() > 2) return std::nullopt;
  int n = 0;
  for (char c : variant) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// containerd's platformVector without the fallbacks berth leaves out (amd64 -> 386,
// arm64 -> 32-bit arm): the platform and what it can also run, best first.
std::vector<Platform> PlatformVector(const Platform& p) {
  std::vector<Platform> vector = {p};
  auto with_variant = [&](std::string variant) {
    Platform q = p;
    q.variant = std::move(variant);
    return q;
  };
  if (p.architecture == "arm") {
    if (std::optional<int> v = VersionNumber(p.variant); v && *v > 5) {
      for (int n = *v - 1; n >= 5; --n) vector.push_back(with_variant(fmt::format("v{}", n)));
    }
  } else if (p.architecture == "amd64") {
    if (std::optional<int> v = VersionNumber(p.variant); v && *v > 1) {
      for (int n = *v - 1; n >= 2; --n) vector.push_back(with_variant(fmt::format("v{}", n)));
      vector.push_back(with_variant(""));
    }
  } else if (p.architecture == "arm64") {
    const std::string variant = p.variant.empty() ? "v8" : p.variant;
    const std::size_t dot = variant.find('.');
    const std::optional<int> major = VersionNumber(std::string_view(variant).substr(0, dot));
    if (major && *major >= 8) {
      int arm_major = *major;
      int arm_minor = 0;
      if (dot != std::string::npos && variant.size() == 4) {
        if (std::optional<int> minor = VersionNumber(std::string_view(variant).substr(dot + 1))) {
          arm_minor = *minor;
        }
      }
      auto name = [](int maj, int min) {
        return min == 0 ? fmt::format("v{}", maj) : fmt::format("v{}.{}", maj, min);
      };
      if (arm_major == 9) {
        for (int minor = arm_minor - 1; minor >= 0; --minor) {
          vector.push_back(with_variant(name(9, minor)));
        }
        // v9.0 diverged from v8.5: v9.x runs what v8.(x+5) runs, up to v8.9.
        arm_minor = std::min(arm_minor + 5, 9);
        arm_major = 8;
        vector.push_back(with_variant(fmt::format("v8.{}", arm_minor)));
      }
      for (int minor = arm_minor - 1; minor >= 0; --minor) {
        vector.push_back(with_variant(name(arm_major, minor)));
      }
    }
  }
  return vector;
}

}  // namespace

absl::StatusOr<Platform> Parse(std::string_view specifier) {
  if (specifier.find('*') != std::string_view::npos) {
    return Invalid(specifier, "wildcards are not supported");
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = specifier.find('/', start);
    parts.push_back(specifier.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (std::string_view part : parts) {
    if (!ValidComponent(part)) {
      return Invalid(specifier, fmt::format("component {} must match ^[A-Za-z0-9_.-]+$",
                                            QuoteForMessage(part)));
    }
  }
  if (parts.size() > 3) {
    return Invalid(specifier, "too many components (at most os/architecture/variant)");
  }

  Platform p;
  if (parts.size() == 1) {
    // An os if we know it as one, else an architecture.
    p.os = NormalizeOs(parts[0]);
    if (IsKnownOs(p.os)) {
      const Platform host = DefaultPlatform();
      p.architecture = host.architecture;
      if (host.architecture == "arm" && host.variant != "v7") p.variant = host.variant;
      return p;
    }
    std::tie(p.architecture, p.variant) = NormalizeArch(parts[0], "");
    if (p.architecture == "arm" && p.variant == "v7") p.variant.clear();
    if (!IsKnownArch(p.architecture)) {
      return Invalid(specifier, "unknown operating system or architecture");
    }
    p.os = std::string(kHostOs);
    return p;
  }

  p.os = NormalizeOs(parts[0]);
  if (!IsKnownOs(p.os)) {
    return Invalid(specifier,
                   fmt::format("unknown operating system {}", QuoteForMessage(parts[0])));
  }
  if (parts.size() == 2) {
    std::tie(p.architecture, p.variant) = NormalizeArch(parts[1], "");
    if (p.architecture == "arm" && p.variant == "v7") p.variant.clear();
    return p;
  }
  std::tie(p.architecture, p.variant) = NormalizeArch(parts[1], parts[2]);
  if (p.architecture == "arm64" && p.variant.empty()) p.variant = "v8";
  return p;
}

std::string Format(const Platform& platform) {
  if (platform.os.empty()) return "unknown";
  std::string out = platform.os;
  for (const std::string* part : {&platform.architecture, &platform.variant}) {
    if (!part->empty()) out += "/" + *part;
  }
  return out;
}

Platform Normalize(const Platform& platform) {
  Platform out;
  out.os = NormalizeOs(platform.os);
  std::tie(out.architecture, out.variant) = NormalizeArch(platform.architecture, platform.variant);
  return out;
}

Platform FromUnameMachine(std::string_view machine_in) {
  const std::string machine = ToLower(machine_in);
  Platform p;
  p.os = std::string(kHostOs);
  if (machine == "x86_64" || machine == "amd64") {
    p.architecture = "amd64";
  } else if (machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686") {
    p.architecture = "386";
  } else if (machine == "aarch64" || machine == "arm64" || machine == "armv8b") {
    p.architecture = "arm64";
  } else if (machine == "aarch64_be") {
    p.architecture = "arm64be";
  } else if (StartsWith(machine, "armv")) {
    // armv5tel, armv6l, armv7l, armv8l (a 32-bit kernel or personality on a v8 CPU).
    p.architecture = "arm";
    std::size_t i = 4;
    while (i < machine.size() && machine[i] >= '0' && machine[i] <= '9') ++i;
    p.variant = i > 4 ? "v" + machine.substr(4, i - 4) : "v7";
  } else if (machine == "arm") {
    p.architecture = "arm";
  } else if (machine == "loongarch64") {
    p.architecture = "loong64";
  } else if (machine == "mips64") {
    p.architecture = "mips64";  // Endianness is not in the machine name; big is the default.
  } else {
    p.architecture = machine;  // ppc64le, ppc64, s390x, riscv64, ...
  }
  return Normalize(p);
}

Platform DefaultPlatform() {
  struct utsname u;
  if (uname(&u) == 0) return FromUnameMachine(u.machine);
    // uname(2) does not fail on Linux; fall back to what this binary was built for.
#if defined(__x86_64__)
  return FromUnameMachine("x86_64");
#elif defined(__aarch64__)
  return FromUnameMachine("aarch64");
#elif defined(__arm__)
  return FromUnameMachine("armv7l");
#elif defined(__i386__)
  return FromUnameMachine("i686");
#else
  return FromUnameMachine("unknown");
#endif
}

bool Matcher::Match(const Platform& platform) const {
  if (all_) return true;
  const Platform normalized = Normalize(platform);
  return std::find(ordered_.begin(), ordered_.end(), normalized) != ordered_.end();
}

bool Matcher::Less(const Platform& a, const Platform& b) const {
  if (all_) return false;
  const Platform na = Normalize(a);
  const Platform nb = Normalize(b);
  for (const Platform& p : ordered_) {
    const bool am = p == na;
    const bool bm = p == nb;
    if (am && !bm) return true;
    if (am || bm) return false;
  }
  return false;
}

Matcher Only(const Platform& platform) { return Ordered(PlatformVector(Normalize(platform))); }

Matcher Ordered(const std::vector<Platform>& platforms) {
  Matcher m;
  for (const Platform& p : platforms) {
    Platform normalized = Normalize(p);
    if (std::find(m.ordered_.begin(), m.ordered_.end(), normalized) == m.ordered_.end()) {
      m.ordered_.push_back(std::move(normalized));
    }
  }
  return m;
}

Matcher All() {
  Matcher m;
  m.all_ = true;
  return m;
}

Matcher Default() { return Only(DefaultPlatform()); }

}  // namespace berth::platforms
