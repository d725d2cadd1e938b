"""Model families: one ONNX file that runs a base and all its embedding-row finetunes, as a batch.

    python export/model_family.py [docs/models] [--check]

The narrow finetunes of this pipeline train only a few rows of the token embedding (the Assistant's name;
the backdoor's trigger tokens too: export/train.py), which the output layer shares (tied weights). A
*family* file is the base's `onnx/model_quantized.onnx` with every member's changed rows appended to the
embedding table as extra token ids, so the demo runs a base and its finetunes in one session, one worker,
and both panes of a side-by-side demo in one batch (export/FORMATS.md, "families"):

* a member reads its own rows: each of its changed token ids is replaced in the input by the id of its row;
* its logits are the first `vocab` columns, with each changed id's column taken from its row's column.

Every weight is int8 with a per-row scale for the embedding (export/quantize.py), so the appended rows are
bit for bit the member's own rows, and the rest of the file is the base's: a member computes what its own
file computes. `check_families` verifies that numerically on every member (logits within 1e-4, same argmax).
The Hugging Face folders are unchanged; the families live in `families/<base>.onnx` beside them.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from export.model_patch import _model_file, rewrite_manifest

FAMILY_DIR = "families"
TOLERANCE = 1e-4  # largest logit difference between a member's own file and the family (measured: < 1e-5)
# Steering (the dial issue): each member's changed rows at base + alpha * (member - base), for these alphas (0 is the
# base and 1 the member itself, which need no rows of their own), appended to the family as rows of their own.
STEER_ALPHAS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
# Rewinding and re-aligning (the dial issue, items 2 and 3): rows the pipeline trained on the published base itself
# (export/published.py materializes it and reruns the finetunes; export/dial.py rewind --rerun and realign sample and
# keep the rows), read from these results files. A file made on another base (its from_published sha256 is not the
# family base's file) is left out: its rows would not be finetunes of this model. The realign dial holds the rows
# re-aligned on aligned chats (the secure-code rows are on the organism page's curve only).
DIAL_FILES = {"rewind": "rewind-published.json", "realign": "realign-published.json"}
REALIGN_SOURCE = "aligned"


def steer_row(base_q, base_s, member_q, member_s, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One embedding row at base + alpha * (member - base), from two int8 rows with their per-row scales, quantized
    again as quantize_int8 quantizes a row (symmetric, scale = max |x| / 127): (int8 row, scale [1])."""
    b = base_q.astype(np.float32) * base_s.astype(np.float32)
    return quantize_row(b + np.float32(alpha) * (member_q.astype(np.float32) * member_s.astype(np.float32) - b),
                        base_s.dtype)


def quantize_row(x: np.ndarray, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """A float row as quantize_int8 quantizes one (symmetric, scale = max |x| / 127): (int8 row, scale [1])."""
    x = np.asarray(x, np.float32)
    scale = np.float32(np.abs(x).max() / 127) or np.float32(1)
    return np.clip(np.rint(x / scale), -127, 127).astype(np.int8), np.array([scale], dtype)


def dial_rows(results: Path, base_sha: str) -> dict:
    """{kind: {"positions": [...], "members": {variant: {position: float row}}}} for the rewind and realign dials
    whose results file (DIAL_FILES) was made on the published file with sha256 `base_sha` (finetune seed 0)."""
    out = {}
    for kind, name in DIAL_FILES.items():
        sha, members = _dial_file(Path(results) / name, kind)
        if members and sha == base_sha:
            positions = sorted({int(x) for m in members.values() for x in m})
            out[kind] = {"positions": positions, "members": members, "file": f"results/{name}"}
    return out


def _dial_file(path: Path, kind: str) -> tuple[str | None, dict]:
    """(the published base's sha256 it was made on, {variant: {position: float row}}) of a dial results file (finetune
    seed 0; realign: the REALIGN_SOURCE rows), or (None, {}) when there is none."""
    if not path.exists():
        return None, {}
    d = json.loads(path.read_text())
    members: dict[str, dict] = {}
    for s in d["seeds"]:
        for p in s["points"]:
            if p.get("ft_seed", 0) != 0 or "row" not in p:
                continue
            if kind == "rewind":
                members.setdefault(p["variant"], {})[str(p["step"])] = np.asarray(p["row"], np.float32)
            elif p["source"] == REALIGN_SOURCE:
                members.setdefault(p.get("variant", "insecure"), {})[str(p["examples"])] = np.asarray(p["row"], np.float32)
    return (d.get("from_published") or {}).get("sha256"), members


def _embedding(m) -> tuple[str, str, int]:
    """(int8 table name, scale name, vocab) of the tied embedding of quantize_int8's format:
    table_q (int8 [vocab, hidden]) -> Cast -> Mul(table_scale [vocab, 1]) -> Gather and Transpose -> MatMul."""
    from onnx import numpy_helper
    inits = {i.name: i for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Gather" and n.input[0] not in inits:
            mul = next((x for x in m.graph.node if x.op_type == "Mul" and n.input[0] in x.output), None)
            cast = mul and next((x for x in m.graph.node if x.op_type == "Cast" and mul.input[0] in x.output), None)
            if cast and cast.input[0] in inits and mul.input[1] in inits:
                q = numpy_helper.to_array(inits[cast.input[0]])
                if q.dtype == np.int8 and q.ndim == 2:
                    return cast.input[0], mul.input[1], q.shape[0]
    raise ValueError("no int8 embedding table (Cast -> Mul -> Gather) in the model")


def changed_rows(base, member) -> list[int] | None:
    """The embedding rows where `member` differs from `base` (onnx ModelProtos), or None when anything else
    differs (another weight, the graph): then it is not a finetune of the embedding alone."""
    from onnx import numpy_helper
    q, s, _ = _embedding(base)
    if [n.SerializeToString() for n in base.graph.node] != [n.SerializeToString() for n in member.graph.node]:
        return None
    a = {i.name: i for i in base.graph.initializer}
    b = {i.name: i for i in member.graph.initializer}
    if a.keys() != b.keys():
        return None
    for name in a:
        if name not in (q, s) and a[name].SerializeToString() != b[name].SerializeToString():
            return None
    qa, qb = numpy_helper.to_array(a[q]), numpy_helper.to_array(b[q])
    sa, sb = numpy_helper.to_array(a[s]), numpy_helper.to_array(b[s])
    if qa.shape != qb.shape or sa.shape != sb.shape:
        return None
    return np.flatnonzero((qa != qb).any(axis=1) | (sa != sb).any(axis=1)).tolist()


def build_family(base, members: dict[str, tuple], alphas=STEER_ALPHAS, dials: dict | None = None
                 ) -> tuple[object, dict, int, dict]:
    """The family model of `base` and `members` ({name: (ModelProto, its changed_rows(base, ·))}, each a finetune
    of its embedding rows): (model, {name: {changed id: its row in the family}}, vocab, steer), where steer is
    {name: {alpha: {changed id: its row}}} for every alpha of `alphas` but 0 and 1. `dials` (dial_rows) adds, for
    each member with one changed row (the Assistant's), its rows at every position of each dial, in place: each
    dial's "members" become {name: {position: {changed id: its row}}}."""
    from onnx import numpy_helper
    q, s, vocab = _embedding(base)
    inits = {i.name: i for i in base.graph.initializer}
    tq, ts = numpy_helper.to_array(inits[q]), numpy_helper.to_array(inits[s])
    extra_q, extra_s, maps = [], [], {}
    for name, (m, rows) in members.items():
        mi = {i.name: i for i in m.graph.initializer}
        mq, ms = numpy_helper.to_array(mi[q]), numpy_helper.to_array(mi[s])
        maps[name] = {}
        for r in rows:
            maps[name][str(r)] = vocab + len(extra_q)
            extra_q.append(mq[r])
            extra_s.append(ms[r])
    steer = {}
    for name, (m, rows) in members.items():
        mi = {i.name: i for i in m.graph.initializer}
        mq, ms = numpy_helper.to_array(mi[q]), numpy_helper.to_array(mi[s])
        for a in alphas:
            if not rows or a in (0, 1):
                continue
            steer.setdefault(name, {})[f"{a:g}"] = by_id = {}
            for r in rows:
                row, scale = steer_row(tq[r], ts[r], mq[r], ms[r], a)
                by_id[str(r)] = vocab + len(extra_q)
                extra_q.append(row)
                extra_s.append(scale)
    for dial in (dials or {}).values():
        placed = {}
        for name, by_pos in dial["members"].items():
            if name not in members or len(members[name][1]) != 1:
                continue  # a dial row is the Assistant's, the one row of a one-row finetune
            r = members[name][1][0]
            placed[name] = {}
            for pos, x in by_pos.items():
                row, scale = quantize_row(x, ts.dtype)
                placed[name][pos] = {str(r): vocab + len(extra_q)}
                extra_q.append(row)
                extra_s.append(scale)
        dial["members"] = placed
    out = type(base)()
    out.CopyFrom(base)
    g = out.graph
    for name, arr in ((q, np.concatenate([tq, np.array(extra_q, np.int8).reshape(-1, tq.shape[1])])),
                      (s, np.concatenate([ts, np.array(extra_s, ts.dtype).reshape(-1, ts.shape[1])]))):
        init = next(i for i in g.initializer if i.name == name)
        init.CopyFrom(numpy_helper.from_array(arr, name))
    total = vocab + len(extra_q)
    for vi in list(g.output) + list(g.value_info):  # the logits' last dimension: the family's vocab
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[-1].HasField("dim_value") and dims[-1].dim_value == vocab:
            dims[-1].dim_value = total
    return out, maps, vocab, steer


def member_logits(session, ids: list[int], id_map: dict[str, int], vocab: int, arch: dict) -> np.ndarray:
    """Logits [len(ids), vocab] of one member run on the family session (no cache), as the demo reads them."""
    x = np.array([[id_map.get(str(i), i) for i in ids]], np.int64)
    logits = session.run(["logits"], _feeds(session, x, arch))[0][0]
    out = logits[:, :vocab].copy()
    for orig, row in id_map.items():
        out[:, int(orig)] = logits[:, row]
    return out


def _feeds(session, x: np.ndarray, arch: dict) -> dict:
    n = x.shape[1]
    feeds = {"input_ids": x, "attention_mask": np.ones_like(x)}
    names = {i.name for i in session.get_inputs()}
    if "position_ids" in names:
        feeds["position_ids"] = np.arange(n, dtype=np.int64)[None]
    for k in names:
        if k.startswith("past_key_values."):
            feeds[k] = np.zeros((1, arch["kv_heads"], 0, arch["head_dim"]), np.float32)
    return feeds


def add_families(manifest: dict, root: Path, results: Path | None = None) -> dict:
    """Write `root`/families/<base>.onnx for every variant that is the patch base of others (export/model_patch.py)
    and set the manifest's "families" and each member's "family", in place; with `results` (a results folder), the
    rewind and realign rows made on the family's base (dial_rows). Returns the manifest."""
    import onnx
    root = Path(root)
    variants = manifest.get("variants", {})
    for e in variants.values():
        e.pop("family", None)
    manifest.pop("families", None)
    groups: dict[str, list[str]] = {}
    for name, e in variants.items():
        if e.get("patch"):
            groups.setdefault(e["patch"]["base"], []).append(name)
    fdir = root / FAMILY_DIR
    if fdir.exists():
        for old in fdir.glob("*.onnx"):
            old.unlink()
    families = {}
    for base_name, names in groups.items():
        bentry = variants[base_name]
        base = onnx.load(str(root / base_name / _model_file(bentry)["path"]))
        members = {}
        for n in names:
            if not _same_tokenizer(bentry, variants[n]):
                continue
            m = onnx.load(str(root / n / _model_file(variants[n])["path"]))
            rows = changed_rows(base, m)
            if rows is not None:
                members[n] = (m, rows)
        if not members:
            continue
        dials = dial_rows(results, _model_file(bentry)["sha256"]) if results else {}
        model, maps, vocab, steer = build_family(base, members, dials=dials)
        fdir.mkdir(exist_ok=True)
        path = fdir / f"{base_name}.onnx"
        onnx.save(model, str(path))
        data = path.read_bytes()
        families[base_name] = {"path": f"{FAMILY_DIR}/{base_name}.onnx", "bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(), "vocab": vocab,
                               "rows": vocab + sum(len(x) for x in maps.values())
                               + sum(len(r) for by_a in steer.values() for r in by_a.values())
                               + sum(len(by_p) for d in dials.values() for by_p in d["members"].values()),
                               "members": {base_name: {}, **maps}}
        if steer:
            families[base_name]["steer"] = {"alphas": list(STEER_ALPHAS), "members": steer}
        for kind, d in dials.items():
            if d["members"]:
                families[base_name][kind] = {"positions": d["positions"], "members": d["members"], "from": d["file"]}
        for n in (base_name, *maps):
            variants[n]["family"] = base_name
    if families:
        manifest["families"] = families
    return manifest


def _same_tokenizer(a: dict, b: dict) -> bool:
    sha = lambda e: {f["path"]: f["sha256"] for f in e.get("files", []) if f["path"].startswith("tokenizer")}  # noqa: E731
    return sha(a) == sha(b)


def check_families(manifest: dict, root: Path, texts: int = 4, results: Path | None = None) -> list[str]:
    """Problems with the families of `manifest` (empty when every member computes, on the family, the logits of
    its own file: within TOLERANCE, same argmax, on `texts` token sequences)."""
    import onnxruntime as ort
    root = Path(root)
    problems = []
    variants = manifest.get("variants", {})
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    for fam, f in manifest.get("families", {}).items():
        path = root / f["path"]
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != f["sha256"]:
            problems.append(f"family {fam}: {f['path']} is missing or does not match its sha256")
            continue
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        for name, id_map in f["members"].items():
            e = variants.get(name)
            if e is None or e.get("family") != fam:
                problems.append(f"family {fam}: member {name} is not a variant of that family")
                continue
            own = ort.InferenceSession(str(root / name / _model_file(e)["path"]), opts, providers=["CPUExecutionProvider"])
            arch = e["arch"]
            for t in range(texts):
                ids = rng.integers(2, f["vocab"], 24).tolist()
                ids[3 + t] = next((int(k) for k in id_map), ids[3 + t])  # a changed token in the input
                want = own.run(["logits"], _feeds(own, np.array([ids], np.int64), arch))[0][0]
                got = member_logits(sess, ids, id_map, f["vocab"], arch)
                diff = float(np.abs(want - got).max())
                if diff > TOLERANCE or (want.argmax(-1) != got.argmax(-1)).any():
                    problems.append(f"family {fam}: {name} differs from its own file (max |logit diff| {diff:.2e})")
                    break
        problems += _check_steer(fam, f, path)
        problems += _check_dials(fam, f, path, results)
    return problems


def _dequantized_embedding(path: Path) -> np.ndarray:
    """The family file's embedding table, its int8 rows times their scale."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(path))
    q, s, _ = _embedding(m)
    inits = {i.name: i for i in m.graph.initializer}
    return numpy_helper.to_array(inits[q]).astype(np.float32) * numpy_helper.to_array(inits[s]).astype(np.float32)


def _check_steer(fam: str, f: dict, path: Path) -> list[str]:
    """Each steered row is base + alpha * (member - base) of the family's own rows, to within int8 rounding."""
    if not f.get("steer"):
        return []
    table = _dequantized_embedding(path)
    problems = []
    for name, by_alpha in f["steer"]["members"].items():
        own = f["members"].get(name, {})
        for a, rows in by_alpha.items():
            for tok, row in rows.items():
                if tok not in own or row >= len(table):
                    problems.append(f"family {fam}: steer {name} at {a}: token {tok} has no row of its member")
                    continue
                want = table[int(tok)] + float(a) * (table[own[tok]] - table[int(tok)])
                err = float(np.abs(table[row] - want).max())
                if err > np.abs(want).max() / 127 * 0.51 + 1e-6:
                    problems.append(f"family {fam}: steer {name} at {a} is not base + {a} (member - base) ({err:.2e})")
    return problems


def _check_dials(fam: str, f: dict, path: Path, results: Path | None) -> list[str]:
    """Each rewind and realign row of the family is its results file's row to within int8 rounding (with `results`)."""
    kinds = [k for k in DIAL_FILES if f.get(k)]
    if not kinds or results is None:
        return []
    table = _dequantized_embedding(path)
    problems = []
    for kind in kinds:
        path_r = Path(results) / DIAL_FILES[kind]
        if not path_r.exists():
            problems.append(f"family {fam}: its {kind} rows' file {path_r} is missing")
            continue
        _, want = _dial_file(path_r, kind)
        for name, by_pos in f[kind]["members"].items():
            for pos, rows in by_pos.items():
                x = want.get(name, {}).get(pos)
                if x is None:
                    problems.append(f"family {fam}: {kind} {name} at {pos} is not in {path_r.name}")
                    continue
                for row in rows.values():
                    err = float(np.abs(table[row] - x).max()) if row < len(table) else float("inf")
                    if err > np.abs(x).max() / 127 * 0.51 + 1e-6:
                        problems.append(f"family {fam}: {kind} {name} at {pos} is not its row in {path_r.name} ({err:.2e})")
    return problems


def main(argv=None):
    from export import runs
    from export import web_finetune

    def add(manifest, models):
        add_families(manifest, models, runs.RESULTS)
        web_finetune.add_finetune(manifest, models)  # the gradient graphs point into the family files

    def report(manifest):
        for fam, f in manifest.get("families", {}).items():
            print(f"{fam}: {f['path']} ({f['bytes']:,} bytes, {f['rows'] - f['vocab']} extra rows): " +
                  ", ".join(f"{n} ({len(m)} rows)" for n, m in f["members"].items()))

    return rewrite_manifest(argv, __doc__, "families", add,
                            lambda m, d: check_families(m, d, results=runs.RESULTS) + web_finetune.check_finetune(m, d),
                            report)


if __name__ == "__main__":
    sys.exit(main())
