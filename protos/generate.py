"""Generate Python code (messages, stubs, type stubs) from protos/ into gen/.

Generated modules import as ``omega.<domain>.v1.<file>_pb2``: the import root equals the proto
package root, so the generated imports are used as they are, never rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent


def proto_files() -> list[Path]:
    """Every OMEGA proto (third-party protos are compiled separately by whoever vendors them)."""
    return sorted((PROTO_ROOT / "omega").rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Run protoc for every OMEGA proto into ``out_dir`` and add package markers."""
    import grpc_tools
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    include = Path(grpc_tools.__file__).parent / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{PROTO_ROOT / 'third_party'}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generate_third_party(out_dir, include)
    for pkg in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        d = pkg
        while d != out_dir:
            (d / "__init__.py").touch()
            d = d.parent


# Third-party protos (protos/third_party/*.proto, kept verbatim) are compiled as
# omega/third_party/<vendor>/<file>.proto so their code lands inside the installed `omega` package
# (for example `omega.third_party.keda.externalscaler_pb2`); their proto packages and wire names
# (e.g. `externalscaler.ExternalScaler`) are unchanged.
THIRD_PARTY_VENDORS = {"externalscaler.proto": "keda"}


def generate_third_party(out_dir: Path, include: Path) -> None:
    """Compile each vendored third-party proto, unchanged, into gen/omega/third_party/<vendor>/."""
    import shutil
    import tempfile

    from grpc_tools import protoc

    for src in sorted((PROTO_ROOT / "third_party").glob("*.proto")):
        vendor = THIRD_PARTY_VENDORS.get(src.name, src.stem)
        with tempfile.TemporaryDirectory() as tmp:
            rel = Path("omega") / "third_party" / vendor / src.name
            (Path(tmp) / rel).parent.mkdir(parents=True)
            shutil.copyfile(src, Path(tmp) / rel)
            args = [
                "protoc",
                f"-I{tmp}",
                f"-I{include}",
                f"--python_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                f"--pyi_out={out_dir}",
                str(rel),
            ]
            if protoc.main(args) != 0:
                raise SystemExit(f"protoc failed for {src.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "gen")
    args = parser.parse_args(argv)
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
