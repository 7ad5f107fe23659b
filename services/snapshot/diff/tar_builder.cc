#include "services/snapshot/diff/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <utility>

#include "services/snapshot/diff/stream.h"

namespace berth::snapshot::diff {

TarBuilder::TarBuilder() : uid_(getuid()), gid_(getgid()), sec_(time(nullptr)) {}

TarBuilder& TarBuilder::WithOwner(uid_t uid, gid_t gid) {
  uid_ = uid;
  gid_ = gid;
  return *this;
}

TarBuilder& TarBuilder::WithMtime(long sec, long nsec) {
  sec_ = sec;
  nsec_ = nsec;
  return *this;
}

TarBuilder& TarBuilder::WithXattrs(std::map<std::string, std::string> xattrs) {
  xattrs_ = std::move(xattrs);
  return *this;
}

TarBuilder::Entry TarBuilder::Make(std::string name, mode_t type, mode_t mode) const {
  Entry e;
  e.name = std::move(name);
  e.type = type;
  e.mode = mode;
  e.uid = uid_;
  e.gid = gid_;
  e.sec = sec_;
  e.nsec = nsec_;
  e.xattrs = xattrs_;
  return e;
}

TarBuilder& TarBuilder::Dir(std::string name, mode_t mode) {
  entries_.push_back(Make(std::move(name), AE_IFDIR, mode));
  return *this;
}

TarBuilder& TarBuilder::File(std::string name, std::string content, mode_t mode) {
  Entry e = Make(std::move(name), AE_IFREG, mode);
  e.content = std::move(content);
  entries_.push_back(std::move(e));
  return *this;
}

TarBuilder& TarBuilder::Symlink(std::string target, std::string name) {
  Entry e = Make(std::move(name), AE_IFLNK, 0777);
  e.link = std::move(target);
  entries_.push_back(std::move(e));
  return *this;
}

TarBuilder& TarBuilder::Link(std::string target, std::string name) {
  Entry e = Make(std::move(name), AE_IFREG, 0644);
  e.link = std::move(target);
  e.hardlink = true;
  entries_.push_back(std::move(e));
  return *this;
}

TarBuilder& TarBuilder::CharDev(std::string name, unsigned major, unsigned minor, mode_t mode) {
  Entry e = Make(std::move(name), AE_IFCHR, mode);
  e.major = major;
  e.minor = minor;
  entries_.push_back(std::move(e));
  return *this;
}

TarBuilder& TarBuilder::Fifo(std::string name, mode_t mode) {
  entries_.push_back(Make(std::move(name), AE_IFIFO, mode));
  return *this;
}

TarBuilder& TarBuilder::Whiteout(std::string name) {
  size_t slash = name.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : name.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  return File(dir + ".wh." + base, "", 0644);
}

TarBuilder& TarBuilder::Opaque(std::string dir) {
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return File(dir + ".wh..wh..opq", "", 0644);
}

std::string TarBuilder::Build() const {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_add_filter_none(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  struct archive_entry* entry = archive_entry_new();
  for (const Entry& e : entries_) {
    archive_entry_clear(entry);
    archive_entry_copy_pathname(entry, e.name.c_str());
    archive_entry_set_uid(entry, e.uid);
    archive_entry_set_gid(entry, e.gid);
    archive_entry_set_mtime(entry, e.sec, e.nsec);
    archive_entry_set_perm(entry, e.mode);
    for (const auto& [k, v] : e.xattrs) {
      archive_entry_xattr_add_entry(entry, k.c_str(), v.data(), v.size());
    }
    archive_entry_set_filetype(entry, e.type);
    if (e.hardlink) {
      archive_entry_copy_hardlink(entry, e.link.c_str());
      archive_entry_set_size(entry, 0);
    } else if (e.type == AE_IFLNK) {
      archive_entry_copy_symlink(entry, e.link.c_str());
      archive_entry_set_size(entry, 0);
    } else {
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.content.size()));
    }
    if (e.type == AE_IFCHR) {
      archive_entry_set_rdevmajor(entry, e.major);
      archive_entry_set_rdevminor(entry, e.minor);
    }
    // ARCHIVE_WARN: a name that is not valid in the current locale is written as raw bytes
    // (pax hdrcharset=BINARY), which is what a test of such names wants.
    if (archive_write_header(a, entry) < ARCHIVE_WARN) std::abort();
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
  }
  archive_entry_free(entry);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

namespace {

std::string Compress(Compression c, std::string_view data) {
  std::string out;
  auto compressor = NewCompressor(c, [&out](std::string_view chunk) {
    out.append(chunk);
    return absl::OkStatus();
  });
  if (!compressor->Write(data).ok() || !compressor->Close().ok()) std::abort();
  return out;
}

}  // namespace

std::string GzipBytes(std::string_view data) { return Compress(Compression::kGzip, data); }
std::string ZstdBytes(std::string_view data) { return Compress(Compression::kZstd, data); }

}  // namespace berth::snapshot::diff
