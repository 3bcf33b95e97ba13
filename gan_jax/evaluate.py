"""--mode=eval: score the newest checkpoint of any family on its eval split (see evaluators.py).

Writes `DIR/eval/step_<N>.json` and TensorBoard scalars `eval/<metric>`; translation families also
get `DIR/results/index.html` (input | output | target rows), as users of the reference repo expect.
Another split than `test` (`--config.data.eval_split=train`) goes to `eval_<split>/`,
`results_<split>/` and `eval_<split>/<metric>` instead, beside the test split's results.
"""

import pathlib

from gan_jax import evaluators, run


def evaluate(config, workdir, step: int | None = None) -> dict:
  """Scores the newest checkpoint in `workdir` (or the one of `step`); returns what it wrote to
  eval/step_<N>.json."""
  workdir = pathlib.Path(workdir)
  setup, state, step = run.restore_newest(config, workdir, step)
  return evaluators.Scorer(config, setup, workdir).score(state, step)
