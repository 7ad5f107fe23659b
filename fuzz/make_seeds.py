#!/usr/bin/env python3
"""Writes the binary seed files of fuzz/corpus/ (tar_apply, manifest, hosts_toml,
content_writer). The text seeds of the other targets are plain files written by hand.
Run from anywhere: python3 fuzz/make_seeds.py. Deterministic: the same files every time."""
import hashlib
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- manifest: byte 0 = parser (bits 0-1: 0 document, 1 index, 2 manifest, 3 image config)
# | declared media type index << 2 (0 none, 1 OCI index, 2 OCI manifest, 3 Docker list,
# 4 Docker manifest, 5 OCI config, 6 layer, 7 schema 1).
def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


cfg = sha(b"config")
lay = sha(b"layer")
oci_manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 6},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": lay,
                "size": 5, "urls": ["https://example.com/x"]}],
    "annotations": {"a": "b"},
}
docker_manifest = dict(oci_manifest, mediaType="application/vnd.docker.distribution.manifest.v2+json")
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": cfg, "size": 10,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": lay, "size": 11,
         "platform": {"os": "linux", "architecture": "arm", "variant": "v7",
                      "os.version": "1", "os.features": ["x"]}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": lay, "size": 12},
    ],
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": cfg, "size": 1},
}
config = {"architecture": "amd64", "os": "linux",
          "rootfs": {"type": "layers", "diff_ids": [cfg, lay]}}
docs = [
    (0, 0, oci_manifest), (0, 2, oci_manifest), (0, 4, docker_manifest), (0, 0, index),
    (0, 1, index), (0, 3, dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")),
    (1, 1, index), (2, 2, oci_manifest), (3, 0, config),
    (0, 0, dict(oci_manifest, manifests=[])),                 # ambiguous: refused
    (0, 0, {"schemaVersion": 1, "name": "x", "fsLayers": []}),  # schema 1
    (2, 0, dict(oci_manifest, layers=[{"mediaType": "x", "digest": lay, "size": -1}])),
    (0, 6, oci_manifest),                                     # declared as a layer
    (3, 0, {"rootfs": {"type": "other", "diff_ids": ["sha256:00"]}}),
]
for i, (which, mt, doc) in enumerate(docs):
    write("manifest", "seed%d" % (i + 1), bytes([which | (mt << 2)]) + json.dumps(doc).encode())
write("manifest", "seed_notjson", b"\x00{\"schemaVersion\": 2, \"config\": ")

# --- hosts_toml: byte 0 = host index << 1 | plain_http; hosts: docker.io, localhost:5000,
# registry.example.com, [::1]:5000, 127.0.0.1, myreg.io:5000.
hosts = [
    (0, 'server = "https://registry-1.docker.io"\n[host."https://mirror.example.com"]\n'
        '  capabilities = ["pull", "resolve"]\n  ca = "mirror-ca.crt"\n'
        '  client = [["client.cert", "client.key"]]\n  skip_verify = false\n'
        '  dial_timeout = "1s"\n  [host."https://mirror.example.com".header]\n'
        '    x-custom = "value"\n    x-list = ["a", "b"]\n'),
    (2, '[host."http://127.0.0.1:5000/v2"]\n  capabilities = ["pull"]\n  override_path = true\n'),
    (4, 'server = "registry.example.com:8443/path"\nca = ["/abs/ca.crt", "rel.crt"]\n'
        'client = "pem"\n'),
    (6, '[host."[::1]:5000"]\n  skip_verify = true\n  dial_timeout = "1m30s"\n'),
    (9, 'capabilities = ["push", "bogus"]\n'),
    (10, '[host."https://a"]\n  [host."https://a".host."https://b"]\n'),
    (0, 'server = 5\n'),
    (0, 'dial_timeout = "-1s"\n'),
    (0, '[host."https://m"\n'),
    (1, ''),
]
for i, (b, text) in enumerate(hosts):
    write("hosts_toml", "seed%d" % (i + 1), bytes([b]) + text.encode())

# --- tar_apply: byte 0 = options (bit 0 overlay whiteouts, bit 1 user.overlay., bit 2
# devices, bits 3-4 chunk size); the rest is a tar stream.


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o644)
            ti.linkname = e.get("link", "")
            ti.uid = e.get("uid", 0)
            ti.gid = e.get("gid", 0)
            ti.mtime = 1700000000
            ti.pax_headers = e.get("pax", {})
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            ti.devmajor, ti.devminor = e.get("dev", (0, 0))
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    # tarfile pads to 10 KiB records; keep the entries and the two zero end blocks only.
    raw = buf.getvalue().rstrip(b"\0")
    raw += b"\0" * (-len(raw) % 512)
    return raw + b"\0" * 1024


D, F, L, H, C = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE
layers = [
    (0, [dict(name="etc", type=D, mode=0o755), dict(name="etc/passwd", data=b"root:x:0:0\n"),
         dict(name="bin", type=D), dict(name="bin/sh", data=b"#!", mode=0o4755),
         dict(name="bin/ln", type=H, link="bin/sh"), dict(name="usr/lib/x", data=b"x")]),
    (0, [dict(name="../../canary/file", data=b"overwrite"),
         dict(name="/../canary/dir/new", data=b"x")]),
    (0, [dict(name="escape", type=L, link="../canary"), dict(name="escape/file", data=b"x"),
         dict(name="abs", type=L, link="/"), dict(name="abs/new", data=b"y")]),
    (0, [dict(name="up", type=L, link="../../.."), dict(name="up/canary/dir/evil", type=D),
         dict(name="hl", type=H, link="../canary/file")]),
    (0, [dict(name="link", type=L, link="../canary/file"), dict(name="link", mode=0o777, type=D),
         dict(name="l2", type=L, link="/etc"), dict(name="l2", type=L, link="x")]),
    (0, [dict(name="a", type=D), dict(name="a/b", data=b"b"), dict(name="a/.wh.b"),
         dict(name="a/c", data=b"c"), dict(name="a/.wh..wh..opq"), dict(name=".wh.."),
         dict(name="a/.wh..wh.plnk", data=b"")]),
    (1, [dict(name="d", type=D), dict(name="d/.wh.x"), dict(name="d/.wh..wh..opq"),
         dict(name="f", data=b"f", pax={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                        "SCHILY.xattr.user.test": "v"})]),
    (3, [dict(name="w/.wh.gone"), dict(name="x", data=b"x" * 600)]),
    (4, [dict(name="dev/null", type=C, dev=(1, 3)), dict(name="dev/zero", type=C, dev=(1, 5)),
         dict(name="dev/null", data=b"over a device")]),
    (8, [dict(name="long/" + "n" * 200, data=b"long name"), dict(name="h", type=H, link="long/" + "n" * 200)]),
    (16, [dict(name="f", data=b"1"), dict(name="f/g", data=b"2"), dict(name="f", type=D),
          dict(name=".", type=D, mode=0o700), dict(name="..", type=D)]),
    (24, [dict(name="hl", type=H, link="missing"), dict(name="sl", type=L, link="sl"),
          dict(name="sl/x", data=b"loop")]),
    (0, [dict(name="u", data=b"u", uid=65534, gid=65534), dict(name="big", data=b"",
          uid=4294967294)]),
]
for i, (opt, entries) in enumerate(layers):
    write("tar_apply", "seed%d" % (i + 1), bytes([opt]) + tar(entries))
write("tar_apply", "seed_gnu", bytes([0]) + tar([dict(name="g" * 120, data=b"gnu")], tarfile.GNU_FORMAT))
write("tar_apply", "seed_ustar", bytes([8]) + tar([dict(name="u/v", data=b"ustar"),
                                                   dict(name="u", type=D, mode=0)], tarfile.USTAR_FORMAT))
write("tar_apply", "seed_truncated", bytes([0]) + tar([dict(name="t", data=b"t" * 2000)])[:1200])
write("tar_apply", "seed_empty", bytes([0]) + b"\0" * 1024)


# --- content_writer: the operations are decoded with libFuzzer's FuzzedDataProvider, which
# takes integers from the end of the input and strings from the front; Enc mirrors it.
class Enc:
    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in consumption order

    def int(self, v, lo, hi):
        rng, val, k, out = hi - lo, v - lo, 0, []
        while k < 64 and (rng >> k) > 0:
            out.append(0)
            k += 8
        for j in range(len(out)):
            out[j] = (val >> (8 * (len(out) - 1 - j))) & 0xFF
        self.back += bytes(out)

    def bool(self, b):
        self.back.append(1 if b else 0)

    def str(self, s):
        self.front += s.replace(b"\\", b"\\\\") + b"\\e"

    def data(self):
        return bytes(self.front) + bytes(reversed(self.back))


OPEN, WRITE, COMMIT, ABORT, STATUS, TRUNC, CLOSE, DIGEST = 0, 1, 3, 4, 5, 6, 7, 8


def program(ops):
    e = Enc()
    for op in ops:
        ref, kind, args = op[0], op[1], op[2:]
        e.int(ref, 0, 2)
        e.int(kind, 0, 8)
        if kind == OPEN:
            total, zero, exp = args[0], args[1], args[2]
            e.int(total, 0, 4096)
            e.bool(zero)
            e.int(exp, 0, 2)
            if exp == 1:
                e.int(args[3], 0, 255)
            if exp == 2:
                e.str(args[3])
        elif kind == WRITE:
            e.str(args[0])
        elif kind == COMMIT:
            e.int(args[0], 0, 2)
            if args[0] == 2:
                e.int(1, 1, 3)
            e.int(args[1], 0, 2)
            if args[1] == 2:
                e.int(7, 0, 255)
        elif kind == TRUNC:
            e.bool(args[0] == 0)
            if args[0] != 0:
                e.int(args[0], 1, 100)
    return e.data()


seeds = [
    # open, write, commit with the right size and digest
    [(0, OPEN, 0, True, 0), (0, WRITE, b"hello"), (0, STATUS), (0, COMMIT, 1, 1)],
    # wrong digest, then right one
    [(0, OPEN, 5, False, 0), (0, WRITE, b"hel"), (0, WRITE, b"lo"), (0, COMMIT, 1, 2),
     (0, OPEN, 0, True, 0), (0, COMMIT, 0, 1)],
    # wrong size; abort while held; close; abort
    [(1, OPEN, 0, True, 0), (1, WRITE, b"abc"), (1, COMMIT, 2, 0), (1, OPEN, 0, True, 0),
     (1, ABORT), (1, CLOSE), (1, ABORT), (1, ABORT)],
    # expected digest declared at open, resume after close, truncate
    [(2, OPEN, 0, True, 2, b"data"), (2, WRITE, b"da"), (2, CLOSE), (2, STATUS),
     (2, OPEN, 4, False, 0), (2, WRITE, b"ta"), (2, DIGEST), (2, TRUNC, 0), (2, TRUNC, 5),
     (2, WRITE, b"data"), (2, COMMIT, 1, 1)],
    # two refs, same bytes committed twice (AlreadyExists), second writer on a held ref
    [(0, OPEN, 0, True, 0), (1, OPEN, 0, True, 0), (0, WRITE, b"same"), (1, WRITE, b"same"),
     (0, COMMIT, 0, 1), (1, COMMIT, 1, 0), (2, OPEN, 0, True, 2, b"same"), (0, DIGEST)],
    # empty blob, commit after commit
    [(0, OPEN, 0, True, 0), (0, COMMIT, 0, 0), (0, COMMIT, 0, 0), (0, WRITE, b"late")],
    # declared wrong digest
    [(1, OPEN, 0, True, 1, 3), (1, WRITE, b"x"), (1, COMMIT, 1, 1), (1, COMMIT, 0, 0)],
]
for i, ops in enumerate(seeds):
    write("content_writer", "seed%d" % (i + 1), program(ops))
