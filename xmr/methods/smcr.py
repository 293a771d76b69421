r"""SMCR: Semantics-adversarial and Media-adversarial Cross-media Retrieval (Li, Du, Kou, Xue, Xu, Xu & Jiang).

"Scientific and Technological Information Oriented Semantics-adversarial and
Media-adversarial Cross-media Retrieval" (paper 003 of this study). No code was
released; everything below is from the paper's Sections 3-5 and Algorithm 1.
Where the paper is silent we follow ACMR (Wang et al., MM 2017, the paper's
ref. [28]), from which SMCR takes its label-prediction loss (Eq. 1), its
three-layer media discriminator and, nearly word for word, its Algorithm 1.

Networks (Section 3, 4.1)
    Base-Net P1: f_V, f_T -- one fully connected tanh network per medium mapping
    raw features into the latent space S: ``d -> hidden[0] -> hidden[1] -> dim``
    (S_V = f_V(V), S_T = f_T(T)).
    Refine-Net P2: g_SV, g_ST -- "another feature mapping network with the same
    structure" whose input is P1's output: ``dim -> hidden[0] -> hidden[1] -> dim``
    (S'_V = g_SV(S_V), S'_T = g_ST(S_T)); separate parameters per medium as the
    paper's theta_SV, theta_ST.
    Label classifier theta_imd: one linear layer + softmax on S, shared by both
    media ("a softmax layer ... at the end of each feature map network", one
    theta_imd in Eqs. 1, 8, 10).
    Media discriminator theta_D (Section 4.2): three fully connected layers
    ``dim -> disc_hidden[0] -> disc_hidden[1] -> 1`` with ReLU between them and a
    sigmoid output D(x) = P(x is an image), on the Base-Net outputs S_V, S_T.

Loss terms (unweighted; the engine applies :meth:`SMCR.term_weights`)
    - ``imd`` Eq. 1: :math:`-\frac{1}{n}\sum_i l_i \cdot (\log p(v_i) + \log p(t_i))`, i.e. the softmax
      cross-entropy of the image plus that of the text, averaged over the batch.
    - ``imi`` Eqs. 2-4: mean over pairs of :math:`\lVert l_v - l_t\rVert_2 + \lVert S_V - S_T\rVert_2`
      (plain, not squared, L2 norms as written).
    - ``con`` Eqs. 5-7: mean over pairs of
      :math:`\max(0, \lVert S'_V - S_T\rVert - \lVert S'_V - S_V\rVert) + \max(0, \lVert S'_T - S_V\rVert - \lVert S'_T - S_T\rVert)`.
    - ``adv`` Eq. 9: :math:`L_{adv} = -\frac{1}{n}\sum_i \left(\log D(S_{V,i}) + \log(1 - D(S_{T,i}))\right)`.

    Eq. 8: :math:`L_{emb} = \alpha L_{imi} + \beta L_{con} + L_{imd}`; Eq. 10: the mapper minimises
    :math:`L_{emb} - L_{adv}` (``adv`` has weight -1); Eq. 11: the discriminator minimises
    :math:`L_{adv}` (:math:`L_{emb}` does not depend on :math:`\theta_D`).

Training (Algorithm 1, as written)
    ``adversarial = "alternating"`` with ``g_steps`` = k mapper steps per
    discriminator step, the discriminator's step after the k-th mapper step on
    features recomputed with the updated mapper (``d_order="after"``), and the
    discriminator's learning rate lambda * mu (``d_lr_scale`` = lambda; a change of
    ``lr`` keeps lambda). ``optimizer="sgd"`` is Algorithm 1's plain
    "theta <- theta - mu * grad"; the default is Adam (chosen on validation, and a
    deviation from the text). So Algorithm 1 exactly is
    ``--set g_steps=5 --set d_order=after --set optimizer=sgd --set lr=0.1``.
    The per-pair losses of Eqs. 2-7 are averaged over the mini-batch (Algorithm 1's 1/m).

Defaults
    alpha = beta = 0.1: Section 6.3 reports alpha = beta = 0.1 as best for txt2img;
    its text garbles the other two best settings ("alpha = 1 and beta = -1",
    "alpha = -1 and beta = -1", although -1 is not in the grid {0.1, 1, 10, 100}),
    so 0.1 / 0.1 is the only best value the paper states legibly. The paper reports
    no layer sizes, latent dimension, optimiser settings, batch size or epochs: we
    take ACMR's released Wikipedia configuration (image branch): tanh layers
    512 -> 100 -> 40 for both media, discriminator 40 -> 20 -> 10 -> output, Adam
    lr 1e-4 with beta1 0.5 for both players, batch 64, 200 epochs, validation
    selection stopping after 50 epochs without a better validation mAP.

Readings
    Every ambiguity is a named option declared in ``SMCR.readings`` (the table on
    the fidelity page): the text it interprets, the default, the alternatives and the
    evidence. The arguments that do not fit a table:

    ``imi_source`` -- what l_v, l_t of Eq. 2 are. The paper calls them "the
    semantic distributions of image data and text data in each sample m_i before
    mapping" and never defines them; its own signature L_imi(theta_V, theta_T)
    (Eq. 4) and Eq. 2's l2(v, t) carry no parameters, so Eq. 2 cannot depend on
    anything trained. ``"label"`` (default): l_v = l_t = l_i, the pair's semantic
    category vector of Section 3 (each pair m_i has one l_i); Eq. 2 is then 0 for
    every pair and L_imi trains through Eq. 3 only. Any other parameter-free
    reading adds a constant with zero gradient, so it would change the logged loss
    but not the learned model -- ``"label"`` stands for all of them.
    **Consequence for Tables 3-4:** under this reading, "SMCR without L_imi" removes
    only ||S_V - S_T|| (Eq. 3), the "after mapping" half. ``"prediction"``: l_v, l_t
    are the label distributions p(v_i), p(t_i) that the Eq. 1 classifier predicts
    from S_V, S_T (the only "semantic distributions" the paper defines); Eq. 2 then
    has a gradient, at the price of not being "before mapping".

    ``retrieval`` -- which representation is ranked. Section 3: Base-Net maps the
    media "into a unified latent semantic space S for semantic similarity
    comparison"; label prediction, L_imi and the discriminator act on S, and the
    Refine-Net exists to shape S through L_con. ``"refine"`` ranks S' (Algorithm 1
    lists theta_SV, theta_ST among its outputs); on validation (Wikipedia ``smcr``,
    seed 0) S' ranks near chance (.156 vs .232): only the hinge of Eqs. 5-6 shapes it.

    ``classifier_on`` -- "a softmax layer ... at the end of each feature map
    network" (4.1.1): Base-Net and Refine-Net are both feature mapping networks, but
    Eq. 1 writes p(v_i), p(t_i) of the mapped features S. ``"base"`` (default):
    the classifier on S (Eq. 1); ``"both"``: the same theta_imd also on S'.

    ``discriminator_on`` -- 4.2's discriminator judges "the data mapped to the
    latent embedding space", S; 4.1.3 says the Refine-Net helps "fool the media
    discrimination network". ``"base"`` (default): D on S (Eq. 9 as written with
    S_V, S_T); ``"refine"``: D on S'.

    Eq. 9 vs. the text: the text labels images 0 and texts 1, but Eq. 9 rewards
    D(v) -> 1; we follow the equation (D = probability of "image"); the loss is
    symmetric, so only the sign convention differs. Discriminator activations:
    "three-layer fully connected network" with no activation named; we put ReLU
    between the layers (ACMR's code has none, which makes its three layers one
    linear map).

Deviations
    No margin in Eqs. 5-6 (as written; the hinge is 0 as soon as S'_V is nearer
    S_T than S_V). Validation-split model selection. Adam instead of Algorithm 1's
    plain SGD (chosen on validation; ``optimizer="sgd"`` is the text).

Ablations: ``without={"imi"}`` / ``{"con"}`` are Tables 3-4's variants;
``{"adv"}`` drops the discriminator (no discriminator steps at all). With
``con`` removed (and ``retrieval="base"``) the Refine-Net gets no gradient and
has no influence on retrieval.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, DeepMethod, train_defaults
from .readings import Reading
from .registry import register

__all__ = ["SMCR", "imd_loss", "imi_loss", "con_loss", "adv_loss", "mlp"]

IMI_SOURCES = ("label", "prediction")
RETRIEVALS = ("base", "refine")
CLASSIFIER_ON = ("base", "both")
DISCRIMINATOR_ON = ("base", "refine")
METRICS = ("euclidean", "cosine")


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh, last_activation: bool = True) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` after each (optionally not the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def imd_loss(logits_image: torch.Tensor, logits_text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 1: mean over pairs of the image's plus the text's softmax cross-entropy."""
    return F.cross_entropy(logits_image, labels) + F.cross_entropy(logits_text, labels)


def imi_loss(l_v: torch.Tensor, l_t: torch.Tensor, s_v: torch.Tensor, s_t: torch.Tensor) -> torch.Tensor:
    """Eqs. 2-4: mean over pairs of ||l_v - l_t||_2 (before mapping) + ||S_V - S_T||_2 (after)."""
    return (l_v - l_t).norm(dim=1).mean() + (s_v - s_t).norm(dim=1).mean()


def con_loss(s_v: torch.Tensor, s_t: torch.Tensor, r_v: torch.Tensor, r_t: torch.Tensor) -> torch.Tensor:
    """Eqs. 5-7 (``r`` = Refine-Net output S'): mean over pairs of the two intra-semantics hinges."""
    con_v = F.relu((r_v - s_t).norm(dim=1) - (r_v - s_v).norm(dim=1))
    con_t = F.relu((r_t - s_v).norm(dim=1) - (r_t - s_t).norm(dim=1))
    return (con_v + con_t).mean()


def adv_loss(d_image_logit: torch.Tensor, d_text_logit: torch.Tensor) -> torch.Tensor:
    """Eq. 9 from discriminator logits: mean of -log D(v) - log(1 - D(t)), D = sigmoid(logit)."""
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x): stable for large |x|.
    return (F.softplus(-d_image_logit) + F.softplus(d_text_logit)).mean()


@register("smcr", kind="deep")
class SMCR(DeepMethod):
    """SMCR (Li et al.): Base-Net + Refine-Net with label, inter-media, intra-semantics and media-adversarial losses."""

    defaults = train_defaults(
        epochs=200,
        batch_size=64,
        lr=1e-4,
        betas=(0.5, 0.999),
        d_betas=(0.5, 0.999),
        d_steps=1,
        d_lr_scale=1.0,
        g_steps=5,
        d_order="after",
        input_norm="none",
        patience=50,
    ) | {
        "alpha": 0.1,
        "beta": 0.1,
        "hidden": [512, 100],
        "dim": 40,
        "disc_hidden": [20, 10],
        "imi_source": "label",
        "retrieval": "base",
        "metric": "euclidean",
        "classifier_on": "base",
        "discriminator_on": "base",
    }
    terms = ("imd", "imi", "con", "adv")
    ablatable = ("imi", "con", "adv")
    adversarial = "alternating"
    adversarial_term = "adv"
    readings = (
        Reading("input_norm", "Section 5: VGG / BoW features fed as they are; ours are other features",
                "none", ("standardize", "l2"), "validation",
                "Validation avg mAP at the defaults (k = 5, D after; seeds 0-2), none / standardize / l2: Wikipedia "
                "(smcr split) .212 / .232 / .226; news (BoW) .451 / .413 / .408; the same order with k = 1, D before. "
                "Other features: none, the paper's (a priori).",
                literal="none", per_features={"wikipedia": "standardize", "web_news_cn/bow": "none"}),
        Reading("g_steps", "Algorithm 1: 'for k steps' of the mapper per discriminator step; k not reported",
                5, (1,), "validation",
                "Validation avg mAP (seeds 0-2), k = 5 / 1 (both with d_order after): Wikipedia .2317 / .2308, "
                "news .4509 / .4493; within a standard deviation (.001-.007), and k > 1 is the text.",
                literal=5),
        Reading("d_order", "Algorithm 1: the discriminator's update follows the k mapper updates",
                "after", ("before",), "validation",
                "Validation avg mAP (seeds 0-2), after / before: k = 1, Wikipedia .2308 / .2307, news .4493 / .4492; "
                "k = 5, Wikipedia .2317 / .2317, news .4509 / .4508. A tie, so the text's order.", literal="after"),
        Reading("optimizer", "Algorithm 1: theta <- theta - mu * grad (plain SGD)",
                "adam", ("sgd",), "validation",
                "Validation avg mAP on Wikipedia (seeds 0-2, standardized input). At the defaults (k = 5, D after, "
                "lambda = 1): Adam .2317; plain SGD lr 0.1 .2234, lr 0.01 .2211. With the discriminator at 1e-4 "
                "(k = 1, D before; lambda 0.001, 0.01): Adam .2307; SGD lr 0.1 .2240, lr 0.01 .2207. News BoW at the "
                "defaults (raw input): Adam .4509; SGD lr 0.1 .4353, lr 0.01 .3900. Adam is a deviation from the "
                "text, kept on validation; SGD's best rate is 0.1 on both sets.",
                literal="sgd"),
        Reading("d_lr_scale", "Algorithm 1: the discriminator's rate is lambda * mu; lambda not reported",
                1.0, (0.1, 10.0), "a priori", "ACMR's released code trains both players at the same rate.", literal=None),
        Reading("imi_source", "Eq. 2: 'semantic distributions ... before mapping' l_v, l_t, never defined",
                "label", ("prediction",), "a priori",
                "Eq. 2 and L_imi(theta_V, theta_T) carry no parameters: any parameter-free reading has zero gradient; "
                "then 'without L_imi' removes only ||S_V - S_T||.", literal="label"),
        Reading("retrieval", "Section 3: Base-Net maps into 'a unified latent semantic space S for similarity comparison'",
                "base", ("refine",), "a priori",
                "Section 3 names S as the comparison space (validation agrees: S' ranks near chance, .156 vs .232, seed 0).",
                literal="base"),
        Reading("classifier_on", "4.1.1: 'a softmax layer ... at the end of each feature map network'; Eq. 1 on S",
                "base", ("both",), "a priori", "Eq. 1, which fixes the loss, predicts labels from S_V, S_T.",
                literal="base"),
        Reading("discriminator_on", "4.2: D judges 'the data mapped to the latent embedding space'; Eq. 9 on S_V, S_T",
                "base", ("refine",), "a priori", "Eq. 9 is written on S_V, S_T.", literal="base"),
        Reading("metric", "Section 5: the distance used for retrieval is not stated",
                "euclidean", ("cosine",), "a priori",
                "Every distance in the losses (Eqs. 2, 3, 5, 6) is L2, and ACMR ranks by Euclidean distance.",
                literal="euclidean"),
        Reading("alpha", "Section 6.3 / Fig. 2: the best alpha, beta in {0.1, 1, 10, 100}",
                0.1, (1.0, 10.0, 100.0), "a priori",
                "alpha = beta = 0.1 is the only best setting the text states legibly.", literal=0.1),
        Reading("dim", "layer sizes not reported", 40, (200,), "a priori",
                "ACMR's released Wikipedia configuration (512 -> 100 -> 40).", literal=None),
    )

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, hp: Mapping[str, Any], without=frozenset()):
        super().__init__(image_dim, text_dim, num_classes, hp, without)
        hp = self.hp
        for key, allowed in (("imi_source", IMI_SOURCES), ("retrieval", RETRIEVALS), ("metric", METRICS),
                             ("classifier_on", CLASSIFIER_ON), ("discriminator_on", DISCRIMINATOR_ON)):
            if hp[key] not in allowed:
                raise ValueError(f"smcr: {key} must be one of {allowed}, got {hp[key]!r}")
        hidden = [int(h) for h in hp["hidden"]]
        disc_hidden = [int(h) for h in hp["disc_hidden"]]
        if len(disc_hidden) != 2:
            raise ValueError(f"smcr: disc_hidden must give the 2 hidden sizes of the 3-layer discriminator, got {hp['disc_hidden']!r}")
        dim = int(hp["dim"])
        if dim < 1 or any(h < 1 for h in hidden + disc_hidden):
            raise ValueError("smcr: dim, hidden and disc_hidden sizes must be positive")
        self.metric = hp["metric"]  # type: ignore[misc]  (instance override of the class default)
        # Base-Net P1 and Refine-Net P2 (same structure, applied to P1's outputs).
        self.f_v = mlp([image_dim, *hidden, dim])
        self.f_t = mlp([text_dim, *hidden, dim])
        self.g_v = mlp([dim, *hidden, dim])
        self.g_t = mlp([dim, *hidden, dim])
        self.classifier = nn.Linear(dim, num_classes)  # theta_imd; softmax inside the cross-entropy
        self.discriminator = mlp([dim, *disc_hidden, 1], activation=nn.ReLU, last_activation=False)

    # ---- forward passes -----------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # type: ignore[override]
        s_v, s_t = self.f_v(batch.image), self.f_t(batch.text)
        return {"image": s_v, "text": s_t, "refine_image": self.g_v(s_v), "refine_text": self.g_t(s_t)}

    def encode(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_v, s_t = self.f_v(image), self.f_t(text)
        if self.hp["retrieval"] == "refine":
            return self.g_v(s_v), self.g_t(s_t)
        return s_v, s_t

    # ---- losses -------------------------------------------------------------------
    def semantic_distributions(self, batch: Batch, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """l_v, l_t of Eq. 2 under ``imi_source`` (see the module docstring)."""
        if self.hp["imi_source"] == "prediction":
            return F.softmax(self.classifier(out["image"]), 1), F.softmax(self.classifier(out["text"]), 1)
        return batch.onehot, batch.onehot

    def _judged(self, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """What the discriminator sees (``discriminator_on``): S (Eq. 9) or S'."""
        if self.hp["discriminator_on"] == "refine":
            return out["refine_image"], out["refine_text"]
        return out["image"], out["text"]

    def losses(self, batch: Batch, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s_v, s_t = out["image"], out["text"]
        imd = imd_loss(self.classifier(s_v), self.classifier(s_t), batch.labels)
        if self.hp["classifier_on"] == "both":  # theta_imd also at the end of the Refine-Net
            imd = imd + imd_loss(self.classifier(out["refine_image"]), self.classifier(out["refine_text"]), batch.labels)
        terms = {"imd": imd}
        if "imi" not in self.without:
            terms["imi"] = imi_loss(*self.semantic_distributions(batch, out), s_v, s_t)
        if "con" not in self.without:
            terms["con"] = con_loss(s_v, s_t, out["refine_image"], out["refine_text"])
        if "adv" not in self.without:
            assert self.discriminator is not None
            j_v, j_t = self._judged(out)
            terms["adv"] = adv_loss(self.discriminator(j_v), self.discriminator(j_t))
        return terms

    def term_weights(self) -> dict[str, float]:
        # Eq. 10: the mapper minimises L_emb - L_adv.
        return {"imd": 1.0, "imi": float(self.hp["alpha"]), "con": float(self.hp["beta"]), "adv": -1.0}

    def discriminator_loss(self, batch: Batch, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eq. 11: theta_D maximises L_emb - L_adv, i.e. minimises L_adv (L_emb does not involve theta_D)."""
        assert self.discriminator is not None
        j_v, j_t = self._judged(out)
        return adv_loss(self.discriminator(j_v), self.discriminator(j_t))
