"""Adapters for a tiny transformer, generated from a task's description (lecture 10).

The pieces of a text-to-adapter pipeline (Text-to-LoRA, Charakorn et al. 2025), small
enough for a laptop:

- a family of sequence tasks made by code (:class:`SequenceTask`): reorder a sequence of
  digits (copy, reverse, shift left or right by 1-3 places, swap neighbouring pairs) and then
  add ``k`` to every digit (mod 10), each with a short English description in two phrasings;
- :class:`BagOfWords`: a description → a fixed-length vector (word and word-pair counts;
  no downloads, no pretrained text encoder), and :func:`nearest_description` for retrieval;
- :class:`TinyTransformer`: an encoder-only transformer that reads the input digits and
  predicts every output digit at once; its attention and MLP ``Linear`` layers are what the
  adapters modify;
- :func:`sample_batch`, :func:`sequence_accuracy`: data and the metrics the lecture reports;
- the adapters it compares, all as :class:`~hypernet_lib.hypernets.lowrank.LowRankHyperNet` (lecture 05)
  around the frozen base (``W = W₀ + U Vᵀ``): per-task LoRAs (:func:`per_task_lora`, optionally started
  from generated factors), one multi-task LoRA (:func:`fit_multitask_lora`), and the description →
  adapter hypernetwork (:func:`fit_text_to_lora`). Nothing here generates weights itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import (
    require_dims,
    require_float,
    require_instance,
    require_positive_int,
    require_sequence,
    require_tensor,
)
from ..hypernets.lowrank import LowRankHyperNet
from ..target import describe, functional_forward
from ..train import fit, optimizer_step

N_DIGITS = 10  # tokens are the digits 0-9
SEQ_LEN = 8

# Reorderings: each maps positions; the output digit at position i is x[source(i)].
ORDERS: tuple[str, ...] = (
    "copy",
    "reverse",
    "shift left 1",
    "shift left 2",
    "shift left 3",
    "shift right 1",
    "shift right 2",
    "shift right 3",
    "swap pairs",
)
ADDS: tuple[int, ...] = tuple(range(N_DIGITS))

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class SequenceTask:
    """Reorder a digit sequence by ``order`` (one of :data:`ORDERS`), then add ``add`` mod 10 to every digit."""

    order: str
    add: int

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order: expected one of {list(ORDERS)}, got {self.order!r}")
        if isinstance(self.add, bool) or not isinstance(self.add, int) or not 0 <= self.add < N_DIGITS:
            raise ValueError(f"add: expected an int in 0..{N_DIGITS - 1}, got {self.add!r}")

    @property
    def name(self) -> str:
        return self.order if self.add == 0 else f"{self.order} +{self.add}"

    def describe(self, variant: int = 0) -> str:
        """A short English description; ``variant`` picks one of two phrasings (0 is the canonical one)."""
        if variant not in (0, 1):
            raise ValueError(f"variant: expected 0 or 1, got {variant!r}")
        words = self.order.split()
        if self.order == "copy":
            first = ("copy the digits", "keep the digits in order")[variant]
        elif self.order == "reverse":
            first = ("reverse the digits", "read the digits backwards")[variant]
        elif words[0] == "shift":
            k = int(words[2])
            unit = "place" if k == 1 else "places"
            first = (f"shift the digits {words[1]} by {k}", f"rotate {words[1]} by {k} {unit}")[variant]
        else:
            first = ("swap each pair of neighbours", "exchange neighbouring digits in pairs")[variant]
        if self.add == 0:
            return first
        second = (f"then add {self.add}", f"and increase every digit by {self.add}")[variant]
        return f"{first} {second}"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The answer: ``x: [..., L]`` int64 digits → ``[..., L]``."""
        require_tensor("x", x)
        if x.dtype != torch.int64:
            raise TypeError(f"x: expected int64 digit tokens, got dtype {x.dtype}")
        if x.dim() < 1:
            raise ValueError("x: expected at least one dimension [..., L], got a scalar")
        _require_digits("x", x)
        y = x[..., _source_positions(self.order, x.shape[-1]).to(x.device)]
        return (y + self.add) % N_DIGITS


def _require_digits(name: str, x: torch.Tensor) -> None:
    if x.numel() and (x.min() < 0 or x.max() >= N_DIGITS):
        raise ValueError(
            f"{name}: expected digit tokens in 0..{N_DIGITS - 1}, got values from {int(x.min())} to {int(x.max())}"
        )


def _require_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _require_tasks(tasks: object) -> list[SequenceTask]:
    if isinstance(tasks, SequenceTask):
        raise TypeError("tasks: expected a list of SequenceTask, got a single SequenceTask; wrap it: [task]")
    tasks = list(tasks) if isinstance(tasks, Iterable) and not isinstance(tasks, (str, bytes)) else None
    if not tasks:
        raise ValueError("tasks: expected a non-empty list of SequenceTask, got none")
    wrong = [type(t).__name__ for t in tasks if not isinstance(t, SequenceTask)]
    if wrong:
        raise TypeError(f"tasks: expected SequenceTask entries, got {wrong[0]}; build them as SequenceTask(order, add)")
    return tasks


def _source_positions(order: str, length: int) -> torch.Tensor:
    i = torch.arange(length)
    words = order.split()
    if order == "copy":
        return i
    if order == "reverse":
        return i.flip(0)
    if words[0] == "shift":
        k = int(words[2])
        # shifting left by k: output position i shows the digit k places to its right
        return (i + k) % length if words[1] == "left" else (i - k) % length
    if order == "swap pairs":
        if length % 2:
            raise ValueError(f"swap pairs: expected an even sequence length, got {length}")
        return i ^ 1
    raise ValueError(f"order: {order!r} is not a reordering by positions")


def all_tasks() -> list[SequenceTask]:
    """Every (order, add) combination: ``len(ORDERS) · len(ADDS)`` tasks."""
    return [SequenceTask(o, a) for o in ORDERS for a in ADDS]


def base_tasks() -> list[SequenceTask]:
    """The base mix: the primitive skills alone, one reordering (add 0) or one addition (copy + k).

    ``base_tasks()[i]`` is what :class:`TinyTransformer` does with instruction ``i + 1``; instruction 0
    means "no instruction" (the model's default), for which pretraining asks for a random base task.
    """
    return [SequenceTask(o, 0) for o in ORDERS] + [SequenceTask("copy", a) for a in ADDS if a]


def train_heldout_split(holdout_every: int = 5) -> tuple[list[SequenceTask], list[SequenceTask]]:
    """Training and held-out tasks for the adapters: held out are the compositions (a reordering
    other than copy *and* a non-zero addition) with ``(add + 2·order_index) % holdout_every == 0``.

    Every order and every added value still appears in training, only in other combinations,
    so a held-out task is new as a whole while each of its words has been seen: a test of
    composition, not of vocabulary. The base tasks are all in training.
    """
    holdout_every = require_positive_int("holdout_every", holdout_every)
    if holdout_every < 2:
        raise ValueError(
            f"holdout_every: expected at least 2 (1 would hold out every composition), got {holdout_every}"
        )
    train, held = [], []
    for t in all_tasks():
        composite = t.order != "copy" and t.add != 0
        is_held = composite and (t.add + 2 * ORDERS.index(t.order)) % holdout_every == 0
        (held if is_held else train).append(t)
    return train, held


def sample_batch(
    tasks: Sequence[SequenceTask],
    n_per_task: int,
    generator: torch.Generator | None = None,
    seq_len: int = SEQ_LEN,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs and answers for each task: ``x, y: [T, n_per_task, L]`` int64 (drawn on the CPU)."""
    tasks = _require_tasks(tasks)
    n_per_task = require_positive_int("n_per_task", n_per_task)
    x = torch.randint(N_DIGITS, (len(tasks), n_per_task, require_positive_int("seq_len", seq_len)), generator=generator)
    y = torch.stack([t.apply(xb) for t, xb in zip(tasks, x)])
    return x.to(device), y.to(device)


# --- description embedding --------------------------------------------------------------

_TOKEN = re.compile(r"[a-z]+|\d+")


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers; number words become digits (``"three"`` → ``"3"``)."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    words = _TOKEN.findall(text.lower())
    return [str(_NUMBER_WORDS.index(w)) if w in _NUMBER_WORDS else w for w in words]


def _features(words: list[str]) -> list[str]:
    return words + [f"{a} {b}" for a, b in zip(words[:-1], words[1:])]


class BagOfWords:
    """Description → vector of word and word-pair counts over a fixed vocabulary, scaled to unit length.

    Word pairs (bigrams) keep what single words lose: in "shift left by 2 then add 3" the
    pairs "by 2" and "add 3" say which number belongs to which operation. Features never seen
    when the vocabulary was built are dropped (and reported by :meth:`unknown`); a text with no
    known feature at all is refused, since it would embed to the zero vector, the same for every
    such text.

    ``BagOfWords(texts)``; ``embed(texts) → [B, dim]`` float32.
    """

    def __init__(self, texts: Iterable[str]):
        if isinstance(texts, str):
            raise TypeError("texts: expected a list of descriptions, got one str; wrap it: [text]")
        texts = require_sequence("texts", texts, "descriptions (str)")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts: expected descriptions (str), got {sorted({type(t).__name__ for t in texts})}")
        vocab = sorted({f for t in texts for f in _features(tokenize(t))})
        if not vocab:
            raise ValueError("texts: expected descriptions with at least one word, got none")
        self.vocabulary: tuple[str, ...] = tuple(vocab)
        self.index = {f: i for i, f in enumerate(self.vocabulary)}

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def unknown(self, text: str) -> list[str]:
        """The words and word pairs of ``text`` that the vocabulary does not contain (they are ignored)."""
        return [f for f in _features(tokenize(text)) if f not in self.index]

    def embed(self, texts: str | Sequence[str]) -> torch.Tensor:
        """``texts`` (one or ``B`` strings) → ``[B, dim]``, each row of unit length.

        Unknown words are ignored (see :meth:`unknown`); a text none of whose words is known is refused.
        """
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, Sequence) or not texts:
            raise ValueError(f"texts: expected a str or a non-empty list of str, got {texts!r}")
        out = torch.zeros(len(texts), self.dim)
        for row, text in enumerate(texts):
            for f in _features(tokenize(text)):
                if f in self.index:
                    out[row, self.index[f]] += 1.0
            if not out[row].any():
                known = ", ".join(repr(w) for w in self.vocabulary if " " not in w and not w.isdigit())
                raise ValueError(
                    f"texts[{row}]: none of the words of {text!r} is in the vocabulary, so it has no embedding; "
                    f"describe the task with known words ({known})"
                )
        return out / out.norm(dim=1, keepdim=True)


def nearest_description(embedder: BagOfWords, queries: str | Sequence[str], library: Sequence[str]) -> torch.Tensor:
    """Retrieval: for each query, the index of the most similar ``library`` text (cosine of embeddings).

    ``queries``: one or ``Q`` strings; ``library``: ``N`` strings → ``[Q]`` int64 indices into ``library``
    (ties go to the first). Lecture 10's retrieval baseline: the adapter of the nearest training description.
    """
    if not isinstance(embedder, BagOfWords):
        raise TypeError(f"embedder: expected a BagOfWords, got {type(embedder).__name__}")
    if isinstance(library, str) or not isinstance(library, Sequence) or not library:
        raise ValueError("library: expected a non-empty list of descriptions")
    return (embedder.embed(queries) @ embedder.embed(list(library)).T).argmax(1)


# --- the tiny transformer ---------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate ``q, k, v, o`` projections (so each can carry an adapter)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        d_model, n_heads = require_positive_int("d_model", d_model), require_positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(f"d_model: expected a multiple of n_heads={n_heads}, got {d_model}")
        self.n_heads = n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, length, d = h.shape
        split = lambda t: t.view(n, length, self.n_heads, d // self.n_heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        att = (q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads)).softmax(dim=-1)  # [n, heads, L, L]
        return self.o((att @ v).transpose(1, 2).reshape(n, length, d))


class Block(nn.Module):
    """Pre-norm transformer block: ``h + attn(norm(h))`` then ``h + mlp(norm(h))``."""

    def __init__(self, d_model: int, n_heads: int, d_mlp: int):
        super().__init__()
        d_model, d_mlp = require_positive_int("d_model", d_model), require_positive_int("d_mlp", d_mlp)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads)
        self.fc1, self.fc2 = nn.Linear(d_model, d_mlp), nn.Linear(d_mlp, d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm1(h))
        return h + self.fc2(F.gelu(self.fc1(self.norm2(h))))


class TinyTransformer(nn.Module):
    """Encoder-only transformer: digits ``x: [N, L]`` → logits ``[N, L, 10]`` for every output digit.

    No causal mask: each output position may look at the whole input, so one forward pass
    answers a whole task instance. An optional ``instruction: [N]`` (int64; ``i + 1`` asks for
    ``base_tasks()[i]``) adds a learned vector to every position, a one-token prompt that says
    which base task to do; without one the model gets instruction 0, "no instruction".
    ``x`` may be int64 or whole numbers stored as floats (``functional_forward`` requires floats).
    """

    def __init__(
        self,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        d_mlp: int = 64,
        seq_len: int = SEQ_LEN,
        n_instructions: int | None = None,
    ):
        super().__init__()
        self.seq_len = require_positive_int("seq_len", seq_len)
        d_model = require_positive_int("d_model", d_model)
        self.n_instructions = (
            len(base_tasks()) + 1 if n_instructions is None else require_positive_int("n_instructions", n_instructions)
        )
        self.token = nn.Embedding(N_DIGITS, d_model)
        self.instruction = nn.Embedding(self.n_instructions, d_model)
        self.position = nn.Parameter(
            torch.randn(seq_len, d_model)
        )  # as large as the token embeddings, so attention can tell positions apart
        self.blocks = nn.ModuleList(
            Block(d_model, require_positive_int("n_heads", n_heads), require_positive_int("d_mlp", d_mlp))
            for _ in range(require_positive_int("n_layers", n_layers))
        )
        self.norm = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, N_DIGITS)

    def forward(self, x: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        require_tensor("x", x)
        require_dims("x", x, (2,), "[N, L] digit tokens")
        if x.shape[1] != self.seq_len:
            raise ValueError(f"x: expected sequences of length {self.seq_len}, got shape {list(x.shape)}")
        if x.is_floating_point():
            # whole digits stored as floats: functional_forward needs float inputs, and under its vmap no
            # value can be inspected, so adapted_logits checks them before they arrive here
            x = x.round().long()
        elif x.dtype != torch.int64:
            raise TypeError(f"x: expected int64 digit tokens, got dtype {x.dtype}")
        else:
            _require_digits("x", x)
        h = self.token(x) + self.position
        if instruction is None:
            h = h + self.instruction.weight[0]
        else:
            require_tensor("instruction", instruction)
            if instruction.shape != x.shape[:1] or instruction.dtype != torch.int64:
                raise ValueError(
                    f"instruction: expected int64 of shape [{x.shape[0]}], got {instruction.dtype} {list(instruction.shape)}"
                )
            if instruction.numel() and (instruction.min() < 0 or instruction.max() >= self.n_instructions):
                raise ValueError(
                    f"instruction: expected ids in 0..{self.n_instructions - 1} (0 = none, i + 1 = base_tasks()[i]), "
                    f"got values from {int(instruction.min())} to {int(instruction.max())}"
                )
            h = h + self.instruction(instruction)[:, None]
        for block in self.blocks:
            h = block(h)
        return self.unembed(self.norm(h))

    def adapter_targets(self, kinds: Sequence[str] = ("q", "k", "v", "o", "fc1", "fc2")) -> list[str]:
        """Names of the weight matrices an adapter may modify, e.g. ``blocks.0.attn.q.weight``."""
        names = []
        for name, p in self.named_parameters():
            parts = name.split(".")
            if p.dim() == 2 and parts[0] == "blocks" and parts[-2] in kinds:
                names.append(name)
        if not names:
            raise ValueError(f"kinds: expected some of q, k, v, o, fc1, fc2, got {list(kinds)}")
        return names


def sequence_accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task accuracy: ``logits: [T, N, L, 10]``, ``y: [T, N, L]`` → (digit accuracy ``[T]``, whole-sequence accuracy ``[T]``)."""
    require_tensor("logits", logits)
    require_tensor("y", y)
    if logits.shape[:-1] != y.shape or logits.shape[-1] != N_DIGITS or y.dim() != 3:
        raise ValueError(
            f"expected logits [T, N, L, {N_DIGITS}] and y [T, N, L], got {list(logits.shape)} and {list(y.shape)}"
        )
    correct = logits.argmax(-1) == y
    return correct.float().mean((1, 2)), correct.all(-1).float().mean(1)


# --- training and evaluation --------------------------------------------------------------


def adapted_logits(model: TinyTransformer, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` with adapted weights, one set per task: ``params[name]: [T, *shape]``, ``x: [T, N, L]`` → ``[T, N, L, 10]``.

    Parameters not in ``params`` (embeddings, norms, the unembedding) are the model's own.
    """
    require_tensor("x", x)
    require_dims("x", x, (3,), "[T, N, L] digit tokens, one row of examples per task")
    if x.dtype != torch.int64:
        raise TypeError(f"x: expected int64 digit tokens, got dtype {x.dtype}")
    _require_digits("x", x)
    return functional_forward(model, params, x.float())


def task_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every output digit: ``logits: [..., L, 10]``, ``y: [..., L]``."""
    require_float("logits", logits)
    require_tensor("y", y)
    return F.cross_entropy(logits.reshape(-1, N_DIGITS), y.reshape(-1))


def fit_base_model(
    model: TinyTransformer,
    n_steps: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    p_no_instruction: float = 0.3,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Pretrain on the base mix: each example is a random base task, asked for by its instruction.

    With probability ``p_no_instruction`` the instruction is withheld (instruction 0) while the
    answer is still that task's: without an instruction the model learns to hedge over the whole
    mix (the best it can do), which keeps its attention soft and easy to steer with an adapter
    later. Adam with a cosine learning-rate decay; returns the losses.
    """
    if not isinstance(model, TinyTransformer):
        raise TypeError(f"model: expected a TinyTransformer, got {type(model).__name__}")
    if not 0 <= p_no_instruction < 1:
        raise ValueError(f"p_no_instruction: expected a probability in [0, 1), got {p_no_instruction}")
    batch_size = require_positive_int("batch_size", batch_size)
    tasks = base_tasks()
    device = model.unembed.weight.device
    opt = torch.optim.Adam(model.parameters(), lr=_require_rate("lr", lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=require_positive_int("n_steps", n_steps))

    def step(_: int) -> torch.Tensor:
        which = torch.randint(len(tasks), (batch_size,), generator=generator)
        x = torch.randint(N_DIGITS, (batch_size, model.seq_len), generator=generator)
        y = torch.stack([tasks[j].apply(row) for j, row in zip(which.tolist(), x)])
        instruction = torch.where(torch.rand(batch_size, generator=generator) < p_no_instruction, 0, which + 1)
        loss = task_loss(model(x.to(device), instruction.to(device)), y.to(device))
        return optimizer_step(opt, loss, sched)

    return fit(step, n_steps, desc="pretraining the base", log_every=10, progress=progress)


def fit_text_to_lora(
    hnet: LowRankHyperNet,
    model: TinyTransformer,
    embedder: BagOfWords,
    tasks: Sequence[SequenceTask],
    n_steps: int,
    tasks_per_step: int = 16,
    n_per_task: int = 16,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train the description → adapter hypernetwork end to end through the frozen ``model``.

    Each step draws ``tasks_per_step`` training tasks, describes each in one of its two
    phrasings at random, generates their adapters in one call and runs the adapted model on
    ``n_per_task`` fresh examples per task; the loss is the adapted model's cross-entropy
    (Text-to-LoRA's "SFT" training, with no per-task LoRAs needed beforehand). Only ``hnet``
    is trained. Adam with a cosine learning-rate decay; returns the losses.
    """
    _check_hnet(hnet, model)
    if not isinstance(embedder, BagOfWords):
        raise TypeError(f"embedder: expected a BagOfWords, got {type(embedder).__name__}")
    if embedder.dim != hnet.z_dim:
        raise ValueError(f"hnet: expected z_dim = embedder.dim = {embedder.dim}, got {hnet.z_dim}")
    tasks = _require_tasks(tasks)
    # Refuse a description the embedder cannot read now, not at some random step later.
    embedder.embed([t.describe(v) for t in tasks for v in (0, 1)])
    device = model.unembed.weight.device

    def adapters_for(chosen: list[SequenceTask]) -> dict[str, torch.Tensor]:
        variants = torch.randint(2, (len(chosen),), generator=generator).tolist()
        return hnet(embedder.embed([t.describe(v) for t, v in zip(chosen, variants)]).to(device))

    return _fit_on_task_mix(
        adapters_for,
        hnet,
        model,
        tasks,
        n_steps,
        tasks_per_step,
        n_per_task,
        lr,
        generator,
        progress,
        "training text-to-LoRA",
    )


def _fit_on_task_mix(
    adapters_for: Callable[[list[SequenceTask]], dict[str, torch.Tensor]],
    trained: nn.Module,
    model: TinyTransformer,
    tasks: list[SequenceTask],
    n_steps: int,
    tasks_per_step: int,
    n_per_task: int,
    lr: float,
    generator: torch.Generator | None,
    progress: bool | None,
    desc: str,
) -> list[float]:
    """The loop :func:`fit_text_to_lora` and :func:`fit_multitask_lora` share: each step draws
    ``tasks_per_step`` random tasks, gets their adapters from ``adapters_for(chosen)`` and trains
    ``trained`` on the adapted model's cross-entropy over ``n_per_task`` fresh examples per task."""
    tasks_per_step = require_positive_int("tasks_per_step", tasks_per_step)
    n_per_task = require_positive_int("n_per_task", n_per_task)
    device = model.unembed.weight.device
    opt = torch.optim.Adam([p for p in trained.parameters() if p.requires_grad], lr=_require_rate("lr", lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=require_positive_int("n_steps", n_steps))

    def step(_: int) -> torch.Tensor:
        chosen = [tasks[j] for j in torch.randint(len(tasks), (tasks_per_step,), generator=generator).tolist()]
        params = adapters_for(chosen)
        x, y = sample_batch(chosen, n_per_task, generator, model.seq_len, device)
        loss = task_loss(adapted_logits(model, params, x), y)
        return optimizer_step(opt, loss, sched)

    return fit(step, n_steps, desc=desc, log_every=10, progress=progress)


def per_task_lora(
    model: TinyTransformer,
    names: Sequence[str],
    n_tasks: int,
    rank: int,
    start: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> LowRankHyperNet:
    """``n_tasks`` independent LoRA adapters for the weight matrices ``names``, as a :class:`LowRankHyperNet`.

    A per-task LoRA is the degenerate low-rank hypernetwork whose input is a one-hot task id and
    which has no hidden layer: column ``t`` of its head *is* task ``t``'s factors ``(U, V)``. Its
    head bias is frozen at zero so that no number is shared between tasks. Call it with
    ``torch.eye(n_tasks)``. ``U`` starts at zero, as LoRA's ``B`` does: each adapted model starts
    as the base model. With ``n_tasks=1`` it is a single adapter, e.g. the multi-task LoRA of
    :func:`fit_multitask_lora`.

    ``start``: factors to start from instead, ``{name: (U [n_tasks, out, r], V [n_tasks, in, r])}`` for
    every name, e.g. ``hnet.factors(z)`` of a description hypernetwork with the same rank: the generated
    adapters as the initialization of per-task LoRAs (lecture 10).
    """
    require_instance("model", model, TinyTransformer, "a TinyTransformer")
    spec = describe(model, include=require_sequence("names", names, "parameter names"))
    lora = LowRankHyperNet(
        spec,
        z_dim=require_positive_int("n_tasks", n_tasks),
        rank=rank,
        hidden=(),
        base=dict(model.named_parameters()),
        train_base=False,
        z_sample=torch.eye(n_tasks),
    )
    lora.head.bias.requires_grad_(False)
    if start is not None:
        _copy_factors(lora, start, n_tasks)
    return lora.to(model.unembed.weight.device)


def _copy_factors(lora: LowRankHyperNet, start: Mapping[str, tuple[torch.Tensor, torch.Tensor]], n: int) -> None:
    if not isinstance(start, Mapping) or set(start) != set(lora.ranks):
        got = sorted(start) if isinstance(start, Mapping) else type(start).__name__
        raise ValueError(f"start: expected factors {{name: (U, V)}} for exactly {sorted(lora.ranks)}, got {got}")
    with torch.no_grad():
        for name, (u0, u1), (v0, v1) in ((k, *lora._slices[k]) for k in lora.ranks):
            u, v = start[name]
            want_u = (n, (u1 - u0) // lora.ranks[name], lora.ranks[name])
            want_v = (n, (v1 - v0) // lora.ranks[name], lora.ranks[name])
            if tuple(u.shape) != want_u or tuple(v.shape) != want_v:
                raise ValueError(
                    f"start[{name!r}]: expected U {list(want_u)} and V {list(want_v)} (same rank as this LoRA), "
                    f"got {list(u.shape)} and {list(v.shape)}"
                )
            if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
                raise ValueError(f"start[{name!r}]: expected finite factors, got NaN or inf")
            # the head reads a one-hot id, so column t of its weight is task t's flattened factors
            lora.head.weight[u0:u1] = u.detach().reshape(n, -1).T.to(lora.head.weight)
            lora.head.weight[v0:v1] = v.detach().reshape(n, -1).T.to(lora.head.weight)


def fit_per_task_lora(
    lora: LowRankHyperNet,
    model: TinyTransformer,
    tasks: Sequence[SequenceTask],
    n_steps: int,
    n_per_task: int = 32,
    lr: float = 1e-2,
    generator: torch.Generator | None = None,
    callback: Callable[[int, LowRankHyperNet], None] | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train one LoRA per task (all ``T`` at once, independently) on fresh examples of each task.

    The loss is the sum over tasks of each task's mean cross-entropy, so every adapter gets
    exactly the gradient it would get if trained alone. ``callback(step, lora)`` runs after
    steps ``1..n_steps`` (e.g. to record accuracy as training goes). Adam, constant learning rate.
    """
    _check_hnet(lora, model)
    tasks = _require_tasks(tasks)
    if lora.z_dim != len(tasks):
        raise ValueError(f"lora: expected one task id per task, z_dim = {len(tasks)}, got {lora.z_dim}")
    n_per_task = require_positive_int("n_per_task", n_per_task)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable callback(step, lora) or None, got {type(callback).__name__}")
    device = model.unembed.weight.device
    z = torch.eye(len(tasks), device=device)
    opt = torch.optim.Adam([p for p in lora.parameters() if p.requires_grad], lr=_require_rate("lr", lr))

    def step(i: int) -> torch.Tensor:
        x, y = sample_batch(tasks, n_per_task, generator, model.seq_len, device)
        logits = adapted_logits(model, lora(z), x)
        loss = F.cross_entropy(logits.reshape(len(tasks), -1, N_DIGITS).transpose(1, 2), y.reshape(len(tasks), -1))
        (loss * len(tasks)).backward()  # sum over tasks: independent adapters, independent gradients
        opt.step()
        opt.zero_grad()
        if callback is not None:
            callback(i + 1, lora)
        return loss.detach()

    return fit(step, n_steps, desc="training per-task LoRAs", log_every=10, progress=progress)


def fit_multitask_lora(
    lora: LowRankHyperNet,
    model: TinyTransformer,
    tasks: Sequence[SequenceTask],
    n_steps: int,
    tasks_per_step: int = 16,
    n_per_task: int = 16,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train ONE adapter (``per_task_lora(..., n_tasks=1)``) on all ``tasks`` mixed, with no description.

    The baseline that shows what the description contributes: every task gets the same adapter, so
    it can only learn what all tasks share. Batches, steps and schedule are those of
    :func:`fit_text_to_lora` (``tasks_per_step`` random tasks, ``n_per_task`` fresh examples each,
    Adam with a cosine decay), so the two get the same budget. Returns the losses.
    """
    _check_hnet(lora, model)
    if lora.z_dim != 1:
        raise ValueError(f"lora: expected a single adapter (per_task_lora(..., n_tasks=1)), got z_dim = {lora.z_dim}")
    tasks = _require_tasks(tasks)
    one = torch.ones(1, 1, device=model.unembed.weight.device)

    def adapters_for(chosen: list[SequenceTask]) -> dict[str, torch.Tensor]:
        return {k: v.expand(len(chosen), *v.shape[1:]) for k, v in lora(one).items()}

    return _fit_on_task_mix(
        adapters_for,
        lora,
        model,
        tasks,
        n_steps,
        tasks_per_step,
        n_per_task,
        lr,
        generator,
        progress,
        "training one multi-task LoRA",
    )


@torch.no_grad()
def evaluate_adapters(
    model: TinyTransformer,
    params: dict[str, torch.Tensor] | None,
    tasks: Sequence[SequenceTask],
    n_per_task: int = 200,
    seed: int = 123,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy of adapted models on fresh examples: (digit accuracy ``[T]``, whole-sequence accuracy ``[T]``).

    ``params[name]: [T, *shape]`` gives task ``t`` its weights; ``None`` runs the base model
    without an adapter (and without an instruction). The examples come from a generator seeded
    with ``seed``, so every method is scored on the same inputs.
    """
    if not isinstance(model, TinyTransformer):
        raise TypeError(f"model: expected a TinyTransformer, got {type(model).__name__}")
    tasks = _require_tasks(tasks)
    if params is not None:
        if not isinstance(params, Mapping):
            raise TypeError(f"params: expected a dict {{name: [T, *shape]}} or None, got {type(params).__name__}")
        wrong = {k: list(v.shape[:1]) for k, v in params.items() if v.dim() == 0 or v.shape[0] != len(tasks)}
        if wrong:
            raise ValueError(
                f"params: expected one adapter per task, a leading dimension of {len(tasks)}, got {wrong}; "
                "expand a single adapter with v.expand(len(tasks), ...)"
            )
    device = model.unembed.weight.device
    x, y = sample_batch(tasks, n_per_task, torch.Generator().manual_seed(seed), model.seq_len, device)
    if params is None:
        logits = model(x.flatten(0, 1)).reshape(*x.shape, N_DIGITS)
    else:
        logits = adapted_logits(model, params, x)
    return sequence_accuracy(logits, y)


def _check_hnet(hnet: LowRankHyperNet, model: TinyTransformer) -> None:
    if not isinstance(hnet, LowRankHyperNet):
        raise TypeError(f"hnet: expected a LowRankHyperNet, got {type(hnet).__name__}")
    if not isinstance(model, TinyTransformer):
        raise TypeError(f"model: expected a TinyTransformer, got {type(model).__name__}")
    own = dict(model.named_parameters())
    unknown = [n for n in hnet.spec.names if n not in own]
    if unknown:
        raise ValueError(f"hnet: generates {unknown}, which are not parameters of the model")
