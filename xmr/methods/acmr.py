"""ACMR: Adversarial Cross-Modal Retrieval (Wang, Yang, Xu, Hanjalic & Shen, ACM MM 2017).

Implemented from the paper, with the details it leaves open taken from the
authors' public TensorFlow demo (ACMR_demo) where that code is unambiguous.

Networks
    Feature projectors f_V, f_T: three fully connected layers with tanh (the demo:
    image d -> 512 -> 100 -> 40; we use the same widths for text, ``hidden``
    (512, 100), ``dim`` 40). Label classifier: one linear layer on the common
    representation (softmax). Modality classifier D (``self.discriminator``):
    three fully connected layers dim -> dim/2 -> dim/4 -> 2, behind a gradient
    reversal layer, linear as in the demo.

Losses (paper Section 3; the paper's text was not available to us while writing
this, so losses are named rather than numbered -- SMCR's Eq. 1 quotes L_imd):

    - ``label`` L_imd (intra-modal discrimination): softmax cross-entropy
      of the label classifier on both modalities' representations,
      mean over the batch, summed over the two modalities.
    - ``tri`` L_imi (inter-modal invariance, the triplet constraints):
      for each image v_i, positive = its paired text t_i, negative =
      a text of a different label;
      max(0, margin + ||f_V(v_i) - f_T(t+)||^2 - ||f_V(v_i) - f_T(t-)||^2),
      and symmetrically for each text anchor against images; mean over
      anchors, summed over the two directions.
    - ``adv`` L_adv: modality cross-entropy of D on both modalities'
      representations. The representations pass through
      :func:`~xmr.methods.base.grad_reverse`, so one backward trains D to
      minimise L_adv and the projectors to maximise it (the paper's
      minimax of L_emb - L_adv, realised with a gradient reversal layer as the
      paper and the demo do). Reversal scale lambda_p = 2/(1 + exp(-10 p)) - 1,
      p = epoch / epochs (the demo's schedule, from Ganin & Lempitsky).

    Total ``beta * label + alpha * tri + gamma * adv``; L_reg (Frobenius norm of
    the projector weights) is the engine's ``weight_decay`` (default 0, as in the demo).

Readings
    Every choice is a named option declared in ``ACMR.readings`` (the table on the
    fidelity page): ``negatives``, ``reversal``, ``margin``, the weights ``alpha`` /
    ``beta`` / ``gamma``, ``weight_decay`` (L_reg), ``betas``, ``hidden``, ``epochs``.
    What does not fit a table:

    negatives
        The paper samples triplets from labels without fixing how; the demo takes,
        for anchor image v_i, the text paired with the most similar (input-feature
        cosine) image of another label in the batch (and symmetrically). "input"
        follows the demo; "embedding" takes the hardest negative in the common
        space; "random" a random other-label item.
    distances (not an option)
        Squared Euclidean (the paper's l2 with the demo's ``tf.nn.l2_loss``); the
        demo sums them over the whole batch *before* the hinge (one hinge per
        batch, and scales the positive by 5); we apply the hinge per triplet as
        the paper writes it, ``margin`` 0.1 (the demo's).
    optimisation (not an option)
        The demo updates projectors with the embedding loss only and the modality
        classifier separately, so its adversarial loss never reaches the projectors
        (the reversal layer sits on a path no projector optimiser differentiates).
        We follow the paper: the reversed adversarial gradient does reach the
        projectors (``adversarial = "reversal"``, one Adam over all parameters).
        The demo trains the label classifier with no optimiser either (its
        variables are in no ``var_list``); ours is trained with the projectors,
        as the paper's theta_imd is.
    weights
        The paper does not print alpha / beta for Wikipedia; the demo weights
        label : triplet as 100 : 1 on batch-summed distances (about 1 : 1 on our
        per-anchor means). Defaults alpha = beta = gamma = 1.
    training
        Adam, lr 1e-4, betas (0.5, 0.999), batch 64 (the demo); 200 epochs with
        validation selection (the demo runs 50 on its features and picks by test
        mAP; we never look at test). ``input_norm`` per feature set, chosen on
        validation (``ACMR.readings``); the demo feeds its VGG / BoW features raw.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ._nets import EpochClock, mlp
from .base import Batch, DeepMethod, grad_reverse, train_defaults
from .readings import Reading
from .registry import register

__all__ = ["ACMR", "triplet_terms", "mine_negatives", "reversal_schedule"]


def reversal_schedule(p: float) -> float:
    """Gradient-reversal scale 2 / (1 + exp(-10 p)) - 1 at training progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


def mine_negatives(
    labels: torch.Tensor, how: str, features: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """For each row, the index of a batch row with a different label.

    ``how="hardest"``: the different-label row most cosine-similar in ``features``;
    ``how="random"``: a uniformly drawn different-label row. Rows whose label fills
    the whole batch get themselves (their triplet then costs exactly ``margin``
    and carries no gradient direction between items).
    """
    diff = labels[:, None] != labels[None, :]
    if how == "hardest":
        if features is None:
            raise ValueError("hardest-negative mining needs features")
        f = F.normalize(features, dim=1)
        sim = (f @ f.T).masked_fill(~diff, -math.inf)
    elif how == "random":
        u = torch.rand(diff.shape, device=labels.device, generator=generator)
        sim = u.masked_fill(~diff, -math.inf)
    else:
        raise ValueError(f"unknown negative mining {how!r}")
    idx = sim.argmax(1)
    none = ~diff.any(1)
    return torch.where(none, torch.arange(labels.shape[0], device=labels.device), idx)


def triplet_terms(
    u: torch.Tensor, v: torch.Tensor, neg_text: torch.Tensor, neg_image: torch.Tensor, margin: float
) -> torch.Tensor:
    """L_imi: image-anchored plus text-anchored triplet hinge, each a mean over anchors.

    ``u``, ``v`` are paired image / text representations; image i's negative text is
    ``v[neg_text[i]]``, text j's negative image is ``u[neg_image[j]]``.
    """
    pos = (u - v).pow(2).sum(1)
    l_v = F.relu(margin + pos - (u - v[neg_text]).pow(2).sum(1)).mean()
    l_t = F.relu(margin + pos - (v - u[neg_image]).pow(2).sum(1)).mean()
    return l_v + l_t


@register("acmr", kind="deep")
class ACMR(DeepMethod):
    """ACMR (Wang et al., ACM MM 2017): label prediction, triplet constraints, modality classifier behind gradient reversal."""

    defaults = train_defaults(epochs=200, batch_size=64, lr=1e-4, betas=(0.5, 0.999), input_norm="none") | {
        "hidden": (512, 100),
        "dim": 40,
        "margin": 0.1,
        "alpha": 1.0,  # triplet (L_imi)
        "beta": 1.0,  # label prediction (L_imd)
        "gamma": 1.0,  # adversarial (L_adv)
        "negatives": "input",
        "reversal": "schedule",  # "schedule": 2/(1+exp(-10p))-1; "constant": 1
    }
    terms = ("label", "tri", "adv")
    adversarial = "reversal"
    adversarial_term = "adv"
    readings = (
        Reading("input_norm", "the paper feeds its own features as they are; ours are other features",
                "none", ("standardize", "l2"), "validation",
                "Validation avg mAP (seeds 0-2; Pascal folds 0-4), none / standardize / l2: Wikipedia .236 / .249 / .235; Pascal .728 / .779 / .543; news Doc2Vec .415 / .436 / .397; news BoW .463 / .430 / .412. Other features: none, the papers' raw input (a priori).",
                literal="none", per_features={"wikipedia": "standardize", "pascal": "standardize", "web_news_cn/doc2vec": "standardize", "web_news_cn/bow": "none"}),
        Reading("negatives", "triplets sampled by label, how not said; the demo: the text of the most input-similar "
                "other-label image", "input", ("embedding", "random"), "a priori",
                "The authors' demo mines each anchor's negative by input-feature cosine within the batch.",
                literal="input"),
        Reading("reversal", "the demo's gradient-reversal scale 2 / (1 + exp(-10 p)) - 1", "schedule", ("constant",),
                "a priori", "The demo's schedule (Ganin & Lempitsky's).", literal="schedule"),
        Reading("margin", "the triplet margin; the demo: 0.1 on one batch-summed hinge", 0.1, (1.0,), "a priori",
                "The demo's value, applied per triplet as the paper writes the constraint.", literal=0.1),
        Reading("alpha", "L_imi's weight, not printed for Wikipedia; the demo: label : triplet = 100 : 1 on batch sums",
                1.0, (0.1, 10.0), "a priori",
                "The demo's 100 : 1 on batch-summed distances is about 1 : 1 on our per-anchor means.", literal=None),
        Reading("beta", "L_imd's weight, not printed for Wikipedia", 1.0, (0.1, 10.0), "a priori",
                "Unit weight; the ratio to alpha carries the demo's balance (see alpha).", literal=None),
        Reading("gamma", "L_adv's weight in L_emb - L_adv, not printed", 1.0, (0.1,), "a priori",
                "Unit weight; the reversal schedule already ramps the adversarial gradient in.", literal=None),
        Reading("weight_decay", "L_reg: the Frobenius norm of the projector weights, weight not printed", 0.0, (1e-4,),
                "a priori", "The demo adds no L_reg.", literal=None),
        Reading("betas", "'Adam'; the demo: beta1 = 0.5", (0.5, 0.999), ((0.9, 0.999),), "a priori", "The demo's.",
                literal=(0.5, 0.999)),
        Reading("hidden", "the demo: image branch d -> 512 -> 100 -> 40; the text branch's widths", (512, 100),
                ((1024, 256),), "a priori",
                "The demo's image widths, used for both media (one structure for f_V and f_T).", literal=(512, 100)),
        Reading("epochs", "the demo: 50 epochs on its features, its best epoch kept", 200, (50,), "a priori",
                "With the epoch selected on validation, a longer run only adds candidates.", literal=50),
    )

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, hp: Mapping[str, Any], without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        if self.hp["negatives"] not in ("input", "embedding", "random"):
            raise ValueError(f"negatives must be 'input', 'embedding' or 'random', got {self.hp['negatives']!r}")
        if self.hp["reversal"] not in ("schedule", "constant"):
            raise ValueError(f"reversal must be 'schedule' or 'constant', got {self.hp['reversal']!r}")
        hidden, d = [int(h) for h in self.hp["hidden"]], int(self.hp["dim"])
        self.f_image = mlp([image_dim, *hidden, d], "tanh", "tanh")
        self.f_text = mlp([text_dim, *hidden, d], "tanh", "tanh")
        self.classifier = nn.Linear(d, num_classes)
        self.discriminator = nn.Sequential(nn.Linear(d, max(d // 2, 1)), nn.Linear(max(d // 2, 1), max(d // 4, 1)),
                                           nn.Linear(max(d // 4, 1), 2))
        self._clock = EpochClock()

    def encode(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            self._clock.eval_encode()
        return self.f_image(image), self.f_text(text)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if self.training:
            self._clock.train_step()
        return {"image": self.f_image(batch.image), "text": self.f_text(batch.text)}

    def reversal_scale(self) -> float:
        if self.hp["reversal"] == "constant":
            return 1.0
        return reversal_schedule(self._clock.epoch / max(int(self.hp["epochs"]), 1))

    def losses(self, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, v = out["image"], out["text"]
        terms: dict[str, torch.Tensor] = {}
        if "label" not in self.without:
            y = batch.labels
            terms["label"] = F.cross_entropy(self.classifier(u), y) + F.cross_entropy(self.classifier(v), y)
        if "tri" not in self.without:
            how = self.hp["negatives"]
            with torch.no_grad():
                if how == "input":  # the text paired with the most similar other-label image, and vice versa
                    neg_text = mine_negatives(batch.labels, "hardest", batch.image)
                    neg_image = mine_negatives(batch.labels, "hardest", batch.text)
                elif how == "embedding":
                    neg_text = mine_negatives(batch.labels, "hardest", u)
                    neg_image = mine_negatives(batch.labels, "hardest", v)
                else:
                    neg_text = mine_negatives(batch.labels, "random")
                    neg_image = mine_negatives(batch.labels, "random")
            terms["tri"] = triplet_terms(u, v, neg_text, neg_image, float(self.hp["margin"]))
        if "adv" not in self.without:
            lam = self.reversal_scale()
            logits = self.discriminator(grad_reverse(torch.cat([u, v]), lam))
            media = torch.cat([torch.zeros(len(u), dtype=torch.long, device=u.device),
                               torch.ones(len(v), dtype=torch.long, device=v.device)])
            terms["adv"] = F.cross_entropy(logits, media) * 2  # = mean over images + mean over texts
        return terms

    def term_weights(self) -> dict[str, float]:
        return {"label": float(self.hp["beta"]), "tri": float(self.hp["alpha"]), "adv": float(self.hp["gamma"])}
