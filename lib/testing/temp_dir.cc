#include "lib/testing/temp_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace berth::testing {
namespace {

// Removes everything inside the directory `dir_fd` (which lives on device `dev`), then the
// caller removes the directory itself. Returns false if something was left behind.
bool RemoveContents(int dir_fd, dev_t dev, const std::string& where) {
  // fdopendir takes ownership of the descriptor it is given: hand it a duplicate.
  int list_fd = dup(dir_fd);
  if (list_fd < 0) return false;
  DIR* dir = fdopendir(list_fd);
  if (dir == nullptr) {
    close(list_fd);
    return false;
  }
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  closedir(dir);

  bool ok = true;
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ok = false;
      continue;
    }
    const std::string path = where + "/" + name;
    if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(dir_fd, name.c_str(), 0) != 0) {
        std::fprintf(stderr, "TempDir: cannot remove %s: %s\n", path.c_str(), strerror(errno));
        ok = false;
      }
      continue;
    }
    if (st.st_dev != dev) {
      std::fprintf(stderr, "TempDir: %s is a mount point; leaving it alone\n", path.c_str());
      ok = false;
      continue;
    }
    // A test may have taken the permissions away (EACCES tests): give them back first.
    if ((st.st_mode & S_IRWXU) != S_IRWXU) fchmodat(dir_fd, name.c_str(), 0700, 0);
    int child = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      ok = false;
      continue;
    }
    bool child_ok = RemoveContents(child, dev, path);
    close(child);
    if (!child_ok || unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
      if (child_ok) {
        std::fprintf(stderr, "TempDir: cannot remove %s: %s\n", path.c_str(), strerror(errno));
      }
      ok = false;
    }
  }
  return ok;
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  std::string templ = "/tmp/" + std::string(prefix) + ".XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::fprintf(stderr, "TempDir: mkdtemp \"%s\": %s\n", templ.c_str(), strerror(errno));
    std::abort();
  }
  path_ = std::move(templ);
}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

std::string TempDir::Path(std::string_view name) const {
  std::string out = path_;
  out += '/';
  out += name;
  return out;
}

void TempDir::Remove() {
  if (path_.empty()) return;
  chmod(path_.c_str(), 0700);
  int fd = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && RemoveContents(fd, st.st_dev, path_);
    close(fd);
    if (ok && rmdir(path_.c_str()) != 0) {
      std::fprintf(stderr, "TempDir: cannot remove %s: %s\n", path_.c_str(), strerror(errno));
    }
  }
  path_.clear();
}

}  // namespace berth::testing
