"""cc_grpc_library: protoc + grpc_cpp_plugin (SYSTEM binaries) via a genrule,
wrapped in a cc_library linked against SYSTEM grpc++/protobuf."""

def cc_grpc_library(name, srcs, deps = [], proto_include = ".", **kwargs):
    """srcs: .proto files in this package (may import each other, paths relative to the workspace root)."""
    pkg = native.package_name()
    outs = []
    for s in srcs:
        base = s[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc", base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = srcs,
        outs = outs,
        tools = [
            "@com_google_protobuf//:protoc",
            "@com_google_protobuf//:grpc_cpp_plugin",
        ],
        cmd = ("$(execpath @com_google_protobuf//:protoc) -I%s -I/usr/include --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=$(execpath @com_google_protobuf//:grpc_cpp_plugin) $(SRCS)") % proto_include,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:grpcpp"],
        **kwargs
    )
