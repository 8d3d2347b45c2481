import pytest
import torch
from torch import nn

# Fails the run when the whole course takes longer than 15 min under nbval (tests/course_budget.py).
pytest_plugins = ["course_budget"]

# The unit tests use tiny tensors: a second intra-op thread only adds synchronisation, and on a busy
# 2-core machine its spin-waiting made single tests several times slower. (Notebooks run in their
# own kernels and keep PyTorch's default.)
torch.set_num_threads(1)


@pytest.fixture
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


@pytest.fixture
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )
