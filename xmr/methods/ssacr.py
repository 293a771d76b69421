"""SSACR: Semantic Similarity based Adversarial Cross-media Retrieval (Liu, Du & Zhou, 2021).

"A Cross Media Search Method for Social Networks Based on Adversarial Learning
and Semantic Similarity", SCIENTIA SINICA Informationis 51(5): 779-794 (in
Chinese; SMCR's ref. [21]). **Reconstructed from description.** No code exists
and the paper itself was not available to us. Everything below follows the
three descriptions in SMCR (paper 003 of this study, by the same group):

(a) Section 2: SSACR uses "semantic distribution and similarity as the training
    basis of feature mapping network, so that the distance between different
    media data under the same semantics is small, and the distance between the
    same media data under different semantics is large. Finally, SSACR uses
    similarity to sort and obtain the search results in the same space."
(b) Section 5.3: "also based on the idea of adversarial learning. The similarity
    of the feature vectors of different media data mapped to the same semantic
    space is calculated and compared with the similarity between the original
    semantic feature vectors to eliminate the differences between different
    media data under the same semantics."
(c) Section 6.1: "SSACR also models intra-media semantic loss and inter-media
    semantic loss", but not SMCR's inter-media consistency (Eqs. 2-4) and
    intra-semantics media losses (Eqs. 5-7).

Our reconstruction (SMCR minus its two new losses, plus (b)'s similarity matching)
    Feature mappers f_V, f_T (the SMCR / ACMR Base-Net: tanh layers
    d -> 512 -> 100 -> ``dim`` 40) into a common space; one shared linear label
    classifier; a media discriminator (three fully connected layers
    40 -> 20 -> 10 -> 1, ReLU between, sigmoid output = P(image)), trained
    alternately with the mappers (as in SMCR's Algorithm 1, which SMCR inherits from
    its group's earlier work; the schedule's details are readings, below).

Terms
    - ``label`` intra-media semantic loss, the "semantic distribution" of (a):
      softmax cross-entropy of both media's label predictions (SMCR Eq. 1).
    - ``sim`` inter-media semantic similarity loss of (b): for every image-text
      pair (i, j) of the mini-batch, the squared difference between the
      cosine similarity of the mapped features cos(f_V(v_i), f_T(t_j))
      and the similarity of the original semantic vectors cos(l_i, l_j)
      (1 for equal single labels, 0 otherwise); mean over pairs. With
      ``intra_sim`` (default True) the image-image and text-text pairs
      are matched the same way, which is what pushes "the same media
      data under different semantics" apart (a); the three means are summed.
    - ``adv`` the mapper's adversarial term, -L_adv with L_adv the
      discriminator's media cross-entropy (SMCR Eqs. 9-10: the mapper
      minimises L_emb - L_adv); the discriminator minimises L_adv.

    Total ``label + alpha * sim - adv_weight * L_adv``; retrieval by cosine
    similarity in the common space (a).

Readings
    Every reconstructed piece that is an option is declared in ``SSACR.readings`` (the
    table on the fidelity page): ``intra_sim``, ``adv_form``, the weights ``alpha`` /
    ``adv_weight`` (not reported anywhere we could read: 1), the sizes ``hidden`` /
    ``dim`` / ``disc_hidden``, ``betas`` and the alternating schedule ``g_steps`` /
    ``d_order``. The losses' forms above are the reconstruction itself, not options.

    Layer sizes, optimiser (Adam lr 1e-4, betas (0.5, 0.999), both players), batch
    64 and 200 epochs are ACMR's released Wikipedia configuration, which our SMCR
    also takes; with validation selection and ``input_norm`` per feature set, chosen
    on validation (``SSACR.readings``). The
    adversarial schedule is the engine's alternation (one discriminator step before
    each mapper step, both at lr 1e-4, no early stopping). SMCR's own readings
    (``SMCR.readings``: Algorithm 1's ``g_steps`` / ``d_order``, ``patience``, the
    retrieval metric, ``input_norm``) were decided for SMCR and not carried over, so
    the two methods differ in more than their losses; ``--set g_steps=5 --set
    d_order=after`` gives SSACR Algorithm 1's schedule.
    ``adv_form`` (default "minus"): the mapper minimises -L_adv as SMCR's Eq. 10
    writes it; "flipped" instead minimises the cross-entropy against swapped media
    labels (the non-saturating GAN form), an option for stability.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ._nets import mlp
from .base import Batch, DeepMethod, train_defaults
from .readings import Reading
from .registry import register

__all__ = ["SSACR", "similarity_matching_loss"]


def similarity_matching_loss(a: torch.Tensor, b: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs (i, j) of (cos(a_i, b_j) - cos(l_i, l_j))^2."""
    target = F.normalize(onehot, dim=1) @ F.normalize(onehot, dim=1).T
    sim = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    return (sim - target).pow(2).mean()


@register("ssacr", kind="deep")
class SSACR(DeepMethod):
    """SSACR (Liu, Du & Zhou, 2021), reconstructed from description: label prediction, semantic-similarity matching, media adversary."""

    defaults = train_defaults(epochs=200, batch_size=64, lr=1e-4, betas=(0.5, 0.999), d_lr=1e-4,
                              d_betas=(0.5, 0.999), input_norm="none") | {
        "hidden": (512, 100),
        "dim": 40,
        "disc_hidden": (20, 10),
        "alpha": 1.0,
        "adv_weight": 1.0,
        "intra_sim": True,
        "adv_form": "minus",
    }
    terms = ("label", "sim", "adv")
    adversarial = "alternating"
    adversarial_term = "adv"
    readings = (
        Reading("input_norm", "the paper feeds its own features as they are; ours are other features",
                "none", ("standardize", "l2"), "validation",
                "Validation avg mAP (seeds 0-2), none / standardize / l2: Wikipedia .230 / .237 / .236, news BoW .473 / .435 / .450. Other features: none, the papers' raw input (a priori).",
                literal="none", per_features={"wikipedia": "standardize", "web_news_cn/bow": "none"}),
        Reading("intra_sim", "SMCR's account: 'the distance between the same media data under different semantics "
                "is large'", True, (False,), "a priori",
                "Same-media pairs of different labels are pushed apart only by the image-image and text-text matching.",
                literal=True),
        Reading("adv_form", "SMCR's Eq. 10 (the group's adversarial game): the mapper minimises L_emb - L_adv",
                "minus", ("flipped",), "a priori", "The equation of the group's later paper, as written.",
                literal="minus"),
        Reading("alpha", "the similarity loss's weight; not reported", 1.0, (0.1, 10.0), "a priori",
                "Not reported anywhere we could read; unit weight.", literal=None),
        Reading("adv_weight", "the adversarial loss's weight; not reported", 1.0, (0.1,), "a priori",
                "Not reported; unit weight, as in SMCR's Eq. 10.", literal=None),
        Reading("hidden", "the feature mappers' sizes; not reported", (512, 100), ((1024, 256),), "a priori",
                "ACMR's released Wikipedia configuration (512 -> 100 -> 40), as our SMCR.", literal=None),
        Reading("dim", "the common space's size; not reported", 40, (200,), "a priori",
                "ACMR's released Wikipedia configuration, as our SMCR.", literal=None),
        Reading("disc_hidden", "the media discriminator's sizes; not reported", (20, 10), ((64, 32),), "a priori",
                "ACMR's released configuration (40 -> 20 -> 10 -> output), as our SMCR.", literal=None),
        Reading("betas", "the optimiser; not reported", (0.5, 0.999), ((0.9, 0.999),), "a priori",
                "ACMR's released code (beta1 = 0.5), as our SMCR.", literal=None),
        Reading("g_steps", "(b): 'also based on the idea of adversarial learning'; the schedule is not described "
                "(SMCR's Algorithm 1: k mapper steps per discriminator step)", 1, (5,), "a priori",
                "Not described for SSACR; one step each per batch, as ACMR's released code.", literal=None),
        Reading("d_order", "the order of the two players' steps; not described", "before", ("after",), "a priori",
                "Not described for SSACR; the engine's alternation (SMCR's Algorithm 1 steps the discriminator "
                "after the mappers).", literal=None),
    )

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, hp: Mapping[str, Any], without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        if self.hp["adv_form"] not in ("minus", "flipped"):
            raise ValueError(f"adv_form must be 'minus' or 'flipped', got {self.hp['adv_form']!r}")
        hidden, d = [int(h) for h in self.hp["hidden"]], int(self.hp["dim"])
        self.f_image = mlp([image_dim, *hidden, d], "tanh", "tanh")
        self.f_text = mlp([text_dim, *hidden, d], "tanh", "tanh")
        self.classifier = nn.Linear(d, num_classes)
        self.discriminator = mlp([d, *[int(h) for h in self.hp["disc_hidden"]], 1], "relu")

    def encode(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.f_image(image), self.f_text(text)

    def _media_logits(self, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.discriminator(torch.cat([u, v])).squeeze(-1)
        is_image = torch.cat([torch.ones(len(u), device=u.device), torch.zeros(len(v), device=v.device)])
        return logits, is_image

    def discriminator_loss(self, batch: Batch, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """L_adv: -1/n sum (log D(v_i) + log(1 - D(t_i))), D = P(image)."""
        logits, is_image = self._media_logits(out["image"], out["text"])
        return 2 * F.binary_cross_entropy_with_logits(logits, is_image)

    def losses(self, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, v = out["image"], out["text"]
        terms: dict[str, torch.Tensor] = {}
        if "label" not in self.without:
            terms["label"] = F.cross_entropy(self.classifier(u), batch.labels) + F.cross_entropy(self.classifier(v), batch.labels)
        if "sim" not in self.without:
            sim = similarity_matching_loss(u, v, batch.onehot)
            if self.hp["intra_sim"]:
                sim = sim + similarity_matching_loss(u, u, batch.onehot) + similarity_matching_loss(v, v, batch.onehot)
            terms["sim"] = sim
        if "adv" not in self.without:
            logits, is_image = self._media_logits(u, v)
            if self.hp["adv_form"] == "minus":
                terms["adv"] = -2 * F.binary_cross_entropy_with_logits(logits, is_image)
            else:
                terms["adv"] = 2 * F.binary_cross_entropy_with_logits(logits, 1 - is_image)
        return terms

    def term_weights(self) -> dict[str, float]:
        return {"label": 1.0, "sim": float(self.hp["alpha"]), "adv": float(self.hp["adv_weight"])}
