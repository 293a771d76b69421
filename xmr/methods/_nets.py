"""Small building blocks shared by the deep baselines (DCCA, ACMR, DRSL, CMDN, SSACR).

Private (leading underscore): not a method module, never registered.

* :func:`mlp` -- a plain fully connected stack.
* :class:`EpochClock` -- tells a method which epoch the engine is in, without an
  engine hook (see its docstring for the exact rule and its limits).
* :func:`score_embedding` -- turns a cross-modal score matrix into a pair of
  representations whose cosine ranking reproduces the scores exactly, so that a
  method that *scores* pairs (DRSL's relation network) runs under the engine's
  cosine retrieval unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "mlp", "EpochClock", "score_embedding"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


def mlp(dims: Sequence[int], activation: str = "relu", last_activation: str | None = None) -> nn.Sequential:
    """Linear layers ``dims[0] -> dims[1] -> ... -> dims[-1]``; ``activation`` between them,
    ``last_activation`` (or nothing) after the last one."""
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"an MLP needs at least an input and an output size, all positive; got {dims}")
    for name in (activation, last_activation):
        if name is not None and name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(dims) - 2
        if not last:
            layers.append(ACTIVATIONS[activation]())
        elif last_activation is not None:
            layers.append(ACTIVATIONS[last_activation]())
    return nn.Sequential(*layers)


class EpochClock:
    """Counts the engine's epochs from the calls a method sees.

    The engine (:mod:`xmr.engine`) runs, each epoch, training forwards (module in
    train mode) and then one validation ``encode`` in eval mode. So: an epoch has
    ended when ``encode`` runs in eval mode after at least one training forward.
    Call :meth:`train_step` from ``forward`` (train mode) and :meth:`eval_encode`
    from ``encode`` (eval mode); :attr:`epoch` is the 0-based index of the epoch
    being trained (== the number of completed epochs). Encodes that follow no
    training (the final test evaluations) do not advance it.

    This is plain Python state (not in ``state_dict``): restoring the selected
    state does not rewind it, which is what we want -- it only drives schedules.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.steps_this_epoch = 0

    def train_step(self) -> bool:
        """Record one training step; True when it is the first of an epoch."""
        first = self.steps_this_epoch == 0
        self.steps_this_epoch += 1
        return first

    def eval_encode(self) -> bool:
        """Record an eval-mode encode; True when it closes an epoch (training happened since the last one)."""
        if self.steps_this_epoch == 0:
            return False
        self.steps_this_epoch = 0
        self.epoch += 1
        return True


def score_embedding(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Representations whose cosine similarity ranks exactly like ``scores``.

    ``scores`` is (n_image, n_text): the score of image i against text j. Returns
    ``z_image`` (n_image, n_text + 1) = ``[scores_i, sqrt(C - ||scores_i||^2)]`` and
    ``z_text`` (n_text, n_text + 1) = ``[e_j, 0]`` with ``C = max_i ||scores_i||^2 + 1``.
    Every image row then has norm sqrt(C) and every text row norm 1, so
    cos(z_image_i, z_text_j) = scores_ij / sqrt(C): a fixed positive multiple of the
    score, in both retrieval directions (image->text ranks texts by scores_i.,
    text->image ranks images by scores_.j). It needs the gallery to be the other
    modality of the same call, which is how the engine evaluates (queries and
    gallery are one split's pairs).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (images x texts) matrix, got shape {tuple(scores.shape)}")
    s = scores.to(torch.float64)  # the padding coordinate must not lose the norms' precision
    sq = s.pow(2).sum(1, keepdim=True)
    c = sq.max() + 1.0
    z_image = torch.cat([s, (c - sq).sqrt()], dim=1)
    z_text = torch.cat([torch.eye(s.shape[1], dtype=s.dtype, device=s.device),
                        torch.zeros(s.shape[1], 1, dtype=s.dtype, device=s.device)], dim=1)
    return z_image, z_text
