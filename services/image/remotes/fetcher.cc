#include "services/image/remotes/fetcher.h"

#include <fmt/format.h>

#include "lib/status/status.h"

namespace berth::remotes {

absl::Status CopyStream(ReadStream& stream,
                        const std::function<absl::Status(std::string_view)>& sink,
                        std::size_t chunk_size) {
  std::string buf(chunk_size == 0 ? 1 << 20 : chunk_size, '\0');
  for (;;) {
    ASSIGN_OR_RETURN(std::size_t n, stream.Read(buf.data(), buf.size()));
    if (n == 0) return absl::OkStatus();
    RETURN_IF_ERROR(sink(std::string_view(buf.data(), n)));
  }
}

absl::StatusOr<std::string> FetchAll(const CallContext& ctx, Fetcher& fetcher,
                                     const Descriptor& desc, std::int64_t max_size) {
  if (desc.size > max_size) {
    return absl::InvalidArgumentError(fmt::format("fetch {}: {} bytes, over the {} byte limit",
                                                  desc.digest.ToString(), desc.size, max_size));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ReadStream> stream, fetcher.Fetch(ctx, desc, 0));
  std::string out;
  out.reserve(static_cast<std::size_t>(desc.size < 0 ? 0 : desc.size));
  RETURN_IF_ERROR(CopyStream(*stream, [&](std::string_view chunk) {
    out.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace berth::remotes
