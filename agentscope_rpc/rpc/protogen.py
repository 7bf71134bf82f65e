"""Regenerate the protobuf/gRPC modules from proto/ (the one recorded command).

    python -m agentscope_rpc.rpc.protogen [--out DIR]

Writes agentscope_rpc/rpc/_proto/agent_server_pb2{,_grpc}.py (or under DIR,
for the staleness test).  Generated modules are never edited by hand.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PACKAGE_PREFIX = "agentscope_rpc/rpc/_proto"


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    from grpc_tools import protoc  # dev dependency (grpcio-tools)

    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(PROTO_DIR.glob("*.proto"))
    args = [
        "protoc",
        f"-I{PACKAGE_PREFIX}={PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[f"{PACKAGE_PREFIX}/{p.name}" for p in protos],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    return sorted((out_dir / PACKAGE_PREFIX).glob("*_pb2*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT)
    ns = parser.parse_args(argv)
    for path in generate(ns.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
