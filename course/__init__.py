"""The recipes: one module per lecture that trains what the lecture loads instead of training live.

Every recipe has the same parts, so a notebook and its training script cannot drift apart:

- ``CONFIG``: everything that shapes the model (sizes, steps, learning rates, seeds), stored with the weights;
- ``build(config)``: the untrained model(s), exactly as trained;
- ``train(config)``: trains them and returns the payload to save (state dicts, measured numbers);
- ``load_or_train(config=CONFIG)``: the shipped checkpoint when its stored config equals ``config``,
  otherwise trained now (:func:`hypernet_lib.checkpoints.load_or_train`);
- ``python -m course.<recipe>`` retrains and overwrites the shipped checkpoint.

A notebook imports its recipe (``from course import lec05_lowrank as recipe``) and never copies its code;
where a student should read a model's definition, the notebook prints it from the recipe
(``inspect.getsource(recipe.build)``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from hypernet_lib.checkpoints import save_checkpoint


def retrain_main(
    name: str, config: Mapping[str, Any], train: Callable[[Mapping[str, Any]], Mapping[str, Any]], recipe: str, doc: str
) -> None:
    """The command line of every recipe: train with ``config`` and overwrite ``checkpoints/<name>``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {recipe}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    print(f"{recipe}: training {name} with {dict(config)}", flush=True)
    path = save_checkpoint(name, train(config), recipe=recipe, config=config)
    print(f"saved {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
