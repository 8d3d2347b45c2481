"""Batched generation + target forward vs a per-task Python loop, on the seed program's sizes.

The seed program's few-shot hypernetwork: a 784-d task embedding through two 128-unit ReLU
layers into heads for a 784-64-5 target MLP, meta-batch 32. Both variants below use the
*same* ``HyperNetwork`` module (same weights, same math); only the batching differs:

- loop: for each task, generate its parameters from its own ``z`` and run the target on
  its own inputs (what a DataLoader-fed, one-task-at-a-time program does);
- batched: one call generates all 32 parameter sets, one vmapped call runs all targets.

The head is a 128 x 50,565 matrix (6.5 M numbers): the loop reads it 32 times per step,
the batched version once, so the gap is mostly memory traffic. Printed: median wall time
of a forward pass and of a forward+backward (a meta-training step), and their ratios; then how
close the batched forward runs to this machine's roofline (its measured matmul FLOP/s and copy
bandwidth, taken in the same run), from the forward's FLOPs and the bytes it must at least move.
"""

from __future__ import annotations

import torch
from torch import nn

from hypernet_lib import HyperNetwork, default_device, describe, functional_forward
from hypernet_lib.measure import machine_peaks, median_times, roofline_fraction

META_BATCH, N_QUERY, EMBED = 32, 75, 784  # 5-way with 15 queries per class


def seed_target() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 5))


def seed_forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The seed program's target: two ``F.linear`` calls with the generated tensors of one task."""
    h = nn.functional.relu(nn.functional.linear(x, p["0.weight"], p["0.bias"]))
    return nn.functional.linear(h, p["2.weight"], p["2.bias"])


def loop_step(hnet, target, z, x, y, backward):
    total = 0.0
    for b in range(z.shape[0]):
        logits = seed_forward(hnet(z[b]), x[b])
        total = total + nn.functional.cross_entropy(logits, y[b])
    loss = total / z.shape[0]
    if backward:
        loss.backward()
    return loss


def batched_step(hnet, target, z, x, y, backward):
    logits = functional_forward(target, hnet(z), x)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    if backward:
        loss.backward()
    return loss


def forward_cost(hnet: HyperNetwork, z: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """FLOPs of the batched forward (every matmul, 2 per multiply-add) and the bytes it must read or write at least:
    every hypernetwork weight once, the inputs once, the generated parameters once each way."""
    b, n, d = x.shape
    widths = [z.shape[1], *(m.out_features for m in hnet.trunk if isinstance(m, nn.Linear))]
    trunk = sum(2 * b * i * o for i, o in zip(widths[:-1], widths[1:]))
    head = 2 * b * hnet.head.in_features * hnet.head.out_features
    target = 2 * b * n * (784 * 64 + 64 * 5)
    weights = sum(p.numel() for p in hnet.parameters())
    moved = 4 * (weights + z.numel() + x.numel() + 2 * b * hnet.head.out_features)
    return float(trunk + head + target), float(moved)


def main(repeats: int = 15) -> dict[str, float]:
    device = default_device()
    torch.manual_seed(0)
    target = seed_target().to(device)
    hnet = HyperNetwork(describe(target), z_dim=EMBED, hidden=(128, 128)).to(device)
    z = torch.randn(META_BATCH, EMBED, device=device)
    x = torch.randn(META_BATCH, N_QUERY, 784, device=device)
    y = torch.randint(0, 5, (META_BATCH, N_QUERY), device=device)

    # Same math: the two variants give the same loss and the same gradients.
    hnet.zero_grad()
    loss_loop = loop_step(hnet, target, z, x, y, backward=True)
    grad_loop = hnet.head.weight.grad.clone()
    hnet.zero_grad()
    loss_batched = batched_step(hnet, target, z, x, y, backward=True)
    torch.testing.assert_close(loss_loop, loss_batched, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_loop, hnet.head.weight.grad, rtol=1e-3, atol=1e-6)

    results = {}
    print(f"device: {device}, threads: {torch.get_num_threads()}, meta-batch {META_BATCH}, target 784-64-5")
    print(f"{'pass':22s} {'loop ms':>9s} {'batched ms':>11s} {'speed-up':>9s}")
    for label, backward in (("forward", False), ("forward + backward", True)):
        ctx = torch.enable_grad if backward else torch.no_grad

        def run(step, ctx=ctx, backward=backward):
            with ctx():
                hnet.zero_grad(set_to_none=True)
                step(hnet, target, z, x, y, backward)

        t = median_times({"loop": lambda: run(loop_step), "batched": lambda: run(batched_step)}, repeats, device=device)
        loop_ms, batched_ms = 1e3 * t["loop"], 1e3 * t["batched"]
        results[label] = loop_ms / batched_ms
        if not backward:
            forward_s = t["batched"]
        print(f"{label:22s} {loop_ms:9.1f} {batched_ms:11.1f} {results[label]:8.1f}x")
    flops, moved = forward_cost(hnet, z, x)
    peaks = machine_peaks(device)
    results["roofline"] = roofline_fraction(flops, moved, forward_s, peaks)
    print(
        f"batched forward: {flops / 1e9:.2f} GFLOP, at least {moved / 1e6:.0f} MB moved, "
        f"{flops / forward_s / 1e9:.1f} GFLOP/s; this machine now: matmul {peaks['flops'] / 1e9:.1f} GFLOP/s, "
        f"copy {peaks['bandwidth'] / 1e9:.1f} GB/s -> {results['roofline']:.0%} of the roofline"
    )
    return results


if __name__ == "__main__":
    main()
