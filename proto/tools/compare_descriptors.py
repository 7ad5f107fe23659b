#!/usr/bin/env python3
"""Checks that berth's hand-written protos are wire-identical to containerd's.

Not part of the build: it needs containerd's original .proto files, which are
not a build dependency. Get them (no install needed) with

    mkdir -p /tmp/ctrd && cd /tmp/ctrd && apt-get download \
        golang-github-containerd-containerd-dev \
        golang-github-containerd-cgroups-dev golang-github-gogo-googleapis-dev
    for f in *.deb; do dpkg -x "$f" root; done

and run, from the repository root,

    python3 proto/tools/compare_descriptors.py \
        --orig-root /tmp/ctrd/root/usr/share/gocode/src \
        [--orig-pbgo transfer.pb.go --orig-pbgo streaming.pb.go]

--orig-root is the directory holding github.com/containerd/containerd/api,
github.com/containerd/cgroups and github.com/gogo/googleapis. The script copies
the originals listed in ORIGINALS into a temporary directory, strips the
gogoproto / fieldpath imports and options there (they only steer Go code
generation; see proto/README.md), builds descriptor sets of those and of every
proto/**/*.proto with protoc --include_imports, and compares them.

--orig-pbgo adds a containerd 1.7 generated Go file (e.g.
api/services/transfer/v1/transfer.pb.go): its embedded raw descriptor
(`..._rawDesc = []byte{...}`) is used as the original, since 1.7 is not
packaged in Debian 12.

Alternatively compare two prebuilt sets: --orig-set A.pb --ours-set B.pb.

For every message of the originals (nested and map-entry ones included) ours
must have the same full name, map-entry flag and the same set of fields
(name, number, label, type, type_name, oneof, proto3_optional, packed); every
enum the same (name, number) values; every service the same methods with the
same input/output types and streaming flags. Types only in ours are listed as
warnings. google.protobuf.* (both sides use /usr/include) is skipped.
Exit status 0 means no differences.

Pure Python, no google.protobuf module needed: the descriptor wire format is
decoded by hand below.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

# Original files (relative to --orig-root) that proto/ reproduces, and the
# path they get in the stripped copy (import strings must keep resolving).
CONTAINERD_API = "github.com/containerd/containerd/api/"
ORIGINALS = [CONTAINERD_API + p for p in [
    "types/descriptor.proto",
    "types/mount.proto",
    "types/platform.proto",
    "types/metrics.proto",
    "types/task/task.proto",
    "services/containers/v1/containers.proto",
    "services/content/v1/content.proto",
    "services/diff/v1/diff.proto",
    "services/events/v1/events.proto",
    "services/images/v1/images.proto",
    "services/introspection/v1/introspection.proto",
    "services/leases/v1/leases.proto",
    "services/namespaces/v1/namespace.proto",
    "services/snapshots/v1/snapshots.proto",
    "services/tasks/v1/tasks.proto",
    "services/version/v1/version.proto",
    "services/ttrpc/events/v1/events.proto",
    "events/container.proto",
    "events/content.proto",
    "events/image.proto",
    "events/namespace.proto",
    "events/snapshot.proto",
    "events/task.proto",
]] + [
    "github.com/containerd/containerd/runtime/v2/runc/options/oci.proto",
    "github.com/containerd/cgroups/stats/v1/metrics.proto",
    "github.com/containerd/cgroups/v2/stats/metrics.proto",
]
# Lives at google/rpc/status.proto for the importers; copied from here.
GOOGLE_RPC_STATUS = "github.com/gogo/googleapis/google/rpc/status.proto"

# --- stripping -------------------------------------------------------------

_STRIP_IMPORT = re.compile(
    r'^\s*import\s+(weak\s+)?"(gogoproto/gogo\.proto|'
    r'github\.com/containerd/containerd/protobuf/plugin/fieldpath\.proto)"\s*;'
    r'[^\n]*\n', re.M)
_STRIP_FILE_OPTION = re.compile(
    r'^\s*option\s+\((gogoproto|containerd\.plugin)\.[^)]*\)\s*=[^;]*;[^\n]*\n',
    re.M)
_STRIP_FIELD_OPTIONS = re.compile(
    r'\s*\[\s*\((gogoproto|containerd\.plugin)\.[^\]]*\]')


def strip_gogo(text, path):
    text = _STRIP_IMPORT.sub("", text)
    text = _STRIP_FILE_OPTION.sub("", text)
    text = _STRIP_FIELD_OPTIONS.sub("", text)
    for leftover in ("gogoproto", "containerd.plugin"):
        if leftover in text:
            sys.exit("%s: could not strip every %s option" % (path, leftover))
    return text


def build_original_set(orig_root, tmp):
    src = os.path.join(tmp, "orig")
    files = []
    for rel in ORIGINALS + [GOOGLE_RPC_STATUS]:
        with open(os.path.join(orig_root, rel)) as f:
            text = strip_gogo(f.read(), rel)
        dest_rel = "google/rpc/status.proto" if rel == GOOGLE_RPC_STATUS else rel
        dest = os.path.join(src, dest_rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w") as f:
            f.write(text)
        files.append(dest_rel)
    out = os.path.join(tmp, "orig.pb")
    run_protoc(src, files, out)
    return out


def build_our_set(repo, tmp):
    files = []
    for root, _, names in os.walk(os.path.join(repo, "proto")):
        files += [os.path.relpath(os.path.join(root, n), repo)
                  for n in names if n.endswith(".proto")]
    out = os.path.join(tmp, "ours.pb")
    run_protoc(repo, sorted(files), out)
    return out


def run_protoc(include_root, files, out):
    cmd = ["protoc", "-I", include_root, "-I", "/usr/include",
           "--include_imports", "--descriptor_set_out=" + out] + files
    proc = subprocess.run(cmd, cwd=include_root, capture_output=True, text=True)
    if proc.returncode != 0 or proc.stderr.strip():
        sys.exit("protoc failed in %s:\n%s" % (include_root, proc.stderr))


def pbgo_raw_descriptor(path):
    """The FileDescriptorProto bytes embedded in a protoc-gen-go .pb.go."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"_rawDesc\s*=\s*\[\]byte\s*\{(.*?)\}", text, re.S)
    if not m:
        sys.exit("%s: no rawDesc byte literal" % path)
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", m.group(1)))

# --- protobuf wire decoding (just enough for descriptor.proto) -------------


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def decode(buf):
    """Maps field number -> list of raw values (ints or bytes)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _varint(buf, i)
        elif wire_type == 2:
            n, i = _varint(buf, i)
            value = bytes(buf[i:i + n])
            i += n
        elif wire_type == 1:
            value, i = bytes(buf[i:i + 8]), i + 8
        elif wire_type == 5:
            value, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
        out.setdefault(number, []).append(value)
    return out


def _str(msg, number, default=""):
    values = msg.get(number)
    return values[-1].decode() if values else default


def _int(msg, number, default=0):
    values = msg.get(number)
    return values[-1] if values else default


# Field numbers from google/protobuf/descriptor.proto.
FILE_SET_FILE = 1
FILE_PACKAGE, FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 2, 4, 5, 6
MSG_NAME, MSG_FIELD, MSG_NESTED, MSG_ENUM, MSG_OPTIONS = 1, 2, 3, 4, 7
MSG_OPTIONS_MAP_ENTRY = 7
FIELD_NAME, FIELD_NUMBER, FIELD_LABEL, FIELD_TYPE = 1, 3, 4, 5
FIELD_TYPE_NAME, FIELD_OPTIONS, FIELD_ONEOF, FIELD_PROTO3_OPTIONAL = 6, 8, 9, 17
FIELD_OPTIONS_PACKED = 2
ENUM_NAME, ENUM_VALUE, VALUE_NAME, VALUE_NUMBER = 1, 2, 1, 2
SVC_NAME, SVC_METHOD = 1, 2
METHOD_NAME, METHOD_IN, METHOD_OUT, METHOD_CSTREAM, METHOD_SSTREAM = 1, 2, 3, 5, 6

LABELS = {1: "optional", 2: "required", 3: "repeated"}
TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32",
         6: "fixed64", 7: "fixed32", 8: "bool", 9: "string", 10: "group",
         11: "message", 12: "bytes", 13: "uint32", 14: "enum", 15: "sfixed32",
         16: "sfixed64", 17: "sint32", 18: "sint64"}


class Catalogue:
    """Flattened messages, enums and services of a set of files."""

    def __init__(self):
        self.messages = {}  # full name -> (map_entry, frozenset of field tuples)
        self.enums = {}  # full name -> frozenset of (name, number)
        self.services = {}  # full name -> {method: (in, out, cstream, sstream)}

    def add_file(self, fdp_bytes):
        f = decode(fdp_bytes)
        scope = _str(f, FILE_PACKAGE)
        for m in f.get(FILE_MESSAGE, []):
            self._add_message(scope, decode(m))
        for e in f.get(FILE_ENUM, []):
            self._add_enum(scope, decode(e))
        for s in f.get(FILE_SERVICE, []):
            s = decode(s)
            methods = {}
            for m in s.get(SVC_METHOD, []):
                m = decode(m)
                methods[_str(m, METHOD_NAME)] = (
                    _str(m, METHOD_IN), _str(m, METHOD_OUT),
                    bool(_int(m, METHOD_CSTREAM)), bool(_int(m, METHOD_SSTREAM)))
            self.services[_join(scope, _str(s, SVC_NAME))] = methods

    def add_set(self, set_bytes):
        for fdp in decode(set_bytes).get(FILE_SET_FILE, []):
            self.add_file(fdp)

    def _add_message(self, scope, m):
        name = _join(scope, _str(m, MSG_NAME))
        options = decode(m[MSG_OPTIONS][-1]) if MSG_OPTIONS in m else {}
        fields = set()
        for fd in m.get(MSG_FIELD, []):
            fd = decode(fd)
            field_options = decode(fd[FIELD_OPTIONS][-1]) if FIELD_OPTIONS in fd else {}
            fields.add((
                _str(fd, FIELD_NAME),
                _int(fd, FIELD_NUMBER),
                LABELS.get(_int(fd, FIELD_LABEL), "?"),
                TYPES.get(_int(fd, FIELD_TYPE), "?"),
                _str(fd, FIELD_TYPE_NAME),
                _int(fd, FIELD_ONEOF, None),
                bool(_int(fd, FIELD_PROTO3_OPTIONAL)),
                _int(field_options, FIELD_OPTIONS_PACKED, None),
            ))
        self.messages[name] = (bool(_int(options, MSG_OPTIONS_MAP_ENTRY)),
                               frozenset(fields))
        for nested in m.get(MSG_NESTED, []):
            self._add_message(name, decode(nested))
        for e in m.get(MSG_ENUM, []):
            self._add_enum(name, decode(e))

    def _add_enum(self, scope, e):
        values = set()
        for v in e.get(ENUM_VALUE, []):
            v = decode(v)
            number = _int(v, VALUE_NUMBER)
            if number >= 1 << 63:  # int32 varints of negative values
                number -= 1 << 64
            values.add((_str(v, VALUE_NAME), number))
        self.enums[_join(scope, _str(e, ENUM_NAME))] = frozenset(values)


def _join(scope, name):
    return scope + "." + name if scope else name


def _skip(full_name):
    return full_name.startswith("google.protobuf.")


def _fmt_field(t):
    name, number, label, typ, type_name, oneof, p3opt, packed = t
    extra = ""
    if oneof is not None:
        extra += " oneof=%d" % oneof
    if p3opt:
        extra += " proto3_optional"
    if packed is not None:
        extra += " packed=%d" % packed
    return "%s %s%s %s = %d%s" % (label, typ, " " + type_name if type_name else "",
                                  name, number, extra)


def compare(orig, ours):
    """Returns (differences, warnings, counts)."""
    diffs, warns = [], []
    counts = dict(messages=0, fields=0, enums=0, enum_values=0, services=0,
                  methods=0)
    for name, (map_entry, fields) in sorted(orig.messages.items()):
        if _skip(name):
            continue
        counts["messages"] += 1
        counts["fields"] += len(fields)
        if name not in ours.messages:
            diffs.append("message %s: missing in ours" % name)
            continue
        our_map_entry, our_fields = ours.messages[name]
        if map_entry != our_map_entry:
            diffs.append("message %s: map_entry %s vs ours %s"
                         % (name, map_entry, our_map_entry))
        for t in sorted(fields - our_fields):
            diffs.append("message %s: original field '%s' not in ours"
                         % (name, _fmt_field(t)))
        for t in sorted(our_fields - fields):
            diffs.append("message %s: our field '%s' not in original"
                         % (name, _fmt_field(t)))
    for name, values in sorted(orig.enums.items()):
        if _skip(name):
            continue
        counts["enums"] += 1
        counts["enum_values"] += len(values)
        if name not in ours.enums:
            diffs.append("enum %s: missing in ours" % name)
        elif values != ours.enums[name]:
            diffs.append("enum %s: values %s vs ours %s"
                         % (name, sorted(values), sorted(ours.enums[name])))
    for name, methods in sorted(orig.services.items()):
        if _skip(name):
            continue
        counts["services"] += 1
        counts["methods"] += len(methods)
        if name not in ours.services:
            diffs.append("service %s: missing in ours" % name)
            continue
        our_methods = ours.services[name]
        for method in sorted(set(methods) | set(our_methods)):
            a, b = methods.get(method), our_methods.get(method)
            if a != b:
                diffs.append("service %s method %s: original %s vs ours %s"
                             % (name, method, a, b))
    for kind, o, u in (("message", orig.messages, ours.messages),
                       ("enum", orig.enums, ours.enums),
                       ("service", orig.services, ours.services)):
        for name in sorted(set(u) - set(o)):
            if not _skip(name):
                warns.append("%s %s: only in ours" % (kind, name))
    return diffs, warns, counts


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orig-root", help="directory holding github.com/...")
    parser.add_argument("--orig-pbgo", action="append", default=[],
                        help="containerd .pb.go whose raw descriptor is an original")
    parser.add_argument("--orig-set", help="prebuilt original descriptor set")
    parser.add_argument("--ours-set", help="prebuilt descriptor set of ours")
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(here)),
                        help="berth repository root (default: from script path)")
    args = parser.parse_args()
    if not (args.orig_root or args.orig_set or args.orig_pbgo):
        parser.error("need --orig-root, --orig-set or --orig-pbgo")

    with tempfile.TemporaryDirectory() as tmp:
        orig, ours = Catalogue(), Catalogue()
        orig_sets = []
        if args.orig_root:
            orig_sets.append(build_original_set(args.orig_root, tmp))
        if args.orig_set:
            orig_sets.append(args.orig_set)
        for path in orig_sets:
            with open(path, "rb") as f:
                orig.add_set(f.read())
        for path in args.orig_pbgo:
            orig.add_file(pbgo_raw_descriptor(path))
        with open(args.ours_set or build_our_set(args.repo, tmp), "rb") as f:
            ours.add_set(f.read())

    diffs, warns, counts = compare(orig, ours)
    print("compared %(messages)d messages with %(fields)d fields, "
          "%(enums)d enums with %(enum_values)d values, "
          "%(services)d services with %(methods)d methods" % counts)
    for w in warns:
        print("warning: " + w)
    for d in diffs:
        print("DIFF: " + d)
    print("%d differences" % len(diffs) if diffs else "no differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
