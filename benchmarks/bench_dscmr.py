"""Time DSCMR training on Wikipedia: xmr's engine against a loop written the way the authors' code is.

    XMR_DATA_DIR=../shared/data python benchmarks/bench_dscmr.py [--epochs 50] [--threads N]

The reference loop follows the structure of DSCMR's published ``train_model.py``
(github penghu-cs/DSCMR), re-written here: a ``torch.utils.data.DataLoader`` over a
per-item ``Dataset`` (batch 100, no shuffling, as theirs), a ``.item()`` per step,
and for every epoch a "train" and a "test" phase, each followed by encoding the
test split through the loader and computing i2t and t2i mAP with a per-query
Python loop over a ``cdist`` ranking (their ``fx_calc_map_label``). Same network,
loss, optimiser and data as xmr's ``dscmr``; only the machinery differs.

Both run in one process, one after the other, on the same threads; the script
prints each time and the ratio engine / reference (the target is <= 0.5), and,
for scale, the arithmetic floor: the same optimisation steps with nothing else.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.spatial.distance import cdist
from torch import nn
from torch.utils.data import DataLoader, Dataset

import xmr.data
from xmr.methods import get
from xmr.engine import resolve_hparams, train_deep


class Pairs(Dataset):
    def __init__(self, image, text, onehot):
        self.image, self.text, self.onehot = image, text, onehot

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        return self.image[i], self.text[i], self.onehot[i]


class Net(nn.Module):
    def __init__(self, d_img, d_txt, c):
        super().__init__()
        self.img, self.txt = nn.Linear(d_img, 2048), nn.Linear(d_txt, 2048)
        self.shared, self.cls = nn.Linear(2048, 1024), nn.Linear(1024, c)

    def forward(self, x, y):
        u = self.shared(torch.relu(self.img(x)))
        v = self.shared(torch.relu(self.txt(y)))
        return u, v, self.cls(u), self.cls(v)


def reference_loss(u, v, pu, pv, onehot, alpha=1e-3, beta=1e-1):
    def half_cos(a, b):
        return a @ b.T / (a.norm(dim=1, keepdim=True) @ b.norm(dim=1, keepdim=True).T).clamp(min=1e-6) / 2

    sim = onehot @ onehot.T
    j1 = (pu - onehot).pow(2).sum(1).sqrt().mean() + (pv - onehot).pow(2).sum(1).sqrt().mean()
    j2 = sum(((1 + torch.exp(g)).log() - sim * g).mean() for g in (half_cos(u, u), half_cos(u, v), half_cos(v, v)))
    j3 = (u - v).pow(2).sum(1).sqrt().mean()
    return j1 + alpha * j2 + beta * j3


def loop_map(queries, gallery, labels):
    """Per-query AP over the whole cosine ranking, in a Python loop."""
    order = cdist(queries, gallery, "cosine").argsort()
    aps = []
    for i in range(len(queries)):
        hits, total = 0.0, 0.0
        for rank, j in enumerate(order[i]):
            if labels[i] == labels[j]:
                hits += 1
                total += hits / (rank + 1)
        aps.append(total / hits if hits else 0.0)
    return float(np.mean(aps))


def reference_run(ds, epochs: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    c = ds.num_classes
    eye = np.eye(c, dtype=np.float32)
    loaders = {
        "train": DataLoader(Pairs(ds.train.image, ds.train.text, eye[ds.train.labels]), batch_size=100, shuffle=False),
        "test": DataLoader(Pairs(ds.test.image, ds.test.text, eye[ds.test.labels]), batch_size=100, shuffle=False),
    }
    model = Net(*ds.dims, c)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    best = 0.0
    for _ in range(epochs):
        for phase in ("train", "test"):
            model.train(phase == "train")
            running = 0.0
            for x, y, onehot in loaders[phase]:
                opt.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    u, v, pu, pv = model(x, y)
                    loss = reference_loss(u, v, pu, pv, onehot)
                    if phase == "train":
                        loss.backward()
                        opt.step()
                running += loss.item()
            feats_u, feats_v, labs = [], [], []
            with torch.no_grad():
                for x, y, onehot in loaders["test"]:
                    u, v, _, _ = model(x, y)
                    feats_u.append(u.numpy())
                    feats_v.append(v.numpy())
                    labs.append(onehot.numpy())
            fu, fv, lab = np.concatenate(feats_u), np.concatenate(feats_v), np.concatenate(labs).argmax(1)
            avg = (loop_map(fu, fv, lab) + loop_map(fv, fu, lab)) / 2
            if phase == "test" and avg > best:
                best = avg
    return best


def floor_run(ds, epochs: int, seed: int = 0) -> None:
    """The arithmetic alone: the same steps on pre-sliced batches, no evaluation, no bookkeeping."""
    torch.manual_seed(seed)
    c = ds.num_classes
    x, y = torch.from_numpy(ds.train.image), torch.from_numpy(ds.train.text)
    onehot = torch.eye(c)[torch.from_numpy(ds.train.labels)]
    batches = [(x[i : i + 100], y[i : i + 100], onehot[i : i + 100]) for i in range(0, len(x), 100)]
    model = Net(*ds.dims, c)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999), fused=True)
    for _ in range(epochs):
        for xb, yb, ob in batches:
            opt.zero_grad()
            reference_loss(*model(xb, yb), ob).backward()
            opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = xmr.data.load("wikipedia")
    spec = get("dscmr")
    hp = resolve_hparams(spec, {"epochs": args.epochs, "input_norm": "none"})  # the reference feeds raw features too

    t0, c0 = time.perf_counter(), time.process_time()
    ref_best = reference_run(ds, args.epochs)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    res, _ = train_deep(spec, ds, hp, seed=0, device="cpu")
    t_eng, c_eng = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    floor_run(ds, args.epochs)
    t_floor, c_floor = time.perf_counter() - t0, time.process_time() - c0

    # CPU time is reported too: on a shared machine wall time also measures the neighbours.
    print(f"DSCMR, Wikipedia, {args.epochs} epochs, {torch.get_num_threads()} torch thread(s)")
    print(f"reference loop (DataLoader, per-epoch test mAP loops): wall {t_ref:7.1f} s  cpu {c_ref:7.1f} s"
          f"  (best test avg mAP {ref_best:.4f})")
    print(f"xmr engine (index batches, validation mAP, one test) : wall {t_eng:7.1f} s  cpu {c_eng:7.1f} s"
          f"  (selected test avg mAP {res['avg']:.4f})")
    print(f"arithmetic floor (the same steps, nothing else)     : wall {t_floor:7.1f} s  cpu {c_floor:7.1f} s")
    print(f"ratio engine / reference: wall {t_eng / t_ref:.2f}, cpu {c_eng / c_ref:.2f}  (target <= 0.50)")


if __name__ == "__main__":
    main()
