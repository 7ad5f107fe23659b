// berth push (and berth images push) — the server-side push — and berth images export (an
// OCI image-layout tar written on the client, as ctr images export).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "lib/status/status.h"

namespace berth::cli {
namespace {

struct PushFlags {
  std::vector<std::string> args;
  std::string target;
  std::vector<std::string> platforms;
  bool plain_http = false;
  std::vector<std::string> hosts_dirs;
  std::string user;
  int64_t chunk_size = 0;
  bool quiet = false;
};

int Push(Env& env, const PushFlags& f) {
  if (f.args.size() != 1) return Usage("push: want one image name");
  std::vector<PushOpt> opts;
  if (!f.target.empty()) opts.push_back(WithPushTarget(f.target));
  for (const std::string& p : f.platforms) opts.push_back(WithPushPlatform(p));
  if (f.plain_http) opts.push_back(WithPushPlainHTTP);
  for (const std::string& d : f.hosts_dirs) opts.push_back(WithPushHostsDir(d));
  if (!f.user.empty()) {
    size_t colon = f.user.find(':');
    opts.push_back(WithPushCredentials(f.user.substr(0, colon),
                                       colon == std::string::npos ? "" : f.user.substr(colon + 1)));
  }
  if (f.chunk_size > 0) opts.push_back(WithPushChunkSize(f.chunk_size));
  const bool quiet = f.quiet;
  // One parseable line per finished step: `<uploaded|exists|mounted> <role> <digest> ...`.
  opts.push_back(WithPushProgress([quiet](const PushProgress& p) {
    if (quiet || p.kind == PushProgress::Kind::kPushing || p.kind == PushProgress::Kind::kDone) {
      return;
    }
    std::printf("%s %s %s size=%lld", PushProgressKindName(p.kind), p.role.c_str(),
                p.digest.c_str(), static_cast<long long>(p.size));
    if (!p.mounted_from.empty()) std::printf(" from=%s", p.mounted_from.c_str());
    std::printf("\n");
    std::fflush(stdout);
  }));
  absl::StatusOr<std::string> root = env.client().Push(f.args[0], opts);
  if (!root.ok()) return Fail(root.status());
  const std::string& target = f.target.empty() ? f.args[0] : f.target;
  if (f.quiet) {
    std::printf("%s\n", root->c_str());
  } else {
    std::printf("pushed %s digest=%s\n", target.c_str(), root->c_str());
  }
  return 0;
}

void AddPush(CLI::App* parent, Env& env) {
  auto f = std::make_shared<PushFlags>();
  CLI::App* push = parent->add_subcommand(
      "push",
      "push an image to a registry from the server: NAME [--to TARGET]. One line per blob: "
      "`<uploaded|exists|mounted> <role> <digest> size=N [from=REPO]`, last "
      "`pushed <target> digest=<root>`");
  push->add_option("name", f->args, "image name")->required();
  push->add_option("--to", f->target, "target reference (default: the image name)");
  push->add_option("--platform", f->platforms, "push only this platform of an index")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  push->add_flag("--plain-http", f->plain_http, "talk to the registry over plain HTTP");
  push->add_option("--hosts-dir", f->hosts_dirs, "hosts.toml directory on the server")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  push->add_option("-u,--user", f->user, "registry credentials USER[:PASSWORD]");
  push->add_option("--chunk-size", f->chunk_size, "upload blobs in chunks of N bytes");
  push->add_flag("-q,--quiet", f->quiet, "print only the pushed digest");
  push->callback([&env, f] { env.exit_code = Push(env, *f); });
}

struct ExportFlags {
  std::vector<std::string> args;
  std::vector<std::string> platforms;
  bool skip_manifest_json = false;
  bool quiet = false;
};

// Export progress as pull's: per blob `<copying|done> role=R digest=D path=P offset=N
// total=M`, then `total blobs=N bytes=M`; on stderr when the archive goes to stdout.
int Export(Env& env, const ExportFlags& f) {
  if (f.args.size() < 2) return Usage("images export: want OUT.tar (or -) and image names");
  const bool to_stdout = f.args[0] == "-";
  std::FILE* out = to_stdout ? stderr : stdout;
  ProgressPrinter printer(out, isatty(fileno(out)) != 0, f.quiet);
  ExportOptions options;
  options.platforms = f.platforms;
  options.skip_docker_manifest = f.skip_manifest_json;
  options.progress = [&printer](const ArchiveProgress& p) { PrintArchiveProgress(printer, p); };
  const std::vector<std::string> names(f.args.begin() + 1, f.args.end());
  if (to_stdout) {
    absl::Status s = env.client().Export(1, names, options);
    if (!s.ok()) return Fail(s);
    printer.Summary();
    return 0;
  }
  // Written beside the target and renamed: a failed export leaves no half archive.
  const std::string tmp = f.args[0] + ".partial";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrnoToStatus("open", tmp, errno));
  absl::Status s = env.client().Export(fd, names, options);
  if (s.ok() && fsync(fd) != 0) s = ErrnoToStatus("fsync", tmp, errno);
  if (close(fd) != 0 && s.ok()) s = ErrnoToStatus("close", tmp, errno);
  if (s.ok() && rename(tmp.c_str(), f.args[0].c_str()) != 0) {
    s = ErrnoToStatus("rename", f.args[0], errno);
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    return Fail(s);
  }
  printer.Summary();
  return 0;
}

}  // namespace

void AddPushCommands(CLI::App& app, Env& env) {
  AddPush(&app, env);
  CLI::App* images = app.get_subcommand("images");
  AddPush(images, env);
  auto f = std::make_shared<ExportFlags>();
  CLI::App* exp = images->add_subcommand(
      "export",
      "write images as an OCI image-layout tar with Docker's manifest.json: OUT.tar|- NAME... "
      "Progress (on stderr when the "
      "archive goes to stdout): bars on a terminal, else one line per step: `<copying|done> "
      "role=R digest=D path=P offset=N total=M`, last `total blobs=N bytes=M`");
  exp->add_option("args", f->args, "archive, then image names")->required()->expected(2, -1);
  exp->add_option("--platform", f->platforms, "export only this platform of an index")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  exp->add_flag("--skip-manifest-json", f->skip_manifest_json,
                "leave out manifest.json, Docker's index of the archive (as ctr's flag)");
  exp->add_flag("-q,--quiet", f->quiet, "no progress: print only errors");
  exp->callback([&env, f] { env.exit_code = Export(env, *f); });
}

}  // namespace berth::cli
