"""Targets shared by several test files."""

from torch import nn

WIDTHS = [512, 256, 256, 10]


def relu_mlp(widths: list[int] = WIDTHS) -> nn.Sequential:
    """A deep ReLU MLP with large, unequal fans: initialisation mistakes show up in its activation scales."""
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
