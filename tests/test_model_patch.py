"""export/model_patch.py: the byte patches that let the demo fetch one model file for many variants."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

from export import model_patch as P  # noqa: E402

MODELS = ROOT / "docs" / "models"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_round_trip_and_merging():
    rnd = random.Random(0)
    base = bytes(rnd.randrange(256) for _ in range(5000))
    v = bytearray(base)
    for i in (0, 10, 11, 30, 4000, 4999):  # ends of the file, neighbours, a gap below MAX_GAP, a far one
        v[i] ^= 0x5A
    v = bytes(v)
    ranges = P.make_patch(base, v)
    assert P.apply_patch(base, ranges) == v
    assert [r[0] for r in ranges] == [0, 4000, 4999]  # 0..30 is one range (gaps < MAX_GAP)
    assert P.patch_bytes(ranges) == 31 + 1 + 1
    assert P.make_patch(base, base) == [] and P.apply_patch(base, []) == base
    assert [r[0] for r in P.make_patch(base, v, max_gap=1)] == [0, 10, 30, 4000, 4999]
    json.dumps(ranges)  # JSON-able as it is


def test_bad_input():
    with pytest.raises(ValueError):
        P.make_patch(b"abc", b"abcd")
    with pytest.raises(ValueError):
        P.apply_patch(b"abc", [[2, "AAAA"]])  # 3 bytes at offset 2 of a 3-byte file


def _variant(root: Path, name: str, data: bytes) -> dict:
    (root / name / "onnx").mkdir(parents=True)
    (root / name / "onnx" / "m.onnx").write_bytes(data)
    return {"model": "onnx/m.onnx", "files": [{"path": "onnx/m.onnx", "bytes": len(data), "sha256": _sha(data)}]}


def test_add_patches_picks_the_nearest_full_file(tmp_path):
    rnd = random.Random(1)
    base = bytes(rnd.randrange(256) for _ in range(4096))
    other = bytes(rnd.randrange(256) for _ in range(4096))  # same length, unrelated: a second full file
    ft = bytearray(base)
    ft[100:110] = b"0123456789"
    ft2 = bytearray(other)
    ft2[7] ^= 1
    m = {"variants": {"base": _variant(tmp_path, "base", base), "other": _variant(tmp_path, "other", other),
                      "ft": _variant(tmp_path, "ft", bytes(ft)), "ft2": _variant(tmp_path, "ft2", bytes(ft2)),
                      "short": _variant(tmp_path, "short", base[:-1]),
                      "copy": _variant(tmp_path, "copy", base)}}
    m["variants"]["base"]["patch"] = {"stale": True}  # recomputed, here dropped
    P.add_patches(m, tmp_path, max_bytes=64)
    v = m["variants"]
    assert "patch" not in v["base"] and "patch" not in v["other"] and "patch" not in v["short"]
    assert v["ft"]["patch"]["base"] == "base" and v["ft"]["patch"]["bytes"] <= 10
    assert v["ft"]["patch"]["base_sha256"] == v["base"]["files"][0]["sha256"]
    assert v["ft2"]["patch"]["base"] == "other" and v["ft2"]["patch"]["bytes"] == 1
    assert v["copy"]["patch"]["ranges"] == []
    assert P.check_patches(m, tmp_path) == []
    v["ft"]["patch"]["ranges"][0][1] = "AAAA"  # a wrong patch is reported
    assert any("ft:" in p for p in P.check_patches(m, tmp_path))


def test_published_manifest_patches_reproduce_the_files():
    """The committed docs/models/manifest.json: every patch gives its variant's file, and it is current
    (export/model_patch.py recomputes the same patches from the committed files)."""
    m = json.loads((MODELS / "manifest.json").read_text())
    assert P.check_patches(m, MODELS) == []
    fresh = P.add_patches(json.loads(json.dumps(m)), MODELS)
    assert {k: e.get("patch") for k, e in fresh["variants"].items()} == \
        {k: e.get("patch") for k, e in m["variants"].items()}
    assert any(e.get("patch") for e in m["variants"].values())
