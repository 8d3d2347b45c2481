"""Lecture 05's sweep: full, low-rank and chunked hypernetworks for lecture 01's sine task, at several sizes.

python -m course.lec05_lowrank                    # retrain checkpoints/05_sweep_<family>.pt, 05_init_check.pt, 05_adapters.pt
python -m course.lec05_lowrank --only lowrank     # one of them (they are independent): a family, init-check, adapters

Every model writes all 1,761 weights of the 1-40-40-1 ReLU network of lecture 01 from the task's
(amplitude, phase), encoded with constant L2 norm (:func:`embed`). Each family is swept over its own size
knob (``CONFIG["knobs"]``): the full hypernetwork's feature width ``d_e``, the low-rank one's rank ``r``,
the chunked one's chunk size ``S``. Every size is trained at four learning rates and three seeds, and
for each size the learning rate with the lowest mean error on *validation* tasks is kept; the test tasks
are only scored, in the notebook.

All twelve runs of one size (4 learning rates x 3 seeds) train at once as one batched model: their
parameters are stacked (``torch.func.stack_module_state``) and the loss is ``vmap``-ed over them. Adam
is element-wise, so this is exactly twelve independent runs; it is written out below only so that each
run can have its own learning rate.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from hypernet_lib import (
    ChunkedHyperNet,
    HyperNetwork,
    LowRankHyperNet,
    default_device,
    describe,
    fit,
    functional_forward,
    sample_sinusoids,
)
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.checkpoints import save_checkpoint
from hypernet_lib.train import progress_bar

# Lecture 01's constant-L2-norm encoding of a sine task, (A, φ) → z = (cos πu/2, cos πv/2, sin πu/2, sin πv/2)
# with |z|² = 2 (Gonzalez Ortiz et al.'s "cos|sin"): the sweep reads tasks exactly as lecture 01 does.
from .lec01_first_principles import embed

RECIPE = "course.lec05_lowrank"
FAMILIES = ("full", "lowrank", "chunked")
INIT_CHECK_NAME = "05_init_check.pt"  # the sweep's choice of init, checked: one size per family from hyperfan-in
NAMES = (*(f"05_sweep_{f}.pt" for f in FAMILIES), INIT_CHECK_NAME)
INIT_CHECK_SIZES = {"full": 4, "lowrank": 4, "chunked": 200}
ADAPTERS_NAME = "05_adapters.pt"  # section 7: generated LoRA-style adapters and per-task ones (the oracle)
NAMES = (*NAMES, ADAPTERS_NAME)
ADAPTERS: dict[str, Any] = {
    "base_sine": (3.0, 1.0),  # the pretrained network draws 3 sin(x - 1)
    "pretrain_steps": 1000,
    "adapt": ("2.weight", "4.weight", "4.bias"),
    "ranks": (1, 4, 16),
    "trunk": (32, 16),
    "n_steps": 3000,
    "lr": 1e-2,
    "tasks_per_step": 32,
    "points_per_task": 50,
    "oracle_tasks": 32,  # the first test sines
    "seed": 0,
}
CONFIG: dict[str, Any] = {
    "knobs": {  # each family's size knob: d_e, rank r, chunk size S
        "full": (1, 2, 3, 4, 6, 8, 16),
        "lowrank": (1, 2, 4, 6, 8, 12, 16),
        "chunked": (25, 50, 100, 200, 400, 600, 900),
    },
    "trunk": {"full": (32,), "lowrank": (32, 16)},  # full: 4 → 32 → d_e; low-rank: 4 → 32 → 16
    "chunk_dim": 8,  # chunked: embeddings of 8, generator [z, c_k] (12) → 32 → S
    "chunk_hidden": (32,),
    "init": "default",
    "lrs": (1e-3, 3e-3, 1e-2, 3e-2),
    "seeds": (0, 1, 2),
    "n_steps": 2500,
    "tasks_per_step": 32,
    "points_per_task": 50,
    "eval_every": 100,
    "val_tasks": 200,  # validation: picks the learning rate
    "test_tasks": 500,  # test: scored in the notebook only
    "points_per_eval_task": 100,
    "val_seed": 4321,
    "test_seed": 1234,
}


def sine_target() -> nn.Module:
    """Lecture 01's target: a 1-40-40-1 ReLU network (1,761 numbers)."""
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def eval_tasks(split: str, config: Mapping[str, Any] = CONFIG, device: torch.device | str | None = None):
    """The fixed validation (``"val"``) or test (``"test"``) sines: ``config[f"{split}_tasks"]`` tasks of 100 points."""
    if split not in ("val", "test"):
        raise ValueError(f"split: expected 'val' or 'test', got {split!r}")
    gen = torch.Generator().manual_seed(config[f"{split}_seed"])
    return sample_sinusoids(config[f"{split}_tasks"], 1, config["points_per_eval_task"], generator=gen, device=device)


def build(family: str, knob: int, seed: int, config: Mapping[str, Any] = CONFIG) -> nn.Module:
    """The untrained hypernetwork of one sweep point (``family`` at size ``knob``), initialized from ``seed``."""
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {family!r}")
    spec = describe(sine_target())
    z_sample = embed(*_uniform_tasks(4096))  # what the init measures its feature moments on
    init = config["init"]
    torch.manual_seed(seed)
    if family == "full":
        return HyperNetwork(spec, z_dim=4, hidden=(*config["trunk"]["full"], knob), init=init, z_sample=z_sample)
    if family == "lowrank":
        return LowRankHyperNet(
            spec, z_dim=4, rank=knob, hidden=tuple(config["trunk"]["lowrank"]), init=init, z_sample=z_sample
        )
    return ChunkedHyperNet(
        spec,
        z_dim=4,
        chunk_size=knob,
        chunk_dim=config["chunk_dim"],
        hidden=tuple(config["chunk_hidden"]),
        init=init,
        z_sample=z_sample,
    )


def _uniform_tasks(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = sample_sinusoids(n, 1, 1, generator=torch.Generator().manual_seed(0))
    return t.amplitude, t.phase


class _Unchecked(nn.Module):
    """``hnet.generate`` as a forward: under ``vmap`` the family's input check (which reads ``z``'s values
    to refuse NaN) cannot run, so the sweep's embeddings, finite by construction, skip it."""

    def __init__(self, hnet: nn.Module):
        super().__init__()
        self.hnet = hnet

    def forward(self, z: torch.Tensor):
        return self.hnet.generate(z)


def train_size(family: str, knob: int, config: Mapping[str, Any] = CONFIG, device=None, progress=None) -> dict:
    """Train every (learning rate, seed) run of one size together; return their curves and final weights.

    Returns ``{"val_curve": [n_evals, L, S] validation MSE, "states": [[state_dict] * S] * L}`` for the
    ``L`` learning rates and ``S`` seeds of ``config``.
    """
    device = device or default_device()
    lrs, seeds = tuple(config["lrs"]), tuple(config["seeds"])
    n_lr, n_seed = len(lrs), len(seeds)
    target = sine_target().to(device)
    models = [build(family, knob, s, config).to(device) for _ in lrs for s in seeds]  # lr-major
    params, _ = stack_module_state(models)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    # Seed-dependent buffers (the chunked init's fixed scale) are stacked too; index buffers are shared.
    buffers = {
        k: torch.stack([dict(m.named_buffers())[k] for m in models])
        for k in ("scale",)
        if k in dict(models[0].named_buffers())
    }
    template = _Unchecked(models[0])

    def generate(p, b, z):
        return functional_call(template, {f"hnet.{k}": v for k, v in {**p, **b}.items()}, (z,), strict=False)

    def loss_one(p, b, z, x, y):
        return (functional_forward(target, generate(p, b, z), x) - y).pow(2).mean()

    batched_loss = vmap(loss_one)
    val = eval_tasks("val", config, device)
    z_val = embed(val.amplitude, val.phase)

    @torch.no_grad()
    def val_mse() -> torch.Tensor:
        def one(p, b):
            return (functional_forward(target, generate(p, b, z_val), val.x_query) - val.y_query).pow(2).mean()

        return vmap(one)(params, buffers).view(n_lr, n_seed).cpu()

    # Adam (Kingma & Ba 2015, default betas), one learning rate per stacked run, decayed to 0 on a cosine.
    lr = torch.tensor(lrs, device=device).repeat_interleave(n_seed)
    moments = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n_steps, n_tasks, n_points = config["n_steps"], config["tasks_per_step"], config["points_per_task"]
    gen = torch.Generator().manual_seed(10_000 + knob)
    curve = [val_mse()]
    for step in progress_bar(range(n_steps), desc=f"{family} {knob}", progress=progress):
        # The runs of one seed see the same tasks at every learning rate (a paired comparison).
        t = sample_sinusoids(n_seed * n_tasks, n_points, 1, generator=gen, device=device)
        z = embed(t.amplitude, t.phase).view(1, n_seed, n_tasks, 4).expand(n_lr, -1, -1, -1).flatten(0, 1)
        x, y = (
            v.view(1, n_seed, n_tasks, n_points, 1).expand(n_lr, -1, -1, -1, -1).flatten(0, 1)
            for v in (t.x_support, t.y_support)
        )
        losses = batched_loss(params, buffers, z, x, y)
        grads = torch.autograd.grad(losses.sum(), list(params.values()))
        scale = 0.5 * (1 + math.cos(math.pi * step / n_steps))
        with torch.no_grad():
            for (name, p), g in zip(params.items(), grads):
                m, v = moments[name]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat, v_hat = m / (1 - beta1 ** (step + 1)), v / (1 - beta2 ** (step + 1))
                p.sub_((lr * scale).view(-1, *[1] * (p.dim() - 1)) * m_hat / (v_hat.sqrt() + eps))
        if (step + 1) % config["eval_every"] == 0:
            curve.append(val_mse())
    states = []
    for i, model in enumerate(models):
        # clone: a view would carry the whole stacked storage (every run) into the checkpoint
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state.update({k: params[k][i].detach().cpu().clone() for k in state if k in params})
        state.update({k: buffers[k][i].detach().cpu().clone() for k in state if k in buffers})
        states.append(state)
    return {
        "val_curve": torch.stack(curve),
        "states": [states[i * n_seed : (i + 1) * n_seed] for i in range(n_lr)],
    }


def family_config(family: str, config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """What shapes one family's checkpoint: the shared settings and that family's knobs (and trunk)."""
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {family!r}")
    out = {k: v for k, v in config.items() if k not in ("knobs", "trunk", "chunk_dim", "chunk_hidden")}
    out.update(family=family, knobs=tuple(config["knobs"][family]))
    if family == "chunked":
        out.update(chunk_dim=config["chunk_dim"], chunk_hidden=tuple(config["chunk_hidden"]))
    else:
        out.update(trunk=tuple(config["trunk"][family]))
    return out


def _as_full_config(fconfig: Mapping[str, Any]) -> dict[str, Any]:
    """A family config read back as a CONFIG-shaped one (for :func:`build` and :func:`train_size`)."""
    family = fconfig["family"]
    config = {k: v for k, v in fconfig.items() if k not in ("family",)}
    config["knobs"] = {family: fconfig["knobs"]}
    config["trunk"] = {family: fconfig.get("trunk", ())}
    config.setdefault("chunk_dim", CONFIG["chunk_dim"])
    config.setdefault("chunk_hidden", CONFIG["chunk_hidden"])
    return config


def train(fconfig: Mapping[str, Any]) -> dict[str, Any]:
    """Train one family at all its sizes; keep, per size, the seeds of the learning rate best on validation.

    Payload: ``knobs``; ``lr`` (the chosen learning rate per size); ``val_mse`` (``[L, S]`` final validation
    MSE per size, every learning rate); ``val_curve`` (``[n_evals, L, S]`` per size); ``states`` (per size,
    one state dict per seed, at the chosen learning rate); ``seconds`` (training time per size).
    """
    config = _as_full_config(fconfig)
    family, lrs = fconfig["family"], tuple(fconfig["lrs"])
    out: dict[str, Any] = {
        "knobs": list(fconfig["knobs"]),
        "lr": [],
        "val_mse": [],
        "val_curve": [],
        "states": [],
        "seconds": [],
    }
    for knob in fconfig["knobs"]:
        start = time.perf_counter()
        run = train_size(family, knob, config)
        final = run["val_curve"][-1]  # [L, S]
        best = int(final.mean(dim=1).argmin())
        seconds = time.perf_counter() - start
        print(
            f"{family:8s} {knob:4d}: validation MSE (mean over seeds) "
            + ", ".join(f"lr {lr:g}: {float(e):.4f}" for lr, e in zip(lrs, final.mean(dim=1)))
            + f"; kept lr {lrs[best]:g} ({seconds:.0f} s)",
            flush=True,
        )
        out["lr"].append(lrs[best])
        out["val_mse"].append(final)
        out["val_curve"].append(run["val_curve"])
        out["states"].append(run["states"][best])
        out["seconds"].append(seconds)
    return out


def load_or_train(config: Mapping[str, Any] = CONFIG) -> dict[str, dict[str, Any]]:
    """Every family's payload (see :func:`train`), from ``checkpoints/05_sweep_<family>.pt`` when it matches."""
    return {
        family: _load_or_train(
            name,
            family_config(family, config),
            train,
            recipe=RECIPE,
            keys=("knobs", "lr", "val_mse", "states"),
            estimate="about 15 minutes of one CPU core per family",
        )
        for family, name in zip(FAMILIES, NAMES)
    }


def load_models(payloads: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any] = CONFIG, device=None) -> dict:
    """``{(family, knob, seed): hypernetwork}``, rebuilt with :func:`build` and loaded with the shipped weights."""
    models = {}
    for family, payload in payloads.items():
        for knob, states in zip(payload["knobs"], payload["states"]):
            for seed, state in zip(config["seeds"], states):
                hnet = build(family, knob, seed, config)
                hnet.load_state_dict(state)
                models[family, knob, seed] = hnet.to(device or default_device()).eval()
    return models


def init_check_config(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """The init check: the sweep's settings at one size per family, from ``"hyperfan_in"`` instead of ``config["init"]``."""
    out = {k: v for k, v in config.items() if k not in ("knobs", "init")}
    out.update(init="hyperfan_in", sizes=dict(INIT_CHECK_SIZES))
    return out


def train_init_check(cconfig: Mapping[str, Any]) -> dict[str, Any]:
    """Train :data:`INIT_CHECK_SIZES` from hyperfan-in, every learning rate and seed; keep only the curves.

    Payload: ``sizes`` (``{family: knob}``), ``val_mse`` (``[L, S]`` final validation MSE per family, in
    :data:`FAMILIES` order) and ``val_curve`` (``[n_evals, L, S]`` per family).
    """
    config = dict(cconfig)
    config["knobs"] = {f: (k,) for f, k in cconfig["sizes"].items()}
    out: dict[str, Any] = {"sizes": dict(cconfig["sizes"]), "val_mse": [], "val_curve": []}
    for family in FAMILIES:
        run = train_size(family, cconfig["sizes"][family], config)
        out["val_mse"].append(run["val_curve"][-1])
        out["val_curve"].append(run["val_curve"])
        print(
            f"{family:8s} {cconfig['sizes'][family]:4d} from hyperfan-in: validation MSE {run['val_curve'][-1].mean(1)}",
            flush=True,
        )
    return out


def load_init_check(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """The init check's payload (see :func:`train_init_check`), from ``checkpoints/05_init_check.pt`` when it matches."""
    return _load_or_train(
        INIT_CHECK_NAME,
        init_check_config(config),
        train_init_check,
        recipe=RECIPE,
        keys=("sizes", "val_mse", "val_curve"),
        estimate="about 5 minutes of one CPU core",
    )


def adapter_target(adapters: Mapping[str, Any] = ADAPTERS) -> nn.Module:
    """The pretrained network of section 7: lecture 01's target fitted to one sine (weights from the payload)."""
    return sine_target()


def build_adapters(
    pretrained: nn.Module, rank: int, adapters: Mapping[str, Any] = ADAPTERS
) -> tuple[nn.Module, nn.Module]:
    """(generated, oracle) adapters of rank ``rank`` around the frozen ``pretrained`` network.

    ``generated``: a :class:`~hypernet_lib.LowRankHyperNet` from the encoded task to ``W = W₀ + U Vᵀ`` of the
    layers ``adapters["adapt"]``. ``oracle``: the same family with ``hidden=()`` and a one-hot ``z`` per
    task, which is a table of per-task factors (the head's column ``t`` is task ``t``'s ``U`` and ``V``);
    its shared head offset is frozen at zero so that the tasks' adapters train independently.
    """
    spec = describe(pretrained, include=list(adapters["adapt"]))
    base = dict(pretrained.named_parameters())
    torch.manual_seed(adapters["seed"])
    generated = LowRankHyperNet(spec, z_dim=4, rank=rank, hidden=tuple(adapters["trunk"]), base=base, train_base=False)
    oracle = LowRankHyperNet(spec, z_dim=adapters["oracle_tasks"], rank=rank, hidden=(), base=base, train_base=False)
    oracle.head.bias.requires_grad_(False)
    return generated, oracle


def oracle_tasks(adapters: Mapping[str, Any] = ADAPTERS, config: Mapping[str, Any] = CONFIG, device=None):
    """The sines the oracle adapters are trained for: the first ``adapters["oracle_tasks"]`` test sines."""
    test = eval_tasks("test", config, device)
    return type(test)(*(t[: adapters["oracle_tasks"]] for t in test))


def _fit_adam(module: nn.Module, loss_of, n_steps: int, lr: float, desc: str, progress=None) -> list[float]:
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)

    def step(i: int) -> torch.Tensor:
        loss = loss_of(i)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        return loss.detach()

    return fit(step, n_steps, desc=desc, log_every=50, progress=progress)


def train_adapters(adapters: Mapping[str, Any] = ADAPTERS) -> dict[str, Any]:
    """Pretrain the base network on one sine, then train generated and per-task adapters at every rank.

    Both kinds get the same steps, learning rate and schedule. The generated adapters see fresh random
    sines (never the oracle's test sines); each oracle adapter sees fresh points of its own sine.
    Payload: ``pretrained`` (state dict), ``generated`` and ``oracle`` (one state dict per rank), ``losses``.
    """
    device = default_device()
    gen = torch.Generator().manual_seed(adapters["seed"])
    torch.manual_seed(adapters["seed"])
    pretrained = adapter_target(adapters).to(device)
    amplitude, phase = adapters["base_sine"]

    def pretrain_loss(_: int) -> torch.Tensor:
        x = (torch.rand(128, 1, generator=gen) * 10 - 5).to(device)
        return (pretrained(x) - amplitude * torch.sin(x - phase)).pow(2).mean()

    _fit_adam(pretrained, pretrain_loss, adapters["pretrain_steps"], 3e-3, "pretraining")
    pretrained.requires_grad_(False)
    own = oracle_tasks(adapters, device=device)
    one_hot = torch.eye(adapters["oracle_tasks"], device=device)
    n, k = adapters["tasks_per_step"], adapters["points_per_task"]
    out: dict[str, Any] = {"pretrained": {k_: v.cpu() for k_, v in pretrained.state_dict().items()}}
    out.update(generated=[], oracle=[], losses=[])
    for rank in adapters["ranks"]:
        generated, oracle = (m.to(device) for m in build_adapters(pretrained, rank, adapters))

        def generated_loss(_: int, generated: nn.Module = generated) -> torch.Tensor:
            t = sample_sinusoids(n, k, 1, generator=gen, device=device)
            params = generated(embed(t.amplitude, t.phase))
            return (functional_forward(pretrained, params, t.x_support) - t.y_support).pow(2).mean()

        def oracle_loss(_: int, oracle: nn.Module = oracle) -> torch.Tensor:
            x = (torch.rand(len(one_hot), k, 1, generator=gen) * 10 - 5).to(device)
            y = own.amplitude.view(-1, 1, 1) * torch.sin(x - own.phase.view(-1, 1, 1))
            return (functional_forward(pretrained, oracle(one_hot), x) - y).pow(2).mean()

        losses = [
            _fit_adam(m, f, adapters["n_steps"], adapters["lr"], f"{name} rank {rank}")
            for m, f, name in ((generated, generated_loss, "generated"), (oracle, oracle_loss, "oracle"))
        ]
        out["generated"].append({k_: v.detach().cpu() for k_, v in generated.state_dict().items()})
        out["oracle"].append({k_: v.detach().cpu() for k_, v in oracle.state_dict().items()})
        out["losses"].append(torch.tensor(losses))
        print(f"rank {rank}: final training MSE generated {losses[0][-1]:.4f}, oracle {losses[1][-1]:.4f}", flush=True)
    return out


def load_adapters(
    adapters: Mapping[str, Any] = ADAPTERS, device=None
) -> tuple[nn.Module, dict[int, tuple[nn.Module, nn.Module]]]:
    """The pretrained network and ``{rank: (generated, oracle)}`` (from ``checkpoints/05_adapters.pt`` when it matches)."""
    payload = _load_or_train(
        ADAPTERS_NAME,
        adapters,
        train_adapters,
        recipe=RECIPE,
        keys=("pretrained", "generated", "oracle"),
        estimate="about 5 minutes of one CPU core",
    )
    device = device or default_device()
    pretrained = adapter_target(adapters)
    pretrained.load_state_dict(payload["pretrained"])
    pretrained = pretrained.to(device).requires_grad_(False)
    out = {}
    for rank, g_state, o_state in zip(adapters["ranks"], payload["generated"], payload["oracle"]):
        generated, oracle = build_adapters(pretrained, rank, adapters)
        generated.load_state_dict(g_state)
        oracle.load_state_dict(o_state)
        out[rank] = (generated.to(device).eval(), oracle.to(device).eval())
    return pretrained, out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {RECIPE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        choices=(*FAMILIES, "init-check", "adapters"),
        action="append",
        help="retrain only these checkpoints: a family's sweep, the init check or the adapters (default: all five)",
    )
    args = parser.parse_args()
    for what in args.only or (*FAMILIES, "init-check", "adapters"):
        if what == "init-check":
            name, cfg, fn = INIT_CHECK_NAME, init_check_config(), train_init_check
        elif what == "adapters":
            name, cfg, fn = ADAPTERS_NAME, ADAPTERS, train_adapters
        else:
            name, cfg, fn = f"05_sweep_{what}.pt", family_config(what), train
        print(f"{RECIPE}: training {name} with {cfg}", flush=True)
        path = save_checkpoint(name, fn(cfg), recipe=RECIPE, config=cfg)
        print(f"saved {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)


if __name__ == "__main__":
    main()
