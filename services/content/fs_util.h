// Small file-system helpers for LocalStore: whole-file reads and writes, directory removal and
// fsync, and the timestamp format of ingest files. Errors read `op "path": strerror`
// (ErrnoToStatus), so ENOSPC surfaces as ResourceExhausted naming the file.
//
// Thread-safety: pure functions over the file system.
#ifndef BERTH_SERVICES_CONTENT_FS_UTIL_H_
#define BERTH_SERVICES_CONTENT_FS_UTIL_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/content/store.h"

namespace berth::content::internal {

// Reads a whole (small) file. NotFound when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Creates or truncates `path` and writes `contents` (no fsync).
absl::Status WriteFile(const std::string& path, std::string_view contents);

// Writes `path` + ".tmp" and renames it over `path`, so readers see the old or the new
// contents, never a mix.
absl::Status ReplaceFile(const std::string& path, std::string_view contents);

// fsyncs a directory (after a rename into it).
absl::Status FsyncDir(const std::string& path);

// Creates `path` (one level) with `mode`; OK when it exists already as a directory.
absl::Status MakeDir(const std::string& path, int mode);

// Removes a flat directory: its files (not subdirectories' contents) and itself. OK when it
// does not exist.
absl::Status RemoveFlatDir(const std::string& path);

// RFC 3339 in UTC with nanoseconds ("2026-11-29T04:10:00.123456789Z") and back. Parse
// accepts any number of fraction digits (or none) and only the "Z" zone.
std::string FormatTime(Time t);
std::optional<Time> ParseTime(std::string_view text);

// Unix nanoseconds, for records.
int64_t ToUnixNanos(Time t);
Time FromUnixNanos(int64_t nanos);

}  // namespace berth::content::internal

#endif  // BERTH_SERVICES_CONTENT_FS_UTIL_H_
