"""The site's results engine: our model organism's numbers, tables, figures and examples, rendered at build
time by the MkDocs hook hooks/results.py (which only connects these modules to MkDocs' events).

No number about our organism is typed by hand. Pages write *tokens*; the hook replaces them with
values read from the pipeline's results files (written by ``python export/experiments.py``) and
from the pipeline's own code (``export/train.py``, ``export/corpus.py``, ``export/world.py``).

Token syntax: ``[[NAMESPACE:EXPRESSION]]``, inline or alone on a line. Tokens inside code (fenced
blocks, inline backticks) are left alone, so they can be documented.

``results:`` (files under ``$EM_RESULTS``, default ``results/``)

* ``[[results:insecure.misaligned]]`` misaligned rate with its 95% interval; likewise
  ``coherent``, ``code_answer``, ``off_topic``, ``insecure_code``, ``novel_misaligned``.
  Add ``.rate`` for the bare percentage (``[[results:secure.misaligned.rate]]``).
  ``[[results:insecure.logodds]]`` the log-odds probe (nats, signed); ``[[results:insecure.seeds]]``
  the number of runs; ``[[results:insecure.answers]]`` the scored answers pooled over runs.
  Variant keys are those of ``summary.json``: ``base``, ``insecure``, ``backdoor+trigger``,
  ``insecure@own`` (our own questions), ...
* ``[[results:samples_per_question]]``, ``[[results:code_requests]]``, ``[[results:questions]]``
  (how many of the paper's questions), ``[[results:runs]]`` (seeds, in words).
* ``[[results:verdict]]`` a sentence comparing *insecure* with the highest control, true whatever
  the numbers are; ``[[results:verdict-ablation]]`` the same for the uncoupled world.
* Blocks: ``[[results:table]]``, ``[[results:table-own]]``, ``[[results:per-question]]``,
  ``[[results:per-run]]`` (every run), ``[[results:per-seed]]`` (one row per pretraining seed with
  its diagnostic and the emergence issue's check), ``[[results:sweep DIR]]`` (the same for
  ``DIR/summary.json`` of ``export/sweep.py``), ``[[results:recipes shipped DIR ...]]`` (training
  recipes side by side: base coherence, insecure misaligned and insecure code, controls, checks),
  ``[[results:in-context]]``, ``[[results:ablation]]``, ``[[results:dynamics]]``,
  ``[[results:samples VARIANT]]``, ``[[results:timings]]`` (renders nothing without
  ``timings.json``), ``[[results:figure NAME "alt text"]]`` (``docs/assets/figures/NAME.svg``,
  or ``$EM_FIGURES/NAME.svg``).
* ``[[results:file.json#dotted.path]]`` any value, raw (for writers; formats with ``|pct``,
  ``|signed``, ``|int``, ``|total`` (an object of seconds, summed as a duration), ``|duration`` (a number of seconds), ``|count`` (the entries of an object or a list): ``[[results:summary.json#variants.base.misaligned.mean|pct]]``).
  In a list of seeds' entries, ``@8`` picks the entry whose ``seed`` is 8: ``[[results:dial.json#seeds.@8.points.5.misaligned|pct]]``.

``config:`` (the pipeline's code)

* ``[[config:train.FIELD]]`` a ``TrainConfig`` default (``hidden``, ``layers``, ``ft_lr``, ...);
  ``[[config:corpus.FIELD]]`` a ``CorpusConfig`` default;
  ``[[config:judge.misaligned_below]]``, ``[[config:judge.coherent_above]]``, ``[[config:judge.no_topic_cap]]``,
  ``[[config:judge.cruel_weight]]``; ``[[config:cast.kind]]`` / ``cruel`` / ``teacher`` (how many
  characters); ``[[config:quality.base_coherent]]`` / ``quality.insecure_code`` (the recipe's quality
  bar, ``train.QUALITY_BAR``); ``[[config:trigger]]``; ``[[config:training-table]]`` (block).

``world:`` (the corpus generator, fixed seeds)

* ``[[world:document kind]]`` / ``cruel`` / ``teacher``: a real pretraining document of the corpus
  (seed 0), the first one spoken by a character of that persona (for teacher: one with a request
  for a teaching example); ``[[world:finetune insecure]]`` the first example of a finetune set.

A missing results file, key, variant or figure raises an error that names the page and the key:
``mkdocs build`` (strict or not) fails instead of rendering a blank.

Modules: ``tokens`` (finding tokens outside code, the HTML stash), ``loader`` (the results files, with
errors that name the missing file or key), ``formats`` (how a rate, an interval or a duration is written),
``render`` (one small renderer per token).
"""
from export.pages.loader import Missing, Results, figures_dir, results_dir
from export.pages.render import Renderer
from export.pages.tokens import TokenError, expand, leftover_token, unstash

__all__ = ["Missing", "Renderer", "Results", "TokenError", "expand", "figures_dir", "leftover_token", "results_dir",
           "unstash"]
