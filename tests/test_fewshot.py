"""Specification of few-shot episodes, per-class pooling, the set encoder and episode evaluation."""

import pytest
import torch
from torch import nn

from hypernet_lib import load_digits, mean_ci
from hypernet_lib.apps.fewshot import ClassEncoder, class_means, episode_accuracy, evaluate, prototype_logits
from hypernet_lib.data import Episodes, EpisodeSampler, cluster_episodes


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture
def toy():
    """12 examples of 4 classes (3 each) whose features encode their own row index."""
    y = torch.tensor([0, 1, 2, 3] * 3)
    x = torch.arange(12, dtype=torch.float32).view(12, 1).repeat(1, 2)
    return x, y


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- EpisodeSampler -------------------------------------------------------------------------


def test_shapes_and_class_major_labels(digits):
    ep = EpisodeSampler(digits.images, digits.labels).sample(7, n_way=5, k_shot=3, n_query=4, generator=gen())
    assert ep.x_support.shape == (7, 15, 1, 8, 8) and ep.x_query.shape == (7, 20, 1, 8, 8)
    assert ep.y_support.shape == (7, 15) and ep.y_query.shape == (7, 20) and ep.classes.shape == (7, 5)
    assert ep.y_support.dtype == ep.y_query.dtype == torch.int64
    assert ep.y_support[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert ep.y_query[3].tolist() == sum(([j] * 4 for j in range(5)), [])
    assert (ep.n_tasks, ep.n_way, ep.k_shot) == (7, 5, 3)


def test_every_example_belongs_to_the_class_behind_its_label(toy):
    x, y = toy
    ep = EpisodeSampler(x, y).sample(50, n_way=3, k_shot=1, n_query=2, generator=gen(1))
    for xs, ys in ((ep.x_support, ep.y_support), (ep.x_query, ep.y_query)):
        rows = xs[..., 0].long()  # the feature is the dataset row
        assert torch.equal(y[rows], ep.classes.gather(1, ys))


def test_classes_distinct_and_support_query_disjoint_within_an_episode(toy):
    x, y = toy
    ep = EpisodeSampler(x, y).sample(200, n_way=4, k_shot=2, n_query=1, generator=gen(2))
    for b in range(200):
        assert len(set(ep.classes[b].tolist())) == 4
        rows = torch.cat([ep.x_support[b, :, 0], ep.x_query[b, :, 0]]).long().tolist()
        assert len(set(rows)) == len(rows) == 12  # all 12 examples, none twice


def test_draws_cover_classes_and_examples_evenly(toy):
    x, y = toy
    ep = EpisodeSampler(x, y).sample(4000, n_way=2, k_shot=1, n_query=1, generator=gen(3))
    class_freq = torch.bincount(ep.classes.flatten(), minlength=4).float() / ep.classes.numel()
    row_freq = torch.bincount(ep.x_support[..., 0].long().flatten(), minlength=12).float()
    torch.testing.assert_close(class_freq, torch.full((4,), 0.25), atol=0.02, rtol=0)
    torch.testing.assert_close(row_freq / row_freq.sum(), torch.full((12,), 1 / 12), atol=0.01, rtol=0)


def test_class_split_restricts_the_draw_and_splits_can_be_checked_disjoint(digits):
    train = EpisodeSampler(digits.flat, digits.labels, classes=[0, 1, 2, 3, 4])
    test = EpisodeSampler(digits.flat, digits.labels, classes=[5, 6, 7, 8, 9])
    assert set(train.classes.tolist()).isdisjoint(test.classes.tolist())
    ep = test.sample(100, 5, 1, 1, generator=gen(4))
    assert set(ep.classes.unique().tolist()) == {5, 6, 7, 8, 9}


def test_same_generator_gives_same_episodes(digits):
    s = EpisodeSampler(digits.flat, digits.labels)
    a, b = s.sample(5, 5, 2, 3, generator=gen(5)), s.sample(5, 5, 2, 3, generator=gen(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    c = s.sample(5, 5, 2, 3, generator=gen(6))
    assert not torch.equal(a.x_support, c.x_support)


def test_episodes_slice_and_move():
    x, y = torch.randn(20, 3), torch.arange(20) % 4
    ep = EpisodeSampler(x, y).sample(6, 4, 2, 2, generator=gen(7))
    sub = ep.tasks(slice(2, 5))
    assert isinstance(sub, Episodes) and sub.n_tasks == 3 and torch.equal(sub.x_query, ep.x_query[2:5])
    assert ep.to("cpu").x_support.device.type == "cpu"


def test_k_plus_q_larger_than_a_class_is_a_clear_error(toy):
    x, y = toy
    with pytest.raises(ValueError, match=r"at most 3 \(class 0 has only 3 examples\).*k_shot=2 \+ n_query=2"):
        EpisodeSampler(x, y).sample(1, n_way=2, k_shot=2, n_query=2)


def test_more_ways_than_classes_is_a_clear_error(digits):
    s = EpisodeSampler(digits.flat, digits.labels, classes=[5, 6, 7])
    with pytest.raises(ValueError, match=r"at most the 3 classes .*got n_way=5"):
        s.sample(1, n_way=5, k_shot=1, n_query=1)


@pytest.mark.parametrize(
    ("x", "y", "classes", "err", "match"),
    [
        (torch.randn(4, 2), torch.tensor([0.0, 1.0, 0.0, 1.0]), None, TypeError, "integer class labels"),
        (torch.randn(4, 2), torch.tensor([[0, 1], [0, 1]]), None, ValueError, r"expected 1 dimensions"),
        (torch.randn(5, 2), torch.tensor([0, 1, 0, 1]), None, ValueError, r"\[n=4, \.\.\.\]"),
        (torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), [1, 7], ValueError, r"\[7\] have no examples"),
        (torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), [1, 1], ValueError, "distinct"),
        ([[1.0]], torch.tensor([0]), None, TypeError, "torch.Tensor"),
    ],
)
def test_sampler_rejects_bad_data(x, y, classes, err, match):
    with pytest.raises(err, match=match):
        EpisodeSampler(x, y, classes)


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_sample_rejects_non_positive_counts(toy, bad):
    with pytest.raises(ValueError, match="k_shot: expected a positive integer"):
        EpisodeSampler(*toy).sample(2, 2, bad, 1)


def test_sampling_follows_the_data_device_and_is_device_independent(digits):
    # Indices are drawn on the CPU: the same generator seed gives the same tasks on every device.
    ep = EpisodeSampler(digits.flat.double(), digits.labels).sample(3, 5, 1, 2, generator=gen(8))
    assert ep.x_support.dtype == torch.float64 and ep.x_support.device == digits.flat.device


# --- class_means / prototype_logits ---------------------------------------------------------


def test_class_means_are_means_of_each_label():
    f = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [0.0, 1.0]]])  # [1, 4, 2]
    y = torch.tensor([[1, 1, 0, 2]])
    expected = torch.tensor([[[5.0, 5.0], [2.0, 1.0], [0.0, 1.0]]])
    torch.testing.assert_close(class_means(f, y, 3), expected)


def test_relabelling_permutes_class_means():
    f, y = torch.randn(3, 10, 4), torch.randint(0, 3, (3, 10))
    y[:, :3] = torch.arange(3)  # every class present
    perm = torch.tensor([2, 0, 1])  # label j becomes perm[j]
    torch.testing.assert_close(class_means(f, perm[y], 3)[:, perm], class_means(f, y, 3))


def test_class_means_batched_equals_looped():
    f, y = torch.randn(4, 6, 3), torch.tensor([0, 1, 2, 0, 1, 2]).repeat(4, 1)
    looped = torch.stack([class_means(f[b : b + 1], y[b : b + 1], 3)[0] for b in range(4)])
    torch.testing.assert_close(class_means(f, y, 3), looped)


def test_class_means_rejects_missing_class_and_bad_labels():
    f = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="class 2 has no example in task 0"):
        class_means(f, torch.tensor([[0, 1, 0, 1], [0, 1, 2, 2]]), 3)
    with pytest.raises(ValueError, match=r"values in 0\.\.2"):
        class_means(f, torch.tensor([[0, 1, 2, 3], [0, 1, 2, 2]]), 3)
    with pytest.raises(ValueError, match=r"shape \[2, 4\]"):
        class_means(f, torch.tensor([0, 1, 2, 2]), 3)
    with pytest.raises(ValueError, match=r"expected 3 dimensions"):
        class_means(f[0], torch.tensor([0, 1, 2, 2]), 3)


def test_prototype_logits_pick_the_nearest_class_mean():
    s = torch.tensor([[[0.0, 0.0], [0.0, 2.0], [10.0, 0.0]]])  # class 0 mean (0, 1), class 1 at (10, 0)
    ys = torch.tensor([[0, 0, 1]])
    q = torch.tensor([[[1.0, 1.0], [9.0, 1.0]]])
    logits = prototype_logits(s, ys, q, 2)
    torch.testing.assert_close(logits, -torch.tensor([[[1.0, 82.0], [81.0, 2.0]]]))
    with pytest.raises(ValueError, match=r"query_features: expected shape \[B=1, Q, d=2\]"):
        prototype_logits(s, ys, q[..., :1], 2)


# --- ClassEncoder ---------------------------------------------------------------------------


def test_encoder_pools_per_class_and_is_label_equivariant_and_shot_order_invariant(digits):
    torch.manual_seed(0)
    enc = ClassEncoder(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU()), post=nn.Linear(8, 5))
    ep = EpisodeSampler(digits.images, digits.labels).sample(4, 3, 2, 1, generator=gen(9))
    out = enc(ep.x_support, ep.y_support, 3)
    assert out.shape == (4, 3, 5)
    perm = torch.tensor([1, 2, 0])
    torch.testing.assert_close(enc(ep.x_support, perm[ep.y_support], 3)[:, perm], out)
    shuffle = torch.randperm(6)
    torch.testing.assert_close(enc(ep.x_support[:, shuffle], ep.y_support[:, shuffle], 3), out)
    assert enc.embed_examples(ep.x_query).shape == (4, 3, 8)


def test_encoder_gradients_reach_the_embedding():
    enc = ClassEncoder(nn.Linear(4, 3))
    out = enc(torch.randn(2, 6, 4), torch.tensor([0, 0, 1, 1, 2, 2]).repeat(2, 1), 3)
    out.sum().backward()
    assert enc.embed.weight.grad is not None and enc.embed.weight.grad.abs().sum() > 0


def test_encoder_rejects_bad_input():
    with pytest.raises(TypeError, match="embed: expected an nn.Module"):
        ClassEncoder(lambda x: x)
    enc = ClassEncoder(nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"at least 3 dimensions \[B, M, \*feat\]"):
        enc(torch.randn(6, 4), torch.zeros(6, dtype=torch.long), 1)
    with pytest.raises(TypeError, match="floating-point"):
        enc(torch.ones(1, 2, 4, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long), 1)


# --- evaluation -----------------------------------------------------------------------------


def test_episode_accuracy_counts_correct_queries():
    logits = torch.tensor([[[2.0, 1.0], [0.0, 1.0]], [[2.0, 1.0], [3.0, 1.0]]])
    y = torch.tensor([[0, 1], [1, 1]])
    torch.testing.assert_close(episode_accuracy(logits, y), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"y_query: expected integer labels of shape \[2, 2\]"):
        episode_accuracy(logits, y[:, :1])


def test_evaluate_returns_mean_and_ci_over_episodes_in_any_batch_size(digits):
    ep = EpisodeSampler(digits.flat, digits.labels, classes=[5, 6, 7, 8, 9]).sample(50, 5, 5, 3, generator=gen(10))
    ncm = lambda e: prototype_logits(e.x_support, e.y_support, e.x_query, e.n_way)
    score = evaluate(ncm, ep, batch_size=7)
    assert score.per_episode.shape == (50,)
    assert (score.mean, score.ci) == pytest.approx(mean_ci(score.per_episode))
    assert score.mean == pytest.approx(evaluate(ncm, ep, batch_size=50).mean)
    assert 0.6 < score.mean <= 1.0  # digits are easy for nearest-class-mean, far above chance (0.2)
    chance = evaluate(lambda e: torch.zeros(*e.y_query.shape, e.n_way), ep)
    assert chance.mean == pytest.approx(0.2) and chance.ci == pytest.approx(0.0)


def test_evaluate_lets_a_predictor_use_gradients_inside(toy):
    ep = EpisodeSampler(*toy).sample(4, 2, 1, 1, generator=gen(11))

    def finetune(e):
        w = torch.zeros(e.n_tasks, e.n_way, 2, requires_grad=True)
        with torch.enable_grad():
            loss = nn.functional.cross_entropy((e.x_support @ w.transpose(1, 2)).flatten(0, 1), e.y_support.flatten())
            (grad,) = torch.autograd.grad(loss, w)
        return e.x_query @ (w - grad).transpose(1, 2)

    assert evaluate(finetune, ep).per_episode.shape == (4,)


def test_evaluate_rejects_wrong_logit_shapes(toy):
    ep = EpisodeSampler(*toy).sample(4, 2, 1, 1, generator=gen(12))
    with pytest.raises(ValueError, match=r"predict: expected logits of shape \[4, 2, 2\], got \[4, 2\]"):
        evaluate(lambda e: torch.zeros(4, 2), ep)
    with pytest.raises(TypeError, match="Episodes batch"):
        evaluate(lambda e: e, (1, 2))


# --- cluster_episodes (the 2-D task family) ---------------------------------------------------


def test_cluster_episodes_layout_and_spread():
    ep = cluster_episodes(400, n_way=3, k_shot=4, n_query=6, generator=gen(0), box=2.0, spread=(0.5, 0.5))
    assert ep.x_support.shape == (400, 12, 2) and ep.x_query.shape == (400, 18, 2)
    assert ep.y_support[0].tolist() == [0] * 4 + [1] * 4 + [2] * 4 and (ep.n_way, ep.k_shot) == (3, 4)
    x = torch.cat([ep.x_support.view(400, 3, 4, 2), ep.x_query.view(400, 3, 6, 2)], dim=2)  # [B, N, K+Q, 2]
    centred = x - x.mean(dim=2, keepdim=True)
    # every class has spread 0.5 here: the pooled per-axis std is 0.5 (up to the K+Q-1 correction)
    std = centred.pow(2).sum(dim=2).div(9).mean().sqrt()
    assert abs(float(std) - 0.5) < 0.02
    assert float(x.mean(dim=2).abs().max()) < 2.0 + 3 * 0.5 / 10**0.5  # centres inside the box


def test_cluster_episodes_deterministic_and_nearest_class_mean_works():
    a = cluster_episodes(300, 3, 5, 10, generator=gen(1))
    b = cluster_episodes(300, 3, 5, 10, generator=gen(1))
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    acc = evaluate(lambda ep: prototype_logits(ep.x_support, ep.y_support, ep.x_query, 3), a).mean
    assert 0.6 < acc < 0.95  # learnable, not trivial


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_way": 0}, "n_way"), ({"box": -1.0}, "box"), ({"spread": (1.0, 0.5)}, "spread"), ({"k_shot": 1.5}, "k_shot")],
)
def test_cluster_episodes_bad_input(kwargs, message):
    args = {"n_tasks": 2, "n_way": 3, "k_shot": 1, "n_query": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        cluster_episodes(**args)


# --- bad input is named, never a silent answer (one row per entry point and fault) ----------------------

NAN3 = torch.full((1, 2, 3), float("nan"))
TWO = torch.tensor([[0, 1]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: class_means(NAN3, TWO, 2), "features: expected finite numbers"),
        (lambda: class_means(torch.randn(1, 2, 3), torch.tensor([[0, 2]]), 2), r"labels: expected values in 0\.\.1"),
        (lambda: prototype_logits(torch.randn(1, 2, 3), TWO, NAN3, 2), "query_features: expected finite numbers"),
        (lambda: prototype_logits(torch.randn(1, 2, 3), TWO, torch.randn(1, 2, 4), 2), r"query_features: .*d=3"),
        (lambda: episode_accuracy(torch.full((2, 3, 4), float("nan")), torch.zeros(2, 3, dtype=torch.long)), "NaN"),
        (lambda: episode_accuracy(torch.randn(2, 3, 4), torch.full((2, 3), 7)), r"y_query: expected labels in 0\.\.3"),
        (lambda: episode_accuracy(torch.randn(2, 3, 4), torch.zeros(2, 3)), "y_query: expected integer labels"),
        (lambda: ClassEncoder(nn.Identity())(NAN3, TWO, 2), "features: expected finite numbers"),
        (lambda: ClassEncoder(nn.Identity())(torch.randn(1, 2, 3), TWO, 0), "n_way: expected a positive integer"),
    ],
    ids=[
        "class_means-nan",
        "class_means-label-range",
        "prototype_logits-nan-query",
        "prototype_logits-query-size",
        "episode_accuracy-nan-logits",
        "episode_accuracy-label-range",
        "episode_accuracy-float-labels",
        "ClassEncoder-nan",
        "ClassEncoder-n_way",
    ],
)
def test_few_shot_functions_name_the_bad_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_evaluate_refuses_too_few_episodes_and_nan_scores(toy):
    sampler = EpisodeSampler(*toy)
    ncm = lambda e: prototype_logits(e.x_support, e.y_support, e.x_query, e.n_way)
    with pytest.raises(ValueError, match="episodes: expected at least 2 episodes"):
        evaluate(ncm, sampler.sample(1, 2, 1, 1, generator=gen(13)))
    with pytest.raises(ValueError, match="logits: expected numbers, got NaN"):
        evaluate(lambda e: torch.full((*e.y_query.shape, e.n_way), float("nan")), sampler.sample(4, 2, 1, 1))
