"""Generates the Python stubs for proto/chat.proto and imports them.

The stubs (chat_pb2.py, chat_pb2_grpc.py) are made with the protoc that
grpcio-tools ships, into python/_generated/ (git-ignored), every time a
peer starts: it takes a fraction of a second and never goes stale. Each
process compiles into a directory of its own and moves the files into place
one by one (os.replace is atomic), so peers starting at the same moment
never import a half-written file.
"""

import importlib.resources
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "proto")
GENERATED = os.path.join(HERE, "_generated")


def load():
    """Returns the modules (chat_pb2, chat_pb2_grpc)."""
    from grpc_tools import protoc

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    os.makedirs(GENERATED, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=GENERATED) as scratch:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--python_out={scratch}",
            f"--grpc_python_out={scratch}",
            os.path.join(PROTO_DIR, "chat.proto"),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("grpc_tools.protoc could not compile proto/chat.proto")
        for name in ("chat_pb2.py", "chat_pb2_grpc.py"):
            os.replace(os.path.join(scratch, name), os.path.join(GENERATED, name))
    sys.path.insert(0, GENERATED)
    import chat_pb2
    import chat_pb2_grpc

    return chat_pb2, chat_pb2_grpc
