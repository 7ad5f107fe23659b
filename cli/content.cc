// berth content, berth snapshots.
#include <errno.h>
#include <unistd.h>

#include <functional>
#include <map>

#include "cli/cli.h"
#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "services/content/store.h"
#include "services/snapshot/mount.h"
#include "services/snapshot/snapshotter.h"

namespace berth::cli {
namespace {

std::string Now3339() { return FormatTime(std::chrono::system_clock::now()); }

struct ContentFlags {
  bool quiet = false;
  std::string format;
  std::vector<std::string> args;
  int64_t expected_size = 0;
  std::string expected_digest;
};

int ContentList(Env& env, const ContentFlags& f) {
  const Client& c = env.client();
  Table table({"DIGEST", "SIZE", "AGE", "LABELS"});
  nlohmann::json out = nlohmann::json::array();
  absl::Status s = c.ContentStore().Walk(c.Context(), f.args, [&](const content::Info& info) {
    table.Row({info.digest.ToString(), HumanSize(info.size), HumanAge(info.created_at),
               FormatLabels(info.labels)});
    out.push_back({{"digest", info.digest.ToString()},
                   {"size", info.size},
                   {"created_at", FormatTime(info.created_at)},
                   {"updated_at", FormatTime(info.updated_at)},
                   {"labels", info.labels}});
    return absl::OkStatus();
  });
  if (!s.ok()) return Fail(s);
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int ContentGet(Env& env, const std::string& dgst) {
  const Client& c = env.client();
  absl::StatusOr<digest::Digest> d = digest::Digest::Parse(dgst);
  if (!d.ok()) return Fail(d.status());
  absl::StatusOr<std::unique_ptr<content::ReaderAt>> r =
      c.ContentStore().OpenReader(c.Context(), *d);
  if (!r.ok()) return Fail(r.status());
  std::string buf(1 << 20, '\0');
  for (int64_t off = 0; off < (*r)->Size();) {
    absl::StatusOr<size_t> n = (*r)->ReadAt(buf.data(), buf.size(), off);
    if (!n.ok()) return Fail(n.status());
    if (*n == 0) break;
    if (fwrite(buf.data(), 1, *n, stdout) != *n) {
      return Fail(absl::InternalError("content get: write to stdout failed"));
    }
    off += static_cast<int64_t>(*n);
  }
  return 0;
}

int ContentIngest(Env& env, const std::string& ref, const ContentFlags& f) {
  const Client& c = env.client();
  content::WriterOptions wo;
  wo.ref = ref;
  wo.total = f.expected_size;
  if (!f.expected_digest.empty()) {
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(f.expected_digest);
    if (!d.ok()) return Fail(d.status());
    wo.expected = *d;
  }
  absl::StatusOr<std::unique_ptr<content::Writer>> w = c.ContentStore().OpenWriter(c.Context(), wo);
  if (IsAlreadyExists(w.status())) return 0;
  if (!w.ok()) return Fail(w.status());
  absl::StatusOr<content::IngestStatus> st = (*w)->Status();
  if (!st.ok()) return Fail(st.status());
  if (st->offset != 0) {
    absl::Status t = (*w)->Truncate(0);
    if (!t.ok()) return Fail(t);
  }
  std::string buf(1 << 20, '\0');
  int64_t total = 0;
  while (true) {
    ssize_t n = read(0, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrnoToStatus("read", "stdin", errno));
    if (n == 0) break;
    total += n;
    absl::Status s = (*w)->Write(buf.substr(0, static_cast<size_t>(n)));
    if (!s.ok()) return Fail(s);
  }
  absl::Status s = (*w)->Commit(f.expected_size > 0 ? f.expected_size : total, wo.expected, {});
  if (!s.ok() && !IsAlreadyExists(s)) return Fail(s);
  return 0;
}

struct SnapshotFlags {
  std::string snapshotter;
  bool quiet = false;
  std::string format;
  std::vector<std::string> args;
};

std::shared_ptr<snapshot::Snapshotter> Snapshots(Env& env, const SnapshotFlags& f) {
  // As ctr: `snapshots` commands use overlayfs unless told otherwise.
  return env.client().SnapshotService(f.snapshotter.empty() ? "overlayfs" : f.snapshotter);
}

void PrintMounts(const std::vector<snapshot::Mount>& mounts, const std::string& target) {
  for (const snapshot::Mount& m : mounts) {
    std::printf("%s\n", snapshot::MountToString(m, target).c_str());
  }
}

// `snapshots tree`, as ctr prints it: each root (no parent, or a parent not listed) at the left,
// " <name>", and every child under its parent two columns further in, "  \\_ <name>"; children
// in name order.
int SnapshotTree(Env& env, const SnapshotFlags& f) {
  std::map<std::string, std::string> parents;  // name -> parent
  absl::Status s =
      Snapshots(env, f)->Walk(env.client().Context(), f.args, [&](const snapshot::Info& i) {
        parents[i.name] = i.parent;
        return absl::OkStatus();
      });
  if (!s.ok()) return Fail(s);
  std::map<std::string, std::vector<std::string>> children;
  std::vector<std::string> roots;
  for (const auto& [name, parent] : parents) {
    if (parent.empty() || parents.count(parent) == 0) {
      roots.push_back(name);
    } else {
      children[parent].push_back(name);
    }
  }
  std::function<void(const std::string&, int)> print = [&](const std::string& name, int level) {
    std::string prefix(static_cast<size_t>(2 * level), ' ');
    if (level > 0) prefix += "\\_";
    std::printf("%s %s\n", prefix.c_str(), name.c_str());
    for (const std::string& child : children[name]) print(child, level + 1);
  };
  for (const std::string& root : roots) print(root, 0);
  return 0;
}

}  // namespace

void AddContentCommands(CLI::App& app, Env& env) {
  CLI::App* content = app.add_subcommand("content", "manage content (blobs)");
  content->require_subcommand(1);

  auto lf = std::make_shared<ContentFlags>();
  CLI::App* ls = content->add_subcommand("ls", "list blobs [FILTER...]")->alias("list");
  ls->add_flag("-q,--quiet", lf->quiet, "print only the digests");
  ls->add_option("--format", lf->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  ls->add_option("filters", lf->args, "filters");
  ls->callback([&env, lf] { env.exit_code = ContentList(env, *lf); });

  auto get = std::make_shared<std::string>();
  CLI::App* g = content->add_subcommand("get", "write a blob to stdout: DIGEST");
  g->add_option("digest", *get, "digest")->required();
  g->callback([&env, get] { env.exit_code = ContentGet(env, *get); });

  auto inf = std::make_shared<ContentFlags>();
  auto ref = std::make_shared<std::string>();
  CLI::App* in = content->add_subcommand("ingest", "write stdin as a blob: REF");
  in->add_option("ref", *ref, "ingest reference")->required();
  in->add_option("--expected-size", inf->expected_size, "expected size");
  in->add_option("--expected-digest", inf->expected_digest, "expected digest");
  in->callback([&env, inf, ref] { env.exit_code = ContentIngest(env, *ref, *inf); });

  auto rm = std::make_shared<std::vector<std::string>>();
  CLI::App* r = content->add_subcommand("rm", "delete blobs: DIGEST...")->alias("delete");
  r->add_option("digests", *rm, "digests")->required();
  r->callback([&env, rm] {
    const Client& c = env.client();
    for (const std::string& d : *rm) {
      absl::StatusOr<digest::Digest> dg = digest::Digest::Parse(d);
      absl::Status s = dg.ok() ? c.ContentStore().Delete(c.Context(), *dg) : dg.status();
      if (!s.ok()) env.exit_code = Fail(s);
    }
  });

  auto label = std::make_shared<std::vector<std::string>>();
  CLI::App* l = content->add_subcommand("label", "set or clear labels: DIGEST KEY=VALUE...");
  l->add_option("args", *label, "digest and labels")->required()->expected(2, -1);
  l->callback([&env, label] {
    const Client& c = env.client();
    absl::StatusOr<digest::Digest> dg = digest::Digest::Parse((*label)[0]);
    if (!dg.ok()) {
      env.exit_code = Fail(dg.status());
      return;
    }
    content::Info info;
    info.digest = *dg;
    std::vector<std::string> paths;
    for (const auto& [k, v] : ParseLabels({label->begin() + 1, label->end()})) {
      if (!v.empty()) info.labels[k] = v;
      paths.push_back("labels." + k);
    }
    absl::StatusOr<content::Info> updated = c.ContentStore().Update(c.Context(), info, paths);
    if (!updated.ok()) env.exit_code = Fail(updated.status());
  });

  AddContentFetchCommand(content, env);
}

void AddSnapshotCommands(CLI::App& app, Env& env) {
  auto f = std::make_shared<SnapshotFlags>();
  CLI::App* sn = app.add_subcommand("snapshots", "manage snapshots")->alias("snapshot");
  sn->require_subcommand(1);
  sn->add_option("--snapshotter", f->snapshotter, "snapshotter (default overlayfs)");

  CLI::App* ls = sn->add_subcommand("ls", "list snapshots [FILTER...]")->alias("list");
  ls->add_flag("-q,--quiet", f->quiet, "print only the keys");
  ls->add_option("--format", f->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  ls->add_option("filters", f->args, "filters");
  ls->callback([&env, f] {
    const Client& c = env.client();
    Table table({"KEY", "PARENT", "KIND"});
    nlohmann::json out = nlohmann::json::array();
    absl::Status s = Snapshots(env, *f)->Walk(c.Context(), f->args, [&](const snapshot::Info& i) {
      std::string kind(snapshot::KindName(i.kind));
      if (!kind.empty()) kind[0] = static_cast<char>(toupper(kind[0]));  // as ctr: "Committed"
      table.Row({i.name, i.parent, kind});
      out.push_back({{"key", i.name}, {"parent", i.parent}, {"kind", kind}, {"labels", i.labels}});
      return absl::OkStatus();
    });
    if (!s.ok()) {
      env.exit_code = Fail(s);
    } else if (f->format == "json") {
      PrintJson(out);
    } else {
      table.Print(stdout, f->quiet);
    }
  });

  CLI::App* tree = sn->add_subcommand("tree", "the snapshots as a parent/child tree [FILTER...]");
  tree->add_option("filters", f->args, "filters");
  tree->callback([&env, f] { env.exit_code = SnapshotTree(env, *f); });

  auto keys = std::make_shared<std::vector<std::string>>();
  CLI::App* rm = sn->add_subcommand("rm", "remove snapshots: KEY...")->alias("delete");
  rm->add_option("keys", *keys, "keys")->required();
  rm->callback([&env, f, keys] {
    for (const std::string& k : *keys) {
      absl::Status s = Snapshots(env, *f)->Remove(env.client().Context(), k);
      if (!s.ok()) env.exit_code = Fail(s);
    }
  });

  auto info_key = std::make_shared<std::string>();
  CLI::App* info = sn->add_subcommand("info", "a snapshot's record as JSON: KEY");
  info->add_option("key", *info_key, "key")->required();
  info->callback([&env, f, info_key] {
    absl::StatusOr<snapshot::Info> i = Snapshots(env, *f)->Stat(env.client().Context(), *info_key);
    if (!i.ok()) {
      env.exit_code = Fail(i.status());
      return;
    }
    PrintJson({{"Kind", std::string(snapshot::KindName(i->kind))},
               {"Name", i->name},
               {"Parent", i->parent},
               {"Labels", i->labels},
               {"Created", FormatTime(i->created)},
               {"Updated", FormatTime(i->updated)}});
  });

  auto margs = std::make_shared<std::vector<std::string>>();
  CLI::App* mounts = sn->add_subcommand("mounts", "how to mount a snapshot: TARGET KEY");
  mounts->add_option("args", *margs, "target and key")->required()->expected(2);
  mounts->callback([&env, f, margs] {
    absl::StatusOr<std::vector<snapshot::Mount>> m =
        Snapshots(env, *f)->Mounts(env.client().Context(), (*margs)[1]);
    if (!m.ok()) {
      env.exit_code = Fail(m.status());
      return;
    }
    PrintMounts(*m, (*margs)[0]);
  });

  auto pargs = std::make_shared<std::vector<std::string>>();
  CLI::App* prepare = sn->add_subcommand("prepare", "a writable snapshot: KEY [PARENT]");
  prepare->add_option("args", *pargs, "key and parent")->required()->expected(1, 2);
  prepare->callback([&env, f, pargs] {
    const std::string parent = pargs->size() > 1 ? (*pargs)[1] : "";
    absl::StatusOr<std::vector<snapshot::Mount>> m = Snapshots(env, *f)->Prepare(
        env.client().Context(), (*pargs)[0], parent, {{"containerd.io/gc.root", Now3339()}});
    if (!m.ok()) env.exit_code = Fail(m.status());
  });

  auto vargs = std::make_shared<std::vector<std::string>>();
  CLI::App* view = sn->add_subcommand("view", "a read-only view: KEY PARENT");
  view->add_option("args", *vargs, "key and parent")->required()->expected(2);
  view->callback([&env, f, vargs] {
    absl::StatusOr<std::vector<snapshot::Mount>> m = Snapshots(env, *f)->View(
        env.client().Context(), (*vargs)[0], (*vargs)[1], {{"containerd.io/gc.root", Now3339()}});
    if (!m.ok()) env.exit_code = Fail(m.status());
  });

  auto cargs = std::make_shared<std::vector<std::string>>();
  CLI::App* commit = sn->add_subcommand("commit", "commit an active snapshot: NAME KEY");
  commit->add_option("args", *cargs, "name and key")->required()->expected(2);
  commit->callback([&env, f, cargs] {
    absl::Status s = Snapshots(env, *f)->Commit(env.client().Context(), (*cargs)[0], (*cargs)[1],
                                                {{"containerd.io/gc.root", Now3339()}});
    if (!s.ok()) env.exit_code = Fail(s);
  });

  auto uargs = std::make_shared<std::vector<std::string>>();
  CLI::App* usage = sn->add_subcommand("usage", "disk usage: [KEY...]");
  usage->add_option("keys", *uargs, "keys (default: all)");
  usage->callback([&env, f, uargs] {
    const Client& c = env.client();
    auto sn = Snapshots(env, *f);
    std::vector<std::string> keys = *uargs;
    if (keys.empty()) {
      absl::Status s = sn->Walk(c.Context(), {}, [&](const snapshot::Info& i) {
        keys.push_back(i.name);
        return absl::OkStatus();
      });
      if (!s.ok()) {
        env.exit_code = Fail(s);
        return;
      }
    }
    Table table({"KEY", "SIZE", "INODES"});
    for (const std::string& k : keys) {
      absl::StatusOr<snapshot::Usage> u = sn->Usage(c.Context(), k);
      if (!u.ok()) {
        env.exit_code = Fail(u.status());
        return;
      }
      table.Row({k, HumanSize(u->size), std::to_string(u->inodes)});
    }
    table.Print();
  });
}

}  // namespace berth::cli
