// The on-disk schema of berth-image: the RocksDB key tree under [image] root, drawn here once.
// Functions below build every key; nothing else spells one by hand.
//
// Files (<root> = [image] root, default /var/lib/berth/image):
//
//   <root>/meta/                       the RocksDB database below
//
// Keys (components joined by '/', lib/store/keys.h; <ns> is a namespace, an identifier, which
// can never start with '_', so a future "_image" tree cannot collide with one):
//
//   version                                   "v1" (lib/store's schema version)
//   v1/
//   └── <ns>/images/<escaped name>            containerd.services.images.v1.Image, verbatim
//                                             (name, labels, target, created_at, updated_at
//                                             always set; no empty label or annotation values)
//
// <escaped name> is the image name with '%' written "%25" and '/' written "%2F", so a name
// (normally a reference such as "docker.io/library/busybox:1.36") is exactly one key
// component; names never contain control characters (image::ValidateName), so no other byte
// needs escaping. Keys therefore do not sort exactly as names do: List sorts by name itself.
// The record holds the name verbatim; the escaped form is only ever built, never parsed.
//
// Invariants: the record at a key has the name the key was built from. Each change is one
// Put or Delete (an image is one key).
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_IMAGE_SCHEMA_H_
#define BERTH_SERVICES_IMAGE_SCHEMA_H_

#include <string>
#include <string_view>

namespace berth::image::schema {

inline constexpr char kSchemaVersion[] = "v1";

// Under root.
inline constexpr char kMetaDir[] = "meta";

// `name` with '%' -> "%25" and '/' -> "%2F".
std::string EscapeName(std::string_view name);

// Keys. `ns` must be a valid identifier and `name` a valid image name (callers check).
std::string ImageKey(std::string_view ns, std::string_view name);
std::string ImagesPrefix(std::string_view ns);  // Every image of the namespace.

}  // namespace berth::image::schema

#endif  // BERTH_SERVICES_IMAGE_SCHEMA_H_
