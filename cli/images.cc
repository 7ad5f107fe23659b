// berth images (ls, rm, check, tag, import, pull) and berth pull. Pull and import progress go
// through ProgressPrinter (output.cc).
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "cli/cli.h"
#include "fmt/format.h"

namespace berth::cli {
namespace {

struct ImageFlags {
  bool quiet = false;
  std::string format;
  std::vector<std::string> args;
  bool sync = false;
  std::string platform;
  std::string snapshotter;
  std::string base_name;
  bool no_unpack = false;
  bool force = false;
  bool all_platforms = false;
  bool plain_http = false;
  std::vector<std::string> hosts_dirs;
  std::string user;
  std::vector<std::string> labels;
};

// The platforms an image offers: its index entries, or its config's os/architecture.
std::string Platforms(const Image& image) {
  Descriptor t = image.Target();
  std::set<std::string> out;
  if (t.media_type == kMediaTypeOCIIndex || t.media_type == kMediaTypeDockerManifestList) {
    absl::StatusOr<std::string> data = ReadBlob(image.client(), t.digest, 16 << 20);
    if (data.ok()) {
      nlohmann::json j = nlohmann::json::parse(*data, nullptr, false);
      if (j.is_object() && j.contains("manifests") && j["manifests"].is_array()) {
        for (const auto& m : j["manifests"]) {
          if (!m.contains("platform") || !m["platform"].is_object()) continue;
          std::string p =
              m["platform"].value("os", "") + "/" + m["platform"].value("architecture", "");
          std::string v = m["platform"].value("variant", "");
          out.insert(v.empty() ? p : p + "/" + v);
        }
      }
    }
  } else {
    absl::StatusOr<ImageSpec> spec = image.Spec();
    if (spec.ok()) out.insert(spec->os + "/" + spec->architecture);
  }
  std::string s;
  for (const std::string& p : out) s += (s.empty() ? "" : ",") + p;
  return s.empty() ? "-" : s;
}

int ImagesList(Env& env, const ImageFlags& f) {
  absl::StatusOr<std::vector<Image>> images = env.client().ListImages(f.args);
  if (!images.ok()) return Fail(images.status());
  Table table({"REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"});
  nlohmann::json out = nlohmann::json::array();
  for (const Image& image : *images) {
    if (f.quiet) {
      table.Row({image.Name()});
      continue;
    }
    absl::StatusOr<int64_t> size = image.Size();
    std::string labels = FormatLabels(image.GetLabels());
    table.Row({image.Name(), image.Target().media_type, image.Target().digest,
               size.ok() ? HumanSize(*size) : "-", Platforms(image),
               labels.empty() ? "-" : labels});
    out.push_back({{"name", image.Name()},
                   {"media_type", image.Target().media_type},
                   {"digest", image.Target().digest},
                   {"size", size.ok() ? *size : -1},
                   {"platforms", Platforms(image)},
                   {"labels", image.GetLabels()}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int ImagesCheck(Env& env, const ImageFlags& f) {
  absl::StatusOr<std::vector<Image>> images = env.client().ListImages(f.args);
  if (!images.ok()) return Fail(images.status());
  Table table({"REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"});
  nlohmann::json out = nlohmann::json::array();
  for (const Image& i : *images) {
    Image image = i.ForPlatform(f.platform);
    absl::StatusOr<ImageAvailability> a = image.Check(f.snapshotter);
    if (!a.ok()) return Fail(a.status());
    std::string status = a->complete ? "complete" : "incomplete";
    if (!a->missing.empty()) status += fmt::format(" ({} missing)", a->missing.size());
    table.Row({image.Name(), image.Target().media_type, image.Target().digest, status,
               HumanSize(a->present_bytes) + "/" + HumanSize(a->total_bytes),
               a->unpacked ? "true" : "false"});
    out.push_back({{"name", image.Name()},
                   {"complete", a->complete},
                   {"missing", a->missing},
                   {"present_bytes", a->present_bytes},
                   {"total_bytes", a->total_bytes},
                   {"unpacked", a->unpacked}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int ImagesRemove(Env& env, const ImageFlags& f) {
  for (size_t i = 0; i < f.args.size(); ++i) {
    const bool last = i + 1 == f.args.size();
    absl::Status s = env.client().Images().Delete(f.args[i], f.sync && last);
    if (IsNotFound(s)) {
      std::fprintf(stderr, "WARN: image %s: not found\n", f.args[i].c_str());
      continue;
    }
    if (!s.ok()) return Fail(s);
    std::printf("%s\n", f.args[i].c_str());
  }
  return 0;
}

int ImagesPull(Env& env, const ImageFlags& f) {
  if (f.args.size() != 1) return Usage("pull: want one image reference");
  std::vector<PullOpt> opts;
  if (!f.no_unpack) opts.push_back(WithPullUnpack);
  if (!f.platform.empty()) opts.push_back(WithPlatform(f.platform));
  if (f.all_platforms) opts.push_back(WithAllPlatforms);
  if (!f.snapshotter.empty()) opts.push_back(WithPullSnapshotter(f.snapshotter));
  if (f.plain_http) opts.push_back(WithPlainHTTP);
  for (const std::string& d : f.hosts_dirs) opts.push_back(WithHostsDir(d));
  if (!f.user.empty()) {
    size_t colon = f.user.find(':');
    opts.push_back(WithCredentials(f.user.substr(0, colon),
                                   colon == std::string::npos ? "" : f.user.substr(colon + 1)));
  }
  if (!f.labels.empty()) opts.push_back(WithPullLabels(ParseLabels(f.labels)));
  auto printer = std::make_shared<ProgressPrinter>(stdout, isatty(1) != 0, f.quiet);
  opts.push_back(
      WithPullProgress([printer](const PullProgress& p) { PrintPullProgress(*printer, p); }));
  absl::StatusOr<Image> image = env.client().Pull(f.args[0], opts);
  if (!image.ok()) return Fail(image.status());
  if (f.quiet) {
    std::printf("%s\n", image->Name().c_str());
  } else {
    std::printf("image %s digest=%s\n", image->Name().c_str(), image->Target().digest.c_str());
  }
  return 0;
}

// Import progress as pull's: `importing source=<file|stdin>`, per blob `<copying|done|exists>
// digest=D path=P offset=N total=M`, `total blobs=N bytes=M`, then per image `imported <name>
// digest=D` and `unpacked <name>`. Quiet: the image names only.
int ImagesImport(Env& env, const ImageFlags& f) {
  if (f.args.size() != 1) return Usage("images import: want one archive (or - for stdin)");
  int fd = 0;
  if (f.args[0] != "-") {
    fd = open(f.args[0].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail(ErrnoToStatus("open", f.args[0], errno));
  }
  const bool tty = isatty(1) != 0;
  ProgressPrinter printer(stdout, tty, f.quiet);
  ImportOptions options;
  options.base_name = f.base_name;
  options.platform = f.platform;
  options.snapshotter = f.snapshotter;
  options.progress = [&printer](const ArchiveProgress& p) { PrintArchiveProgress(printer, p); };
  printer.Note("importing", {{"source", f.args[0] == "-" ? "stdin" : f.args[0]}});
  absl::StatusOr<std::vector<Image>> images = env.client().Import(fd, options);
  if (fd != 0) close(fd);
  if (!images.ok()) return Fail(images.status());
  printer.Summary();
  for (const Image& image : *images) {
    if (f.quiet) {
      std::printf("%s\n", image.Name().c_str());
    } else {
      std::printf("imported %s digest=%s\n", image.Name().c_str(), image.Target().digest.c_str());
    }
    std::fflush(stdout);
    if (f.no_unpack) continue;
    if (!f.quiet && tty) {
      std::printf("unpacking %s...", image.Name().c_str());
      std::fflush(stdout);
    }
    absl::Status s = image.Unpack(f.snapshotter);
    if (!f.quiet && tty) std::printf(s.ok() ? "done\n" : "\n");
    if (!s.ok()) return Fail(s);
    if (!f.quiet && !tty) std::printf("unpacked %s\n", image.Name().c_str());
    std::fflush(stdout);
  }
  return 0;
}

int ImagesTag(Env& env, const ImageFlags& f) {
  if (f.args.size() < 2) return Usage("images tag: want SOURCE TARGET...");
  absl::StatusOr<ImageRecord> source = env.client().Images().Get(f.args[0]);
  if (!source.ok()) return Fail(source.status());
  for (size_t i = 1; i < f.args.size(); ++i) {
    ImageRecord target = *source;
    target.set_name(f.args[i]);
    target.clear_created_at();
    target.clear_updated_at();
    absl::StatusOr<ImageRecord> created = env.client().Images().Create(target);
    if (IsAlreadyExists(created.status()) && f.force) {
      created = env.client().Images().Update(target);
    }
    if (!created.ok()) return Fail(created.status());
    std::printf("%s\n", f.args[i].c_str());
  }
  return 0;
}

void AddPull(CLI::App* parent, Env& env) {
  auto f = std::make_shared<ImageFlags>();
  CLI::App* pull = parent->add_subcommand(
      "pull",
      "pull an image on the server: REF. Progress: bars on a terminal, else one line per step: "
      "`<resolving|downloading|verifying|done|exists|unpacking|unpacked> key=value...` and last "
      "`image <name> digest=<digest>`");
  pull->add_option("ref", f->args, "image reference")->required();
  pull->add_option("--platform", f->platform, "platform (default: the host's)");
  pull->add_flag("--all-platforms", f->all_platforms, "every platform of an index");
  pull->add_option("--snapshotter", f->snapshotter, "snapshotter to unpack into");
  pull->add_flag("--no-unpack", f->no_unpack, "do not unpack");
  pull->add_flag("--plain-http", f->plain_http, "talk to the registry over plain HTTP");
  pull->add_option("--hosts-dir", f->hosts_dirs, "hosts.toml directory on the server")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  pull->add_option("-u,--user", f->user, "registry credentials USER[:PASSWORD]");
  pull->add_option("--label", f->labels, "image label KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  pull->add_flag("-q,--quiet", f->quiet, "print only the image name");
  pull->callback([&env, f] { env.exit_code = ImagesPull(env, *f); });
}

}  // namespace

void AddContentFetchCommand(CLI::App* content, Env& env) {
  auto f = std::make_shared<ImageFlags>();
  f->no_unpack = true;
  CLI::App* fetch = content->add_subcommand(
      "fetch",
      "fetch an image's content into the content store without unpacking: REF (the server-side "
      "pull without unpack, so the image is recorded too). Output as `pull`");
  fetch->add_option("ref", f->args, "image reference")->required();
  fetch->add_option("--platform", f->platform, "platform (default: the host's)");
  fetch->add_flag("--all-platforms", f->all_platforms, "every platform of an index");
  fetch->add_flag("--plain-http", f->plain_http, "talk to the registry over plain HTTP");
  fetch->add_option("--hosts-dir", f->hosts_dirs, "hosts.toml directory on the server")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  fetch->add_option("-u,--user", f->user, "registry credentials USER[:PASSWORD]");
  fetch->add_option("--label", f->labels, "image label KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  fetch->add_flag("-q,--quiet", f->quiet, "print only the image name");
  fetch->callback([&env, f] { env.exit_code = ImagesPull(env, *f); });
}

void AddImageCommands(CLI::App& app, Env& env) {
  CLI::App* images = app.add_subcommand("images", "manage images")->alias("image");
  images->alias("i");
  images->require_subcommand(1);

  auto lf = std::make_shared<ImageFlags>();
  CLI::App* ls = images->add_subcommand("ls", "list images [FILTER...]")->alias("list");
  ls->add_flag("-q,--quiet", lf->quiet, "print only the names");
  ls->add_option("--format", lf->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  ls->add_option("filters", lf->args, "filters");
  ls->callback([&env, lf] { env.exit_code = ImagesList(env, *lf); });

  auto cf = std::make_shared<ImageFlags>();
  CLI::App* check = images->add_subcommand("check", "check that images are complete [FILTER...]");
  check->add_flag("-q,--quiet", cf->quiet, "print only the names");
  check->add_option("--format", cf->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  check->add_option("--platform", cf->platform, "platform (default: the host's)");
  check->add_option("--snapshotter", cf->snapshotter, "snapshotter (default: namespace's)");
  check->add_option("filters", cf->args, "filters");
  check->callback([&env, cf] { env.exit_code = ImagesCheck(env, *cf); });

  auto rf = std::make_shared<ImageFlags>();
  CLI::App* rm = images->add_subcommand("rm", "remove images: NAME...")->alias("delete");
  rm->alias("remove");
  rm->add_flag("--sync", rf->sync, "collect garbage before returning");
  rm->add_option("names", rf->args, "image names")->required();
  rm->callback([&env, rf] { env.exit_code = ImagesRemove(env, *rf); });

  auto tf = std::make_shared<ImageFlags>();
  CLI::App* tag = images->add_subcommand("tag", "name an image anew: SOURCE TARGET...");
  tag->add_flag("--force", tf->force, "replace an existing target");
  tag->add_option("names", tf->args, "source and targets")->required()->expected(2, -1);
  tag->callback([&env, tf] { env.exit_code = ImagesTag(env, *tf); });

  auto imf = std::make_shared<ImageFlags>();
  CLI::App* imp = images->add_subcommand(
      "import",
      "import an OCI or docker archive: FILE|-. Progress: bars on a terminal, else one line per "
      "step: `importing source=S`, `<copying|done|exists> digest=D path=P offset=N total=M`, "
      "`total blobs=N bytes=M`, then `imported <name> digest=D` (and `unpacked <name>`)");
  imp->add_option("file", imf->args, "archive (- for stdin)")->required();
  imp->add_option("--base-name", imf->base_name, "name prefix for tag-only index entries");
  imp->add_option("--platform", imf->platform, "platform to unpack (default: the host's)");
  imp->add_option("--snapshotter", imf->snapshotter, "snapshotter to unpack into");
  imp->add_flag("--no-unpack", imf->no_unpack, "do not unpack");
  imp->add_flag("-q,--quiet", imf->quiet, "no progress: print only the imported image names");
  imp->callback([&env, imf] { env.exit_code = ImagesImport(env, *imf); });

  AddPull(images, env);
  AddPull(&app, env);
}

}  // namespace berth::cli
