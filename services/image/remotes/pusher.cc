#include "services/image/remotes/pusher.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace berth::remotes {
namespace {

class StringReader : public BlobReader {
 public:
  explicit StringReader(std::string bytes) : bytes_(std::move(bytes)) {}

  absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, std::int64_t offset) override {
    if (offset < 0) return absl::InvalidArgumentError("read at a negative offset");
    if (static_cast<std::uint64_t>(offset) >= bytes_.size()) return 0;
    std::size_t take = std::min(n, bytes_.size() - static_cast<std::size_t>(offset));
    std::memcpy(buf, bytes_.data() + offset, take);
    return take;
  }

 private:
  std::string bytes_;
};

}  // namespace

std::unique_ptr<BlobReader> BytesReader(std::string bytes) {
  return std::make_unique<StringReader>(std::move(bytes));
}

}  // namespace berth::remotes
