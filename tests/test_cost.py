"""xmr.orchestrate.cost: FLOPs of a run counted by FlopCounterMode, the remembered matmul peak, the plan's estimate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xmr import results
from xmr.orchestrate import cost
from xmr.engine import resolve_hparams
from xmr.methods import get


def _dscmr_hp(**kw):
    return resolve_hparams(get("dscmr"), {"hidden": 8, "dim": 5, "batch_size": 4, **kw})


def test_dscmr_step_matches_the_linear_layer_rule():
    """Forward: 2 b i o per Linear on b rows, 2 n m d per product of an n x d by a d x m matrix. Backward: the
    weight gradient (2 b i o) and, where the input needs a gradient, the input gradient (2 b i o) again."""
    di, dt, c, h, d, b = 6, 4, 3, 8, 5, 4
    dims = cost.Dims(di, dt, c, train=b, val=7, test=9)
    counts = cost.step_flops("dscmr", dims, _dscmr_hp(), ())
    forward = (2 * b * di * h + 2 * b * dt * h  # image_net, text_net
               + 2 * (2 * b) * h * d  # the shared layer on both modalities' 2b rows (shared_encode)
               + 2 * (2 * b * d * c)  # classifier on u and on v
               + 2 * b * b * c  # label similarity: onehot @ onehot.T
               + 3 * 2 * b * b * d)  # half_cosine a @ b.T for (u, u), (u, v), (v, v)
    backward = (2 * b * di * h + 2 * b * dt * h  # first layers: weight gradients only (the input needs none)
                + 2 * 2 * (2 * b) * h * d  # shared: input and weight gradients
                + 2 * 2 * (2 * b * d * c)  # classifier, twice: input and weight gradients
                + 3 * 2 * 2 * b * b * d)  # each a @ b.T: the gradients of a and of b
    assert counts["segments"][0]["mapper"] == forward + backward
    assert counts["segments"][0]["discriminator"] == 0 and counts["steps_per_epoch"] == 1
    n_val = 7
    assert counts["encode_val"] == 2 * n_val * di * h + 2 * n_val * dt * h + 2 * (2 * n_val) * h * d
    assert counts["rank_val"] == 2 * n_val * n_val * d


def test_meta_count_equals_the_count_on_real_tensors():
    dims = cost.Dims(6, 4, 3, train=10, val=7, test=9)
    spec, hp = get("dscmr"), _dscmr_hp()
    meta = cost._count_deep(spec, dims, hp, frozenset(), cost.torch.device("meta"))
    cpu = cost._count_deep(spec, dims, hp, frozenset(), cost.torch.device("cpu"))
    assert {k: v for k, v in meta.items() if k != "device"} == {k: v for k, v in cpu.items() if k != "device"}


def test_short_last_batch_and_epochs_scale_the_training_flops():
    dims = cost.Dims(6, 4, 3, train=10, val=7, test=9)  # batch 4: steps of 4, 4 and 2 rows
    counts = cost.step_flops("dscmr", dims, _dscmr_hp(), ())
    seg = counts["segments"][0]
    assert counts["steps_per_epoch"] == 3 and counts["last_batch"] == 2
    assert seg["mapper_last"] == seg["mapper"] // 2  # pro rata to its rows
    four = cost.run_flops("dscmr", dims, _dscmr_hp(epochs=4))
    eight = cost.run_flops("dscmr", dims, _dscmr_hp(epochs=8))
    assert four["train_flops"] == 4 * (2 * seg["mapper"] + seg["mapper_last"])
    assert eight["train_flops"] == 2 * four["train_flops"]
    per_epoch = counts["encode_val"] + 2 * counts["rank_val"]
    assert eight["eval_flops"] - four["eval_flops"] == 4 * per_epoch
    tracked = cost.run_flops("dscmr", dims, _dscmr_hp(epochs=4), track_test=True)
    assert tracked["eval_flops"] - four["eval_flops"] == 4 * (counts["encode_test"] + 2 * counts["rank_test"])


def test_dacsl_without_the_adversarial_term_counts_fewer_flops():
    dims = cost.Dims(12, 6, 3, train=60, val=10, test=10)
    hp = resolve_hparams(get("dacsl"), {"hidden": 16, "dim": 8, "disc_hidden": 8, "epochs": 3})
    full = cost.step_flops("dacsl", dims, hp, ())
    assert full["uses_discriminator"] and full["segments"][0]["discriminator"] > 0
    plain = cost.step_flops("dacsl", dims, hp, ("dis",))
    assert not plain["uses_discriminator"]
    assert plain["segments"][0]["mapper"] < full["segments"][0]["mapper"]
    assert cost.run_flops("dacsl", dims, hp, ("dis",))["train_flops"] < cost.run_flops("dacsl", dims, hp)["train_flops"]


def test_discriminator_updates_follow_g_steps_across_epochs():
    dims = cost.Dims(12, 6, 3, train=30, val=10, test=10)
    hp = resolve_hparams(get("smcr"), {"batch_size": 10, "epochs": 5, "g_steps": 4})
    c = cost.step_flops("smcr", dims, hp)
    run = cost.run_flops("smcr", dims, hp)
    assert run["steps"] == 15 and run["d_steps"] == 15 // 4  # a global step counter, not reset per epoch
    seg = c["segments"][0]
    assert run["train_flops"] == 15 * seg["mapper"] + 3 * seg["discriminator"]


def test_cmdn_stages_are_counted_separately():
    dims = cost.Dims(12, 6, 3, train=20, val=5, test=5)
    hp = resolve_hparams(get("cmdn"), {"hidden": 8, "dim": 4, "batch_size": 10, "epochs": 8})
    c = cost.step_flops("cmdn", dims, hp)
    starts = [s["start_epoch"] for s in c["segments"]]
    assert starts == [0, 2, 4]
    steps = [s["mapper"] for s in c["segments"]]
    assert len(set(steps)) == 3  # each stage backpropagates through its own blocks only
    run = cost.run_flops("cmdn", dims, hp)
    assert run["train_flops"] == 2 * (2 * steps[0] + 2 * steps[1] + 4 * steps[2])


def test_closed_form_counts_grow_with_the_data():
    for name in ("cca", "gma", "lcfs", "jfssl"):
        hp = resolve_hparams(get(name), {})
        small = cost.run_flops(name, cost.Dims(20, 10, 4, 100, 20, 30), hp)
        large = cost.run_flops(name, cost.Dims(20, 10, 4, 1000, 200, 30), hp)
        assert 0 < small["train_flops"] < large["train_flops"], name
        assert small["eval_flops"] == large["eval_flops"] > 0


def test_peak_is_measured_once_and_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path))
    calls = []

    def fake(n=2048, reps=8):
        calls.append(n)
        return {"best": 1.5e11, "median": 1.2e11}

    monkeypatch.setattr(cost, "measure_matmul_rate", fake)
    monkeypatch.setattr(cost, "_PEAKS", {})
    monkeypatch.setattr(cost.os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # a quiet machine
    assert cost.matmul_peak() == 1.5e11
    assert cost.matmul_peak() == 1.5e11 and len(calls) == 1
    stored = json.loads((tmp_path / cost.PEAK_FILE).read_text())
    assert stored[cost.machine_id()]["flops_per_second"] == 1.5e11
    monkeypatch.setattr(cost, "_PEAKS", {})  # a new process: read from the file, not measured
    assert cost.matmul_peak() == 1.5e11 and len(calls) == 1
    cost.matmul_peak(refresh=True)
    assert len(calls) == 2
    # a rate remembered from a loaded machine is measured again once the machine is quiet
    stored[cost.machine_id()]["load_average"] = 99.0
    (tmp_path / cost.PEAK_FILE).write_text(json.dumps(stored))
    monkeypatch.setattr(cost, "_PEAKS", {})
    cost.matmul_peak()
    assert len(calls) == 3 and json.loads((tmp_path / cost.PEAK_FILE).read_text())[cost.machine_id()]["load_average"] == 0


def test_a_real_matmul_rate_is_the_flops_over_the_time_of_a_matmul(monkeypatch):
    """The rate is 2 n^3 FLOPs over the time of one matmul: with a clock that advances by exactly 0.5 s per
    matmul (and 0.25 s for one of them), best and median follow by hand, whatever this machine's speed."""
    ticks = iter([0.0, 0.5, 10.0, 10.25, 20.0, 20.5])
    monkeypatch.setattr(cost.time, "perf_counter", lambda: next(ticks))
    rate = cost.measure_matmul_rate(n=64, reps=3)
    flops = 2.0 * 64 ** 3
    assert rate["best"] == pytest.approx(flops / 0.25) and rate["median"] == pytest.approx(flops / 0.5)


def _row(**kw):
    hp = resolve_hparams(get("dscmr"), {"epochs": 3}, features="wikipedia")
    row = {"method": "dscmr", "kind": "deep", "dataset": "wikipedia", "protocol": "dscmr", "options": {},
           "without": "", "epochs": 3, "hparams": hp, "track_test": False, "seed": 0, "cached": False}
    return {**row, **kw}


def test_estimate_cached_rows_cost_nothing_and_load_no_data(real_data, monkeypatch):
    rows = pd.DataFrame([_row(cached=True), _row(), _row(epochs=6, hparams={**_row()["hparams"], "epochs": 6})])
    est = cost.estimate(rows, peak=1e11, factors={})
    assert est.loc[0, "est_seconds"] == 0 and np.isnan(est.loc[0, "train_flops"])
    assert est.loc[1, "train_flops"] > 0
    # a plan whose runs are all cached loads no dataset (on a fresh clone: no feature extraction)
    from xmr import data

    def refuse(*a, **k):
        raise AssertionError("a cached row loaded a dataset")

    monkeypatch.setattr(data, "load", refuse)
    assert cost.estimate(pd.DataFrame([_row(cached=True)] * 3), peak=1e11, factors={})["est_seconds"].sum() == 0
    assert est.loc[1, "floor_seconds"] == pytest.approx((est.loc[1, "train_flops"] + est.loc[1, "eval_flops"]) / 1e11)
    assert est.loc[1, "est_seconds"] == pytest.approx(est.loc[1, "floor_seconds"] * cost.DEFAULT_FACTORS["deep"])
    assert est.loc[2, "train_flops"] == 2 * est.loc[1, "train_flops"]
    assert cost.estimate(rows, peak=1e11, factors={"dscmr": 3.0}).loc[1, "est_seconds"] == pytest.approx(
        3.0 * est.loc[1, "floor_seconds"])


def test_calibrate_uses_the_stored_seconds_of_cached_runs(real_data, tmp_path):
    hp = resolve_hparams(get("dscmr"), {"epochs": 3}, features="wikipedia")
    ident = results.identity("dscmr", "wikipedia", "dscmr", 0, hp, epochs=3)
    run = {f: None for f in results.REQUIRED_FIELDS} | {"seconds": 12.0, "epochs": 2, "history": [], "at": {}, "pr": {}}
    results.store(ident, run, root=tmp_path)
    factors = cost.calibrate(1e10, root=tmp_path)
    flops = cost.run_flops("dscmr", cost.dims_of(__import__("xmr").data.load("wikipedia")), hp, epochs=2)
    floor = (flops["train_flops"] + flops["eval_flops"]) / 1e10
    assert floor >= cost.MIN_CALIBRATION_FLOOR
    assert factors == {"dscmr": pytest.approx(12.0 / floor)}
    assert cost.calibrate(1e13, root=tmp_path) == {}  # a floor of a few ms: too short a run to calibrate


def _loop_flops(c, epochs):
    """The run's training FLOPs epoch by epoch, step by step (the brute-force reference of the closed form)."""
    n, g, train, d_count = c["steps_per_epoch"], c["g_steps"], 0.0, 0
    for e in range(epochs):
        seg = next(s for s in reversed(c["segments"]) if s["start_epoch"] <= e)
        for step in range(e * n + 1, (e + 1) * n + 1):
            last = step == (e + 1) * n
            train += seg["mapper_last"] if last else seg["mapper"]
            if c["uses_discriminator"] and step % g == 0:
                train += seg["discriminator_last"] if last else seg["discriminator"]
                d_count += 1
    return train, d_count


@pytest.mark.parametrize("n, g, epochs, starts", [(7, 3, 11, (0,)), (10, 5, 9, (0, 4)), (4, 6, 13, (0, 3, 8)),
                                                  (5, 1, 6, (0,)), (3, 4, 2, (0, 5))])
def test_run_flops_in_closed_form_equal_the_step_by_step_count(monkeypatch, n, g, epochs, starts):
    segs = [{"start_epoch": s, "mapper": 10.0 + i, "mapper_last": 7.0 + i, "discriminator": 3.0 + i,
             "discriminator_last": 2.0 + i} for i, s in enumerate(starts)]
    c = {"steps_per_epoch": n, "g_steps": g, "segments": segs, "uses_discriminator": True,
         "encode_val": 0.0, "rank_val": 0.0, "encode_test": 0.0, "rank_test": 0.0}
    monkeypatch.setattr(cost, "step_flops", lambda *a, **k: c)
    out = cost.run_flops(get("smcr"), cost.Dims(8, 8, 3, train=20, val=5, test=5), {"epochs": epochs})
    train, d_count = _loop_flops(c, epochs)
    assert out["train_flops"] == pytest.approx(train) and out["d_steps"] == d_count


def test_an_absurd_epoch_count_is_costed_at_once(real_data):
    import time

    hp = resolve_hparams(get("smcr"), {"epochs": 999_999_999_999}, features="wikipedia")
    t0 = time.perf_counter()
    out = cost.run_flops(get("smcr"), cost.Dims(128, 10, 10, train=2000, val=200, test=500), hp)
    assert time.perf_counter() - t0 < 5 and out["steps"] > 10 ** 12


# --------------------------------------------------------------------------- the cost model's schedule is the engine's
@pytest.mark.parametrize("n, bsz, drop_last, g_steps, d_steps, epochs", [
    (24, 8, False, 2, 1, 3), (25, 8, False, 3, 1, 2), (25, 8, True, 2, 2, 3), (10, 4, False, 4, 1, 5),
    (7, 7, False, 1, 3, 2)])
def test_the_cost_model_counts_the_steps_and_batches_the_engine_takes(monkeypatch, n, bsz, drop_last, g_steps,
                                                                       d_steps, epochs):
    """Train SMCR through the engine with its loss functions wrapped, and compare what happened (each mapper step's
    batch rows, each discriminator loss) with what cost.step_flops / run_flops say will happen."""
    import torch

    from xmr.data.dataset import Dataset, Split
    from xmr.engine import train_deep

    smcr = get("smcr")
    rng = np.random.default_rng(0)

    def split(k: int) -> Split:
        y = np.arange(k) % 3
        return Split(rng.normal(size=(k, 7)).astype(np.float32), rng.normal(size=(k, 5)).astype(np.float32),
                     y.astype(np.int64), np.arange(k))

    ds = Dataset("toy", "toy", ("a", "b", "c"), split(n), split(9), split(6))
    hp = resolve_hparams(smcr, {"hidden": [8, 6], "dim": 4, "disc_hidden": [5, 3], "input_norm": "none",
                                "shuffle": False, "patience": None, "batch_size": bsz, "drop_last": drop_last,
                                "g_steps": g_steps, "d_steps": d_steps, "epochs": epochs})
    rows, d_losses = [], []
    losses, d_loss = smcr.cls.losses, smcr.cls.discriminator_loss

    def g(self, batch, out):
        if torch.is_grad_enabled():  # a training step (evaluation encodes do not call losses)
            rows.append(int(out["image"].shape[0]))
        return losses(self, batch, out)

    def d(self, batch, out):
        d_losses.append(int(out["image"].shape[0]))
        return d_loss(self, batch, out)

    monkeypatch.setattr(smcr.cls, "losses", g)
    monkeypatch.setattr(smcr.cls, "discriminator_loss", d)
    train_deep(smcr, ds, hp, seed=0, device="cpu")
    monkeypatch.undo()  # the cost model builds and steps a model too: count the engine's run alone

    dims = cost.Dims(7, 5, 3, train=n, val=9, test=6)
    c, run = cost.step_flops(smcr, dims, hp), cost.run_flops(smcr, dims, hp)
    per_epoch = [c["batch_size"]] * (c["steps_per_epoch"] - 1) + [c["last_batch"]]
    assert rows == per_epoch * epochs
    assert len(rows) == run["steps"]
    assert len(d_losses) == run["d_steps"] * d_steps


def test_every_closed_form_method_declares_its_flop_formula():
    from xmr.methods import names

    closed = {m for m in names() if get(m).kind != "deep"}
    assert closed and closed == set(cost.CLOSED_FORM_FLOPS)


def test_cca_flops_by_hand():
    # n = 10 + 2 rows, views of 3 and 2 dims, 2 components: covariances 2*12*(9+4+6), eigh 10*(27+8),
    # inverse roots 2*(27+8), whitened product 2*9*2 + 2*3*4 + 4*3*4 + 8*8; transform 2*5*(3+2)*2, rankings 2*5*5*2 each
    dims = cost.Dims(3, 2, 4, train=10, val=2, test=5)
    out = cost.closed_form_flops("cca", dims, {"n_components": 2})
    fit = 2 * 12 * (9 + 4 + 6) + 10 * (27 + 8) + 2 * (27 + 8) + (2 * 9 * 2 + 2 * 3 * 4 + 4 * 3 * 4 + 8 * 8)
    assert out["train_flops"] == fit
    assert out["eval_flops"] == 2 * 5 * 5 * 2 + cost.CLOSED_FORM_TEST_RANKINGS * cost.ranking_flops(5, 5, 2)
