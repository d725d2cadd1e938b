// The header's light/dark toggle (hooks/palette.py says why the theme's palette component does not run it): the
// theme's behaviour, without the color-scheme meta that made every page load restyle the whole page (issue 24).
// The reader's pick is kept where the theme keeps it (__md_set("__palette")), which the theme's inline script
// restores before the first paint; until the reader picks one, the palette follows the system's setting.
const KEY = "__palette";

function mount() {
  const form = document.querySelector("form[data-emd-palette]");
  if (!form || form.dataset.mounted) return;
  form.dataset.mounted = "yes";
  const inputs = [...form.querySelectorAll('input[name="__palette"]')];
  if (!inputs.length) return;
  const saved = window.__md_get?.(KEY);
  const index = Number.isInteger(saved?.index) ? saved.index
    : inputs.findIndex((el) => matchMedia(el.getAttribute("data-md-color-media")).matches);
  let current = Math.max(0, Math.min(index, inputs.length - 1));

  const apply = (i, pick) => {
    const el = inputs[i];
    const color = {};
    for (const key of ["media", "scheme", "primary", "accent"]) {
      color[key] = el.getAttribute(`data-md-color-${key}`);
      // an attribute set to the value it has restyles nothing; the first call usually finds them all in place
      if (document.body.getAttribute(`data-md-color-${key}`) !== color[key]) {
        document.body.setAttribute(`data-md-color-${key}`, color[key]);
      }
    }
    inputs.forEach((input, j) => {
      const label = input.nextElementSibling;
      if (label instanceof HTMLElement) label.hidden = j !== i;
    });
    current = i;
    if (pick) window.__md_set?.(KEY, { index: i, color });
  };

  apply(current, false);
  form.addEventListener("change", (ev) => {
    const i = inputs.indexOf(ev.target);
    if (i >= 0) apply(i, true);
  });
  form.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    const next = inputs[(current + 1) % inputs.length];
    next.click();
    next.focus();
  });
}

// a module runs after the document is parsed; the header is not swapped by instant navigation
mount();
