"""The interface every deep method implements; the engine (:mod:`xmr.engine`) does the rest.

How to write a deep method
--------------------------
A deep method is a ``torch.nn.Module`` subclass of :class:`DeepMethod` in its own
module ``xmr/methods/<name>.py``, registered with ``@register("<name>", kind="deep")``.
It declares *what* is learned; the engine owns *how*: Adam, index-based
mini-batches on the device, the seed, the optional discriminator steps, NaN
checks, per-epoch validation mAP, best-state selection on the validation split
and the single final test evaluation. A method never sees the test split.

1. **Hyperparameters.** ``defaults`` is a plain dict of every hyperparameter with
   its default; build it with :func:`train_defaults` (the engine's own knobs:
   ``epochs``, ``batch_size``, ``lr``, ``betas``, ``input_norm`` ...) merged with
   the method's (``alpha``, ``margin`` ...). Every key is overridable by name
   (``xmr.experiments.run("dacsl", "wikipedia", alpha=0.3)``), enters the results
   cache key, and is available in ``self.hp``. Unknown names are rejected.
   Where the paper is ambiguous, add a named option and declare it in
   ``readings`` (:class:`xmr.methods.readings.Reading`): the text it interprets,
   the default, the alternatives and the evidence for the default -- an a-priori
   reason or validation numbers, never a test number.

2. **Networks.** ``__init__(self, image_dim, text_dim, num_classes, hp, without)``
   calls ``super().__init__(...)`` first and then builds ordinary submodules.
   A discriminator, if any, must live in ``self.discriminator`` (an ``nn.Module``):
   everything else is "the mapper". Initialisation may use the global torch RNG --
   the engine seeds it (inside ``torch.random.fork_rng``) before constructing.

3. **Forward passes.** ``encode(image, text) -> (z_image, z_text)`` gives the
   retrieval representations (used for validation and test; ``metric`` says how
   they are compared, cosine by default). ``forward(batch) -> dict`` is the
   training forward; by default ``{"image": z_image, "text": z_text}``; put in it
   whatever the losses need (logits, hidden layers).

4. **Named loss terms.** ``terms`` lists the term names, e.g. ``("tri", "dis",
   "pre")``. ``losses(batch, out) -> {name: scalar tensor}`` returns each term
   *unweighted*; ``term_weights() -> {name: float}`` returns their weights (e.g.
   ``{"tri": hp["alpha"], "dis": hp["beta"], "pre": 1.0}``). The engine minimises
   ``sum(weight * term)`` with the mapper's optimiser and records every term's
   per-epoch mean in the history (plus ``loss``, the weighted total).

5. **Ablation.** ``without`` (a frozenset of term names, checked against
   ``ablatable``) is stored as ``self.without``. The engine drops those terms from
   the total (weight 0); ``losses`` may skip computing them. If
   ``adversarial_term`` is ablated, no discriminator step is taken either.

6. **Optional discriminator.** Set ``adversarial = "alternating"`` and implement
   ``discriminator_loss(batch, out_detached) -> scalar`` (what the discriminator
   minimises, e.g. the modality-classification cross-entropy). Each step the
   engine then (a) runs ``forward(batch)`` once, (b) takes ``d_steps`` Adam steps
   (``d_lr``, ``d_betas``) on the discriminator only, on detached features, and
   (c) takes one step on the mapper only with ``losses`` computed against the
   updated discriminator (whose parameters are frozen for that backward pass).
   ``g_steps`` = k > 1 takes the discriminator step(s) only on every k-th batch;
   ``d_order="after"`` takes them after that batch's mapper step, on features
   recomputed with the updated mapper (Algorithm 1 as ACMR and SMCR write it);
   ``optimizer="sgd"`` replaces both Adams by plain SGD and ``d_lr_scale`` = lambda
   sets the discriminator's learning rate to lambda * lr.
   The mapper's adversarial term (``adversarial_term``, e.g. ``"dis"``) is what
   the mapper minimises to fool the discriminator. ``after_discriminator_step()``
   is called after each discriminator step (e.g. for WGAN weight clipping).
   ``adversarial`` and ``metric`` may also be set per instance in ``__init__``
   when a hyperparameter chooses them.
   Alternatively set ``adversarial = "reversal"``: a single optimiser over all
   parameters; inside ``losses`` pass features through :func:`grad_reverse`
   before the discriminator, so one backward trains the discriminator to separate
   the modalities and the mapper to confuse it (Ganin & Lempitsky, 2015).

A minimal method::

    @register("toy", kind="deep")
    class Toy(DeepMethod):
        \"\"\"One linear map per modality, trained with a paired L2 term.\"\"\"
        defaults = train_defaults(epochs=20, batch_size=64, lr=1e-3) | {"dim": 32}
        terms = ("pair",)

        def __init__(self, image_dim, text_dim, num_classes, hp, without=frozenset()):
            super().__init__(image_dim, text_dim, num_classes, hp, without)
            self.f = nn.Linear(image_dim, hp["dim"])
            self.g = nn.Linear(text_dim, hp["dim"])

        def encode(self, image, text):
            return self.f(image), self.g(text)

        def losses(self, batch, out):
            return {"pair": (out["image"] - out["text"]).pow(2).sum(1).mean()}

Everything a method computes must stay on the device (no ``.item()``, no numpy):
the engine reads the loss terms once per epoch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Mapping, NamedTuple

import torch
from torch import nn

__all__ = ["Batch", "DeepMethod", "train_defaults", "grad_reverse", "shared_encode", "TRAIN_DEFAULTS"]

#: The engine's hyperparameters; every deep method has these (with its own defaults).
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "batch_size": 100,
    "lr": 1e-4,
    "betas": (0.9, 0.999),
    "weight_decay": 0.0,
    # Discriminator optimiser (alternating methods only).
    "d_lr": 1e-4,
    "d_betas": (0.9, 0.999),
    "d_steps": 1,
    # Mini-batches: a fresh seeded permutation each epoch; keep the last short batch.
    "shuffle": True,
    "drop_last": False,
    # Input normalisation, statistics from the training split only:
    # "none" | "standardize" (per-feature z-score) | "l2" (unit rows). A method may
    # declare a per-feature-set default (a Reading with ``per_features``).
    "input_norm": "none",
    # The update rule: "adam" (betas above) or "sgd" (plain theta <- theta - lr * grad).
    "optimizer": "adam",
    # Alternating adversarial schedule: a discriminator step after every ``g_steps``-th
    # mapper step, taken "before" the mapper's step of that batch (on its features) or
    # "after" it (on features recomputed with the updated mapper: Algorithm 1 of ACMR/SMCR).
    "g_steps": 1,
    "d_order": "before",
    # lambda: the discriminator's learning rate as a multiple of ``lr`` (None: ``d_lr`` as given).
    "d_lr_scale": None,
    # Early stopping: stop after this many epochs without a better validation avg mAP (None: never).
    "patience": None,
}


def train_defaults(**overrides: Any) -> dict[str, Any]:
    """:data:`TRAIN_DEFAULTS` with ``overrides`` applied (unknown keys are an error: add method keys with ``|``)."""
    unknown = set(overrides) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"not engine hyperparameters: {sorted(unknown)}; merge method hyperparameters with `| {{...}}`")
    return {**TRAIN_DEFAULTS, **overrides}


class Batch(NamedTuple):
    """One mini-batch, already on the device."""

    image: torch.Tensor  # (b, d_image) float
    text: torch.Tensor  # (b, d_text) float
    labels: torch.Tensor  # (b,) int64, 0-based
    onehot: torch.Tensor  # (b, c) float, one-hot of labels


class DeepMethod(nn.Module):
    """Base class of deep common-subspace methods (see the module docstring)."""

    defaults: ClassVar[dict[str, Any]] = dict(TRAIN_DEFAULTS)
    terms: ClassVar[tuple[str, ...]] = ()
    #: Terms that ``without`` may drop (default: all of ``terms``).
    ablatable: ClassVar[tuple[str, ...] | None] = None
    adversarial: ClassVar[Literal["alternating", "reversal"] | None] = None
    #: The mapper's loss term that involves the discriminator (ablating it disables discriminator steps).
    adversarial_term: ClassVar[str | None] = None
    #: How retrieval compares representations (xmr.metrics metric).
    metric: ClassVar[Literal["cosine", "euclidean"]] = "cosine"
    #: Every place the source is ambiguous or departed from (xmr.methods.readings).
    readings: ClassVar[tuple[Any, ...]] = ()

    discriminator: nn.Module | None

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        num_classes: int,
        hp: Mapping[str, Any],
        without: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.image_dim, self.text_dim, self.num_classes = int(image_dim), int(text_dim), int(num_classes)
        self.hp = dict(hp)
        self.without = frozenset(without)
        self.discriminator = None

    # ---- to implement -------------------------------------------------------------
    def encode(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Common-space representations used for retrieval."""
        raise NotImplementedError

    def losses(self, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unweighted scalar loss terms, keyed by the names in ``terms``."""
        raise NotImplementedError

    # ---- optional -----------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Training forward pass; by default the two common-space representations."""
        z_image, z_text = self.encode(batch.image, batch.text)
        return {"image": z_image, "text": z_text}

    def term_weights(self) -> dict[str, float]:
        """Weight of each term in the total loss (default 1 each)."""
        return {t: 1.0 for t in self.terms}

    def discriminator_loss(self, batch: Batch, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the discriminator minimises (alternating methods); ``out`` is detached."""
        raise NotImplementedError(f"{type(self).__name__} declares adversarial='alternating' but no discriminator_loss")

    def after_discriminator_step(self) -> None:
        """Called after each discriminator optimiser step (e.g. WGAN weight clipping); default nothing."""

    # ---- used by the engine -------------------------------------------------------
    @classmethod
    def ablatable_terms(cls) -> tuple[str, ...]:
        return cls.terms if cls.ablatable is None else cls.ablatable

    def active_terms(self) -> tuple[str, ...]:
        return tuple(t for t in self.terms if t not in self.without)

    def uses_discriminator(self) -> bool:
        return (
            self.adversarial is not None
            and self.discriminator is not None
            and (self.adversarial_term is None or self.adversarial_term not in self.without)
        )

    def mapper_parameters(self) -> list[nn.Parameter]:
        """Every parameter outside ``self.discriminator``."""
        d_ids = {id(p) for p in self.discriminator.parameters()} if self.discriminator is not None else set()
        return [p for p in self.parameters() if id(p) not in d_ids]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters()) if self.discriminator is not None else []


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-scale`` backward (gradient reversal layer)."""
    return _GradReverse.apply(x, scale)


def shared_encode(
    image_net: nn.Module, text_net: nn.Module, shared: nn.Module, image: torch.Tensor, text: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``shared(relu(image_net(image)))`` and ``shared(relu(text_net(text)))`` (DSCMR's and DACSL's
    weight-shared top), computed as one product through ``shared``: the same function as two calls,
    and one larger matmul forward and backward is ~8% faster per training step on CPU."""
    hidden = torch.cat([torch.relu(image_net(image)), torch.relu(text_net(text))])
    z = shared(hidden)
    return z[: image.shape[0]], z[image.shape[0] :]
