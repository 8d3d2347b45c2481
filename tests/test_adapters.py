"""Specification of lecture 10's pieces: the sequence tasks, descriptions, the tiny transformer, adapters."""

import pytest
import torch

from hypernet_lib import LowRankHyperNet, describe, functional_forward
from hypernet_lib.apps.adapters import (
    ADDS,
    ORDERS,
    BagOfWords,
    SequenceTask,
    TinyTransformer,
    adapted_logits,
    all_tasks,
    base_tasks,
    evaluate_adapters,
    fit_base_model,
    fit_multitask_lora,
    fit_per_task_lora,
    fit_text_to_lora,
    nearest_description,
    per_task_lora,
    sample_batch,
    sequence_accuracy,
    tokenize,
    train_heldout_split,
)

X = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])

# --- the task family --------------------------------------------------------------------


@pytest.mark.parametrize(
    "order, add, expected",
    [
        ("copy", 0, [3, 1, 4, 1, 5, 9, 2, 6]),
        ("copy", 3, [6, 4, 7, 4, 8, 2, 5, 9]),
        ("reverse", 0, [6, 2, 9, 5, 1, 4, 1, 3]),
        ("shift left 1", 0, [1, 4, 1, 5, 9, 2, 6, 3]),
        ("shift left 3", 0, [1, 5, 9, 2, 6, 3, 1, 4]),
        ("shift right 1", 0, [6, 3, 1, 4, 1, 5, 9, 2]),
        ("shift right 2", 1, [3, 7, 4, 2, 5, 2, 6, 0]),
        ("swap pairs", 0, [1, 3, 1, 4, 9, 5, 6, 2]),
        ("reverse", 8, [4, 0, 7, 3, 9, 2, 9, 1]),
    ],
)
def test_tasks_reorder_then_add_mod_10(order, add, expected):
    assert SequenceTask(order, add).apply(X).tolist() == [expected]


def test_shifts_left_and_right_undo_each_other():
    x = torch.randint(10, (5, 8))
    for k in (1, 2, 3):
        left, right = SequenceTask(f"shift left {k}", 0), SequenceTask(f"shift right {k}", 0)
        assert torch.equal(right.apply(left.apply(x)), x)


def test_descriptions_are_short_english_and_name_the_number():
    task = SequenceTask("shift right 2", 7)
    assert task.describe() == "shift the digits right by 2 then add 7"
    assert task.describe(1) == "rotate right by 2 places and increase every digit by 7"
    assert SequenceTask("copy", 0).describe() == "copy the digits"
    assert len({t.describe() for t in all_tasks()}) == len(all_tasks())  # no two tasks share a description


def test_split_holds_out_compositions_whose_parts_are_all_seen():
    train, held = train_heldout_split()
    assert len(train) + len(held) == len(ORDERS) * len(ADDS) and not set(train) & set(held)
    assert set(base_tasks()) <= set(train)
    assert all(t.order != "copy" and t.add != 0 for t in held)
    assert {t.order for t in held} == set(ORDERS) - {"copy"}  # every reordering is tested ...
    assert {t.add for t in held} == set(ADDS) - {0}  # ... and every added value
    for t in held:  # ... and each appears in training in other combinations
        assert any(s.order == t.order and s.add not in (0, t.add) for s in train)
        assert any(s.add == t.add and s.order not in ("copy", t.order) for s in train)


def test_sample_batch_answers_each_task():
    tasks = [SequenceTask("reverse", 1), SequenceTask("copy", 0)]
    x, y = sample_batch(tasks, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (2, 5, 8) and x.dtype == torch.int64
    assert torch.equal(y[0], tasks[0].apply(x[0])) and torch.equal(y[1], x[1])


# --- descriptions as vectors ------------------------------------------------------------


def test_tokenize_lowercases_and_turns_number_words_into_digits():
    assert tokenize("Shift LEFT by three, then add 2!") == ["shift", "left", "by", "3", "then", "add", "2"]


def test_bag_of_words_counts_words_and_word_pairs_and_has_unit_length():
    bow = BagOfWords(["add 2", "shift by 1"])
    assert bow.vocabulary == ("1", "2", "add", "add 2", "by", "by 1", "shift", "shift by")
    v = bow.embed("shift by 2")
    assert v.shape == (1, 8)
    expected = torch.zeros(8)
    expected[[1, 4, 6, 7]] = 1.0  # "2", "by", "shift", "shift by"; "by 2" is not in the vocabulary
    torch.testing.assert_close(v[0], expected / 2)
    assert bow.unknown("shift by 2 and jump") == ["and", "jump", "by 2", "2 and", "and jump"]


def test_word_pairs_tell_apart_descriptions_with_the_same_words():
    train, _ = train_heldout_split()
    bow = BagOfWords([t.describe(v) for t in train for v in (0, 1)])
    a = bow.embed(SequenceTask("shift left 2", 3).describe())
    b = bow.embed(SequenceTask("shift left 3", 2).describe())
    assert not torch.allclose(a, b)


def test_unknown_words_are_ignored_and_a_text_of_only_unknown_words_is_refused():
    bow = BagOfWords(["add 2"])  # vocabulary: "2", "add", "add 2"
    assert bow.embed(["jump and add"]).tolist() == [[0.0, 1.0, 0.0]]
    assert bow.unknown("jump and add") == ["jump", "and", "jump and", "and add"]
    with pytest.raises(ValueError, match=r"texts\[1\]: none of the words of 'jump' is in the vocabulary"):
        bow.embed(["add", "jump"])


def test_retrieval_finds_the_most_similar_description():
    train, _ = train_heldout_split()
    library = [t.describe() for t in train]
    bow = BagOfWords(library)
    assert nearest_description(bow, library[:5], library).tolist() == [0, 1, 2, 3, 4]
    # a held-out composition shares more with one of its parts than with unrelated tasks
    best = train[nearest_description(bow, "reverse the digits then add 3", library).item()]
    assert best.order == "reverse" or best.add == 3


# --- the tiny transformer ---------------------------------------------------------------


def small_model():
    torch.manual_seed(0)
    return TinyTransformer(d_model=16, n_heads=2, n_layers=1, d_mlp=16)


def test_transformer_gives_logits_for_every_output_digit():
    model = small_model()
    x = torch.randint(10, (4, 8))
    assert model(x).shape == (4, 8, 10)
    torch.testing.assert_close(model(x.float()), model(x))  # functional_forward passes floats
    assert not torch.allclose(model(x, torch.full((4,), 3)), model(x))  # the instruction matters


def test_every_output_position_sees_every_input_position():
    model = small_model()
    x = torch.randint(10, (1, 8))
    x2 = x.clone()
    x2[0, 7] = (x2[0, 7] + 1) % 10
    changed = (model(x) - model(x2)).abs().amax(-1)[0]
    assert (changed > 0).all()  # no causal mask


def test_adapter_targets_lists_the_chosen_matrices():
    model = TinyTransformer(n_layers=2)
    assert model.adapter_targets(["q", "fc2"]) == [
        "blocks.0.attn.q.weight",
        "blocks.0.fc2.weight",
        "blocks.1.attn.q.weight",
        "blocks.1.fc2.weight",
    ]
    assert len(model.adapter_targets()) == 12


def test_adapted_logits_batched_over_tasks_equals_looped():
    model = small_model()
    names = model.adapter_targets(["q", "v"])
    params = {n: torch.randn(3, *dict(model.named_parameters())[n].shape) * 0.1 for n in names}
    x = torch.randint(10, (3, 5, 8))
    batched = adapted_logits(model, params, x)
    for t in range(3):
        one = functional_forward(model, {n: p[t] for n, p in params.items()}, x[t].float())
        torch.testing.assert_close(batched[t], one)


def test_sequence_accuracy_counts_digits_and_whole_sequences():
    y = torch.tensor([[[1, 2], [3, 4]]])  # one task, two sequences of two digits
    logits = torch.nn.functional.one_hot(torch.tensor([[[1, 2], [3, 0]]]), 10).float()
    digit, whole = sequence_accuracy(logits, y)
    assert digit.tolist() == [0.75] and whole.tolist() == [0.5]


# --- adapters ---------------------------------------------------------------------------


def test_per_task_lora_starts_as_the_base_model_and_keeps_tasks_independent():
    model = small_model()
    model.requires_grad_(False)
    names = model.adapter_targets(["q", "v"])
    lora = per_task_lora(model, names, n_tasks=3, rank=2)
    params = lora(torch.eye(3))
    for n in names:  # U = 0: every adapted weight is the base weight
        torch.testing.assert_close(params[n], dict(model.named_parameters())[n].expand(3, -1, -1))
    x = torch.randint(10, (3, 4, 8))
    loss = adapted_logits(model, lora(torch.eye(3)), x)[0].sum()  # depends on task 0 only
    loss.backward()
    grad = lora.head.weight.grad
    assert grad[:, 0].abs().sum() > 0 and grad[:, 1:].abs().sum() == 0
    assert lora.head.bias.grad is None  # frozen: nothing shared between tasks


def test_training_per_task_loras_fits_a_task_the_base_model_cannot_do():
    model = small_model()
    model.requires_grad_(False)
    tasks = [SequenceTask("copy", 1), SequenceTask("copy", 2)]
    lora = per_task_lora(model, model.adapter_targets(), n_tasks=2, rank=2)
    seen = []
    gen = torch.Generator().manual_seed(0)
    losses = fit_per_task_lora(
        lora,
        model,
        tasks,
        40,
        n_per_task=16,
        lr=3e-2,
        generator=gen,
        callback=lambda i, _: seen.append(i),
        progress=False,
    )
    assert seen == list(range(1, 41))
    assert losses[-1] < 0.8 * losses[0]


def test_text_to_lora_training_lowers_the_loss():
    model = small_model()
    model.requires_grad_(False)
    tasks = [SequenceTask("copy", 1), SequenceTask("copy", 2), SequenceTask("copy", 3)]
    bow = BagOfWords([t.describe(v) for t in tasks for v in (0, 1)])
    spec = describe(model, include=model.adapter_targets())
    hnet = LowRankHyperNet(spec, bow.dim, rank=2, hidden=(16,), base=dict(model.named_parameters()), train_base=False)
    gen = torch.Generator().manual_seed(0)
    losses = fit_text_to_lora(hnet, model, bow, tasks, 40, tasks_per_step=3, lr=1e-2, generator=gen, progress=False)
    assert losses[-1] < 0.7 * losses[0]
    assert not any(p.requires_grad for p in model.parameters())


def test_a_per_task_lora_started_from_generated_factors_is_the_generated_adapter():
    model = small_model()
    model.requires_grad_(False)
    names = model.adapter_targets(["q", "fc1"])
    spec = describe(model, include=names)
    torch.manual_seed(1)
    hnet = LowRankHyperNet(spec, 5, rank=2, hidden=(8,), base=dict(model.named_parameters()), train_base=False)
    torch.nn.init.normal_(hnet.head.weight, std=0.1)  # U away from zero, so the copy is tested
    z = torch.randn(3, 5)
    with torch.no_grad():
        lora = per_task_lora(model, names, n_tasks=3, rank=2, start=hnet.factors(z))
        got, want = lora(torch.eye(3)), hnet(z)
    for n in names:
        torch.testing.assert_close(got[n], want[n])


def test_the_multitask_lora_is_one_adapter_trained_on_the_mix():
    model = small_model()
    model.requires_grad_(False)
    tasks = [SequenceTask("copy", 1), SequenceTask("copy", 1)]
    lora = per_task_lora(model, model.adapter_targets(), n_tasks=1, rank=2)
    losses = fit_multitask_lora(
        lora, model, tasks, 40, tasks_per_step=2, lr=3e-2, generator=torch.Generator().manual_seed(0), progress=False
    )
    assert losses[-1] < 0.8 * losses[0]  # one task in the mix: a single adapter can learn it


def test_pretraining_lowers_the_loss_and_trains_every_part():
    model = small_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator().manual_seed(0)
    losses = fit_base_model(model, 40, batch_size=64, lr=1e-2, p_no_instruction=0.0, generator=gen, progress=False)
    assert len(losses) == 5 and losses[-1] < losses[0] - 0.05  # a random model's loss cannot fall without learning
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_evaluate_scores_every_method_on_the_same_examples():
    model = small_model()
    tasks = [SequenceTask("copy", 0), SequenceTask("reverse", 0)]
    names = model.adapter_targets(["q"])
    own = {n: dict(model.named_parameters())[n].detach().expand(2, -1, -1) for n in names}
    digit_a, seq_a = evaluate_adapters(model, None, tasks, 20)
    digit_b, seq_b = evaluate_adapters(model, own, tasks, 20)  # base weights as an "adapter": same answers
    torch.testing.assert_close(digit_a, digit_b)
    torch.testing.assert_close(seq_a, seq_b)


# --- bad input --------------------------------------------------------------------------


def _setup():
    model = small_model()
    model.requires_grad_(False)
    tasks = [SequenceTask("copy", 1), SequenceTask("reverse", 2)]
    bow = BagOfWords([t.describe(v) for t in tasks for v in (0, 1)])
    spec = describe(model, include=model.adapter_targets(["q"]))
    hnet = LowRankHyperNet(spec, bow.dim, rank=1, hidden=(4,), base=dict(model.named_parameters()), train_base=False)
    return model, tasks, bow, hnet


M, TASKS, BOW, HNET = _setup()
DIGITS = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
BAD_CALLS = [
    (lambda: SequenceTask("sort", 0), ValueError, "order: expected one of"),
    (lambda: SequenceTask("copy", 10), ValueError, r"add: expected an int in 0..9, got 10"),
    (lambda: SequenceTask("copy", True), ValueError, r"add: expected an int in 0..9, got True"),
    (lambda: SequenceTask("copy", 0).apply(torch.rand(2, 8)), TypeError, "x: expected int64 digit tokens"),
    (
        lambda: SequenceTask("copy", 0).apply(DIGITS * 3),
        ValueError,
        r"x: expected digit tokens in 0..9, got values from 3 to 27",
    ),
    (
        lambda: SequenceTask("swap pairs", 0).apply(torch.zeros(7, dtype=torch.int64)),
        ValueError,
        "even sequence length",
    ),
    (lambda: train_heldout_split(1), ValueError, "holdout_every: expected at least 2"),
    (lambda: sample_batch([], 4), ValueError, "tasks: expected a non-empty list"),
    (lambda: sample_batch(TASKS[0], 4), TypeError, "got a single SequenceTask; wrap it"),
    (lambda: sample_batch(["copy"], 4), TypeError, "expected SequenceTask entries, got str"),
    (lambda: sample_batch(TASKS, 0), ValueError, "n_per_task: expected a positive integer"),
    (lambda: tokenize(3), TypeError, "text: expected a str"),
    (lambda: BagOfWords(["!!"]), ValueError, "expected descriptions with at least one word"),
    (lambda: BagOfWords("copy the digits"), TypeError, "texts: expected a list of descriptions, got one str"),
    (lambda: BOW.embed([]), ValueError, "texts: expected a str or a non-empty list"),
    (lambda: BOW.embed("jump high"), ValueError, "none of the words of 'jump high' is in the vocabulary"),
    (lambda: nearest_description(BOW, "copy", []), ValueError, "library: expected a non-empty list"),
    (lambda: nearest_description("bow", "copy", ["copy"]), TypeError, "embedder: expected a BagOfWords"),
    (
        lambda: M(torch.zeros(2, 5, dtype=torch.int64)),
        ValueError,
        r"x: expected sequences of length 8, got shape \[2, 5\]",
    ),
    (lambda: M(DIGITS + 7), ValueError, "x: expected digit tokens in 0..9"),
    (lambda: M(DIGITS.int()), TypeError, "x: expected int64 digit tokens, got dtype torch.int32"),
    (lambda: M(DIGITS, torch.zeros(3, dtype=torch.int64)), ValueError, r"instruction: expected int64 of shape \[1\]"),
    (lambda: M(DIGITS, torch.tensor([99])), ValueError, r"instruction: expected ids in 0..18"),
    (lambda: M.adapter_targets(["attention"]), ValueError, "kinds: expected some of"),
    (
        lambda: adapted_logits(M, HNET(BOW.embed("copy the digits")), DIGITS[None].float()),
        TypeError,
        "x: expected int64 digit tokens",
    ),
    (
        lambda: adapted_logits(M, HNET(BOW.embed("copy the digits")), DIGITS[None] + 10),
        ValueError,
        "x: expected digit tokens in 0..9",
    ),
    (
        lambda: sequence_accuracy(torch.zeros(2, 3, 8, 10), torch.zeros(2, 3, 7, dtype=torch.int64)),
        ValueError,
        r"expected logits \[T, N, L, 10\]",
    ),
    (
        lambda: evaluate_adapters(M, HNET(BOW.embed("copy the digits")), TASKS),
        ValueError,
        "one adapter per task, a leading dimension of 2",
    ),
    (lambda: evaluate_adapters(M, [1], TASKS), TypeError, "params: expected a dict"),
    (
        lambda: fit_text_to_lora(HNET, M, BOW, TASKS, 1, lr=float("nan")),
        ValueError,
        "lr: expected a positive finite number",
    ),
    (lambda: fit_text_to_lora(HNET, M, BOW, TASKS, 1, n_per_task=0), ValueError, "n_per_task"),
    (
        lambda: fit_per_task_lora(per_task_lora(M, ["blocks.0.attn.q.weight"], 2, 1), M, [TASKS[0]], 1),
        ValueError,
        "lora: expected one task id per task",
    ),
    (lambda: fit_per_task_lora(torch.nn.Linear(2, 2), M, TASKS, 1), TypeError, "hnet: expected a LowRankHyperNet"),
    (
        lambda: fit_per_task_lora(per_task_lora(M, ["blocks.0.attn.q.weight"], 2, 1), M, TASKS, 1, callback="x"),
        TypeError,
        "callback: expected a callable",
    ),
    (
        lambda: fit_per_task_lora(per_task_lora(M, ["blocks.0.attn.q.weight"], 2, 1), M, TASKS, 1, lr=-1),
        ValueError,
        "lr: expected a positive finite",
    ),
    (
        lambda: fit_multitask_lora(per_task_lora(M, ["blocks.0.attn.q.weight"], 2, 1), M, TASKS, 1),
        ValueError,
        "lora: expected a single adapter",
    ),
    (lambda: fit_base_model(M, 1, lr=float("inf")), ValueError, "lr: expected a positive finite"),
    (lambda: fit_base_model(M, 1, p_no_instruction=1.0), ValueError, "p_no_instruction"),
    (
        lambda: per_task_lora(M, ["blocks.0.attn.q.weight"], 2, 1, start={"x": 1}),
        ValueError,
        r"start: expected factors \{name: \(U, V\)\}",
    ),
    (
        lambda: per_task_lora(
            M, ["blocks.0.attn.q.weight"], 2, 1, start=HNET.factors(BOW.embed(["copy the digits"] * 3))
        ),
        ValueError,
        r"start\['blocks.0.attn.q.weight'\]: expected U \[2, 16, 1\]",
    ),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[m[:40] for _, _, m in BAD_CALLS])
def test_bad_input_is_refused_with_a_message_naming_it(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- lecture 10's recipe ----------------------------------------------------------------


def test_the_lecture_recipe_scores_every_method_for_every_seed_and_its_weights_load():
    from course import lec10_adapters as recipe

    config = {
        **recipe.CONFIG,
        "pretrain_steps": 2,
        "hnet_steps": 2,
        "seeds": (0, 1),
        "hnet_hidden": (8,),
        "eval_examples": 4,
    }
    payload = recipe.train(config)
    scores = payload["scores"]
    assert scores["t2l_held"].shape == (2, 2, 15) and scores["retrieval_train"].shape == (2, 2, 75)
    assert scores["probe_accuracy"].shape == (2, len(recipe.PROBES))
    model, embedder, hnet, multitask = recipe.build(config)
    assert list(embedder.vocabulary) == payload["vocabulary"]
    model.load_state_dict(payload["base"])
    hnet.load_state_dict(payload["hnet"])
    multitask.load_state_dict(payload["multitask"])
