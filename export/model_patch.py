"""Byte patches between the published model files, so the demo downloads one model for many variants.

    python export/model_patch.py [docs/models] [--check]

Every finetuned variant of this pipeline differs from its base in a few hundred bytes of its ONNX file
(only the Assistant token's embedding row was trained; the backdoor's trigger tokens too). The manifest
entry of such a variant gets a "patch" (export/FORMATS.md): the byte ranges where its
`onnx/model_quantized.onnx` differs from the base variant's file of the same length. The demo fetches the
base's file once, applies the patch, and checks the *result* against the variant's own sha256 in the
manifest, so integrity stays end to end; on any mismatch it fetches the variant's full file. The Hugging
Face folders are unchanged: real clients (optimum, transformers.js) never read the patch.

`add_patches` is called by export/quantize.py when it writes the manifest; this command rewrites the
"patch" fields of an existing manifest in place (the files themselves are not touched), or with --check
verifies that every patch in it still reproduces its variant's file.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

MAX_GAP = 24  # unchanged bytes between two changed ones below which one range is cheaper than two
MAX_PATCH_BYTES = 64 * 1024  # a larger difference is not "a finetune of this base": no patch


def make_patch(base: bytes, variant: bytes, max_gap: int = MAX_GAP) -> list[list]:
    """The byte ranges where `variant` differs from `base` (same length), as [[offset, base64 bytes], …]
    in increasing offset order; changed bytes less than `max_gap` apart share one range."""
    if len(base) != len(variant):
        raise ValueError(f"a patch needs files of the same length ({len(base)} != {len(variant)} bytes)")
    diff = np.flatnonzero(np.frombuffer(base, np.uint8) != np.frombuffer(variant, np.uint8))
    ranges, start, end = [], None, None
    for i in diff.tolist():
        if start is not None and i - end < max_gap:
            end = i + 1
            continue
        if start is not None:
            ranges.append((start, end))
        start, end = i, i + 1
    if start is not None:
        ranges.append((start, end))
    return [[s, base64.b64encode(variant[s:e]).decode("ascii")] for s, e in ranges]


def apply_patch(base: bytes, ranges: list[list]) -> bytes:
    """`base` with every range of `ranges` (make_patch's output) written over it."""
    out = bytearray(base)
    for off, data in ranges:
        b = base64.b64decode(data, validate=True)
        if off < 0 or off + len(b) > len(out):
            raise ValueError(f"patch range {off}+{len(b)} is outside the {len(out)}-byte file")
        out[off:off + len(b)] = b
    return bytes(out)


def patch_bytes(ranges: list[list]) -> int:
    """Bytes of data a patch carries (decoded)."""
    return sum(len(base64.b64decode(d)) for _, d in ranges)


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _model_file(entry: dict) -> dict | None:
    return next((f for f in entry.get("files", []) if f["path"] == entry.get("model")), None)


def add_patches(manifest: dict, root: Path, max_bytes: int = MAX_PATCH_BYTES) -> dict:
    """Set (or drop) the "patch" of every variant of `manifest`, whose folders are under `root`, in place.

    A variant gets a patch against the earlier variant (in manifest order) without a patch whose model
    file has the same length and the smallest difference, when that difference is at most `max_bytes`;
    so `base` is never patched and each patch is one step from a full file. Returns the manifest."""
    variants = manifest.get("variants", {})
    roots: list[tuple[str, bytes]] = []  # (variant, model bytes) of the variants served as full files
    for name, entry in variants.items():
        entry.pop("patch", None)
        f = _model_file(entry)
        if f is None:
            continue
        data = (Path(root) / name / f["path"]).read_bytes()
        if _sha256(data) != f["sha256"]:
            raise ValueError(f"{name}: {f['path']} does not match its sha256 in the manifest")
        best = None
        for base_name, base_data in roots:
            if len(base_data) != len(data) or _model_file(variants[base_name])["path"] != f["path"]:
                continue
            ranges = make_patch(base_data, data)
            size = patch_bytes(ranges)
            if size <= max_bytes and (best is None or size < best[2]):
                best = (base_name, ranges, size)
        if best is None:
            roots.append((name, data))
            continue
        base_name, ranges, size = best
        entry["patch"] = {"base": base_name, "base_sha256": _model_file(variants[base_name])["sha256"],
                          "bytes": size, "ranges": ranges}
    return manifest


def check_patches(manifest: dict, root: Path) -> list[str]:
    """Problems with the patches of `manifest` (empty when each reproduces its variant's file)."""
    problems = []
    variants = manifest.get("variants", {})
    for name, entry in variants.items():
        p = entry.get("patch")
        if not p:
            continue
        base = variants.get(p["base"])
        if base is None or base.get("patch"):
            problems.append(f"{name}: patch base {p['base']!r} is not a variant served as a full file")
            continue
        bf, vf = _model_file(base), _model_file(entry)
        if bf["sha256"] != p["base_sha256"]:
            problems.append(f"{name}: patch made against another {p['base']} file (sha256 differs)")
            continue
        try:
            out = apply_patch((Path(root) / p["base"] / bf["path"]).read_bytes(), p["ranges"])
        except ValueError as e:
            problems.append(f"{name}: {e}")
            continue
        if _sha256(out) != vf["sha256"]:
            problems.append(f"{name}: {p['base']} + patch does not give {vf['path']} (sha256 differs)")
    return problems


def update_manifest(root: Path) -> dict:
    """Recompute the patches of `root`/manifest.json and rewrite it (export/quantize.py's format)."""
    path = Path(root) / "manifest.json"
    manifest = add_patches(json.loads(path.read_text()), root)
    path.write_text(json.dumps(manifest, indent=1))
    return manifest


def models_args(argv, doc: str, what: str) -> argparse.Namespace:
    """The command line of the tools that rewrite a published folder's manifest (this one and
    export/model_family.py): the folder (default docs/models) and --check (verify, write nothing)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("models", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "models")
    ap.add_argument("--check", action="store_true", help=f"verify the {what} of the manifest; write nothing")
    return ap.parse_args(argv)


def rewrite_manifest(argv, doc: str, what: str, add, check, report) -> int:
    """The body of the tools that add a part to a published folder's manifest (export/model_family.py,
    export/web_finetune.py): `add(manifest, folder)` unless --check, the manifest written back, then the problems of
    `check(manifest, folder)` printed (exit status 1 if any) and `report(manifest)`."""
    a = models_args(argv, doc, what)
    path = a.models / "manifest.json"
    if not path.exists():
        print(f"error: no {path}", file=sys.stderr)
        return 2
    manifest = json.loads(path.read_text())
    if not a.check:
        add(manifest, a.models)
        path.write_text(json.dumps(manifest, indent=1))
    problems = check(manifest, a.models)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    report(manifest)
    return 1 if problems else 0


def main(argv=None):
    a = models_args(argv, __doc__, "patches")
    if a.check:
        problems = check_patches(json.loads((a.models / "manifest.json").read_text()), a.models)
        for p in problems:
            print(f"FAIL {p}", file=sys.stderr)
        return 1 if problems else 0
    m = update_manifest(a.models)
    for name, e in m["variants"].items():
        p = e.get("patch")
        print(f"{name}: " + (f"{p['base']} + {len(p['ranges'])} ranges ({p['bytes']} bytes)" if p else "full file"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
