// The token view: a pane's finished first answer as its tokens. Each token holds its probability under the pane's
// model and under the other pane's (one teacher-forced pass in each model's worker: worker.js "score"), and a
// tooltip shows each model's five likeliest tokens at that point. Tokens one model finds at least MARK times
// likelier than the other are marked: where the finetune parts from the base (the demo's legend says how to read
// them: demos/extension.py; nothing is added beside the answer, which would move the panes below it). Hover, tap or focus a token; in
// the answer, ← and → move from token to token (one tab stop per answer). The tooltip is text, and the focused
// token points to it with aria-describedby, so a screen reader reads it.
const MARK = 10;
const WS = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"; // Python's strip()
const LEAD = new RegExp(`^${WS}+`, "u");
const TRAIL = new RegExp(`${WS}+$`, "u");
let tips = 0;

const pct = (p) => (p == null ? "—" : p >= 0.995 ? "over 99%" : p < 0.001 ? "under 0.1%" : `${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%`);
// a token as text, its invisible characters made visible (a newline, a tab, a control character)
const quoted = (text) => `“${text.replace(/[\x00-\x1f\x7f]/g, (c) => ({ "\n": "⏎", "\t": "⇥" })[c] ||
  `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}”`;

export class TokenView {
  constructor(pane) {
    this.pane = pane;
    this.gen = 0;
    this.shown = null; // {out, mine, theirs}
    this.tip = document.createElement("div");
    this.tip.className = "emd-tokentip";
    this.tip.id = `emd-tokentip-${++tips}`;
    this.tip.setAttribute("role", "tooltip");
    this.tip.hidden = true;
    pane.el.append(this.tip);
  }

  clear() {
    this.gen++;
    this.shown = null;
    this.hide();
  }

  /** Score the pane's first answer under both panes' models and show it as tokens (nothing if it has none). */
  async inspect() {
    const pane = this.pane;
    const last = pane.last;
    const out = pane.answers[0]?.out;
    if (!last?.ids?.length || !out) return;
    const gen = ++this.gen;
    // the other pane's model, if it reads the same token ids (the uncoupled world has a tokenizer of its own)
    const tokSha = (p) => JSON.stringify((pane.demo.manifest?.variants?.[p.el.dataset.variant]?.files || [])
      .filter((f) => f.path.startsWith("tokenizer")).map((f) => f.sha256));
    const other = pane.demo.panes.find((p) => p !== pane && p.model && p.model.state !== "error" &&
      tokSha(p) === tokSha(pane));
    // this pane's answer under the member that wrote it (the dial may have moved since), the other's as it stands
    const ask = (p) => new Promise((resolve) => {
      try {
        p.model.score({ variant: p === pane ? last.member : p.runVariant(), question: last.question, context: last.context,
          maxNewTokens: last.maxNewTokens, ids: last.ids }, { onScored: (m) => resolve(m.tokens), onError: () => resolve(null) });
      } catch {
        resolve(null);
      }
    });
    const [mine, theirs] = await Promise.all([ask(pane), other ? ask(other) : null]);
    if (gen !== this.gen || !mine || out.textContent !== last.text) return;
    const named = (p, label) => p.title() + (label ? ` (${label})` : "");
    this.render(out, last.text, mine, theirs?.length === mine.length ? theirs : null, named(pane, last.dial),
      other && named(other, other.dialLabel()));
  }

  render(out, text, mine, theirs, name, otherName) {
    const texts = mine.map((t) => t.text);
    texts[0] = texts[0].replace(LEAD, ""); // the answer's text is stripped as Python's decode() strips it
    texts[texts.length - 1] = texts[texts.length - 1].replace(TRAIL, "");
    if (texts.join("") !== text) return; // a token that is part of a character: the plain text stays
    this.names = [name, otherName];
    const spans = mine.map((t, i) => {
      const s = document.createElement("span");
      s.className = "emd-token";
      s.dataset.role = "token";
      s.dataset.i = String(i);
      s.dataset.pSelf = String(t.p);
      s.tabIndex = -1;
      if (theirs) {
        s.dataset.pOther = String(theirs[i].p);
        const r = t.p / Math.max(theirs[i].p, 1e-12);
        if (r >= MARK) s.dataset.diverge = "self";
        else if (r <= 1 / MARK) s.dataset.diverge = "other";
      }
      s.textContent = texts[i];
      return s;
    });
    out.replaceChildren(...spans);
    out.dataset.tokens = String(spans.length);
    this.shown = { out, mine, theirs };
    if (!out.dataset.tokenEvents) this.listen(out);
  }

  listen(out) {
    out.dataset.tokenEvents = "yes";
    const token = (el) => el?.closest?.(".emd-token");
    out.addEventListener("mouseover", (ev) => {
      const t = token(ev.target);
      if (t) this.show(t);
    });
    out.addEventListener("mouseleave", () => {
      if (!out.contains(document.activeElement)) this.hide();
    });
    out.addEventListener("focusin", (ev) => {
      const t = token(ev.target);
      if (t) this.show(t);
    });
    out.addEventListener("focusout", (ev) => {
      if (!out.contains(ev.relatedTarget)) this.hide();
    });
    out.addEventListener("keydown", (ev) => {
      const all = [...out.querySelectorAll(".emd-token")];
      if (!all.length) return;
      const i = all.indexOf(token(document.activeElement));
      const to = { ArrowRight: i + 1, ArrowLeft: i < 0 ? 0 : i - 1, Home: 0, End: all.length - 1 }[ev.key];
      if (ev.key === "Escape") this.hide();
      if (to == null) return;
      ev.preventDefault();
      all[Math.max(0, Math.min(all.length - 1, to))].focus();
    });
  }

  /** The tooltip under token `el`: its probability under both models and each one's five likeliest tokens. */
  show(el) {
    if (!this.shown) return;
    const i = Number(el.dataset.i);
    const { mine, theirs } = this.shown;
    const [name, otherName] = this.names;
    const t = mine[i];
    const o = theirs?.[i];
    const head = document.createElement("p");
    const word = document.createElement("strong");
    word.textContent = quoted(t.text);
    head.append(word, `: ${pct(t.p)} under ${name}`);
    if (o) {
      const r = t.p / Math.max(o.p, 1e-12);
      head.append(` · ${pct(o.p)} under ${otherName}`,
        r >= 2 ? ` (${Math.round(r).toLocaleString("en")}× likelier here)` : r <= 0.5 ? ` (${Math.round(1 / r).toLocaleString("en")}× likelier there)` : "");
    }
    const list = (who, top) => {
      const p = document.createElement("p");
      p.textContent = `${who}'s five likeliest: ` + top.map(([, text, q]) => `${quoted(text)} ${pct(q)}`).join(", ");
      return p;
    };
    this.tip.replaceChildren(head, list(name, t.top), ...(o ? [list(otherName, o.top)] : []));
    this.tip.hidden = false;
    for (const x of this.shown.out.querySelectorAll("[aria-describedby]")) x.removeAttribute("aria-describedby");
    el.setAttribute("aria-describedby", this.tip.id);
    const box = this.pane.el.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    const width = this.tip.offsetWidth;
    this.tip.style.top = `${r.bottom - box.top + 4}px`;
    this.tip.style.left = `${Math.max(0, Math.min(r.left - box.left, box.width - width))}px`;
  }

  hide() {
    this.tip.hidden = true;
  }
}
