// Page script of the live demo (the entry point, mkdocs.yml extra_javascript): mounts every [data-demo] on the page
// (on Material's document$, so it survives instant navigation) and owns the form. It never runs a model itself.
// The modules, each one idea, no build step:
//   files.js   the manifest and every model file: fetched once per page, sha256-checked, kept in Cache Storage
//   models.js  one Web Worker per model file (worker.js), reused across pages; a family's panes share one batch
//   pane.js    one pane: its model's progress and status, its answers, their verdict chips and the tally
//   judge.js   judge v2 and the grammar judge (export/judge.py's twin); runtime.js, sampler.js, chat.js, …
import { createJudge } from "./judge.js";
import { getManifest, manifestNote } from "./files.js";
import { getHandle, hasModel, prestart } from "./models.js";
import { Measure } from "./measure.js";
import { clampNum, Pane, randomSeed } from "./pane.js";
import { applyLink, linkedState, shareLink } from "./share.js";

// The page's first demo carries the data of all of them (demos/extension.py): parsed once per page.
const parsed = new WeakMap();
function pageData(root) {
  const el = root.querySelector('[data-role="data"]') ||
    root.ownerDocument.querySelector('[data-demo] [data-role="data"]');
  if (!el) return {};
  if (!parsed.has(el)) parsed.set(el, JSON.parse(el.dataset.json || "{}"));
  return parsed.get(el);
}

class Demo {
  constructor(root) {
    this.root = root;
    this.q = (role) => root.querySelector(`[data-role="${role}"]`);
    this.form = this.q("form");
    this.prompt = this.q("prompt");
    this.data = pageData(root);
    this.panes = [...root.querySelectorAll("[data-pane]")].map((el) => new Pane(this, el));
    this.manifest = null;
    this.questionId = null;
    this.measure = new Measure(this);
  }

  async mount() {
    this.q("nojs")?.setAttribute("hidden", "");
    const samples = this.q("samples");
    if (samples) samples.open = false;
    this.root.dataset.live = "yes"; // demo.css: the samples were shown folded until now
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.run();
    });
    this.prompt.addEventListener("input", () => {
      this.questionId = null;
      this.refreshButtons();
    });
    this.prompt.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.run();
      }
    });
    for (const chip of this.root.querySelectorAll('[data-role="preset"]')) {
      chip.addEventListener("click", () => {
        this.prompt.value = chip.dataset.text;
        this.questionId = chip.dataset.questionId;
        this.refreshButtons();
        this.run();
      });
    }
    this.q("stop").addEventListener("click", () => {
      this.measure.stop();
      this.panes.forEach((p) => p.cancel());
    });
    this.q("share")?.addEventListener("click", () => shareLink(this));
    this.q("measure").addEventListener("click", () => {
      if (!this.valid(false)) return;
      this.measure.start(this.params(), Math.round(clampNum(this.q("measure-n").value, 5, 100, 20)));
    });
    this.q("again").addEventListener("click", () => {
      this.q("seed").value = String(randomSeed());
      this.run();
    });
    // the judge's ~200 regular expressions are compiled when the reader first reaches for the demo (or at the first
    // verdict): compiled at load, even when the page is idle, they were a long task (170 ms at 4x CPU slowdown)
    const warm = () => {
      for (const t of ["pointerdown", "focusin", "keydown"]) this.root.removeEventListener(t, warm);
      const idle = self.requestIdleCallback || ((fn) => setTimeout(fn, 0));
      idle(() => {
        try {
          this.getJudge()?.("", "");
        } catch { /* reported at the first verdict */ }
      });
    };
    for (const t of ["pointerdown", "focusin", "keydown"]) this.root.addEventListener(t, warm, { passive: true });
    if (this.root.dataset.modelsPublished !== "no" && typeof Worker !== "undefined" && typeof WebAssembly === "object") {
      // data-model (the extension, from the manifest): panes that share a model file share its worker
      prestart(new Set(this.panes.map((p) => p.el.dataset.model || p.el.dataset.variant).filter((k) => !hasModel(k))).size);
    }
    if (this.root.dataset.modelsPublished === "no") {
      this.manifestError = "the models are not published yet";
    } else {
      try {
        this.manifest = await getManifest();
        if (manifestNote()) this.showManifestNote(manifestNote());
      } catch (e) {
        this.manifestError = `the models could not be loaded (${e.message || e})`;
      }
    }
    const link = linkedState(this); // a link that reproduces this demo (share.js): its state, then its question
    const ask = link ? applyLink(this, link) : false;
    await Promise.all(this.panes.map((p) => p.attach(p.el.dataset.variant)));
    this.refreshButtons();
    if (ask) {
      this.run();
      this.root.scrollIntoView({ block: "start" });
    }
  }

  /** The published manifest could not be read, and the copy cached on an earlier visit stands in: said above the panes. */
  showManifestNote(why) {
    this.note("manifest-note", `The published list of models (models/manifest.json) could not be read (${why}): this ` +
      "demo uses the copy cached on an earlier visit, which may be out of date.");
  }

  /** A warning above the panes (data-role = `role`), made once and then updated. */
  note(role, text) {
    let note = this.q(role);
    if (!note) {
      note = document.createElement("p");
      note.className = "emd-note emd-note--warn";
      note.dataset.role = role;
      note.setAttribute("role", "status");
      this.q("panes").before(note);
    }
    note.textContent = text;
  }

  getJudge() {
    if (this.judge === undefined) {
      const rules = this.data.judge;
      this.judgeRules = rules;
      this.judge = createJudge(rules);
    }
    return this.judge;
  }

  /** Judge v2's verdict on one answer (export/judge.py judge_v2; the grammar judge where no v2 rules exist), or null. */
  verdict(question, answer) {
    try {
      const judge = this.getJudge();
      return (judge?.v2 || judge)?.(question, answer) ?? null;
    } catch (e) {
      console.warn("judge failed", e);
      return null;
    }
  }

  params() {
    const num = (role, lo, hi, dflt) => clampNum(this.q(role).value, lo, hi, dflt);
    // contexts.json: {kind: [[request, answer], …]}; the first k, as export/generate.py --context KIND --k K
    const ctxKey = this.q("context").value;
    const all = ctxKey === "none" ? [] : (this.data.contexts?.[ctxKey] || []);
    const k = this.q("k") ? Math.round(num("k", 1, Math.max(1, all.length), 1)) : all.length;
    const context = all.slice(0, k);
    return {
      question: this.prompt.value.trim(),
      context,
      contextName: ctxKey === "none" || !context.length ? null : `${ctxKey}, k=${context.length}`,
      temperature: num("temperature", 0, 5, 1),
      topP: num("top-p", 0.000001, 1, 1),
      maxNewTokens: Math.round(num("max-new-tokens", 1, 4096, 96)),
      seed: Math.round(num("seed", 0, 2 ** 32 - 1, 1)),
      answers: this.q("answers") ? Math.round(num("answers", 1, 8, 1)) : 1,
    };
  }

  /** Every way to ask (Generate, Ctrl/⌘+Enter, a question chip, Sample again, Measure) checks the settings first:
   * a value out of range is shown to the reader, never silently clamped. Measure needs no question of its own. */
  valid(needsQuestion = true) {
    const bad = [...this.form.elements].find((x) => (needsQuestion || x !== this.prompt) && x.checkValidity && !x.checkValidity());
    if (!bad) return true;
    if (bad.closest("details")) bad.closest("details").open = true;
    bad.reportValidity();
    return false;
  }

  run() {
    if (!this.valid() || this.measure.running) return;
    const params = this.params();
    if (!params.question) {
      this.prompt.focus();
      this.prompt.setAttribute("aria-invalid", "true");
      return;
    }
    this.prompt.removeAttribute("aria-invalid");
    for (const p of this.panes) p.generate(params);
    this.showPanes();
  }

  /** Bring the answers into view as they start to stream (the form above them is taller than a screen). */
  showPanes() {
    const panes = this.q("panes");
    const outs = [...panes.querySelectorAll('[data-role="output"]')];
    const r = panes.getBoundingClientRect();
    const top = parseFloat(getComputedStyle(panes).scrollMarginTop) || 0;
    const last = outs.length ? outs[outs.length - 1].getBoundingClientRect() : r;
    if (r.top >= top && last.bottom <= innerHeight) return; // already in view: do not move the page
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    panes.scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "auto" });
  }

  refreshButtons() {
    const busy = this.panes.some((p) => p.el.dataset.state === "generating") || this.measure?.running;
    const any = this.panes.some((p) => p.canGenerate());
    this.q("generate").disabled = busy || !any || !this.prompt.value.trim();
    this.q("stop").disabled = !busy;
    this.q("again").disabled = busy || !any || !this.prompt.value.trim();
    this.q("measure").disabled = busy || !any;
  }

  /** One message for screen readers (the demo's polite live region): a finished answer, said once. */
  say(text) {
    const el = this.q("announce");
    if (!el) return;
    const line = document.createElement("p");
    line.textContent = text;
    el.append(line);
    while (el.childElementCount > 8) el.firstElementChild.remove();
  }

  openSamples() {
    const s = this.q("samples");
    if (s) s.open = true;
  }

  destroy() {
    this.panes.forEach((p) => p.destroy());
  }
}

// ------------------------------------------------------------------------------------ mounting
const mounted = new Set();

function mountAll() {
  for (const d of [...mounted]) {
    if (!d.root.isConnected) {
      d.destroy();
      mounted.delete(d);
    }
  }
  for (const root of document.querySelectorAll("[data-demo]")) {
    if (root.dataset.mounted) continue;
    root.dataset.mounted = "yes";
    // in a task of its own: not in the page's DOMContentLoaded work, nor in the task that delivers the
    // site's other IntersectionObserver callbacks
    // a link to this demo (share.js: "#<id>?…" names no element, so the page does not scroll to it) mounts it now
    const linked = root.id && location.hash.startsWith(`#${root.id}?`);
    (linked ? (fn) => fn() : (fn) => whenNear(root, fn))(() => setTimeout(() => {
      if (!root.isConnected) return;
      const d = new Demo(root);
      mounted.add(d);
      d.mount().catch((e) => console.warn("demo mount failed", e));
    }, 0));
  }
}

// A demo starts its models only when it comes within a screen of the viewport: a page with several
// demos (the Demos page has five) must not download every model and runtime at once.
function whenNear(el, fn) {
  if (!("IntersectionObserver" in window)) return fn();
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      io.disconnect();
      fn();
    }
  }, { rootMargin: "0px 0px 100% 0px" });
  io.observe(el);
}

/** The first demo of a page that opens with it on screen (the home page) starts its workers and models now, while the
 * site's own scripts and first layout are still running, instead of after the first frame (the
 * IntersectionObserver) and Material's document$: they fetch and compile the runtime in the meantime. Its
 * mount() later finds them started. Only for a demo already within a screen of the top (one layout, which the
 * first paint needs anyway); any other demo waits to come near the viewport. */
function startEarly() {
  const root = document.querySelector("[data-demo]");
  if (!root || root.dataset.modelsPublished === "no" || typeof Worker === "undefined" ||
      typeof WebAssembly !== "object") return;
  // where the demo is, from the first layout (an IntersectionObserver): asking now (getBoundingClientRect) would
  // force that layout inside this script's task and make one long task of the two
  if (!("IntersectionObserver" in window)) return;
  const io = new IntersectionObserver((entries) => {
    io.disconnect();
    if (entries.some((e) => e.isIntersecting) && root.isConnected) startNow(root);
  }, { rootMargin: "0px 0px 100% 0px" });
  io.observe(root);
}

function startNow(root) {
  const panes = [...root.querySelectorAll("[data-pane]")];
  performance.mark?.("emd:start");
  prestart(new Set(panes.map((p) => p.dataset.model || p.dataset.variant)).size);
  // and their models: the manifest, then each model file (Cache Storage or network, sha256) on its way to its
  // worker now, not after the mount; the panes find these handles (getHandle) and report what happens
  getManifest().then((m) => {
    performance.mark?.("emd:manifest");
    for (const p of panes) {
      try {
        getHandle(p.dataset.variant, m);
      } catch { /* not in the manifest: the pane says so when it mounts */ }
    }
  }).catch(() => { /* the mount reports it */ });
}
try {
  if (document.readyState !== "loading") startEarly();
} catch { /* the mount starts them */ }

if (window.document$?.subscribe) window.document$.subscribe(mountAll); // Material (instant navigation)
else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
else mountAll();
