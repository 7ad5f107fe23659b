#include "tests/conformance/suite.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/testing/child_process.h"

namespace berth::conformance {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Single-quotes a word for sh.
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

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Suite::Suite() {
  berth_up_ = Env("BERTH_SOURCE_DIR", BERTH_SOURCE_DIR_FALLBACK) + "/deploy/berth-up";
}

Suite::~Suite() {
  if (started_) (void)Stop();
}

CtrResult Suite::Run(const std::vector<std::string>& argv, const std::string& stdout_path,
                     const std::vector<std::string>& extra_env) {
  CtrResult result;
  const int n = runs_++;
  testing::ChildProcessOptions options;
  options.argv = argv;
  options.stdout_path = stdout_path.empty() ? dir_.Path(fmt::format(".run{}.out", n)) : stdout_path;
  options.stderr_path = dir_.Path(fmt::format(".run{}.err", n));
  if (!extra_env.empty()) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    options.env = std::move(env);
  }
  absl::StatusOr<testing::ChildProcess> child = testing::ChildProcess::Start(options);
  if (!child.ok()) {
    result.err = child.status().ToString();
    return result;
  }
  absl::StatusOr<int> status = child->Wait(std::chrono::seconds(120));
  if (stdout_path.empty()) result.out = child->ReadStdout();
  result.err = child->ReadStderr();
  if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  if (!status.ok()) result.err += "\n" + status.status().ToString();
  unlink(options.stderr_path.c_str());
  if (stdout_path.empty()) unlink(options.stdout_path.c_str());
  return result;
}

CtrResult Suite::BerthUp(const std::string& command) {
  return Run({berth_up_, command, dir_.path()}, "", env_);
}

absl::Status Suite::Start() {
  if (!started_) {
    // The crash watcher: detached (own session, so neither our death signal nor a process
    // group kill reaches it), it waits for this process to end and then stops the suite —
    // unless the root is already gone (a normal end: the destructor stopped it and the
    // TempDir removed it).
    const std::string script = fmt::format(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; "
        "[ -d {root}/run ] && exec {up} stop {root}",
        fmt::arg("pid", getpid()), fmt::arg("root", ShellQuote(dir_.path())),
        fmt::arg("up", ShellQuote(berth_up_)));
    CtrResult w = Run(
        {"sh", "-c", "setsid sh -c " + ShellQuote(script) + " </dev/null >/dev/null 2>&1 &"}, "");
    if (w.exit_code != 0) return absl::InternalError("cannot start the crash watcher: " + w.err);
  }
  started_ = true;
  CtrResult r = BerthUp("start");
  if (r.exit_code != 0) {
    return absl::InternalError(fmt::format("berth-up start {} failed (exit {}):\n{}\n{}",
                                           dir_.path(), r.exit_code, r.out, r.err));
  }
  return absl::OkStatus();
}

absl::Status Suite::Stop() {
  CtrResult r = BerthUp("stop");
  if (r.exit_code != 0) {
    return absl::InternalError(fmt::format("berth-up stop {} failed (exit {}):\n{}\n{}",
                                           dir_.path(), r.exit_code, r.out, r.err));
  }
  started_ = false;
  return absl::OkStatus();
}

CtrResult Suite::Status() { return BerthUp("status"); }

int Suite::Pid(const std::string& name) const {
  const std::string text = ReadFile(dir_.Path("run/" + name + ".pid"));
  if (text.empty()) return -1;
  return std::atoi(text.c_str());
}

CtrResult Suite::Ctr(const std::vector<std::string>& args, const std::string& ns,
                     const std::string& stdin_path) {
  std::vector<std::string> argv = {"ctr", "-a", socket()};
  if (!ns.empty()) {
    argv.push_back("-n");
    argv.push_back(ns);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  if (stdin_path.empty()) return Run(argv, "");
  // ChildProcess gives children /dev/null as stdin: let sh redirect it.
  std::string command = "exec";
  for (const std::string& a : argv) command += " " + ShellQuote(a);
  command += " <" + ShellQuote(stdin_path);
  return Run({"sh", "-c", command}, "");
}

CtrResult Suite::CtrToFile(const std::vector<std::string>& args, const std::string& ns,
                           const std::string& stdout_path) {
  std::vector<std::string> argv = {"ctr", "-a", socket()};
  if (!ns.empty()) {
    argv.push_back("-n");
    argv.push_back(ns);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, stdout_path);
}

}  // namespace berth::conformance
