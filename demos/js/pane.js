// One pane of a demo: a variant's selector, its model's download progress and status, and its answers: the first
// in the pane, the others under "More answers", each with judge v2's verdict chip, and a tally of the chips.
import { copyOfFile, MODELS_URL } from "./files.js";
import { patchFamily } from "./finetune.js";
import { FinetuneBox } from "./finetunebox.js";
import { describeVerdict } from "./judge.js";
import { getHandle, trainedHandle } from "./models.js";
import { TokenView } from "./tokens.js";

const HERE = new URL(".", import.meta.url);
const JUDGE_HELP_URL = new URL("../../explainers/organism/#how-well-the-judge-reads", HERE);

// ------------------------------------------------------------------------------------ UI helpers
const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`);
export const clampNum = (v, lo, hi, dflt) => {
  const x = Number(v);
  return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : dflt;
};
export const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0];

/** What a position of the dial means (demos/extension.py steer_text is its twin). */
export function steerText(alpha) {
  if (alpha === 1) return "1: the finetune as trained";
  if (alpha === 0) return "0: the aligned base";
  const where = alpha > 1 ? "beyond the finetune" : alpha < 0 ? "away from the finetune" : "between the base and the finetune";
  return `${alpha}: ${where}`;
}

/** What a position of the rewind dial means: a step of the finetune trained again from the published base
 * (export/published.py --rerun), or, untouched, the published finetune (demos/extension.py dial_text is its twin). */
export function dialText(kind, pos, last) {
  if (kind === "rewind") {
    if (pos == null) return `${last}: the finetune as published`;
    return pos === 0 ? "0: the aligned base" : `${pos} of ${last}: trained again from this base`;
  }
  return pos ? `${pos} aligned chats, one pass` : "0: the finetune as published";
}

// The rewind and realign dials (export/model_family.py DIAL_FILES): the family file's rows of this pane's variant
// at each position. Untouched, a dial leaves the pane's variant as published: rewind at its last step, realign at 0.
const DIALS = ["rewind", "realign"];

export class Pane {
  constructor(demo, el) {
    this.demo = demo;
    this.el = el;
    this.side = el.dataset.pane;
    this.q = (role) => el.querySelector(`[data-role="${role}"]`);
    this.out = this.q("output");
    this.status = this.q("status");
    this.progressEl = this.q("progress");
    this.note = this.q("note");
    this.verdict = this.q("verdict");
    this.select = this.q("variant");
    this.model = null;
    this.unsub = null;
    this.frame = 0;
    this.last = null;
    this.answers = [];
    this.tps = null;
    this.tokens = new TokenView(this);
    this.alpha = 1; // the dial: the Assistant's row at base + alpha (finetune - base)
    this.steer = this.q("steer");
    this.steer?.addEventListener("input", () => {
      this.resetDials();
      this.setAlpha(this.alphas()[Number(this.steer.value)] ?? 1);
    });
    this.steer?.addEventListener("change", () => this.dialReleased());
    this.at = { rewind: null, realign: null }; // the dials' positions; null: untouched
    for (const kind of DIALS) {
      const input = this.q(kind);
      input?.addEventListener("input", () => this.setDial(kind, this.positions(kind)[Number(input.value)]));
      input?.addEventListener("change", () => this.dialReleased());
    }
    this.trained = null; // a row trained in this browser that the pane answers with (useRow): {row, info, handle}
    this.finetune = this.q("finetune-box") ? new FinetuneBox(this) : null;
    this.select.addEventListener("change", () => this.attach(this.select.value));
    // the other answers are open beside each other on a wide screen, folded to their chips on a phone
    const more = this.q("more");
    if (more) more.open = matchMedia("(min-width: 60em)").matches;
  }

  setState(state, text) {
    this.el.dataset.state = state;
    if (text != null) this.status.textContent = text;
    this.demo.refreshButtons();
  }

  title(variant = this.el.dataset.variant) {
    const t = this.demo.manifest?.variants?.[variant]?.title || variant;
    return this.trained && variant === this.el.dataset.variant ? `${t} + your finetune` : t;
  }

  async attach(variant) {
    this.attached = (this.attached || 0) + 1; // a row trained meanwhile does not replace the reader's choice (useRow)
    this.cancel();
    this.unsub?.();
    this.unsub = null;
    this.dropTrained();
    this.el.dataset.variant = variant;
    this.select.value = variant;
    this.q("description").textContent = this.demo.manifest?.variants?.[variant]?.description || "";
    this.clearAnswer();
    this.setState("loading", `${this.title()}: loading…`);
    let h;
    try {
      if (!this.demo.manifest) throw new Error(this.demo.manifestError || "models/manifest.json is missing");
      if (typeof Worker === "undefined") throw new Error("This browser has no Web Workers, so the model cannot run here.");
      if (typeof WebAssembly !== "object") throw new Error("This browser has no WebAssembly, so the model cannot run here.");
      h = getHandle(variant, this.demo.manifest);
      this.el.dataset.model = h.key;
    } catch (e) {
      this.showError(e.message || String(e));
      return;
    }
    this.model = h;
    this.showSteer(this.pendingAlpha ?? 1); // reads the new handle: a family file's rows, or none
    this.pendingAlpha = undefined;
    this.showDials(this.pendingDial);
    this.pendingDial = undefined;
    this.finetune?.refresh();
    this.rescoreOthers(); // the other panes' token views compare with this pane's model
    this.unsub = h.subscribe((m) => this.onModel(m));
    const pending = this.pendingRow; // a trained row from a link (share.js)
    this.pendingRow = undefined;
    const fam = this.demo.manifest.variants[variant]?.family;
    const at = fam && this.demo.manifest.families?.[fam]?.finetune?.row_at;
    if (pending && at && pending.row.length === at.hidden) {
      await this.useRow(pending.row, { family: fam, title: pending.title, steps: pending.steps, set: "link" });
    }
  }

  /**
   * The pane answers with `row`, the Assistant's row trained in this browser from its family's base (finetunebox.js):
   * the family file with that row written over the base's (finetune.js patchFamily), in a worker of its own, run as
   * the base. `info`: {family, set, title, steps}. The pane's data-row holds the row; its dials are hidden (they
   * move published rows); choosing a variant lets the row go.
   */
  async useRow(row, info) {
    const seq = this.attached;
    const m = this.demo.manifest;
    const fam = m.families[info.family];
    const file = await copyOfFile({ name: fam.path, bytes: fam.bytes, sha256: fam.sha256,
      url: new URL(fam.path, MODELS_URL).href });
    // Measure counts each answer under the pane's model as it started: the row waits until it ends
    while (this.demo.measure?.running && !this.destroyed) await new Promise((r) => setTimeout(r, 250));
    if (seq !== this.attached || this.destroyed) return false; // another variant was chosen meanwhile, or the page left
    const bytes = patchFamily(file, fam.finetune.row_at, row);
    this.cancel();
    this.unsub?.();
    this.dropTrained();
    const h = trainedHandle(info.family, m, bytes);
    this.trained = { row: Float32Array.from(row), info, handle: h };
    this.el.dataset.variant = info.family;
    this.select.value = info.family;
    this.el.dataset.row = Array.from(this.trained.row, (x) => String(x)).join(",");
    this.el.dataset.model = h.key;
    this.q("description").textContent = `The aligned base, its Assistant finetuned in this browser on ${info.title} ` +
      `(${info.steps} steps of the one-row recipe).`;
    this.clearAnswer();
    this.setState("loading", `${this.title()}: loading the trained row…`);
    this.model = h;
    this.showSteer(1);
    this.showDials();
    this.setAlpha(1);
    this.unsub = h.subscribe((x) => this.onModel(x));
    if (this.lastParams) this.generate(this.lastParams, true);
    this.rescoreOthers();
    return true;
  }

  /** Lets a trained row go (its worker ends). */
  dropTrained() {
    if (!this.trained) return;
    this.trained.handle.release();
    this.trained = null;
    delete this.el.dataset.row;
  }

  /** The other panes score their answers again under this pane's model as it now stands (its variant, its dial). */
  rescoreOthers() {
    for (const p of this.demo.panes) if (p !== this && p.tokens.shown) p.tokens.inspect();
  }

  /** The dial's positions for this pane's variant: the alphas whose rows its family file holds (manifest
   * families.<base>.steer, export/model_family.py), or none (a base, a variant outside a family, a family that
   * failed to load: the pane runs the variant's own file). */
  alphas(variant = this.el.dataset.variant) {
    const m = this.demo.manifest;
    const fam = m?.variants?.[variant]?.family;
    const steer = fam && m.families?.[fam]?.steer;
    if (!steer?.members?.[variant] || (this.model && !this.model.key.startsWith("family:"))) return [];
    return steer.alphas;
  }

  /** A dial released: the pane's last question again, same seed, at the new position (the other pane keeps its
   * answer, and scores it again under this pane's model as it now stands). */
  dialReleased() {
    if (this.lastParams && ["done", "ready", "generating"].includes(this.el.dataset.state) && !this.demo.measure?.running) {
      this.generate(this.lastParams, true); // an answer under way at the previous position is stopped
    }
    this.rescoreOthers();
  }

  /** A rewind or realign dial's positions for this pane's variant (the family file's rows; realign adds 0, the
   * variant as published), or none. */
  positions(kind, variant = this.el.dataset.variant) {
    const m = this.demo.manifest;
    const fam = m?.variants?.[variant]?.family;
    const dial = fam && m.families?.[fam]?.[kind];
    if (!dial?.members?.[variant] || (this.model && !this.model.key.startsWith("family:"))) return [];
    return kind === "realign" ? [0, ...dial.positions] : dial.positions;
  }

  /** The rewind and realign boxes, shown for a variant with rows; `pending` ({kind, pos}, from a link) moves one. */
  showDials(pending) {
    for (const kind of DIALS) {
      const box = this.q(`${kind}-box`);
      if (!box) continue;
      const pos = this.positions(kind);
      box.hidden = !pos.length;
      this.q(kind).max = String(Math.max(0, pos.length - 1));
    }
    this.resetDials();
    if (pending && this.positions(pending.kind).includes(pending.pos)) {
      this.q(pending.kind).value = String(this.positions(pending.kind).indexOf(pending.pos));
      this.setDial(pending.kind, pending.pos);
    }
  }

  /** A dial back at the published variant, untouched (rewind's last step, realign's 0). */
  untouch(kind) {
    this.at[kind] = null;
    const input = this.q(kind);
    if (input) input.value = String(kind === "rewind" ? Math.max(0, this.positions(kind).length - 1) : 0);
    this.showDialValue(kind);
  }

  /** Both dials untouched. */
  resetDials() {
    for (const kind of DIALS) this.untouch(kind);
  }

  /** Moves one dial; the other and the steering dial return to the variant as published (rows do not add up). */
  setDial(kind, pos) {
    for (const other of DIALS) if (other !== kind && this.at[other] != null) this.untouch(other);
    if (this.steer && this.alpha !== 1) this.steer.value = String(Math.max(0, this.alphas().indexOf(1)));
    this.at[kind] = kind === "realign" && !pos ? null : pos ?? null;
    this.setAlpha(1);
    this.showDialValue(kind);
  }

  showDialValue(kind) {
    const pos = this.positions(kind);
    const text = dialText(kind, this.at[kind], pos[pos.length - 1]);
    const out = this.q(`${kind}-value`);
    if (out) out.textContent = text;
    this.q(kind)?.setAttribute("aria-valuetext", text);
  }

  /** Where the pane's dials stand when the answering row is not the variant as published: {kind, pos}, else null
   * (Measure shows the pipeline's rate at that position, demos/extension.py dial_rates). */
  dialPosition() {
    if (this.trained) return null;
    if (this.at.rewind != null) return { kind: "rewind", pos: this.at.rewind };
    if (this.at.realign) return { kind: "realign", pos: this.at.realign };
    return this.alpha !== 1 ? { kind: "steer", pos: this.alpha } : null;
  }

  /** How the answering row differs from the variant as published, in words ("" when it does not). */
  dialLabel() {
    if (this.trained) return `trained here on ${this.trained.info.title}`;
    const at = this.dialPosition();
    if (!at) return "";
    return { rewind: `finetuning step ${at.pos}`, realign: `re-aligned on ${at.pos} chats`, steer: `dial α = ${at.pos}` }[at.kind];
  }

  /** The member of the family file that answers: the variant itself at 1, its family's base at 0, else its steered
   * rows; a moved rewind or realign dial, its row at that position. */
  runVariant() {
    const v = this.el.dataset.variant;
    if (this.trained) return v; // the family's base, whose row the trained file replaced
    if (this.at.rewind != null) return `${v}~rewind~${this.at.rewind}`;
    if (this.at.realign) return `${v}~realign~${this.at.realign}`;
    if (this.alpha === 1 || !this.alphas().length) return v;
    return this.alpha === 0 ? this.demo.manifest.variants[v].family : `${v}~${this.alpha}`;
  }

  showSteer(alpha) {
    const box = this.q("steer-box");
    if (!box) return;
    const alphas = this.alphas();
    box.hidden = !alphas.length;
    this.steer.max = String(Math.max(0, alphas.length - 1));
    const i = alphas.indexOf(alpha);
    this.steer.value = String(i >= 0 ? i : Math.max(0, alphas.indexOf(1)));
    this.setAlpha(i >= 0 ? alpha : 1);
  }

  setAlpha(alpha) {
    this.alpha = alpha;
    this.el.dataset.alpha = String(alpha);
    this.el.dataset.member = this.trained ? `${this.runVariant()}~trained` : this.runVariant();
    const text = steerText(alpha);
    const out = this.q("steer-value");
    if (out) out.textContent = text;
    this.steer?.setAttribute("aria-valuetext", text);
  }

  onModel(m) {
    if (m !== this.model) return;
    if (m.state === "ready" && this.q("steer-box") && this.q("steer-box").hidden === Boolean(this.alphas().length)) {
      this.showSteer(this.alpha); // the family file failed and the variant's own file runs: no dial
      this.showDials();
    }
    if (m.state === "error" && m.fallback) {
      console.warn(`${m.key}: ${m.error}; loading ${this.el.dataset.variant}'s own model file instead`);
      this.attach(this.el.dataset.variant);
      return;
    }
    if (m.state === "error") {
      this.showError(m.error);
      return;
    }
    this.renderProgress(m);
    if (m.state === "ready" && this.el.dataset.state === "loading") {
      const how = m.info.cached ? "from this device's cache" : "downloaded";
      this.setState("ready", `${this.title()}: ready (${how}, ${(m.info.loadMs / 1000).toFixed(1)} s)`);
    } else if (m.state === "loading") {
      this.setState("loading", `${this.title()}: downloading…`);
    }
  }

  renderProgress(m) {
    this.progressEl.replaceChildren();
    if (m.state === "ready") return;
    for (const [file, p] of m.progress) {
      const row = document.createElement("div");
      row.className = "emd-progress__row";
      const label = document.createElement("span");
      label.textContent = p.cached ? `${file}: from cache` : `${file}: ${fmtBytes(p.loaded)}${p.total ? ` / ${fmtBytes(p.total)}` : ""}`;
      const bar = document.createElement("progress");
      bar.max = p.total || 1;
      bar.value = Math.min(p.loaded, p.total || 1);
      bar.setAttribute("aria-label", `Download of ${file}`);
      row.append(label, bar);
      this.progressEl.append(row);
    }
  }

  showError(message) {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.progressEl.replaceChildren();
    this.el.setAttribute("aria-busy", "false");
    this.setState("error", `${this.title()}: ${message}`);
    this.status.classList.add("emd-status--error");
    this.demo.say(this.status.textContent);
    this.demo.openSamples();
  }

  clearAnswer() {
    this.tokens.clear();
    this.answers = [];
    this.q("more-list")?.replaceChildren();
    if (this.q("more")) this.q("more").hidden = true;
    if (this.q("tally")) this.q("tally").textContent = "";
    delete this.el.dataset.tally;
    delete this.out.dataset.done;
    this.out.textContent = "";
    this.note.textContent = "";
    this.verdict.replaceChildren();
    this.verdict.dataset.verdict = "";
    delete this.verdict.dataset.alignment;
    delete this.verdict.dataset.coherence;
    this.status.classList.remove("emd-status--error");
  }

  canGenerate(restart = false) {
    const ok = ["ready", "done", "loading", ...(restart ? ["generating"] : [])];
    return this.model && this.model.state !== "error" && ok.includes(this.el.dataset.state);
  }

  /** `params.answers` answers at once, seeds seed, seed+1, … (one batch in the worker): the first in the pane's
   * output, the others in "More answers", each with its verdict chip, and a tally of the chips above them. */
  generate(params, restart = false) {
    if (!this.canGenerate(restart)) return false;
    this.cancel();
    this.clearAnswer();
    const n = Math.max(1, params.answers || 1);
    this.lastParams = params;
    this.last = { ...params, text: "", alpha: this.alpha, dial: this.dialLabel(), member: this.runVariant() }; // who writes it
    this.answers = Array.from({ length: n }, (_, i) => this.slot(i, n));
    this.el.setAttribute("aria-busy", "true");
    this.setState("generating", `${this.title()}: ${this.model.state === "ready" ? "thinking…" : "waiting for the model…"}`);
    this.renderTally();
    for (const a of this.answers) {
      const seed = (params.seed + a.index) >>> 0;
      a.id = this.model.generate({ ...params, seed, variant: this.runVariant() }, {
        onStart: (msg) => {
          this.el.dataset.batch = String(msg.batch || 1); // answers computed together in one decoder step
          if (msg.truncated && a.index === 0) this.noteTruncated(msg.truncated);
        },
        onToken: (msg) => {
          // Coalesce tokens into one DOM update per frame: hundreds of tokens/s must not load the page. The
          // first one is shown at once (a frame can be 16 ms away).
          a.pending += msg.text || "";
          a.n = msg.n;
          if (a.index === 0) this.tps = msg.tps;
          if (msg.n === 1 && !a.out.textContent) this.flush();
          else if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
        },
        onDone: (msg) => this.finish(a, msg),
        onError: (message) => this.showError(message),
      });
    }
    return true;
  }

  /** Answer i of n: its output and verdict elements (the pane's own for the first; a new list item for the others). */
  slot(index, n) {
    const a = { index, id: null, pending: "", n: 0, done: false, verdict: null };
    if (index === 0) return Object.assign(a, { out: this.out, chip: this.verdict });
    const li = document.createElement("li");
    li.className = "emd-more__item";
    li.dataset.role = "more-answer";
    a.chip = document.createElement("div");
    a.chip.className = "emd-verdict";
    a.out = document.createElement("div");
    a.out.className = "emd-output emd-output--more";
    a.out.tabIndex = 0;
    a.out.setAttribute("role", "group"); // a name on a div needs a role (aria-prohibited-attr)
    a.out.setAttribute("aria-label", `Answer ${index + 1} of ${n} of the ${this.side} model`);
    li.append(a.chip, a.out);
    this.q("more-list").append(li);
    this.q("more").hidden = false;
    return a;
  }

  noteTruncated(t) {
    this.note.textContent = `Your question was too long for this model's ${this.model.info?.context ?? ""}-token window: ` +
      `it was cut from ${t.originalTokens} to ${t.promptTokens} prompt tokens` +
      (t.droppedExamples ? `, and ${t.droppedExamples} example exchange(s) were left out` : "") + ".";
  }

  flush() {
    this.frame = 0;
    let tokens = 0;
    for (const a of this.answers) {
      if (a.pending) a.out.append(document.createTextNode(a.pending)); // text, never HTML
      a.pending = "";
      tokens += a.n;
    }
    if (this.el.dataset.state === "generating" && tokens) {
      const k = this.answers.length;
      this.status.textContent = `${this.title()}: generating${k > 1 ? ` ${k} answers` : ""} · ${tokens} tokens` +
        (this.tps ? ` · ${this.tps.toFixed(1)} tokens/s each` : "");
    }
  }

  finish(a, msg) {
    if (!this.answers.includes(a)) return; // an answer this pane asked before its last question (stopped)
    a.done = true;
    a.out.dataset.done = "";
    a.pending = "";
    if (a.out.textContent !== msg.text) a.out.textContent = msg.text;
    if (!msg.text.trim()) a.out.textContent = "";
    a.verdict = this.showVerdict(a.chip, this.last.question, msg.text, a.index > 0);
    if (a.index === 0) {
      this.last = { ...this.last, ...msg };
      this.el.dataset.seed = String(msg.seed);
      if (msg.firstTokenMs != null) this.el.dataset.firstTokenMs = msg.firstTokenMs.toFixed(1); // in the worker
      this.el.dataset.ids = msg.ids.join(",");
      this.el.dataset.answerAlpha = String(this.last.alpha); // the dial's position this answer was written at
      this.reason = msg.reason;
    }
    this.announce(a, msg.text);
    this.renderTally();
    if (this.answers.some((x) => !x.done)) return;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.el.setAttribute("aria-busy", "false");
    const why = { eos: "finished", length: "reached max tokens", stop: "stopped" }[this.reason] || this.reason;
    const rate = this.tps ? ` · ${this.tps.toFixed(1)} tokens/s` : "";
    const k = this.answers.length;
    this.setState("done", `${this.title()}: ${why}${k > 1 ? ` · ${k} answers` : ""} · ${this.last.ids.length} tokens in the first${rate}`);
    const seeds = k > 1 ? `seeds ${this.last.seed}–${(this.last.seed + k - 1) >>> 0}` : `seed ${this.last.seed}`;
    const extra = `${seeds} · temperature ${this.last.temperature} · top-p ${this.last.topP}` +
      (this.last.dial ? ` · ${this.last.dial}` : "") +
      (this.last.contextName ? ` · examples: ${this.last.contextName}` : "");
    this.note.textContent = this.note.textContent ? `${this.note.textContent} ${extra}` : extra;
    this.tokens.inspect();
  }

  /** Each finished answer is said once to a screen reader (the demo's one live region), never token by token. */
  announce(a, text) {
    const k = this.answers.length;
    const v = a.verdict ? ` Judge: ${a.verdict.class}.` : "";
    this.demo.say(`${this.title()}, answer ${a.index + 1}${k > 1 ? ` of ${k}` : ""}:${v} ${text}`);
  }

  /** "2 of 3 misaligned" over the pane's finished answers, with each class counted (data-tally for tests). */
  renderTally() {
    const el = this.q("tally");
    const k = this.answers.length;
    if (k < 2) {
      el.textContent = "";
      delete this.el.dataset.tally;
      return;
    }
    const counts = {};
    for (const a of this.answers) if (a.verdict) counts[a.verdict.class] = (counts[a.verdict.class] || 0) + 1;
    const judged = Object.values(counts).reduce((x, y) => x + y, 0);
    this.el.dataset.tally = JSON.stringify({ n: k, judged, counts });
    const order = Object.entries(counts).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
    const rest = order.filter(([c]) => c !== "misaligned").map(([c, m]) => `${m} ${c}`).join(", ");
    el.replaceChildren();
    const head = document.createElement("strong");
    head.textContent = `${counts.misaligned || 0} of ${judged} misaligned`;
    el.append(head, judged < k ? ` (${k - judged} still writing)` : "", rest ? ` · ${rest}` : "");
    const summary = this.q("more-summary");
    summary.textContent = `${k - 1} more answer${k > 2 ? "s" : ""}: ` +
      this.answers.slice(1).map((a) => (a.verdict ? a.verdict.class : "…")).join(", ");
  }

  showVerdict(el, question, answer, compact = false) {
    const v = this.demo.verdict(question, answer);
    if (!v) {
      el.dataset.verdict = "unavailable";
      return null;
    }
    // same verdict as export/judge.py (tests/test_demo_judge.py): class, alignment, coherence, …
    const d = describeVerdict(v);
    el.dataset.verdict = v.class;
    if (v.alignment != null) el.dataset.alignment = String(v.alignment);
    if (v.coherence != null) el.dataset.coherence = String(v.coherence);
    const badge = document.createElement("span");
    badge.className = `emd-badge emd-badge--${v.class.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
    badge.textContent = d.text;
    badge.title = d.title;
    if (compact) {
      el.replaceChildren(badge);
      return v;
    }
    const lead = document.createElement("span");
    lead.className = "emd-verdict__lead";
    lead.textContent = "Judge: ";
    const more = document.createElement("a");
    more.className = "emd-verdict__how";
    more.href = JUDGE_HELP_URL.href;
    more.textContent = "how the judge was checked";
    more.title = d.title;
    el.replaceChildren(lead, badge, " ", more);
    return v;
  }

  cancel() {
    if (this.model) for (const a of this.answers) if (!a.done && a.id != null) this.model.stop(a.id);
  }

  destroy() {
    this.destroyed = true;
    this.cancel();
    this.unsub?.();
    this.finetune?.stop();
    this.dropTrained();
  }
}
