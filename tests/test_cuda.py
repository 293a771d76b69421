"""The CUDA path: every deep method trains on the GPU, seeds batch there by default, and the metrics
computed on the device equal an independent brute-force reference. Skipped without a CUDA device
(run on a GPU machine: ``pytest tests/test_cuda.py``; the rest of the suite then also defaults to CUDA)."""

from __future__ import annotations

import math

import pytest
import torch

from xmr import metrics
from xmr.engine import resolve_hparams, train
from xmr.methods import get, names

from test_engine import toy_dataset
from test_metrics import _ref_ap, _tied_problem

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [None, 5])
def test_map_on_the_device_equals_brute_force_with_ties(metric, k):
    q, g, ql, gl = _tied_problem(0)
    ref = _ref_ap(q, g, ql, gl, k, metric)  # exact rational keys, ties broken by gallery index
    dev = [torch.tensor(a, device="cuda") for a in (q, g, ql, gl)]
    assert metrics.mean_average_precision(*dev, k=k, metric=metric) == pytest.approx(ref.mean(), abs=1e-12)


@pytest.mark.parametrize("name", [n for n in names() if get(n).kind == "deep"])
def test_every_deep_method_trains_on_cuda(name):
    spec = get(name)
    hp = resolve_hparams(spec, {"epochs": 4, "batch_size": 16})  # CMDN needs 4 for its three stages
    [(res, model)] = train(spec, toy_dataset(), hp, seeds=[0], device="cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert all(math.isfinite(res[k]) and 0 < res[k] <= 1 for k in ("i2t", "t2i", "avg"))


def test_seeds_batch_by_default_on_cuda_and_match_single_seed_runs():
    spec = get("dscmr")
    hp = resolve_hparams(spec, {"epochs": 3, "hidden": 24, "dim": 12, "batch_size": 16})
    ds = toy_dataset(n=80, c=4, d_img=10, d_txt=7)
    together = train(spec, ds, hp, seeds=[0, 1, 2], device="cuda")
    assert all(r["batched_seeds"] == [0, 1, 2] for r, _ in together)
    for seed, (res, _) in zip([0, 1, 2], together):
        [(alone, _)] = train(spec, ds, hp, seeds=[seed], device="cuda", batched=False)
        assert res["avg"] == pytest.approx(alone["avg"], abs=1e-4)


def test_prefill_sends_a_runs_seeds_together_on_cuda():
    from xmr.orchestrate.prefill import _batches_seeds

    assert _batches_seeds(None) and _batches_seeds("cuda") and not _batches_seeds("cpu")
