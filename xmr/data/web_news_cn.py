"""Crawled Chinese web-news image-text pairs (``web_news_cn``), from raw files to features.

The release (github 1599421259/Web_News_Datasets) holds ``images/<category>/<id>.jpg``,
``texts/<id>.txt`` and Wikipedia-style lists ``textid<TAB>imageid<TAB>label`` (labels
1..10 in the order of ``categories.list``). It stands in for the SMCR paper's private
SciTechDaily news set: xmr extracts its own deep features from the raw files, the
way the papers did (a pretrained CNN for images, Doc2Vec / bag-of-words for texts).

Quirks of the raw release, handled here without editing any file (:func:`scan`):

* three image names carry a space before the extension (``culture/22 .jpg``); an
  image is matched on its name with surrounding whitespace removed;
* seven list entries have no image in any folder (train 72, 162, 1106, 1180; test
  1729, 1730, 1784): skipped, and reported;
* seven image files are referenced by no list entry: each is a byte-identical copy
  of a listed image filed under a second category folder. An entry's image is taken
  from the folder of its *listed* category, so the stray copy is never read; reported;
* images come as RGB/greyscale/CMYK JPEGs, RGBA PNGs and one BMP, all named ``.jpg``;
  :func:`xmr.features.image.load_rgb` converts them (alpha is composited on white).

That leaves 2193 usable pairs: 1696 from the train list, 497 from the test list.

Protocol ``official`` (the only one): train = the train list's usable pairs minus a
seeded stratified 10% (:func:`xmr.data.splits.stratified_split` with ``seed``), which
is val; test = the test list's usable pairs.

Duplicates across splits (:func:`find_duplicates`, byte identity of the raw files,
no features needed): test pairs 1917, 1919, 1996, 2031 have an image identical to a
train-list pair's (1617, 1618, 1621, 1420), and 1996 also its text (1621's).
``dedupe=True`` drops these test pairs after the features are read, keyed by id.

Features (cached under :func:`xmr.paths.features_dir`, see :mod:`xmr.features`):

* image: 1280-d EfficientNet-Lite0 (ImageNet) globally pooled penultimate features;
* text ``doc2vec`` (default): 300-d Doc2Vec; ``bow``: term counts over the
  ``vocab_size`` most frequent training words (default 6500, SMCR's size).

Fitted on which split: the text models (BoW vocabulary, Doc2Vec) are fitted on the
usable pairs of the whole **train list** (train + val), never on the test list. This
keeps the feature cache independent of the val seed; it is unsupervised (no labels)
and val serves downstream methods only for model selection. Every split's Doc2Vec
vectors are *inferred* by the same procedure (``doc2vec_vectors="inferred"``), so
train, val and test vectors share one distribution; ``"trained"`` keeps gensim's
trained vectors for the train list instead (the usual recipe, which makes train
vectors systematically different from the inferred test vectors).

Evidence that the features are real: ``xmr data info web_news_cn`` prints linear probes (:func:`info_extra`;
logistic regression, ``C=1``, fitted on train, accuracy on the validation pairs) of the image, Doc2Vec and BoW
features beside chance (uniform and majority class). The probe reads validation, not test: no diagnostic
touches the test split.

Cost: a cold extraction of everything (images, segmentation, Doc2Vec, BoW) is one network thread plus one
decoding thread, so about its CPU time in wall time on two idle cores; a warm load stats the raw files and reads
the cached arrays. Time either on your machine with ``time xmr data features web_news_cn`` (cold: after
``xmr cache prune`` or with a fresh ``XMR_CACHE_DIR``).
"""

from __future__ import annotations

import os
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..paths import data_root
from .checksums import require, verify
from .dataset import Dataset, Split
from .overlap import MODALITIES, check_dedupe, drop_test_pairs, match
from .splits import stratified_split

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "Pair", "Skipped", "RawIndex", "scan", "read_raw", "read_text", "load", "info_extra", "precompute_features",
    "quality_table", "linear_probe", "split_ids", "find_duplicates", "duplicates",
    "PROTOCOLS", "TEXT_FEATURES",
]

NAME = "web_news_cn"
PROTOCOLS = ("official",)
DEFAULT_PROTOCOL = "official"
TEXT_FEATURES = ("doc2vec", "bow")
VAL_FRACTION = 0.1
LISTS = {"train": "trainset_txt_img_cat.list", "test": "testset_txt_img_cat.list"}
FILES = [f"{NAME}/categories.list", f"{NAME}/{LISTS['train']}", f"{NAME}/{LISTS['test']}"]
SOURCE = (
    "Web_News_Datasets (github 1599421259/Web_News_Datasets, commit f6f8cf5e): crawled Chinese news, "
    "10 categories; features extracted by xmr: EfficientNet-Lite0 (ImageNet) images, jieba + "
    "Doc2Vec / bag-of-words texts."
)
#: Loader settings (``load(..., **settings)``) and their defaults; all but ``device`` key the cache.
DEFAULT_SETTINGS: dict[str, Any] = {
    "vocab_size": 6500,
    "doc2vec_vectors": "inferred",
    "device": None,
}


@dataclass(frozen=True)
class Pair:
    """One usable list entry: its id, 0-based label, and the files that hold it (relative to the set's directory)."""

    id: str
    label: int
    image: str
    text: str


@dataclass(frozen=True)
class Skipped:
    """A list entry or file left out, and why."""

    list: str  # "train", "test", or "-" for a file no list refers to
    id: str
    path: str
    reason: str


@dataclass
class RawIndex:
    """What :func:`scan` found: usable pairs per list, and everything it left out."""

    directory: Path
    classes: tuple[str, ...]
    pairs: dict[str, list[Pair]]
    skipped: list[Skipped] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # image files matched despite whitespace in the name
    entries: dict[str, int] = field(default_factory=dict)  # list entries read, per list

    def paths(self, kind: str) -> list[Path]:
        """Absolute ``"image"`` or ``"text"`` paths of every usable pair, train list then test list."""
        return [self.directory / getattr(p, kind) for lst in ("train", "test") for p in self.pairs[lst]]


def _read_categories(path: Path) -> tuple[str, ...]:
    classes = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(set(classes)) != len(classes):
        raise ValueError(f"{path}: duplicate category names {classes}")
    odd = [c for c in classes if not _plain_name(c)]
    if odd:  # a category names a folder under images/: never a path out of it
        raise ValueError(f"{path}: category {odd[0]!r} is not a plain folder name (no '/', '\\' or '..'); "
                         "the list files must be the published release (see the data README)")
    return classes


def _read_list(path: Path, n_classes: int) -> list[tuple[str, str, int]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t")
        if len(parts) != 3 or not parts[2].strip().isdigit():
            raise ValueError(
                f"{path}:{lineno}: expected 'textid<TAB>imageid<TAB>label', got {line!r}; "
                "the list files must be the published release (see the data README)"
            )
        text_id, image_id, label = parts[0].strip(), parts[1].strip(), int(parts[2])
        for what, name in (("text id", text_id), ("image id", image_id)):
            if not _plain_name(name):  # an id names a file inside the set's folder: never a path out of it
                raise ValueError(
                    f"{path}:{lineno}: {what} {name!r} is not a plain file name (no '/', '\\', '..' or empty); "
                    "the list files must be the published release (see the data README)"
                )
        if not 1 <= label <= n_classes:
            raise ValueError(f"{path}:{lineno}: label {label} outside 1..{n_classes}")
        rows.append((text_id, image_id, label - 1))
    return rows


def _plain_name(name: str) -> bool:
    """Whether ``name`` can only name a file in one folder: not empty, ``.`` or ``..``, no separator or NUL."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _image_index(images: Path, classes: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """category -> {id: file name}, the id being the name without extension and surrounding whitespace."""
    index: dict[str, dict[str, str]] = {}
    for category in classes:
        folder = images / category
        names = sorted(os.listdir(folder)) if folder.is_dir() else []
        entries: dict[str, str] = {}
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".gif"):
                continue
            key = stem.strip()
            if key in entries:  # e.g. "22.jpg" beside "22 .jpg": ambiguous, refuse to guess
                raise ValueError(
                    f"{folder}: both {entries[key]!r} and {name!r} name image {key!r}; remove one of them"
                )
            entries[key] = name
        index[category] = entries
    return index


def scan(directory: str | os.PathLike[str]) -> RawIndex:
    """Pair up the lists, images and texts in ``directory`` (a ``web_news_cn`` folder), handling the quirks.

    No checksum is verified here (:func:`load` does that), so the quirk logic runs on
    any copy of the release, such as a few files in a test's temporary folder. An
    entry is usable when ``images/<its listed category>/<imageid>.<ext>`` exists
    (whitespace around the name ignored) and ``texts/<textid>.txt`` holds non-empty
    UTF-8 text; every other entry, and every image file no usable entry reads, is
    recorded in :attr:`RawIndex.skipped` with its reason.
    """
    directory = Path(directory)
    missing = [name for name in ("categories.list", *LISTS.values(), "images", "texts") if not (directory / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{directory} is not a web_news_cn folder: {', '.join(missing)} missing. "
            "Point xmr at the data directory that holds web_news_cn/ (root=... or XMR_DATA_DIR)."
        )
    classes = _read_categories(directory / "categories.list")
    images = _image_index(directory / "images", classes)
    raw = RawIndex(directory, classes, {"train": [], "test": []})
    used: set[tuple[str, str]] = set()
    seen_ids: dict[str, str] = {}
    for lst, fname in LISTS.items():
        rows = _read_list(directory / fname, len(classes))
        raw.entries[lst] = len(rows)
        for text_id, image_id, label in rows:
            category = classes[label]
            text_rel = f"texts/{text_id}.txt"
            if text_id in seen_ids:
                raw.skipped.append(Skipped(lst, text_id, text_rel, f"id already listed in the {seen_ids[text_id]} list"))
                continue
            seen_ids[text_id] = lst
            name = images[category].get(image_id)
            if name is None:
                elsewhere = [c for c in classes if image_id in images[c]]
                reason = (
                    f"image only under images/{elsewhere[0]}/, not under its listed category {category}"
                    if elsewhere else "no image file in any category folder"
                )
                raw.skipped.append(Skipped(lst, text_id, f"images/{category}/{image_id}.jpg", reason))
                continue
            reason = _text_problem(directory / text_rel)
            if reason:
                raw.skipped.append(Skipped(lst, text_id, text_rel, reason))
                continue
            if name != name.strip() or os.path.splitext(name)[0] != image_id:
                raw.renamed.append(f"images/{category}/{name}")
            used.add((category, name))
            raw.pairs[lst].append(Pair(text_id, label, f"images/{category}/{name}", text_rel))
    for category in classes:
        for key, name in sorted(images[category].items()):
            if (category, name) not in used:
                raw.skipped.append(Skipped("-", key, f"images/{category}/{name}", "image file no usable list entry refers to"))
    return raw


def _text_problem(path: Path) -> str:
    if not path.is_file():
        return "no text file"
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return f"text is not UTF-8 ({err.reason} at byte {err.start})"
    return "" if text.strip() else "empty text"


def read_text(path: str | os.PathLike[str]) -> str:
    """A text file's content (UTF-8, a byte-order mark dropped, surrounding whitespace stripped)."""
    return Path(path).read_bytes().decode("utf-8-sig").strip()


def read_raw(root: str | os.PathLike[str] | None = None) -> RawIndex:
    """:func:`scan` the verified release under the data root (the list files' sha256 are checked first)."""
    root = data_root(root)
    require(root, FILES, NAME)
    verify(root, FILES)
    for sub in ("images", "texts"):
        if not (root / NAME / sub).is_dir():
            raise FileNotFoundError(
                f"{root / NAME / sub} is missing: web_news_cn needs the raw images/ and texts/ folders "
                "of the release beside its list files (see the data README)."
            )
    return scan(root / NAME)


def _check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(
            f"web_news_cn: unknown option(s) {', '.join(unknown)}; known: text_features, seed, dedupe, "
            + ", ".join(DEFAULT_SETTINGS)
        )
    out = {**DEFAULT_SETTINGS, **settings}
    if not isinstance(out["vocab_size"], int) or out["vocab_size"] < 1:
        raise ValueError(f"web_news_cn: vocab_size must be a positive integer, got {out['vocab_size']!r}")
    if out["doc2vec_vectors"] not in ("inferred", "trained"):
        raise ValueError(f"web_news_cn: doc2vec_vectors must be 'inferred' or 'trained', got {out['doc2vec_vectors']!r}")
    return out


def _features(raw: RawIndex, text_features: str, settings: dict[str, Any], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(image, text) feature arrays for every usable pair, train list then test list, from the cache.

    The text models are fitted on the train list's pairs (the first ``n_fit`` texts).
    """
    from ..features import image, text

    image_feats = image.image_features(raw.paths("image"), device=settings["device"], progress=progress)
    n_fit = len(raw.pairs["train"])
    text_paths = raw.paths("text")
    if text_features == "bow":
        text_feats = text.bow_features(text_paths, n_fit, vocab_size=settings["vocab_size"], progress=progress)
    else:
        text_feats = text.doc2vec_features(text_paths, n_fit, vectors=settings["doc2vec_vectors"], progress=progress)
    return image_feats, text_feats


def _check_options(
    protocol: str | None, text_features: str, dedupe: Any, settings: dict[str, Any]
) -> tuple[str, bool, dict[str, Any]]:
    protocol = protocol or DEFAULT_PROTOCOL
    if protocol not in PROTOCOLS:
        raise ValueError(f"web_news_cn has protocols {PROTOCOLS}, not {protocol!r}")
    if text_features not in TEXT_FEATURES:
        raise ValueError(f"web_news_cn: text_features must be one of {TEXT_FEATURES}, got {text_features!r}")
    return protocol, check_dedupe(dedupe, NAME), _check_settings(settings)


def _train_val_index(raw: RawIndex, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the train list's usable pairs that form (train, val) under ``seed``."""
    labels = np.array([p.label for p in raw.pairs["train"]], dtype=np.int64)
    return stratified_split(labels, VAL_FRACTION, seed)


def split_ids(raw: RawIndex, seed: int = 0) -> dict[str, np.ndarray]:
    """The pair ids of each split as :func:`load` makes them, without reading any feature."""
    train_list = np.array([p.id for p in raw.pairs["train"]])
    rest, held = _train_val_index(raw, seed)
    return {"train": train_list[rest], "val": train_list[held], "test": np.array([p.id for p in raw.pairs["test"]])}


def find_duplicates(raw: RawIndex, ids: Mapping[str, Sequence[str]]) -> "pd.DataFrame":
    """Test pairs (``ids["test"]``) whose image or text file is byte-identical to a train or val pair's.

    Files are compared by the sha256 of their bytes (memoised by path, size and
    mtime, as for the feature cache); no feature is read or extracted. One row per
    (test id, modality, identical train/val id): see :func:`xmr.data.overlap.match`.
    """
    from ..features.cache import file_digests

    by_id = {p.id: p for lst in raw.pairs.values() for p in lst}
    keys = {
        m: {k: file_digests([raw.directory / getattr(by_id[str(i)], m) for i in v]) for k, v in ids.items()}
        for m in MODALITIES
    }
    return match(ids, keys, "byte-identical raw files")


def duplicates(
    root: Path, protocol: str | None = None, *, text_features: str = "doc2vec", seed: int = 0, dedupe: bool = False,
    **settings: Any,
) -> "pd.DataFrame":
    """:func:`find_duplicates` on the splits that ``load(root, protocol, **same options)`` gives, without features."""
    protocol, dedupe, settings = _check_options(protocol, text_features, dedupe, settings)
    raw = read_raw(root)
    ids = split_ids(raw, seed)
    dups = find_duplicates(raw, ids)
    return dups.iloc[:0] if dedupe else dups  # a deduped test split has none left


def load(
    root: Path, protocol: str | None = None, *, text_features: str = "doc2vec", seed: int = 0, dedupe: bool = False,
    **settings: Any,
) -> Dataset:
    """Load ``web_news_cn`` (protocol ``official``): features extracted on first use, then cached.

    ``text_features`` is ``"doc2vec"`` (300-d) or ``"bow"`` (``vocab_size``-d term
    counts); ``seed`` draws the stratified 10% val split from the train list;
    ``dedupe=True`` drops the test pairs whose image or text file is byte-identical
    to a train or val pair's (:func:`find_duplicates`; the features are read as
    usual, then those rows dropped by id); ``vocab_size`` (default 6500),
    ``doc2vec_vectors`` (``"inferred"`` or ``"trained"``) and ``device`` (``"cpu"``,
    ``"cuda"``; default: the GPU when present) are the extraction settings (see the
    module docstring).
    """
    protocol, dedupe, settings = _check_options(protocol, text_features, dedupe, settings)
    raw = read_raw(root)
    img, txt = _features(raw, text_features, settings)
    n_train = len(raw.pairs["train"])
    labels = np.array([p.label for lst in ("train", "test") for p in raw.pairs[lst]], dtype=np.int64)
    ids = np.array([p.id for lst in ("train", "test") for p in raw.pairs[lst]])
    train_list = Split(img[:n_train], txt[:n_train], labels[:n_train], ids[:n_train])
    test = Split(img[n_train:], txt[n_train:], labels[n_train:], ids[n_train:])
    rest, held = _train_val_index(raw, seed)
    options: dict[str, Any] = {"seed": seed, "text_features": text_features}
    if text_features == "bow":
        options["vocab_size"] = settings["vocab_size"]
    else:
        options["doc2vec_vectors"] = settings["doc2vec_vectors"]
    ds = Dataset(NAME, protocol, raw.classes, train_list.subset(rest), train_list.subset(held), test, SOURCE, options)
    if dedupe:
        ds = drop_test_pairs(ds, find_duplicates(raw, {k: s.ids for k, s in ds.splits.items()}))
    return ds


def precompute_features(root: str | os.PathLike[str] | None = None, device: str | None = None) -> None:
    """Extract and cache every feature set (image, Doc2Vec, BoW) with progress bars on stderr."""
    import time

    raw = read_raw(root)
    settings = _check_settings({"device": device})
    start = time.perf_counter()
    for text_features in TEXT_FEATURES:
        _features(raw, text_features, settings, progress=True)
    print(f"web_news_cn: features ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def quality_table(raw: RawIndex) -> str:
    """The data-quality report: entries read, pairs kept, and every skipped entry or file with its reason."""
    from ..features.image import image_kind

    lines = ["data quality (raw release; nothing is edited)"]
    for lst in ("train", "test"):
        dropped = sum(1 for s in raw.skipped if s.list == lst)
        lines.append(f"  {lst} list: {raw.entries[lst]} entries, {len(raw.pairs[lst])} usable, {dropped} skipped")
    reasons = Counter(s.reason for s in raw.skipped)
    lines.append("")
    lines.append(f"  {'skipped':<8} {'count':>5}  reason")
    for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {'':<8} {count:>5}  {reason}")
    lines.append("")
    for s in raw.skipped:
        note = ""
        if s.list == "-":
            twin = _identical_listed_copy(raw, s.path)
            note = f" (byte-identical to the listed {twin})" if twin else ""
        lines.append(f"    {s.list:<5} {s.id:>6}  {s.path}: {s.reason}{note}")
    if raw.renamed:
        lines.append("")
        lines.append(f"  {len(raw.renamed)} image names with whitespace before the extension, matched by their id:")
        lines += [f"    {name!r}" for name in raw.renamed]
    kinds = Counter(image_kind(p) for p in raw.paths("image"))
    lines.append("")
    lines.append("  image files read (format, mode -> handling):")
    handling = {
        "RGB": "as is", "L": "grey replicated to RGB", "CMYK": "converted to RGB by Pillow",
        "RGBA": "alpha composited on white", "P": "palette expanded (transparency on white)",
        "LA": "alpha composited on white",
    }
    for (fmt, mode), count in sorted(kinds.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {count:>5}  {fmt:<5} {mode:<5} -> {handling.get(mode, 'converted to RGB by Pillow')}")
    lengths = [len(read_text(p)) for p in raw.paths("text")]
    lines.append("")
    lines.append(
        f"  texts: {len(lengths)} read, characters median {statistics.median(lengths):.0f}, "
        f"min {min(lengths)}, max {max(lengths)}"
    )
    return "\n".join(lines)


def _identical_listed_copy(raw: RawIndex, relpath: str) -> str:
    from ..io import sha256_file

    stem = os.path.splitext(os.path.basename(relpath))[0].strip()
    target = sha256_file(raw.directory / relpath)
    for lst in ("train", "test"):
        for p in raw.pairs[lst]:
            if p.id == stem and sha256_file(raw.directory / p.image) == target:
                return f"{p.image} ({lst} list)"
    return ""


def linear_probe(train: Split, held_out: Split, modality: str, *, C: float = 1.0) -> float:
    """Accuracy on ``held_out`` of a multinomial logistic regression fitted on ``train``'s ``modality`` features.

    Features are standardised with the training statistics; ``C`` is fixed (no model
    selection). The data report probes the validation split: a sanity check of the
    features has no business reading the test split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    probe.fit(getattr(train, modality), train.labels)
    return float(probe.score(getattr(held_out, modality), held_out.labels))


def info_extra(ds: Dataset, root: str | os.PathLike[str] | None = None) -> str:
    """The data-quality table and per-modality linear probes (train -> val, 10 classes)."""
    raw = read_raw(root)
    counts = np.bincount(ds.val.labels, minlength=ds.num_classes)
    lines = [quality_table(raw), "", "linear probes (logistic regression on train, accuracy on val):"]
    lines.append(f"  chance: uniform {1 / ds.num_classes:.3f}, majority class {counts.max() / counts.sum():.3f}")
    lines.append(f"  image  {ds.dims[0]:>5}-d  {linear_probe(ds.train, ds.val, 'image'):.3f}")
    lines.append(f"  text   {ds.dims[1]:>5}-d  {linear_probe(ds.train, ds.val, 'text'):.3f}  ({ds.options.get('text_features')})")
    return "\n".join(lines)
