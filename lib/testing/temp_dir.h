// TempDir: a fresh directory under /tmp for one test, removed with everything in it when the
// TempDir goes out of scope.
//
// The path is short on purpose (`/tmp/<prefix>.XXXXXX`): unix socket paths are limited to 107
// bytes and tests put sockets in here. Removal does not cross into other filesystems: a mount
// left inside the directory (a root test that failed half-way) is reported on stderr and left
// alone rather than emptied. Directories a test made unreadable (chmod 000 for EACCES tests)
// are made accessible again before removal.
//
// Thread-safety: a TempDir is a value owned by one test; its accessors are const and safe to
// call from any thread.
#ifndef BERTH_LIB_TESTING_TEMP_DIR_H_
#define BERTH_LIB_TESTING_TEMP_DIR_H_

#include <string>
#include <string_view>

namespace berth::testing {

class TempDir {
 public:
  // Creates the directory (mode 0700). A test helper: aborts with a message when /tmp is not
  // writable, since no test can run then. `prefix` must not contain '/'.
  explicit TempDir(std::string_view prefix = "berth");
  ~TempDir();

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The absolute path of the directory, without a trailing '/'.
  const std::string& path() const { return path_; }

  // path() + "/" + name; nothing is created.
  std::string Path(std::string_view name) const;

 private:
  void Remove();

  std::string path_;
};

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_TEMP_DIR_H_
