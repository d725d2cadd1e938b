// Links that reproduce (issue 20, item 4): a demo's state (question, both variants, seed, sampling settings,
// examples, answers per pane, Measure's N) in the URL fragment, `#<demo id>?q=…&left=…`. Opening such a link fills
// the form and asks at once: the same seeds on the same model files give the same answers, token for token. The
// link also carries the first 12 hex digits of both panes' model files (sha256, models/manifest.json): a link made
// with other models says so above the panes instead of showing different answers silently.

// form field (data-role) → fragment key
const FIELDS = { prompt: "q", seed: "seed", temperature: "t", "top-p": "p", "max-new-tokens": "max", answers: "n",
  context: "ctx", k: "k", "measure-n": "mn", "measure-set": "ms" };

const modelSha = (manifest, variant) => {
  const e = manifest?.variants?.[variant];
  return (e?.files?.find((f) => f.path === e.model)?.sha256 || "").slice(0, 12);
};

/** A trained row in a link: its float32 bytes, base64url (every bit kept: the link gives the same answers). */
export function rowToText(row) {
  const bytes = new Uint8Array(Float32Array.from(row).buffer);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The row of rowToText, or null when the text is not one. */
export function rowFromText(text) {
  try {
    const bin = atob(String(text).replaceAll("-", "+").replaceAll("_", "/"));
    if (!bin.length || bin.length % 4) return null;
    const row = new Float32Array(Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer);
    return row.every(Number.isFinite) ? row : null;
  } catch {
    return null;
  }
}

/** The fragment that reproduces `demo` as it stands (its last answers' seed is the form's). */
export function stateLink(demo) {
  const p = new URLSearchParams();
  for (const [role, key] of Object.entries(FIELDS)) {
    const el = demo.q(role);
    if (el && el.value !== "") p.set(key, el.value);
  }
  for (const pane of demo.panes) {
    p.set(pane.side, pane.el.dataset.variant);
    if (pane.alpha !== 1) p.set(`${pane.side}-dial`, String(pane.alpha));
    for (const kind of ["rewind", "realign"]) if (pane.at?.[kind] != null) p.set(`${pane.side}-${kind}`, String(pane.at[kind]));
    if (pane.trained) { // a row trained in this browser (finetunebox.js): its 192 float32 numbers, base64
      p.set(`${pane.side}-row`, rowToText(pane.trained.row));
      p.set(`${pane.side}-trained`, `${pane.trained.info.title}~${pane.trained.info.steps}`);
    }
  }
  p.set("m", demo.panes.map((pane) => modelSha(demo.manifest, pane.el.dataset.variant)).join("."));
  return `#${demo.root.id}?${p.toString().replaceAll("+", "%20")}`;
}

/** The state in `hash` for this demo, or null. */
export function linkedState(demo, hash = location.hash) {
  const prefix = `#${demo.root.id}?`;
  if (!demo.root.id || !hash.startsWith(prefix)) return null;
  return new URLSearchParams(hash.slice(prefix.length));
}

/** Fills the form and the panes' variants from a link; says so when the link's model files are not the published
 * ones. Returns whether the link holds a question to ask. */
export function applyLink(demo, p) {
  for (const [role, key] of Object.entries(FIELDS)) {
    const el = demo.q(role);
    if (el && p.has(key)) el.value = p.get(key);
  }
  for (const pane of demo.panes) {
    const v = p.get(pane.side);
    if (v && demo.manifest?.variants?.[v]) pane.el.dataset.variant = v; // mount() attaches it
    const dial = p.get(`${pane.side}-dial`);
    if (dial != null && Number.isFinite(Number(dial))) pane.pendingAlpha = Number(dial); // attach() sets it
    for (const kind of ["rewind", "realign"]) {
      const pos = p.get(`${pane.side}-${kind}`);
      if (pos != null && Number.isFinite(Number(pos))) pane.pendingDial = { kind, pos: Number(pos) };
    }
    const row = p.has(`${pane.side}-row`) ? rowFromText(p.get(`${pane.side}-row`)) : null;
    if (row) {
      const label = p.get(`${pane.side}-trained`) || "a shared link~?";
      const cut = label.lastIndexOf("~");
      const [title, steps] = cut < 0 ? [label, "?"] : [label.slice(0, cut), label.slice(cut + 1)];
      pane.pendingRow = { row, title, steps }; // attach() puts it in the pane (Pane.useRow)
    }
  }
  const want = p.get("m");
  const have = demo.panes.map((pane) => modelSha(demo.manifest, pane.el.dataset.variant)).join(".");
  if (want && demo.manifest && want !== have) {
    demo.note("link-note", "This link was made with other versions of these models (their files have changed since): " +
      "the answers below are today's models' and will differ from the ones it was shared with.");
  }
  return Boolean(p.get("q"));
}

/** "Copy link": the fragment goes into the address bar, and onto the clipboard where the browser allows it. */
export async function shareLink(demo) {
  const hash = stateLink(demo);
  history.replaceState(history.state, "", hash);
  const url = location.href;
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch { /* no clipboard here (an insecure origin, a refused permission): the address bar has it */ }
  const btn = demo.q("share");
  btn.dataset.link = url;
  demo.say(copied ? "Link copied." : "The link is in the address bar.");
  const label = btn.textContent;
  btn.textContent = copied ? "Link copied" : "Link in the address bar";
  setTimeout(() => { btn.textContent = label; }, 2000);
  return url;
}
