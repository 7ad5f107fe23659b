"""Helpers that keep BUILD.bazel files in step with the CMakeLists.txt beside them.

Targets have the same names in both builds: `//lib/digest` is CMake's `lib_digest`,
`//lib/digest:digest_test` is `lib_digest_digest_test`.
"""

def berth_cc_library(name, srcs = [], hdrs = [], deps = [], **kwargs):
    native.cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        deps = deps,
        visibility = ["//visibility:public"],
        **kwargs
    )

def berth_cc_binary(name, srcs = [], deps = [], **kwargs):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps,
        visibility = ["//visibility:public"],
        **kwargs
    )

def berth_cc_test(name, srcs = [], deps = [], tags = [], size = "small", data = [], **kwargs):
    """A GoogleTest binary. tags must name its label: unit, root, integration or conformance."""
    if not [t for t in tags if t in ("unit", "root", "integration", "conformance")]:
        fail("berth_cc_test(%s): tags must include unit, root, integration or conformance" % name)
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + ["@system//:gtest_main"],
        tags = tags,
        size = size,
        data = data,
        **kwargs
    )
