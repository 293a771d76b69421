"""Several seeds of one configuration trained together, as one batched model.

The S seeds of a run (same method, data, hyperparameters, ablation) differ only in
their initialisation and their data order, so their S training steps are the same
computation on S sets of weights. This module stacks the S weight sets into
``[S, ...]`` tensors (:func:`torch.func.stack_module_state` style) and runs the
method's own ``forward`` / ``losses`` / ``discriminator_loss`` once per step under
``torch.vmap`` over the seed dimension, through ``torch.func.functional_call``:
one batched matrix product per layer instead of S small ones.

Why it is the same training as S separate runs of :func:`xmr.engine.single.train_deep`
    * Each seed is constructed exactly as there (``torch.manual_seed(seed)`` then
      the method's constructor, inside ``fork_rng``) and shuffles with its own
      ``torch.Generator(seed)``; step ``t`` of seed ``s`` sees seed ``s``'s own
      index batch (gathered into ``[S, b, d]``).
    * The S per-seed totals are summed and back-propagated once: seed ``s``'s
      weights get exactly the gradient of seed ``s``'s loss (the seeds share no
      weights). Adam is elementwise, so one (fused) Adam over the stacked
      ``[S, ...]`` parameters is S independent Adams; checked bit for bit against
      per-seed optimisers (``tests/test_batched.py``). Alternating methods get a
      second stacked Adam for the discriminator, stepped ``d_steps`` times on
      detached features before the mapper's step, as in the engine.
    * Validation (every epoch) and the final test evaluation run per seed with the
      plain unbatched ``encode`` on that seed's weights, through the same selection
      step and result code as one seed (:mod:`xmr.engine.select`): each seed has its
      own selected epoch, its own best state, its own early stop (``patience``; a
      stopped seed's later updates are discarded), and the same result dict.

What is bit-identical and what is not (CPU)
    Initialisation, data order, the optimiser's arithmetic and the evaluation are
    identical. The batched matrix products may round differently from the
    unbatched ones for some shapes (observed: 100x2048 @ 2048x1024 differs in the
    last bit; 100x128 @ 128x2048 does not), so weights drift apart at float32
    rounding level over training; the tests bound the per-seed differences of
    loss history and test mAP and require the same selected epoch on small runs.

Layout: the weights of ``nn.Linear`` layers are stored ``[S, in, out]`` (passed to
the method as transposed views), so the batched backward produces their gradients
in storage order; stored ``[S, out, in]`` every step copied each transposed
gradient into place (20% of a step on CPU).

When batching pays: on a GPU, where one seed's small MLP leaves the device idle.
On CPU the step is compute-bound already and CPU ``bmm`` is slower per FLOP than
``mm`` (profiled, 5 seeds x 1 epoch of DSCMR on Wikipedia, one thread: about 9.6 s
in ``bmm`` against 6.8 s in ``mm``/``addmm`` for the same training products), so :func:`xmr.engine.train` batches by default on CUDA only (measured numbers
in ``benchmarks/README.md``).

When a method cannot be batched (:class:`NotBatchable`; :func:`xmr.engine.train` falls back to
the per-seed loop): it sets ``batchable = False``; it has buffers (batch-norm
statistics); it keeps Python state across calls (an ``EpochClock`` schedule or
its own ``torch.Generator``); or its first batched step fails under ``vmap`` --
random numbers inside ``forward``/``losses`` (``randomness="error"``: a batched
run could not reproduce the unbatched draws), data-dependent Python control
flow, ``.item()``, or an old-style ``autograd.Function`` (gradient reversal).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..data.dataset import Dataset
from ..methods._nets import EpochClock
from ..methods.base import Batch, DeepMethod
from ..methods.registry import MethodSpec
from .select import Selection, epoch_means, final_result, locate_divergence, validation_only, validation_scores
from .setup import Progress, make_optimizer, prepare, weighted_total

__all__ = ["NotBatchable", "static_obstacle", "train_deep_batched"]


class NotBatchable(RuntimeError):
    """This method/configuration cannot be trained with batched seeds; the message says why."""


class _Bound(nn.Module):
    """Lets ``functional_call`` run any method of the model (not only ``forward``) on substituted weights."""

    def __init__(self, model: DeepMethod) -> None:
        super().__init__()
        self.model = model

    def forward(self, fn: str, *args: Any) -> Any:  # type: ignore[override]
        return getattr(self.model, fn)(*args)


def _python_state(model: nn.Module) -> str | None:
    """The first attribute of ``model`` or a submodule that carries state across calls outside the weights."""
    for mod_name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, (EpochClock, torch.Generator)):
                where = f"{mod_name}.{attr}" if mod_name else attr
                return f"{where} is a {type(value).__name__}"
    return None


def static_obstacle(model: DeepMethod) -> str | None:
    """Why ``model`` cannot be batched, from its structure alone; ``None`` when nothing is seen."""
    if getattr(type(model), "batchable", True) is False:
        return f"{type(model).__name__} sets batchable = False"
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        return f"it has buffers ({', '.join(buffers[:3])}), e.g. batch-norm statistics"
    state = _python_state(model)
    if state:
        return f"it keeps Python state across calls ({state})"
    return None


def _alias(model: nn.Module, stacked: Mapping[str, torch.Tensor], s: int) -> None:
    """Make ``model``'s parameters views of seed ``s``'s slice of the stacked weights (no copy)."""
    for full, _ in list(model.named_parameters()):
        owner_name, _, pname = full.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        owner._parameters[pname] = nn.Parameter(stacked[full][s].detach(), requires_grad=False)


def _detach_aliases(model: nn.Module) -> None:
    """Give ``model`` its own copy of its weights (ends the aliasing of :func:`_alias`)."""
    for module in model.modules():
        for pname, p in list(module._parameters.items()):
            if p is not None:
                module._parameters[pname] = nn.Parameter(p.detach().clone(memory_format=torch.contiguous_format))


def train_deep_batched(
    spec: MethodSpec,
    dataset: Dataset,
    hp: Mapping[str, Any],
    *,
    seeds: Sequence[int],
    without: Iterable[str] = (),
    device: str | torch.device | None = None,
    progress: Mapping[int, Progress | None] | None = None,
    evaluate_test: bool = True,
) -> list[tuple[dict[str, Any], DeepMethod]]:
    """Train ``spec`` once per seed in ``seeds``, all seeds together; one ``(result, model)`` per seed.
    ``evaluate_test=False``: never read the test split (see :func:`xmr.engine.single.train_deep`).

    Each result has the keys of :func:`xmr.engine.single.train_deep`'s, with ``seconds``
    the batched run's wall time divided by the number of seeds, plus
    ``batched_seeds`` (the seeds trained together). Raises :class:`NotBatchable`
    (before any result exists) when the method cannot be batched.
    """
    cls: type[DeepMethod] = spec.cls
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be non-empty and distinct, got {seeds}")
    without, dev, splits, c, train, val, bsz, n_steps, epochs, patience = prepare(spec, dataset, hp, without, device, sparse=False)  # vmap: dense
    n = train.labels.shape[0]
    S = len(seeds)
    progress = dict(progress or {})

    started = time.perf_counter()
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        models: list[DeepMethod] = []
        gens: list[torch.Generator] = []
        for seed in seeds:  # exactly train_deep's construction order, per seed
            torch.manual_seed(seed)
            gens.append(torch.Generator().manual_seed(seed))
            models.append(cls(dataset.dims[0], dataset.dims[1], c, hp, without).to(dev))
        template = models[0]
        reason = static_obstacle(template)
        if reason:
            raise NotBatchable(f"{spec.name}: {reason}")
        use_d = template.adversarial == "alternating" and template.uses_discriminator()
        d_ids = {id(p) for p in template.discriminator_parameters()}
        names_all = [name for name, _ in template.named_parameters()]
        if template.adversarial == "alternating":
            mapper_names = [nm for nm, p in template.named_parameters() if id(p) not in d_ids]
        else:
            mapper_names = list(names_all)
        d_names = [nm for nm, p in template.named_parameters() if id(p) in d_ids] if use_d else []
        if set(template.state_dict()) != set(names_all):
            raise NotBatchable(f"{spec.name}: its state_dict is not exactly its parameters (tied weights?)")
        # Linear weights are stored [S, in, out]: the batched backward then yields their gradient in
        # storage order (stored [S, out, in], every step would copy a transposed gradient into place).
        transposed = {nm for nm in names_all if nm.endswith(".weight")
                      and isinstance(template.get_submodule(nm.rpartition(".")[0]), nn.Linear)}
        store = {}
        for nm in names_all:
            t = torch.stack([dict(m.named_parameters())[nm].detach() for m in models])
            store[nm] = (t.transpose(-1, -2).contiguous() if nm in transposed else t).requires_grad_()

        def view(nm: str, t: torch.Tensor) -> torch.Tensor:
            """A stored tensor in the parameter's own shape, [S, *shape]."""
            return t.transpose(-1, -2) if nm in transposed else t

        stacked = {nm: view(nm, t) for nm, t in store.items()}
        for s, m in enumerate(models):
            _alias(m, stacked, s)
        # Adam and SGD are elementwise: one optimiser over the stacked [S, ...] weights is S independent ones.
        opt = make_optimizer([store[nm] for nm in mapper_names], hp)
        d_opt = make_optimizer([store[nm] for nm in d_names], hp, discriminator=True) if use_d else None
        g_steps, d_after = int(hp["g_steps"]), hp["d_order"] == "after"
        d_last = torch.zeros(S, device=dev)
        global_step = 0
        evaluators = [_Bound(m) for m in models]

        def seed_params(s: int) -> dict[str, torch.Tensor]:
            """Seed ``s``'s weights as plain contiguous tensors: evaluation then runs the unbatched kernels."""
            return {nm: view(nm, t.detach())[s].contiguous() for nm, t in store.items()}
        clip_hook = type(template).after_discriminator_step is not DeepMethod.after_discriminator_step
        weights = template.term_weights()
        active = template.active_terms()
        bound = _Bound(template)

        def call(fn: str) -> Callable[..., Any]:
            def f(params: dict[str, torch.Tensor], image, text, labels, onehot, *extra):
                return functional_call(bound, params, (fn, Batch(image, text, labels, onehot), *extra))
            return vmap(f, randomness="error")

        v_forward, v_losses = call("forward"), call("losses")
        v_dloss = call("discriminator_loss") if use_d else None

        def params_for(trainable: Iterable[str]) -> dict[str, torch.Tensor]:
            keep = set(trainable)
            return {f"model.{nm}": view(nm, t if nm in keep else t.detach()) for nm, t in store.items()}

        selections = [Selection(patience) for _ in seeds]
        last_state: list[dict[str, torch.Tensor] | None] = [None] * S  # a seed's state when it stopped early
        names: list[str] | None = None
        for epoch in range(1, epochs + 1):
            for m in models:
                m.train()
            bound.train()
            if hp["shuffle"]:
                orders = torch.stack([torch.randperm(n, generator=g) for g in gens])
            else:
                orders = torch.arange(n).expand(S, n)
            orders = orders.to(dev)
            buf: torch.Tensor | None = None
            d_count = 0
            for step in range(n_steps):
                idx = orders[:, step * bsz : (step + 1) * bsz]  # [S, b]
                data = (train.image[idx], train.text[idx], train.labels[idx], train.onehot[idx])
                def d_update(features: dict[str, torch.Tensor]) -> torch.Tensor:
                    for _ in range(int(hp["d_steps"])):
                        d_opt.zero_grad(set_to_none=True)
                        d_loss = v_dloss(params_for(d_names), *data, features)  # [S]
                        d_loss.sum().backward()
                        d_opt.step()
                        if clip_hook:
                            for m in models:  # aliases: the hook edits the stacked weights in place
                                m.after_discriminator_step()
                    return d_loss.detach()

                try:
                    out = v_forward(params_for(mapper_names), *data)
                    global_step += 1
                    d_now = use_d and global_step % g_steps == 0  # as xmr.engine.single.train_deep
                    if d_now and not d_after:
                        d_last = d_update({k: v.detach() for k, v in out.items()})
                    terms = v_losses(params_for(mapper_names), *data, out)
                    total = weighted_total(spec.name, terms, weights, active)  # [S], seed s's own total
                    opt.zero_grad(set_to_none=True)
                    total.sum().backward()  # seeds share no weights: each gets its own gradient
                    opt.step()
                    if d_now and d_after:
                        with torch.no_grad():
                            fresh = v_forward(params_for(()), *data)
                        d_last = d_update(fresh)
                except Exception as err:  # noqa: BLE001 -- only the first step decides batchability
                    if epoch == 1 and step == 0:
                        raise NotBatchable(f"{spec.name}: its first step fails under vmap ({type(err).__name__}: {err})") from err
                    raise
                if names is None:
                    names = [t for t in template.terms if t in terms] + ["loss"] + (["d_loss"] if use_d else [])
                d_count += d_now
                extra = [d_last.float() * d_now] if use_d else []
                row = torch.stack([terms[t].detach().float() for t in names if t in terms]
                                  + [total.detach().float()] + extra, dim=1)  # [S, T]
                if buf is None:
                    buf = torch.empty(n_steps, S, row.shape[1], device=dev)
                buf[step] = row
            assert buf is not None and names is not None

            for s, seed in enumerate(seeds):
                selection = selections[s]
                if selection.stopped:
                    continue
                per_seed = buf[:, s].contiguous()
                locate_divergence(per_seed, names, epoch)
                means = epoch_means(per_seed, use_d, d_count)
                m = models[s]
                m.eval()
                params_s = seed_params(s)
                with torch.no_grad():
                    zi, zt = functional_call(evaluators[s], {f"model.{k}": v for k, v in params_s.items()},
                                             ("encode", val.image, val.text))
                record = selection.observe(epoch, dict(zip(names, means)), *validation_scores(zi, zt, val.labels, m.metric),
                                           snapshot=lambda: {k: v.clone() for k, v in params_s.items()})
                if progress.get(seed) is not None:
                    progress[seed](selection.report(record, epochs))
                if selection.stopped:  # its later (shared) updates must not reach its last state
                    last_state[s] = {k: v.clone() for k, v in params_s.items()}
            if all(selection.stopped for selection in selections):
                break

        elapsed = time.perf_counter() - started
        out_runs: list[tuple[dict[str, Any], DeepMethod]] = []
        for s, m in enumerate(models):
            _detach_aliases(m)
            if last_state[s] is not None:
                m.load_state_dict(last_state[s])
            t0 = time.perf_counter()
            if evaluate_test:
                result = final_result(m, selections[s], splits["test"], c, dev, t0)
            else:
                result = validation_only(m, selections[s], t0)
            result["seconds"] = elapsed / S + result["seconds"]
            result["batched_seeds"] = list(seeds)
            out_runs.append((result, m))
    return out_runs
