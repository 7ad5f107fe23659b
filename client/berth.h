// The berth client API in one include: Client and its services (client.h), images
// (image.h), containers and their options (container.h), tasks and processes (task.h),
// events (events.h), OCI spec options (oci/spec.h) and task stdio (cio/io.h).
//
//   #include "client/berth.h"
//   berth::Client client("/run/berth/berth.sock");
#ifndef BERTH_CLIENT_BERTH_H_
#define BERTH_CLIENT_BERTH_H_

#include "client/cio/io.h"       // IWYU pragma: export
#include "client/client.h"       // IWYU pragma: export
#include "client/container.h"    // IWYU pragma: export
#include "client/events.h"       // IWYU pragma: export
#include "client/image.h"        // IWYU pragma: export
#include "client/oci/seccomp.h"  // IWYU pragma: export
#include "client/oci/spec.h"     // IWYU pragma: export
#include "client/task.h"         // IWYU pragma: export
#include "lib/status/status.h"   // IWYU pragma: export (RETURN_IF_ERROR for options)

#endif  // BERTH_CLIENT_BERTH_H_
