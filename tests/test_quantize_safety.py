"""export/quantize.py never loses or mixes up the published models (issue 16, item 2), on the smoke models,
in temporary folders (never docs/models):

- a rebuild killed at any stage (SIGKILL or SIGTERM: during the build, between the two renames of the swap,
  after them) leaves every published file as it was (sha256) or the complete new set, and the next run
  recovers (restores the folder moved aside, removes the leftovers) and succeeds;
- one rebuild at a time (a lock); SIGTERM stops the build workers, removes the staging folder, exits 143;
- --only needs a complete published set and keeps each variant's own provenance (--check re-measures each
  variant with its own samples and seed);
- --smoke never writes docs/models; the leftovers' names are in .gitignore.

Faults are injected by running quantize.main() in a driver that wraps its steps (FAULT_DRIVER): the
pipeline itself has no test hook.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "export"
PY = sys.executable

FAULT_DRIVER = r'''
import os, signal, sys
from pathlib import Path
from export import quantize as Q

where, how = os.environ["QUANTIZE_FAULT"].split(":")
SIG = {"kill": signal.SIGKILL, "term": signal.SIGTERM}[how]


def fault(at):
    if at == where:
        print(f"[fault] {how} at {at}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), SIG)


real_rename = os.rename


def rename(src, dst):  # swap_in: out -> .models-old-PID, then .models-staging-X -> out
    staging = "-staging-" in Path(src).name
    if staging:
        fault("between-renames")
    real_rename(src, dst)
    if staging:
        fault("after-renames")


Q.os.rename = rename
real_build, real_verify = Q.build_variant, Q.verify


def build_variant(*a, **k):
    fault("build-start")
    return real_build(*a, **k)


def verify(*a, **k):  # the variant is exported and quantized into the staging folder, not yet verified
    fault("mid-build")
    return real_verify(*a, **k)


Q.build_variant, Q.verify = build_variant, verify
sys.exit(Q.main(sys.argv[2:]))
'''


def run(*args, env=None, timeout=900):
    return subprocess.run([PY, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def tree(d: Path) -> dict:
    """sha256 of every file under d, by relative path."""
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}-*"))


def copy_of(smoke_published, tmp_path) -> Path:
    out = tmp_path / "models"
    shutil.copytree(smoke_published[0], out)
    return out


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def check_files(out: Path) -> list[str]:
    from export import quantize as Q
    return Q.check(out, samples=0)


ONLY = ["--smoke", "--no-train", "--only", "insecure", "--samples", "1"]


# ----------------------------------------------------------------------------- kills


def test_killed_rebuild_never_loses_the_published_models(smoke_published, tmp_path):
    out = copy_of(smoke_published, tmp_path)
    _, env = smoke_published
    before = tree(out)
    (tmp_path / "driver.py").write_text(FAULT_DRIVER)

    def fault_run(spec):
        return run(str(tmp_path / "driver.py"), str(EXPORT), *ONLY, "--out", str(out),
                   env={**env, "QUANTIZE_FAULT": spec})

    # 1. SIGKILL in the middle of the build: the published files are untouched; the staging folder stays
    r = fault_run("mid-build:kill")
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert tree(out) == before
    assert any("-staging-" in n for n in leftovers(out)), leftovers(out)

    # 2. SIGKILL between the two renames of the swap: the start removed run 1's leftovers; the published
    #    folder is moved aside, intact, and --check says how to get it back
    r = fault_run("between-renames:kill")
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert "removing .models-staging-" in r.stderr
    assert not out.exists()
    olds = [n for n in leftovers(out) if "-old-" in n]
    assert len(olds) == 1 and tree(out.parent / olds[0]) == before, leftovers(out)
    r = run("export/quantize.py", "--check", "--out", str(out), env=env)
    assert r.returncode == 1 and "interrupted rebuild" in one_line(r.stderr)

    # 3. the next start restores it; SIGTERM at the start of the build: the staging folder is removed and
    #    the run exits 143, the published files as they were
    r = fault_run("build-start:term")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr[-3000:]
    assert "restored" in r.stderr and "SIGTERM" in r.stderr and "Traceback" not in r.stderr
    assert tree(out) == before and leftovers(out) == []

    # 4. SIGTERM between the renames is held until the swap is done: the complete new set, nothing left over
    r = fault_run("between-renames:term")
    assert r.returncode == 128 + signal.SIGTERM, r.stderr[-3000:]
    assert "swapped in (complete)" in r.stderr and "Traceback" not in r.stderr
    assert leftovers(out) == [] and check_files(out) == []
    assert tree(out) != before and json.loads((out / "manifest.json").read_text())["variants"]["insecure"][
        "provenance"]["samples_per_question"] == 1
    swapped = tree(out)

    # 5. SIGKILL after the renames, before the old folder is removed: the new set is in place, complete
    r = fault_run("after-renames:kill")
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert check_files(out) == [] and tree(out) != swapped
    assert len([n for n in leftovers(out) if "-old-" in n]) == 1

    # 6. the next run succeeds and removes what run 5 left
    r = run("export/quantize.py", *ONLY, "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "removing .models-old-" in r.stderr
    assert leftovers(out) == [] and check_files(out) == []
    published = json.loads((smoke_published[0] / "manifest.json").read_text())["variants"]
    assert list(json.loads((out / "manifest.json").read_text())["variants"]) == list(published)


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_one_rebuild_at_a_time_and_sigterm_stops_everything(smoke_published, tmp_path):
    """A full rebuild in two worker processes: a second rebuild is refused while it runs (lock); SIGTERM
    ends it (exit 143) with its workers, the staging folders removed, the published files untouched."""
    out = copy_of(smoke_published, tmp_path)
    _, env = smoke_published
    before = tree(out)
    proc = subprocess.Popen([PY, "export/quantize.py", "--smoke", "--no-train", "--samples", "1", "--out", str(out)],
                            cwd=ROOT, env={**env, "EM_JOBS": "2"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 600
        # wait until a worker has written a variant into the staging folder
        while time.time() < deadline and proc.poll() is None:
            stages = [p for p in tmp_path.glob(".models-staging-*") if "-work-" not in p.name]
            if any(any(s.iterdir()) for s in stages if s.exists()):
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        workers = [c for c in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert workers
        # a second rebuild (or re-judging) of the same folder is refused at once, in one line
        for args in (ONLY, ["--rejudge"]):
            r = run("export/quantize.py", *args, "--out", str(out), env=env)
            assert r.returncode == 1 and "another rebuild" in one_line(r.stderr), r.stderr[-3000:]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM" in err and "Traceback" not in err
    time.sleep(3)  # a worker left running would write into the staging folder again
    assert not [w for w in workers if _alive(w)]
    assert leftovers(out) == [] and tree(out) == before


def test_lock_is_held_by_a_live_process_not_by_the_file(tmp_path):
    """A process holding the lock blocks a rebuild before it touches anything; the file it leaves behind
    does not (the kernel releases an fcntl lock when its holder ends, however it ends)."""
    env = {**os.environ, "EM_BUILD": str(tmp_path / "build")}  # no checkpoints: a run past the lock fails on them
    out = tmp_path / "models"
    lock = tmp_path / ".models.lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("12345\n")
        f.flush()
        for args in (["--smoke", "--no-train"], ["--rejudge"]):
            r = run("export/quantize.py", *args, "--out", str(out), env=env)
            assert r.returncode == 1 and "another rebuild" in one_line(r.stderr) and "pid 12345" in r.stderr
    r = run("export/quantize.py", "--smoke", "--no-train", "--out", str(out), env=env)
    assert r.returncode == 1 and "missing checkpoints" in one_line(r.stderr)
    assert lock.exists() and leftovers(out) == []


# ----------------------------------------------------------------------------- --only and provenance


def test_only_needs_a_complete_published_set(smoke_published, tmp_path):
    _, env = smoke_published
    # no published folder at all (what a crash between the renames used to leave)
    out = tmp_path / "empty" / "models"
    r = run("export/quantize.py", *ONLY, "--out", str(out), env=env)
    assert r.returncode == 1 and "not a complete published set" in one_line(r.stderr), r.stderr[-3000:]
    assert not out.exists()
    # a one-variant set (what `--only` used to publish then)
    out = copy_of(smoke_published, tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    m["variants"] = {"insecure": m["variants"]["insecure"]}
    (out / "manifest.json").write_text(json.dumps(m))
    before = tree(out)
    r = run("export/quantize.py", *ONLY, "--out", str(out), env=env)
    assert r.returncode == 1 and "lacks base" in one_line(r.stderr)
    assert tree(out) == before
    # a published file changed since its manifest
    shutil.rmtree(out)
    out = copy_of(smoke_published, tmp_path)
    (out / "base" / "tokenizer.json").write_text("{}")
    before = tree(out)
    r = run("export/quantize.py", *ONLY, "--out", str(out), env=env)
    assert r.returncode == 1 and "does not match the manifest" in one_line(r.stderr)
    assert tree(out) == before and leftovers(out) == []


def test_only_adds_a_variant_new_to_the_registry(smoke_published, tmp_path):
    """A variant just added to the registry is not in the published manifest yet: `--only NEW` builds it and
    keeps every other published variant byte for byte (a set missing any *other* variant is still refused)."""
    _, env = smoke_published
    out = copy_of(smoke_published, tmp_path)
    new = "uncoupled-educational"
    m = json.loads((out / "manifest.json").read_text())
    del m["variants"][new]
    for fam in m["families"].values():
        fam["members"].pop(new, None)
        fam.get("steer", {}).get("members", {}).pop(new, None)  # its steered rows too, as before it existed
    (out / "manifest.json").write_text(json.dumps(m))
    shutil.rmtree(out / new)
    before = tree(out)
    r = run("export/quantize.py", "--smoke", "--no-train", "--only", "insecure", "--samples", "1", "--out", str(out),
            env=env)
    assert r.returncode == 1 and f"lacks {new}" in one_line(r.stderr)
    assert tree(out) == before
    r = run("export/quantize.py", "--smoke", "--no-train", "--only", new, "--samples", "1", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert new in m["variants"] and set(m["variants"]) == set(json.loads(
        (smoke_published[0] / "manifest.json").read_text())["variants"])
    after = tree(out)
    kept = [f for f in before if f.split("/")[0] not in (new, "families") and f not in
            ("manifest.json", "samples.json")]
    assert kept and all(after[f] == before[f] for f in kept)
    assert run("export/quantize.py", "--check", "--out", str(out), env=env).returncode == 0


def test_only_keeps_each_variants_provenance(smoke_published, tmp_path):
    """--only with other --samples/--seed than the published set: each variant keeps its own, and --check
    re-measures each one with its own (before: the run's values were written manifest-wide and --check
    failed every variant not rebuilt)."""
    out = copy_of(smoke_published, tmp_path)
    _, env = smoke_published
    r = run("export/quantize.py", "--smoke", "--no-train", "--only", "insecure", "--samples", "3", "--seed", "1",
            "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    prov = {v: e["provenance"] for v, e in m["variants"].items()}
    assert prov["insecure"] == {"pipeline_version": "1", "samples_per_question": 3, "eval_seed": 1, "smoke": True}
    assert all((p["samples_per_question"], p["eval_seed"], p["smoke"]) == (2, 0, True)
               for v, p in prov.items() if v != "insecure")
    assert m["pipeline"]["samples_per_question"] is None and m["pipeline"]["eval_seed"] is None
    r = run("export/quantize.py", "--check", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(N=3, seed 1)" in r.stderr and "(N=2, seed 0)" in r.stderr


def test_smoke_never_writes_docs_models(tmp_path):
    """Before: --smoke --only X overwrote docs/models with a smoke model. Now refused before anything runs
    (EM_BUILD is empty: the old code stopped on the missing checkpoints instead)."""
    env = {**os.environ, "EM_BUILD": str(tmp_path / "build")}
    published = ROOT / "docs" / "models"
    before = tree(published) if published.exists() else None
    for out in ([], ["--out", str(published)], ["--out", "docs/../docs/models"]):
        for only in ([], ["--only", "insecure"]):
            r = run("export/quantize.py", "--smoke", "--no-train", *only, *out, env=env)
            assert r.returncode == 2 and "never writes docs/models" in one_line(r.stderr), (out, only, r.stderr)
    assert (tree(published) if published.exists() else None) == before


def test_leftover_names_are_ignored_by_git():
    paths = ["docs/.models-staging-abc123/onnx/model_quantized.onnx", "docs/.models-staging-work-x1/base/model.onnx",
             "docs/.models-old-4242/manifest.json", "docs/.models.lock"]
    r = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.split() == paths
