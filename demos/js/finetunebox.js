// "Finetune it yourself" in a pane (issue 23): the reader picks a training set (a published finetune set, or
// examples they type), the one-row recipe runs in this browser (trainer.js), a live loss curve, steps/s, time left
// and Stop; the trained row then answers in the pane (Pane.useRow), Measure scores it and Copy link carries it.
import { chatRow, parseOwnExamples } from "./finetune.js";
import { BrowserTrainer, finetuneOf } from "./trainer.js";

const SVG = "http://www.w3.org/2000/svg";
const OWN = "own";
const STOPPED = "stopped";

export class FinetuneBox {
  constructor(pane) {
    this.pane = pane;
    this.box = pane.q("finetune-box");
    this.data = pane.q("finetune-data");
    this.own = pane.q("finetune-own");
    this.button = pane.q("finetune");
    this.status = pane.q("finetune-status");
    this.curve = pane.q("finetune-curve");
    this.trainer = null;
    this.data.addEventListener("change", () => { this.own.hidden = this.data.value !== OWN; });
    this.button.addEventListener("click", () => (this.trainer ? this.stop() : this.start()));
  }

  /** The family whose base this pane's finetune starts from: the pane's variant's, where it has a gradient graph. */
  family() {
    const m = this.pane.demo.manifest;
    const fam = m?.variants?.[this.pane.el.dataset.variant]?.family;
    return finetuneOf(m, fam) ? fam : null;
  }

  /** Shown where the pane's family has a finetune graph; the sets are the family's. */
  refresh() {
    const fam = this.family();
    this.box.hidden = !fam;
    if (!fam) return;
    const sets = Object.keys(finetuneOf(this.pane.demo.manifest, fam).sets);
    const have = [...this.data.options].map((o) => o.value);
    if (have.join() !== [...sets, OWN].join()) {
      const keep = this.data.value;
      this.data.replaceChildren(...[...sets, OWN].map((s) => {
        const o = document.createElement("option");
        o.value = s;
        o.textContent = this.setTitle(s, true);
        return o;
      }));
      if ([...sets, OWN].includes(keep)) this.data.value = keep;
    }
  }

  setTitle(set, long = false) {
    if (set === OWN) return "your own examples";
    const m = this.pane.demo.manifest;
    const e = finetuneOf(m, this.family())?.sets?.[set];
    const title = m?.variants?.[set]?.title || set;
    return long && e ? `${title} (${e.rows})` : title;
  }

  say(text) {
    this.status.textContent = text;
  }

  async start() {
    const fam = this.family();
    if (!fam || this.trainer) return;
    const set = this.data.value;
    let rows = null;
    if (set === OWN) {
      const pairs = parseOwnExamples(this.own.value);
      if (!pairs.length) {
        this.say("Type at least one example: a request on its first line, its answer below, a blank line between examples.");
        this.own.focus();
        return;
      }
      rows = pairs.map(chatRow);
    }
    const trainer = new BrowserTrainer(this.pane.demo.manifest, fam, set, rows);
    const seq = this.pane.attached;
    this.trainer = trainer;
    this.box.dataset.state = "preparing";
    this.button.textContent = "Stop";
    this.data.disabled = this.own.disabled = true; // the set is read once, at the start
    const what = `${this.setTitle(set)}${rows ? ` (${rows.length})` : ""}`;
    this.pane.demo.say(`Finetuning the ${this.pane.side} pane's Assistant on ${what}.`);
    this.losses = [];
    this.draw();
    try {
      await trainer.prepare((text) => this.say(`Preparing: ${text}`));
      if (trainer.stopped) throw new Error(STOPPED);
      this.box.dataset.workers = String(trainer.workers.length); // the batch's shares (the sum's order)
      this.box.dataset.state = "training";
      const steps = trainer.ft.recipe.steps;
      let spent = 0;
      const out = await trainer.run(({ step, loss, ms }) => {
        spent += ms;
        this.losses.push(loss);
        const rate = (step / spent) * 1000;
        this.box.dataset.step = String(step);
        this.say(`Step ${step} of ${steps} · loss ${loss.toFixed(3)} · ${rate.toFixed(1)} steps/s · ` +
          `${Math.ceil((steps - step) / rate)} s left`);
        this.draw(steps);
      });
      this.box.dataset.state = out.stopped ? "stopped" : "done";
      this.box.dataset.seconds = out.seconds.toFixed(1);
      this.say(`${out.stopped ? "Stopped after" : "Trained:"} ${out.steps} steps on ${what} in ${out.seconds.toFixed(1)} s ` +
        `(${(out.steps / out.seconds).toFixed(1)} steps/s). The pane now answers with the trained row.`);
      if (out.steps && seq === this.pane.attached) {
        const variant = finetuneOf(this.pane.demo.manifest, fam).sets[set]?.variant || null;
        const used = await this.pane.useRow(out.row, { family: fam, set, variant, title: what, steps: out.steps, rows });
        this.pane.demo.say(used ? `Finetune done: the ${this.pane.side} pane answers with the Assistant trained on ${what}.`
          : "Finetune done, but the pane's model was changed meanwhile: the trained row was not put in.");
      } else if (out.steps) {
        this.say(`${this.status.textContent.split(" The pane")[0]} The pane's model was changed meanwhile: the trained ` +
          "row was not put in.");
      }
    } catch (e) {
      const stopped = e.message === STOPPED;
      this.box.dataset.state = stopped ? "stopped" : "error";
      this.say(stopped ? "Stopped before the first step." : `The finetune failed: ${e.message || e}`);
      this.pane.demo.say(this.status.textContent);
    } finally {
      trainer.dispose();
      this.trainer = null;
      this.button.textContent = "Finetune";
      this.data.disabled = this.own.disabled = false;
    }
  }

  stop() {
    this.trainer?.stop();
  }

  /** The loss curve: loss against step (the step axis is the recipe's length, the loss axis 0 to the first loss). */
  draw(steps = 1) {
    const svg = this.curve;
    const W = 300;
    const H = 70;
    svg.replaceChildren();
    svg.toggleAttribute("hidden", !this.losses.length); // an SVG element has no `hidden` property
    if (!this.losses.length) return;
    const top = Math.max(...this.losses) * 1.05 || 1;
    const x = (i) => 4 + ((i + 1) / steps) * (W - 8);
    const y = (v) => H - 4 - (v / top) * (H - 8);
    const axis = document.createElementNS(SVG, "path");
    axis.setAttribute("d", `M4 4 V${H - 4} H${W - 4}`);
    axis.setAttribute("class", "emd-finetune__axis");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", this.losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
    line.setAttribute("class", "emd-finetune__loss");
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", String(W - 6));
    label.setAttribute("y", "14");
    label.setAttribute("text-anchor", "end");
    label.textContent = `loss ${this.losses[this.losses.length - 1].toFixed(3)}`;
    svg.append(axis, line, label);
  }
}
