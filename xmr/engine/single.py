"""One seed of a deep method (:class:`xmr.methods.base.DeepMethod`) trained: :func:`train_deep`.

Adam on the mapper (and, for alternating adversarial methods, a second Adam on
the discriminator; fused kernels where torch has them; ``optimizer="sgd"`` for
plain SGD, and ``g_steps`` / ``d_order`` / ``d_lr_scale`` for Algorithm 1's
k mapper steps per discriminator step and lambda, see :mod:`xmr.methods.base`); the whole training split lives on the device and each epoch
draws a seeded permutation of row indices (no DataLoader). Loss terms are
written into a device buffer each step and read once per epoch, so training
never waits on the host. After every epoch the validation split is encoded
and scored and the selection step of :mod:`xmr.engine.select` keeps the state
with the best validation mean; the test split is read only at the end (the
last epoch's state and the selected one, see there), or never
(``evaluate_test=False``). ``track_test=True`` adds each epoch's test mAP to
the history, after selection (:func:`xmr.engine.select.record_test`).

Determinism: a run seeds torch's global RNG inside ``torch.random.fork_rng`` (the
caller's RNG state is untouched) and shuffles with its own ``torch.Generator``, so
the same seed gives identical numbers on CPU.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

import torch

from ..data.dataset import Dataset
from ..methods.base import Batch, DeepMethod
from ..methods.registry import MethodSpec
from .select import Selection, epoch_means, final_result, locate_divergence, record_test, validation_only, validation_scores
from .setup import Progress, make_optimizer, prepare, to_device, weighted_total

__all__ = ["train_deep"]


def train_deep(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seed: int = 0,
    without: Iterable[str] = (),
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    track_test: bool = False,
    evaluate_test: bool = True,
    sparse: bool | None = None,
) -> tuple[dict[str, Any], DeepMethod]:
    """Train deep method ``spec`` on ``dataset`` with resolved hyperparameters ``hp``.

    Returns ``(result, model)``: ``result`` is JSON-serialisable (see
    :func:`xmr.experiments.run` for its keys), ``model`` holds the selected state.
    ``track_test`` records per-epoch test mAP as a diagnostic (module doc); selection never reads it.
    ``evaluate_test=False`` never reads the test split: the result holds the selection on
    validation only (``best_epoch``, ``val_best``, ``history``), as :mod:`xmr.study.validation` needs.
    ``sparse=True``: feed a sparse input's first layer its nonzeros only (:mod:`xmr.engine.sparse`;
    off by default: measured slower on CPU).
    """
    if track_test and not evaluate_test:
        raise ValueError("track_test needs the test split; it cannot be combined with evaluate_test=False")
    cls: type[DeepMethod] = spec.cls
    without, dev, splits, c, train, val, bsz, n_steps, epochs, patience = prepare(spec, dataset, hp, without, device, sparse=sparse)
    n = train.labels.shape[0]
    test = to_device(splits["test"], c, dev) if track_test else None

    started = time.perf_counter()
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = cls(dataset.dims[0], dataset.dims[1], c, hp, without).to(dev)
        use_d = model.adversarial == "alternating" and model.uses_discriminator()
        # Alternating: the mapper's optimiser never holds discriminator parameters (even when ablated).
        mapper_params = model.mapper_parameters() if model.adversarial == "alternating" else list(model.parameters())
        opt = make_optimizer(mapper_params, hp)
        d_params = model.discriminator_parameters() if use_d else []
        d_opt = make_optimizer(d_params, hp, discriminator=True) if use_d else None
        weights = model.term_weights()
        active = model.active_terms()
        g_steps, d_after = int(hp["g_steps"]), hp["d_order"] == "after"
        d_last = torch.zeros((), device=dev)

        def d_update(batch: Batch, features: dict[str, torch.Tensor]) -> torch.Tensor:
            for _ in range(int(hp["d_steps"])):
                d_opt.zero_grad(set_to_none=True)
                d_loss = model.discriminator_loss(batch, features)
                d_loss.backward()
                d_opt.step()
                model.after_discriminator_step()
            return d_loss.detach()

        selection = Selection(patience)
        names: list[str] | None = None
        global_step = 0
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(n, generator=gen) if hp["shuffle"] else torch.arange(n)
            order = order.to(dev)
            buf: torch.Tensor | None = None
            d_count = 0
            for step in range(n_steps):
                idx = order[step * bsz : (step + 1) * bsz]
                batch = Batch(train.image[idx], train.text[idx], train.labels[idx], train.onehot[idx])
                out = model(batch)
                global_step += 1
                d_now = use_d and global_step % g_steps == 0  # every k-th mapper step (k = g_steps)
                if d_now and not d_after:
                    d_last = d_update(batch, {k: v.detach() for k, v in out.items()})
                if use_d:
                    for p in d_params:  # the mapper step must not build discriminator gradients
                        p.requires_grad_(False)
                terms = model.losses(batch, out)
                total = weighted_total(spec.name, terms, weights, active)
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                if use_d:
                    for p in d_params:
                        p.requires_grad_(True)
                if d_now and d_after:  # Algorithm 1: D ascends on the features of the updated mapper
                    with torch.no_grad():
                        fresh = model(batch)
                    d_last = d_update(batch, fresh)
                if names is None:  # fixed at the first step: returned terms, the total, the discriminator's loss
                    names = [t for t in model.terms if t in terms] + ["loss"] + (["d_loss"] if use_d else [])
                d_count += d_now
                extra = [d_last.float() * d_now] if use_d else []  # 0 on steps without a D step (see epoch_means)
                row = torch.stack([terms[t].detach().float() for t in names if t in terms] + [total.detach().float()] + extra)
                if buf is None:
                    buf = torch.empty(n_steps, len(row), device=dev)
                buf[step] = row
            assert buf is not None and names is not None
            locate_divergence(buf, names, epoch)  # the epoch's one host sync for the losses
            means = epoch_means(buf, use_d, d_count)

            model.eval()
            with torch.no_grad():
                zi, zt = model.encode(val.image, val.text)
            record = selection.observe(epoch, dict(zip(names, means)), *validation_scores(zi, zt, val.labels, model.metric),
                                       snapshot=lambda: {k: v.detach().clone() for k, v in model.state_dict().items()})
            if test is not None:  # after the selection step, which must not see it
                record_test(model, test, record)
            if progress is not None:
                progress(selection.report(record, epochs))
            if selection.stopped:
                break

        if evaluate_test:
            result = final_result(model, selection, splits["test"], c, dev, started)
        else:
            result = validation_only(model, selection, started)
    return result, model
