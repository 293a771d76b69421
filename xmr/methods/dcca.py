"""DCCA: Deep Canonical Correlation Analysis (Andrew, Arora, Bilmes & Livescu, ICML 2013).

Unsupervised: labels are never used. Two networks f1 (image), f2 (text) are
trained to maximise the canonical correlation of their outputs, then a linear
CCA fitted on the outputs of the *final* networks over the whole training split
gives the common space (as in the paper, which applies linear CCA to the
top-layer outputs to obtain the final representation; paraphrased).

Objective (paper Section 2; equation numbers are not quoted because the text
was not at hand). For a batch of m pairs, centred outputs H1 (o x m),
H2 (o x m)::

    S11 = H1 H1' / (m - 1) + r1 I        S22 = H2 H2' / (m - 1) + r2 I
    S12 = H1 H2' / (m - 1)               T   = S11^{-1/2} S12 S22^{-1/2}
    corr(H1, H2) = sum of the top-k singular values of T   (k = o: the trace norm ||T||_tr, the paper's objective)

The loss term ``corr`` is ``-corr(H1, H2)``. S^{-1/2} comes from
``torch.linalg.eigh`` (eigenvalues clamped at ``eps``); the singular values of T
are the square roots of the eigenvalues of T'T (``eigh`` again), so gradients
flow through symmetric eigendecompositions only. :func:`cca_correlation` is the
objective; :func:`linear_cca` is the closed-form CCA used after training.

Network: Andrew et al. use the nonlinearity s with s^{-1}(x) = x^3/3 + x (an
unbounded, sigmoid-like function, from their experiments section) in every hidden layer and a
linear output layer; ``activation="cube_inverse"`` (default) is that function,
computed in closed form (Cardano: s(x) = a - 1/a, a = cbrt(3x/2 + sqrt(9x^2/4 + 1))).

Readings
    Every choice is a named option declared in ``DCCA.readings`` (the table on the
    fidelity page): ``optimizer`` and ``batch_size`` (the paper's pre-training and
    full-batch L-BFGS), ``activation``, ``hidden``, ``dim``, ``r1`` / ``r2``,
    ``top_k``, ``cca_dim``. Defaults: ``hidden`` (1024, 1024), ``dim`` 10,
    ``r1 = r2 = 1e-4``, ``top_k`` None, ``cca_dim`` None. Andrew et al. chose widths, o and r by validation per
    dataset and publish no Wikipedia setting; o = 10 (``dim``) matches the 10-d LDA
    text features (text information is at most 10-dimensional) and is also the
    value of the widely used DeepCCA re-implementations. ``cca_dim`` (None =
    ``dim``) is the size of the final linear CCA space; ``top_k`` None sums all o
    singular values (the trace norm). What does not fit a table:

    optimiser
        The paper pre-trains every layer as a denoising autoencoder and then runs
        full-batch L-BFGS. The engine trains with Adam on mini-batches; we use
        large batches (``batch_size`` 800, lr 1e-3, 100 epochs), as the later
        DCCA literature does (Wang et al., ICML 2015, found large mini-batches
        match full-batch training). ``batch_size`` larger than the training set
        gives exactly full-batch (one step per epoch), but with Adam, not L-BFGS,
        so no value of these options is the paper's procedure (their readings
        declare no most-literal value). No pre-training.
    final linear CCA, without an engine hook
        The engine has no post-training fit. The method records the training
        inputs it sees during an epoch (every training row once, the engine's
        index-based batches with ``drop_last=False``) and, at the first eval-mode
        ``encode`` after training (the engine's per-epoch validation), recomputes
        the network outputs of the whole training split with the current weights
        and refits the linear CCA (ridge ``r1``, ``r2``) on them. The projection
        is stored in buffers, so the state selected on validation carries the CCA
        fitted to its own networks. This is exactly "linear CCA on the final
        outputs" for whatever state is selected. (An engine hook
        ``after_epoch(model, train_split)`` would make this explicit; with
        ``drop_last=True`` the fit would miss the dropped rows, so that is
        rejected.)
    model selection (not an option)
        Validation mAP after each epoch (the engine's rule), although DCCA's own
        criterion is correlation; the paper selects hyperparameters on held-out
        correlation.
    input_norm
        Per feature set, chosen on validation (``DCCA.readings``); "none" on
        features the study has not validated.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ._nets import EpochClock
from .base import Batch, DeepMethod, train_defaults
from .readings import Reading
from .registry import register

__all__ = ["DCCA", "CubeInverse", "cca_correlation", "inv_sqrt_psd", "linear_cca"]


class CubeInverse(nn.Module):
    """s(x), the inverse of g(y) = y^3/3 + y (Andrew et al.'s hidden-layer nonlinearity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.pow(1.5 * x + torch.sqrt(2.25 * x * x + 1.0), 1.0 / 3.0)  # the base is always > 0
        return a - 1.0 / a


def _covariances(h1: torch.Tensor, h2: torch.Tensor, r1: float, r2: float):
    """Regularised covariances of the rows-are-samples matrices ``h1`` (m x o1), ``h2`` (m x o2)."""
    m = h1.shape[0]
    if m < 2:
        raise ValueError(f"canonical correlation needs at least 2 samples, got {m}")
    h1 = h1 - h1.mean(0, keepdim=True)
    h2 = h2 - h2.mean(0, keepdim=True)
    s11 = h1.T @ h1 / (m - 1) + r1 * torch.eye(h1.shape[1], dtype=h1.dtype, device=h1.device)
    s22 = h2.T @ h2 / (m - 1) + r2 * torch.eye(h2.shape[1], dtype=h2.dtype, device=h2.device)
    s12 = h1.T @ h2 / (m - 1)
    return s11, s22, s12


def inv_sqrt_psd(s: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """S^{-1/2} of a symmetric positive definite matrix by ``torch.linalg.eigh`` (eigenvalues clamped at ``eps``)."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(eps).rsqrt()) @ v.T


def cca_correlation(
    h1: torch.Tensor, h2: torch.Tensor, r1: float = 1e-4, r2: float = 1e-4, top_k: int | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """Total canonical correlation of ``h1`` (m x o1) and ``h2`` (m x o2), rows are paired samples.

    The sum of the ``top_k`` largest singular values of T = S11^{-1/2} S12 S22^{-1/2}
    (all of them when ``top_k`` is None: the trace norm, Andrew et al.'s objective).
    """
    s11, s22, s12 = _covariances(h1, h2, r1, r2)
    t = inv_sqrt_psd(s11, eps) @ s12 @ inv_sqrt_psd(s22, eps)
    # Singular values of T = sqrt(eigenvalues of T'T); clamped so sqrt has a finite gradient at 0.
    w = torch.linalg.eigvalsh(t.T @ t).clamp_min(eps)
    n_sv = min(t.shape)
    k = n_sv if top_k is None else int(top_k)
    if not 1 <= k <= n_sv:
        raise ValueError(f"top_k must be between 1 and {n_sv} (the number of singular values), got {top_k}")
    return w.flip(0)[:k].sqrt().sum()


def linear_cca(
    h1: torch.Tensor, h2: torch.Tensor, dim: int, r1: float = 1e-4, r2: float = 1e-4, eps: float = 1e-12
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Regularised linear CCA: ``(mean1, mean2, A1, A2, correlations)``; the canonical
    variates are ``(h1 - mean1) @ A1`` and ``(h2 - mean2) @ A2`` (``dim`` columns each)."""
    if not 1 <= dim <= min(h1.shape[1], h2.shape[1]):
        raise ValueError(f"CCA dimension must be between 1 and {min(h1.shape[1], h2.shape[1])}, got {dim}")
    s11, s22, s12 = _covariances(h1, h2, r1, r2)
    k11, k22 = inv_sqrt_psd(s11, eps), inv_sqrt_psd(s22, eps)
    u, s, vh = torch.linalg.svd(k11 @ s12 @ k22)
    return h1.mean(0), h2.mean(0), k11 @ u[:, :dim], k22 @ vh.T[:, :dim], s[:dim]


def _net(in_dim: int, hidden: list[int], out_dim: int, activation: str) -> nn.Sequential:
    acts = {"cube_inverse": CubeInverse, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    if activation not in acts:
        raise ValueError(f"DCCA activation must be one of {sorted(acts)}, got {activation!r}")
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), acts[activation]()]
    layers.append(nn.Linear(dims[-1], out_dim))  # linear output layer
    return nn.Sequential(*layers)


@register("dcca", kind="deep")
class DCCA(DeepMethod):
    """DCCA (Andrew et al., ICML 2013): two networks maximising canonical correlation, then linear CCA."""

    defaults = train_defaults(epochs=100, batch_size=800, lr=1e-3, input_norm="none") | {
        "hidden": (1024, 1024),
        "dim": 10,
        "activation": "cube_inverse",
        "r1": 1e-4,
        "r2": 1e-4,
        "top_k": None,
        "cca_dim": None,
    }
    terms = ("corr",)
    ablatable = ()  # one term: nothing to ablate
    readings = (
        Reading("input_norm", "the paper feeds its own features as they are; ours are other features",
                "none", ("standardize", "l2"), "validation",
                "Validation avg mAP (seeds 0-2; Pascal folds 0-4), none / standardize / l2: Wikipedia .235 / .250 / .232; Pascal .804 / .790 / .806; news Doc2Vec .332 / .333 / .347. Other features: none, the papers' raw input (a priori).",
                literal="none", per_features={"wikipedia": "standardize", "pascal": "l2", "web_news_cn/doc2vec": "l2"}),
        Reading("optimizer", "layer-wise denoising-autoencoder pre-training, then full-batch L-BFGS", "adam", ("sgd",),
                "a priori", "The engine has no L-BFGS; Adam on large mini-batches matches full-batch training "
                "(Wang et al., ICML 2015). No pre-training.", literal=None),
        Reading("batch_size", "full-batch L-BFGS", 800, (100, 1_000_000), "a priori",
                "Large mini-batches, as Wang et al. (ICML 2015); a batch larger than the training split is full batch, "
                "but one Adam step per epoch is not L-BFGS, so no value is the paper's.", literal=None),
        Reading("activation", "hidden units s with s^-1(x) = x^3/3 + x; a linear output layer", "cube_inverse",
                ("sigmoid", "tanh", "relu"), "a priori", "The paper's nonlinearity, computed in closed form.",
                literal="cube_inverse"),
        Reading("hidden", "layer widths chosen by validation per dataset; none published for Wikipedia",
                (1024, 1024), ((2048, 2048), (512,)), "a priori",
                "Two hidden layers, as the paper's networks; the width is our choice, none being published for these features.",
                literal=None),
        Reading("dim", "output size o chosen by validation per dataset; none published for Wikipedia", 10, (20, 50),
                "a priori", "The 10-d LDA text features carry at most 10 dimensions; also the common DeepCCA "
                "re-implementations' o.", literal=None),
        Reading("r1", "the image covariance's regulariser r1, chosen on held-out correlation per dataset", 1e-4,
                (1e-3, 1e-2), "a priori", "None published for these features; a small ridge that keeps S11 invertible.",
                literal=None),
        Reading("r2", "the text covariance's regulariser r2, chosen on held-out correlation per dataset", 1e-4,
                (1e-3, 1e-2), "a priori", "None published for these features; a small ridge that keeps S22 invertible "
                "(the LDA text features sum to 1).", literal=None),
        Reading("top_k", "corr(H1, H2): the total correlation, the trace norm of T", None, (5,), "a priori",
                "The paper's objective sums all o singular values (None).", literal=None),
        Reading("cca_dim", "linear CCA on the top-layer outputs gives the final representation", None, (5,),
                "a priori", "All o canonical directions (None = dim), as the paper keeps the CCA of the o outputs.",
                literal=None),
    )

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, hp: Mapping[str, Any], without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        if self.hp["drop_last"]:
            raise ValueError("dcca needs drop_last=False: the final linear CCA is fitted on every training row")
        hidden = [int(h) for h in self.hp["hidden"]]
        o = int(self.hp["dim"])
        self.cca_dim = o if self.hp["cca_dim"] is None else int(self.hp["cca_dim"])
        if not 1 <= self.cca_dim <= o:
            raise ValueError(f"cca_dim must be between 1 and dim={o}, got {self.cca_dim}")
        self.f1 = _net(image_dim, hidden, o, self.hp["activation"])
        self.f2 = _net(text_dim, hidden, o, self.hp["activation"])
        # The fitted linear CCA: part of the state, so selecting a state selects its CCA.
        self.register_buffer("mean1", torch.zeros(o))
        self.register_buffer("mean2", torch.zeros(o))
        self.register_buffer("proj1", torch.eye(o)[:, : self.cca_dim].clone())
        self.register_buffer("proj2", torch.eye(o)[:, : self.cca_dim].clone())
        self.register_buffer("canonical_corr", torch.zeros(self.cca_dim))
        self._clock = EpochClock()
        self._seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if self.training:
            if self._clock.train_step():
                self._seen = []
            self._seen.append((batch.image.detach(), batch.text.detach()))
        return {"image": self.f1(batch.image), "text": self.f2(batch.text)}

    @torch.no_grad()
    def fit_linear_cca(self, image: torch.Tensor, text: torch.Tensor) -> None:
        """Fit the final linear CCA on the current networks' outputs for ``image``, ``text`` (the training split)."""
        m1, m2, a1, a2, s = linear_cca(self.f1(image), self.f2(text), self.cca_dim,
                                       float(self.hp["r1"]), float(self.hp["r2"]))
        self.mean1.copy_(m1), self.mean2.copy_(m2), self.proj1.copy_(a1), self.proj2.copy_(a2)
        self.canonical_corr.copy_(s)

    def encode(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:  # raw network outputs (the CCA is for retrieval only)
            return self.f1(image), self.f2(text)
        if self._clock.eval_encode() and self._seen:
            self.fit_linear_cca(torch.cat([b[0] for b in self._seen]), torch.cat([b[1] for b in self._seen]))
            self._seen = []
        return (self.f1(image) - self.mean1) @ self.proj1, (self.f2(text) - self.mean2) @ self.proj2

    def losses(self, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        top_k = self.hp["top_k"]
        return {"corr": -cca_correlation(out["image"], out["text"], float(self.hp["r1"]), float(self.hp["r2"]),
                                         None if top_k is None else int(top_k))}
