"""Regenerate (or check) the Python code generated from the .proto files.

    python -m protos.generate           # rewrite protos/**/*_pb2*.py(i)
    python -m protos.generate --check   # exit 1 and name the stale files

The generated files are committed so that ``pip install`` needs no protoc, and
never edited by hand: this module is the only thing that writes them. Paths are
resolved from the repository root so the generated imports read
``from protos.game_agent.v1 import agent_pb2``.
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_FILES = ("protos/game_agent/v1/agent.proto",)
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


class ProtocError(RuntimeError):
    """protoc rejected a .proto file; the message carries its diagnostics."""


def generated_paths(proto: str) -> list[str]:
    """Relative paths of the files generated from one .proto file."""
    stem = proto.removesuffix(".proto")
    return [stem + suffix for suffix in GENERATED_SUFFIXES]


def generate(root: Path = REPO_ROOT, out: Path | None = None) -> list[Path]:
    """Run protoc over ``root``'s .proto files, writing under ``out`` (default: ``root``)."""
    from grpc_tools import protoc  # imported here: only generation needs grpcio-tools

    out = out or root
    include = Path(protoc.__file__).parent / "_proto"
    written = []
    for proto in PROTO_FILES:
        (out / proto).parent.mkdir(parents=True, exist_ok=True)
        args = [
            "protoc",
            f"-I{root}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(root / proto),
        ]
        if protoc.main(args) != 0:
            raise ProtocError(f"protoc failed on {root / proto}; see its messages above")
        written.extend(out / path for path in generated_paths(proto))
    return written


def stale_files(root: Path = REPO_ROOT) -> list[str]:
    """Generated files under ``root`` that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(root, Path(tmp))
        stale = []
        for proto in PROTO_FILES:
            for path in generated_paths(proto):
                committed, fresh = root / path, Path(tmp) / path
                if not committed.exists() or not filecmp.cmp(committed, fresh, shallow=False):
                    stale.append(path)
        return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.check:
        stale = stale_files()
        for path in stale:
            log.error("stale generated file: %s (run `make protos`)", path)
        return 1 if stale else 0
    for path in generate():
        log.info("wrote %s", path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
