"""Slider change → regenerated weights → redrawn figure: time per change, headless.

    python benchmarks/bench_viz.py

Target: at most 100 ms per change. Each row moves one slider of a SliderPanel through a sweep
of values (from code, exactly as a browser event does) and reports the median wall and CPU
time per change, for the blitted update (the default) beside a full redraw of the figure
(``blit=False``, then ``canvas.draw()``, which the browser asks for after ``draw_idle``).
On the ipympl canvas both include encoding the changed pixels as PNG for the browser; the
Agg rows are the render alone. CPU time is the fairer number on a shared, loaded machine.
"""

from __future__ import annotations

import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
from torch import nn

from hypernet_lib import HyperNetwork, describe, functional_forward
from hypernet_lib.viz import SliderPanel

N_CHANGES = 30


def sine_panel(blit: bool, canvas: str) -> SliderPanel:
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    hnet = HyperNetwork(describe(target), z_dim=2, hidden=(64, 64))
    xs = torch.linspace(-5, 5, 200).unsqueeze(1)

    def behaviour(ax):
        (line,) = ax.plot(xs[:, 0], np.zeros(len(xs)))
        ax.set(xlim=(-5, 5), ylim=(-5, 5), xlabel="x", ylabel="f(x)")

        def update(params, values):
            line.set_ydata(functional_forward(target, params, xs)[:, 0].numpy())
            return (line,)

        return update

    return SliderPanel(
        {"z0": (-2, 2, 0), "z1": (-2, 2, 0)},
        lambda v: hnet(torch.tensor([v["z0"], v["z1"]])),
        behaviour,
        blit=blit,
        canvas=canvas,
    )


def digits_panel(blit: bool, canvas: str) -> SliderPanel:
    """The seed's 784-64-5 target: one 64 x 784 heatmap, the largest a lecture shows."""
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 5))
    hnet = HyperNetwork(describe(target), z_dim=8, hidden=(32,))
    return SliderPanel({"z0": (-2, 2, 0)}, lambda v: hnet(torch.full((8,), v["z0"])), blit=blit, canvas=canvas)


def time_changes(panel: SliderPanel) -> tuple[float, float]:
    """Median (wall ms, CPU ms) per slider change, including the render (and, on ipympl, the PNG)."""
    name = next(iter(panel.sliders))
    lo, hi = panel.sliders[name].min, panel.sliders[name].max
    walls, cpus = [], []
    for v in np.linspace(lo, hi, N_CHANGES):
        w0, c0 = time.perf_counter(), time.process_time()
        panel.sliders[name].value = float(v)
        if not panel.blit:
            panel.fig.canvas.draw()  # what the browser requests after draw_idle (Agg: draw_idle drew already)
        walls.append(1000 * (time.perf_counter() - w0))
        cpus.append(1000 * (time.process_time() - c0))
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    canvases = ["agg"]
    try:
        import ipympl  # noqa: F401

        canvases.append("ipympl")
    except ImportError:
        pass
    print(f"ms per slider change, median of {N_CHANGES} changes (target <= 100 ms)")
    print(
        f"{'panel':18s} {'canvas':7s} {'full wall':>10s} {'blit wall':>10s} {'full cpu':>9s} {'blit cpu':>9s} {'cpu ratio':>10s}"
    )
    for canvas in canvases:
        for name, make in [("sine 1-40-40-1", sine_panel), ("digits 784-64-5", digits_panel)]:
            full, fast = make(blit=False, canvas=canvas), make(blit=True, canvas=canvas)
            full_wall, full_cpu = time_changes(full)
            fast_wall, fast_cpu = time_changes(fast)
            print(
                f"{name:18s} {canvas:7s} {full_wall:10.1f} {fast_wall:10.1f} {full_cpu:9.1f} {fast_cpu:9.1f} "
                f"{full_cpu / fast_cpu:9.1f}x"
            )
            full.close()
            fast.close()


if __name__ == "__main__":
    main()
