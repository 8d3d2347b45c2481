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


def retrain_many(
    configs: Mapping[str, Mapping[str, Any]],
    train: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    recipe: str,
    doc: str,
) -> None:
    """The command line of a recipe that makes several checkpoints (``configs``: ``{file name: config}``).

    ``python -m <recipe>`` retrains all of them, ``python -m <recipe> NAME ...`` the ones named, and
    ``--list`` prints each name with its config. Training runs on one thread: the course's networks are
    small enough that a second thread costs more in synchronisation than it saves.
    """
    import torch

    parser = argparse.ArgumentParser(
        prog=f"python -m {recipe}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="checkpoint file names to retrain (default: all)")
    parser.add_argument("--list", action="store_true", help="list the checkpoints and their configs")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in configs]
    if unknown:
        parser.error(f"unknown checkpoints {unknown}; this recipe makes {list(configs)}")
    if args.list:
        for name, config in configs.items():
            print(f"{name:36s} {dict(config)}")
        return
    torch.set_num_threads(1)
    for name in args.names or list(configs):
        print(f"{recipe}: training {name}", flush=True)
        path = save_checkpoint(name, train(configs[name]), recipe=recipe, config=configs[name])
        print(f"saved {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
