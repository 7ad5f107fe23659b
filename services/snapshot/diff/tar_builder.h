// TarBuilder: writes tar archives with libarchive for tests — layers with exactly the
// entries a test wants, hostile ones included (absolute names, "..", symlinks out of the
// root, hard links to anything, whiteouts).
//
//   std::string tar = TarBuilder().Dir("etc", 0755).Symlink("/etc", "localetc")
//                         .File("/localetc/unbroken", "unbroken", 0644).Build();
//
// Names and link targets are written exactly as given. Entries get the current owner and
// mtime settings (WithOwner, WithMtime, WithXattrs apply to the entries that follow).
//
// Thread-safety: one builder per thread.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_TAR_BUILDER_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_TAR_BUILDER_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::snapshot::diff {

class TarBuilder {
 public:
  TarBuilder();

  TarBuilder& WithOwner(uid_t uid, gid_t gid);
  TarBuilder& WithMtime(long sec, long nsec = 0);
  TarBuilder& WithXattrs(std::map<std::string, std::string> xattrs);

  TarBuilder& Dir(std::string name, mode_t mode);
  TarBuilder& File(std::string name, std::string content, mode_t mode);
  TarBuilder& Symlink(std::string target, std::string name);
  TarBuilder& Link(std::string target, std::string name);
  TarBuilder& CharDev(std::string name, unsigned major, unsigned minor, mode_t mode);
  TarBuilder& Fifo(std::string name, mode_t mode);
  // `.wh.<base>` in the directory of `name`.
  TarBuilder& Whiteout(std::string name);
  // `<dir>/.wh..wh..opq`.
  TarBuilder& Opaque(std::string dir);

  // The archive (PAX format, with the end-of-archive blocks and libarchive's padding).
  std::string Build() const;

 private:
  struct Entry {
    std::string name;
    mode_t type = 0;
    mode_t mode = 0;
    std::string content;
    std::string link;  // Symlink target or hard link target.
    bool hardlink = false;
    unsigned major = 0, minor = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    long sec = 0, nsec = 0;
    std::map<std::string, std::string> xattrs;
  };
  Entry Make(std::string name, mode_t type, mode_t mode) const;

  uid_t uid_;
  gid_t gid_;
  long sec_;
  long nsec_ = 0;
  std::map<std::string, std::string> xattrs_;
  std::vector<Entry> entries_;
};

// Compresses `data` with gzip (ISA-L) or zstd, for test layers.
std::string GzipBytes(std::string_view data);
std::string ZstdBytes(std::string_view data);

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_TAR_BUILDER_H_
