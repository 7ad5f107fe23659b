// The systemd side of deploy/: deploy/install into a temporary root (stub binaries stand in
// for the real ones), `systemd-analyze verify` on every installed unit (it needs no running
// systemd, but the ExecStart binaries must exist: hence the install), what each unit says
// about readiness, ordering, restarts and the runtime's cgroups; nats.conf checked by
// nats-server itself; prometheus.yml against config.toml; shellcheck on the scripts.
//
// Needs systemd-analyze (package systemd), nats-server and shellcheck (scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "tests/deploy/deploy_testing.h"

namespace berth::deploy_testing {
namespace {

using ::berth::testing::TempDir;

const std::vector<std::string> kBinaries = {"berth-gateway", "berth-content", "berth-snapshot",
                                            "berth-image",   "berth-runtime", "berth-shim",
                                            "berth"};
const std::vector<std::string> kServices = {"berth-content", "berth-snapshot", "berth-image",
                                            "berth-runtime", "berth-gateway"};
const std::vector<std::string> kUnits = {"berth-nats.service",     "berth-content.service",
                                         "berth-content@.service", "berth-snapshot.service",
                                         "berth-image.service",    "berth-runtime.service",
                                         "berth-gateway.service",  "berth.target"};

bool Contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A unit file's [Service]/[Unit]/[Install] keys; repeated keys are joined with a blank.
std::map<std::string, std::string> Keys(const std::string& text) {
  std::map<std::string, std::string> keys;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string& value = keys[section + "." + line.substr(0, eq)];
    value += (value.empty() ? "" : " ") + line.substr(eq + 1);
  }
  return keys;
}

// The words of a space-separated list.
std::set<std::string> Words(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

class UnitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(dir_.Path("stubs").c_str(), 0755), 0);
    for (const std::string& name : kBinaries) {
      const std::string path = dir_.Path("stubs/" + name);
      ASSERT_OK(WriteText(path, "#!/bin/sh\nexit 0\n"));
      ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
    }
    nats_ = Exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "/usr/bin/nats-server";
    ASSERT_TRUE(Exists(nats_)) << "nats-server is not installed (scripts/install-deps.sh)";
  }

  CommandResult Install(std::vector<std::string> args) {
    args.insert(args.begin(), {SourceDir() + "/deploy/install", "--bin-dir", dir_.Path("stubs"),
                               "--nats-server", nats_, "--no-reload"});
    return RunCommand(args, dir_.path());
  }

  // Installs into <dir>/root with prefix <root>/usr, sysconfdir <root>/etc.
  void InstallIntoRoot() {
    CommandResult r = Install({"--prefix", Root() + "/usr", "--sysconfdir", Root() + "/etc",
                               "--unitdir", Root() + "/units"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // systemd-analyze verify on `paths`: its exit code and everything it printed (it reports
  // unknown keys and bad values as warnings only, with exit code 0).
  CommandResult Verify(const std::vector<std::string>& paths) {
    std::vector<std::string> argv = {"systemd-analyze", "verify", "--man=no"};
    argv.insert(argv.end(), paths.begin(), paths.end());
    return RunCommand(argv, dir_.path());
  }

  std::string Root() const { return dir_.Path("root"); }
  std::string Unit(const std::string& name) const { return ReadText(Root() + "/units/" + name); }

  TempDir dir_{"bunits"};
  std::string nats_;
};

TEST_F(UnitsTest, InstalledUnitsPassSystemdAnalyzeVerify) {
  ASSERT_NO_FATAL_FAILURE(InstallIntoRoot());
  std::vector<std::string> paths;
  for (const std::string& unit : kUnits) paths.push_back(Root() + "/units/" + unit);
  // An instance of the template, as `systemctl enable berth-content@1` makes it.
  paths.push_back(Root() + "/units/berth-content@1.service");
  CommandResult r = Verify(paths);
  ASSERT_NE(r.exit_code, -1) << "systemd-analyze is not installed (package systemd): " << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "systemd-analyze verify warned";
}

// The check above can fail: a misspelt value is reported (as a warning), a missing
// binary and a missing required unit are errors.
TEST_F(UnitsTest, VerifyCatchesBrokenUnits) {
  ASSERT_NO_FATAL_FAILURE(InstallIntoRoot());
  ASSERT_EQ(::mkdir(dir_.Path("broken").c_str(), 0755), 0);
  std::string content = Unit("berth-content.service");
  content = std::regex_replace(content, std::regex("Type=notify"), "Type=notfy");
  ASSERT_OK(WriteText(dir_.Path("broken/berth-content.service"), content));
  CommandResult r = Verify({dir_.Path("broken/berth-content.service")});
  EXPECT_TRUE(Contains(r.out + r.err, "notfy")) << r.out << r.err;

  std::string gateway = Unit("berth-gateway.service");
  gateway = std::regex_replace(gateway, std::regex(Root() + "/usr/bin/berth-gateway"),
                               Root() + "/usr/bin/berth-nothing");
  ASSERT_OK(WriteText(dir_.Path("broken/berth-gateway.service"), gateway));
  r = Verify({dir_.Path("broken/berth-gateway.service")});
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;

  // berth-snapshot requires berth-content, which is not beside it here.
  ASSERT_OK(WriteText(
      dir_.Path("broken/berth-snapshot.service"),
      std::regex_replace(Unit("berth-snapshot.service"), std::regex("Requires=berth-content"),
                         "Requires=berth-contents")));
  r = Verify({dir_.Path("broken/berth-snapshot.service")});
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
}

TEST_F(UnitsTest, UnitsSayWhoNeedsWhom) {
  ASSERT_NO_FATAL_FAILURE(InstallIntoRoot());
  const std::string bin = Root() + "/usr/bin/";
  const std::string config = Root() + "/etc/berth/config.toml";
  for (const std::string& service : kServices) {
    SCOPED_TRACE(service);
    auto keys = Keys(Unit(service + ".service"));
    EXPECT_EQ(keys["Service.Type"], "notify");  // lib/server's READY=1 (notify_test)
    EXPECT_EQ(keys["Service.Restart"], "on-failure");
    EXPECT_EQ(keys["Service.ExecStart"], bin + service + " --config " + config);
    EXPECT_TRUE(Words(keys["Unit.Wants"]).count("berth-nats.service"));
    EXPECT_TRUE(Words(keys["Unit.After"]).count("berth-nats.service"));
    EXPECT_EQ(keys["Unit.PartOf"], "berth.target");
    EXPECT_EQ(keys["Install.WantedBy"], "berth.target");
  }
  auto snapshot = Keys(Unit("berth-snapshot.service"));
  EXPECT_TRUE(Words(snapshot["Unit.Requires"]).count("berth-content.service"));
  EXPECT_TRUE(Words(snapshot["Unit.After"]).count("berth-content.service"));
  auto image = Keys(Unit("berth-image.service"));
  for (const std::string need : {"berth-content.service", "berth-snapshot.service"}) {
    EXPECT_TRUE(Words(image["Unit.Requires"]).count(need)) << need;
    EXPECT_TRUE(Words(image["Unit.After"]).count(need)) << need;
  }
  auto gateway = Keys(Unit("berth-gateway.service"));
  auto target = Keys(Unit("berth.target"));
  for (const std::string& service : kServices) {
    if (service == "berth-gateway") continue;
    EXPECT_TRUE(Words(gateway["Unit.Wants"]).count(service + ".service")) << service;
    EXPECT_TRUE(Words(gateway["Unit.After"]).count(service + ".service")) << service;
  }
  for (const std::string& service : kServices) {
    EXPECT_TRUE(Words(target["Unit.Wants"]).count(service + ".service")) << service;
  }
  EXPECT_TRUE(Words(target["Unit.Wants"]).count("berth-nats.service"));

  // The runtime: shims and containers outlive a restart; containers' cgroups are delegated.
  auto runtime = Keys(Unit("berth-runtime.service"));
  EXPECT_EQ(runtime["Service.KillMode"], "process");
  EXPECT_EQ(runtime["Service.Delegate"], "yes");
  EXPECT_EQ(runtime["Service.RuntimeDirectoryPreserve"], "yes");
  // No sandboxing that containers would inherit or that would hide mounts.
  for (const std::string key : {"Service.ProtectSystem", "Service.PrivateTmp",
                                "Service.NoNewPrivileges", "Service.CapabilityBoundingSet"}) {
    EXPECT_EQ(runtime.count(key), 0u) << key;
  }
  // The snapshotter mounts: no mount namespace of its own either.
  for (const std::string key :
       {"Service.ProtectSystem", "Service.PrivateTmp", "Service.ProtectHome",
        "Service.ReadWritePaths", "Service.PrivateDevices", "Service.RestrictSUIDSGID"}) {
    EXPECT_EQ(snapshot.count(key), 0u) << key;
  }
  EXPECT_TRUE(Words(snapshot["Service.CapabilityBoundingSet"]).count("CAP_SYS_ADMIN"));
  EXPECT_TRUE(Words(snapshot["Service.CapabilityBoundingSet"]).count("CAP_MKNOD"));
  // The others are sandboxed.
  for (const std::string service : {"berth-content", "berth-image", "berth-gateway"}) {
    auto keys = Keys(Unit(service + ".service"));
    EXPECT_EQ(keys["Service.ProtectSystem"], "strict") << service;
    EXPECT_EQ(keys["Service.CapabilityBoundingSet"], "") << service;
    EXPECT_EQ(keys["Service.RuntimeDirectoryPreserve"], "yes") << service;
  }
  // berth-image reads registry credentials from a docker config.json, often under /root:
  // home directories are read-only for it, not hidden.
  EXPECT_EQ(Keys(Unit("berth-image.service"))["Service.ProtectHome"], "read-only");

  // Replicas: an instance per number, after (and with) the primary.
  auto replica = Keys(Unit("berth-content@.service"));
  EXPECT_EQ(replica["Service.Type"], "notify");
  EXPECT_EQ(replica["Service.ExecStart"],
            bin + "berth-content --config " + config + " --replica %i");
  EXPECT_TRUE(Words(replica["Unit.Requires"]).count("berth-content.service"));
  EXPECT_TRUE(Words(replica["Unit.After"]).count("berth-content.service"));

  auto nats = Keys(Unit("berth-nats.service"));
  EXPECT_EQ(nats["Service.ExecStart"], nats_ + " -c " + Root() + "/etc/berth/nats.conf");
  EXPECT_EQ(nats["Service.StateDirectory"], "berth/nats");
  EXPECT_EQ(nats["Service.Restart"], "on-failure");
}

TEST_F(UnitsTest, InstallPutsEverythingInPlaceAndKeepsEditedConfig) {
  ASSERT_NO_FATAL_FAILURE(InstallIntoRoot());
  for (const std::string& name : kBinaries) {
    struct stat st;
    ASSERT_EQ(::stat((Root() + "/usr/bin/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0755u) << name;
  }
  const std::string config = Root() + "/etc/berth/config.toml";
  EXPECT_EQ(ReadText(config), ReadText(SourceDir() + "/deploy/config.toml"));
  EXPECT_EQ(ReadText(Root() + "/etc/berth/nats.conf"), ReadText(SourceDir() + "/deploy/nats.conf"));
  EXPECT_TRUE(Exists(Root() + "/usr/share/berth/prometheus.yml"));
  for (const std::string& unit : kUnits) {
    const std::string text = Unit(unit);
    EXPECT_FALSE(Contains(text, "/usr/local/bin/")) << unit;
    EXPECT_FALSE(Contains(text, " /etc/berth/")) << unit;
  }

  // The operator's edits survive a reinstall; the shipped config goes beside it.
  ASSERT_OK(WriteText(config, "# mine\n"));
  CommandResult again = Install({"--prefix", Root() + "/usr", "--sysconfdir", Root() + "/etc",
                                 "--unitdir", Root() + "/units"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ReadText(config), "# mine\n");
  EXPECT_EQ(ReadText(config + ".dist"), ReadText(SourceDir() + "/deploy/config.toml"));
  again = Install({"--prefix", Root() + "/usr", "--sysconfdir", Root() + "/etc", "--unitdir",
                   Root() + "/units", "--force-config"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ReadText(config), ReadText(SourceDir() + "/deploy/config.toml"));
}

TEST_F(UnitsTest, DestdirStagesWithTheFinalPaths) {
  CommandResult r = Install({"--destdir", dir_.Path("stage"), "--prefix", "/opt/berth"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Exists(dir_.Path("stage/opt/berth/bin/berth-content")));
  EXPECT_TRUE(Exists(dir_.Path("stage/etc/berth/config.toml")));
  const std::string unit = ReadText(dir_.Path("stage/etc/systemd/system/berth-content.service"));
  EXPECT_TRUE(Contains(unit,
                       "ExecStart=/opt/berth/bin/berth-content --config "
                       "/etc/berth/config.toml\n"))
      << unit;
}

TEST_F(UnitsTest, InstallRejectsBadArguments) {
  CommandResult r = Install({"--frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "--frobnicate")) << r.err;
  r = RunCommand({SourceDir() + "/deploy/install", "--bin-dir", dir_.Path("nothing"), "--destdir",
                  dir_.Path("stage")},
                 dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, dir_.Path("nothing"))) << r.err;
  EXPECT_FALSE(Exists(dir_.Path("stage")));
}

TEST_F(UnitsTest, NatsConfigIsValidAndBounded) {
  const std::string conf = SourceDir() + "/deploy/nats.conf";
  CommandResult r = RunCommand({nats_, "-c", conf, "-t"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string text = ReadText(conf);
  EXPECT_TRUE(Contains(text, "jetstream {")) << text;
  EXPECT_TRUE(Contains(text, "store_dir: \"/var/lib/berth/nats\"")) << text;
  EXPECT_TRUE(Contains(text, "max_file_store:")) << text;
  EXPECT_TRUE(Contains(text, "max_memory_store:")) << text;
  // The services' default nats_url points at it.
  EXPECT_TRUE(Contains(text, "listen: \"127.0.0.1:4222\""));
  EXPECT_TRUE(Contains(ReadText(SourceDir() + "/deploy/config.toml"),
                       "nats_url = \"nats://127.0.0.1:4222\""));
  // The check itself can fail.
  ASSERT_OK(WriteText(dir_.Path("bad.conf"), "jetstream {\n  max_file_store: lots\n}\n"));
  r = RunCommand({nats_, "-c", dir_.Path("bad.conf"), "-t"}, dir_.path());
  EXPECT_NE(r.exit_code, 0);
}

TEST_F(UnitsTest, PrometheusScrapesEveryMetricsAddress) {
  const std::string config = ReadText(SourceDir() + "/deploy/config.toml");
  const std::string prometheus = ReadText(SourceDir() + "/deploy/prometheus.yml");
  std::regex re("\n(replica_)?metrics_address = \"([^\"]+)\"");
  int found = 0;
  for (auto it = std::sregex_iterator(config.begin(), config.end(), re);
       it != std::sregex_iterator(); ++it) {
    ++found;
    EXPECT_TRUE(Contains(prometheus, "\"" + (*it)[2].str() + "\"")) << (*it)[2].str();
  }
  EXPECT_GE(found, 4);  // gateway, content, its replicas, snapshot, runtime
  for (const std::string job :
       {"berth-gateway", "berth-content", "berth-snapshot", "berth-image", "berth-runtime"}) {
    EXPECT_TRUE(Contains(prometheus, "job_name: " + job)) << job;
  }
}

TEST_F(UnitsTest, ScriptsPassShellcheck) {
  CommandResult r =
      RunCommand({"shellcheck", SourceDir() + "/deploy/berth-up", SourceDir() + "/deploy/install",
                  SourceDir() + "/bench/content/replicas.sh"},
                 dir_.path());
  ASSERT_NE(r.exit_code, -1) << "shellcheck is not installed (scripts/install-deps.sh): " << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = RunCommand({SourceDir() + "/deploy/berth-up", "frobnicate", dir_.Path("x")}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace berth::deploy_testing
