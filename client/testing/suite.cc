#include "client/testing/suite.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/platforms/platforms.h"
#include "lib/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "nlohmann/json.hpp"

namespace berth::client_testing {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool Have(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

LocalSuite::LocalSuite() {
  berth_up_ = Env("BERTH_SOURCE_DIR", BERTH_SOURCE_DIR_FALLBACK) + "/deploy/berth-up";
  bin_ = Env("BERTH_BIN", std::string(BERTH_SOURCE_DIR_FALLBACK) + "/build/bin");
}

LocalSuite::~LocalSuite() {
  if (started_) (void)Stop();
}

RunResult LocalSuite::Run(const std::vector<std::string>& argv, const std::string& stdin_path,
                          const std::vector<std::string>& env) {
  RunResult result;
  const int n = runs_++;
  testing::ChildProcessOptions options;
  if (stdin_path.empty()) {
    options.argv = argv;
  } else {
    // ChildProcess gives children /dev/null as stdin: let sh redirect it.
    std::string command = "exec";
    for (const std::string& a : argv) command += " " + ShellQuote(a);
    command += " <" + ShellQuote(stdin_path);
    options.argv = {"sh", "-c", command};
  }
  options.stdout_path = dir_.Path(fmt::format(".run{}.out", n));
  options.stderr_path = dir_.Path(fmt::format(".run{}.err", n));
  std::vector<std::string> all;
  for (char** e = environ; *e != nullptr; ++e) all.emplace_back(*e);
  all.push_back("BERTH_BIN=" + bin_);
  all.insert(all.end(), env.begin(), env.end());
  options.env = std::move(all);
  absl::StatusOr<testing::ChildProcess> child = testing::ChildProcess::Start(options);
  if (!child.ok()) {
    result.err = child.status().ToString();
    return result;
  }
  absl::StatusOr<int> status = child->Wait(std::chrono::seconds(120));
  result.out = child->ReadStdout();
  result.err = child->ReadStderr();
  if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  if (!status.ok()) result.err += "\n" + status.status().ToString();
  unlink(options.stdout_path.c_str());
  unlink(options.stderr_path.c_str());
  return result;
}

absl::Status LocalSuite::Start() {
  if (!started_) {
    // The watcher touches a marker once it runs in its own session; we return only then, so
    // that the process-group kill that ends Run() cannot reach it.
    const std::string marker = dir_.Path(".watcher");
    const std::string script = fmt::format(
        "touch {marker}; while kill -0 {pid} 2>/dev/null; do sleep 1; done; "
        "[ -d {root}/run ] && BERTH_BIN={bin} exec {up} stop {root}",
        fmt::arg("marker", ShellQuote(marker)), fmt::arg("pid", getpid()),
        fmt::arg("root", ShellQuote(dir_.path())), fmt::arg("bin", ShellQuote(bin_)),
        fmt::arg("up", ShellQuote(berth_up_)));
    RunResult w =
        Run({"sh", "-c",
             "setsid sh -c " + ShellQuote(script) + " </dev/null >/dev/null 2>&1 & while [ ! -e " +
                 ShellQuote(marker) + " ]; do sleep 0.01; done"});
    if (w.exit_code != 0) return InternalError("cannot start the crash watcher: " + w.err);
  }
  started_ = true;
  RunResult r = Run({berth_up_, "start", dir_.path()});
  if (r.exit_code != 0) {
    return InternalError(fmt::format("berth-up start {} failed (exit {}):\n{}\n{}\n{}", dir_.path(),
                                     r.exit_code, r.out, r.err, Logs()));
  }
  return absl::OkStatus();
}

absl::Status LocalSuite::Stop() {
  RunResult r = Run({berth_up_, "stop", dir_.path()});
  if (r.exit_code != 0) {
    return InternalError(fmt::format("berth-up stop {} failed (exit {}):\n{}\n{}", dir_.path(),
                                     r.exit_code, r.out, r.err));
  }
  started_ = false;
  return absl::OkStatus();
}

std::string LocalSuite::Logs() const {
  std::string out;
  for (const char* name : {"gateway", "content", "snapshot", "image", "runtime", "nats"}) {
    std::string text = ReadFile(dir_.Path(std::string("log/") + name + ".log"));
    if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
    if (!text.empty()) out += fmt::format("--- {}.log:\n{}\n", name, text);
  }
  return out;
}

bool IsRoot() { return geteuid() == 0; }

std::string MissingBinaries() {
  if (!Have("runc")) return "runc is not installed (scripts/install-deps.sh)";
  if (!Have("nats-server") && access("/usr/sbin/nats-server", X_OK) != 0) {
    return "nats-server is not installed (scripts/install-deps.sh)";
  }
  if (access(testing::kBusyboxPath, X_OK) != 0) {
    return "busybox-static is not installed (scripts/install-deps.sh)";
  }
  return "";
}

std::vector<std::string> BusyboxApplets() {
  return {"sh", "echo", "true", "false", "sleep", "cat", "ls", "readlink", "id", "env", "pwd"};
}

absl::StatusOr<std::string> WriteBusyboxArchive(const std::string& path, const std::string& name) {
  using testing::TarEntry;
  ASSIGN_OR_RETURN(std::vector<TarEntry> entries, testing::BusyboxEntries());
  for (const std::string& applet : BusyboxApplets()) {
    bool present = false;
    for (const TarEntry& e : entries) present = present || e.path == "bin/" + applet;
    if (!present) entries.push_back(TarEntry::Symlink("bin/" + applet, "busybox"));
  }
  for (const char* d : {"proc", "dev", "sys", "tmp", "run"}) {
    entries.push_back(TarEntry::Directory(d));
  }
  ASSIGN_OR_RETURN(testing::Layer layer, testing::MakeLayer(entries, testing::MediaTypes::kOci));
  testing::ImageOptions options;
  platforms::Platform host = platforms::DefaultPlatform();
  options.architecture = host.architecture;
  options.variant = host.variant;
  ASSIGN_OR_RETURN(testing::OciImage image, testing::MakeImage({layer}, options));

  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", testing::kOciIndexType},
                          {"manifests",
                           {{{"mediaType", image.manifest.media_type},
                             {"digest", image.manifest.digest},
                             {"size", image.manifest.size},
                             {"annotations", {{"io.containerd.image.name", name}}}}}}};
  std::vector<TarEntry> archive = {
      TarEntry::File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"),
      TarEntry::File("index.json", index.dump()),
      TarEntry::Directory("blobs"),
      TarEntry::Directory("blobs/sha256"),
  };
  for (const testing::Blob* b : {&image.layers[0].blob, &image.config, &image.manifest}) {
    archive.push_back(TarEntry::File("blobs/sha256/" + b->digest.substr(7), b->data));
  }
  ASSIGN_OR_RETURN(std::string tar, testing::BuildTar(archive));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << tar;
  out.close();
  if (!out) return InternalError(fmt::format("write {:?} failed", path));
  return image.ChainIds().back();
}

absl::Status MakeBusyboxRootfs(const std::string& dir) {
  for (const char* d : {"", "/bin", "/etc", "/proc", "/dev", "/sys", "/tmp", "/run"}) {
    const std::string p = dir + d;
    if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoToStatus("mkdir", p, errno);
  }
  {
    std::ifstream in(testing::kBusyboxPath, std::ios::binary);
    std::ofstream out(dir + "/bin/busybox", std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
    if (!in || !out) return InternalError("copy busybox failed");
  }
  if (chmod((dir + "/bin/busybox").c_str(), 0755) != 0) {
    return ErrnoToStatus("chmod", dir + "/bin/busybox", errno);
  }
  for (const std::string& applet : BusyboxApplets()) {
    const std::string link = dir + "/bin/" + applet;
    if (symlink("busybox", link.c_str()) != 0 && errno != EEXIST) {
      return ErrnoToStatus("symlink", link, errno);
    }
  }
  std::ofstream(dir + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                        "app:x:1000:1000::/home/app:/bin/sh\n";
  std::ofstream(dir + "/etc/group") << "root:x:0:\napp:x:1000:\nextra:x:2000:app\n";
  return absl::OkStatus();
}

void RemoveNamespaceCgroups(const std::string& ns) {
  for (const char* c : {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                        "memory", "net_cls", "net_prio", "net_cls,net_prio", "cpu,cpuacct",
                        "perf_event", "pids", "rdma", "misc", "systemd", "unified"}) {
    rmdir(("/sys/fs/cgroup/" + std::string(c) + "/" + ns).c_str());
  }
  rmdir(("/sys/fs/cgroup/" + ns).c_str());
}

}  // namespace berth::client_testing
