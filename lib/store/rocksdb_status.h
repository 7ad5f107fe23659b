// Conversion of rocksdb::Status to absl::Status, shared by lib/store's sources and tests.
// Internal to lib/store: everything outside sees only absl::Status.
//
// Thread-safety: pure function.
#ifndef BERTH_LIB_STORE_ROCKSDB_STATUS_H_
#define BERTH_LIB_STORE_ROCKSDB_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace berth::store {

// Maps `status` as store.h documents; the message reads `<op> "<path>": <rocksdb message>`.
absl::Status FromRocksDB(const rocksdb::Status& status, std::string_view op, std::string_view path);

}  // namespace berth::store

#endif  // BERTH_LIB_STORE_ROCKSDB_STATUS_H_
