// The garbage collector's hooks in the gateway's request path: which calls passing through
// the gateway count towards a collection (Scheduler::Deleted / Mutated), and which wait for
// one.
//
//   forwarded (ProxyOptions::on_forward)           after the backend answered OK
//     containerd.services.images.v1.Images/Delete  sync: reply after a collection; else a
//                                                  deletion. Before it is forwarded, the
//                                                  image's target is pinned for containers
//                                                  that still name it (Collector::PinImage)
//     ...containers.v1.Containers/Delete           a deletion
//     ...snapshots.v1.Snapshots/Remove             a deletion
//     ...content.v1.Content/Delete                 a deletion
//     any other write                              a mutation
//   served by the gateway (LeasesService)
//     containerd.services.leases.v1.Leases/Delete  sync: reply after a collection; else a
//                                                  deletion
//
// A sync delete whose collection fails returns that error (as containerd), although the
// object itself is deleted. Images.Delete's `sync` and name are read from the request, which
// the gateway has on its unary fast path only; with `unary_fast_path = false` an image delete
// only counts as a deletion, and its image is not pinned.
//
// Thread-safety: the hooks are called from gRPC's threads; the Scheduler and Collector are
// thread-safe for what they use.
#ifndef BERTH_GATEWAY_GC_PROXY_HOOK_H_
#define BERTH_GATEWAY_GC_PROXY_HOOK_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gateway/gc/collector.h"
#include "gateway/gc/scheduler.h"

namespace berth::gateway::gc {

// The shapes of ProxyOptions::on_forward and LeasesService::OnDeleted.
using Reply = std::function<void(absl::Status status)>;
using AfterForward = std::function<void(Reply reply)>;
using ForwardHook = std::function<AfterForward(const std::string& method, const std::string& ns,
                                               const grpc::ByteBuffer* request)>;
using LeaseDeletedHook = std::function<void(bool sync, Reply reply)>;

// Neither is owned; both must outlive the hook. `collector` may be null (no pins).
ForwardHook NewForwardHook(Scheduler* scheduler, Collector* collector);
LeaseDeletedHook NewLeaseDeletedHook(Scheduler* scheduler);

// An ImageResolver asking containerd.services.images.v1.Images/Get on `channel` (the image
// backend's primary), with deadline `timeout`.
ImageResolver NewImagesGetResolver(std::shared_ptr<grpc::Channel> channel,
                                   std::chrono::nanoseconds timeout);

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_PROXY_HOOK_H_
