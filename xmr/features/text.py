"""Chinese text features: jieba segmentation, bag-of-words and Doc2Vec.

The DACSL paper represents texts by 300-d Doc2Vec vectors, the SMCR paper its news
set by 6500-d bag-of-words; both are rebuilt here from raw text.

Segmentation (:func:`segment`)
    NFKC normalisation (full-width letters and digits to ASCII), jieba's default
    dictionary in accurate mode with its HMM for unknown words, Latin letters
    lower-cased; tokens with no letter or CJK character (punctuation, numbers,
    symbols) are dropped. No stop-word list: none ships with jieba's default mode,
    and the downstream models weigh words themselves.
Bag-of-words (:func:`fit_vocabulary`, :func:`bag_of_words`)
    Raw term counts over the ``size`` most frequent words of the fitting texts
    (ties broken by the word, so the vocabulary is deterministic).
Doc2Vec (:class:`Doc2VecSettings`, :func:`train_doc2vec`, :func:`infer`)
    gensim, one worker thread and a fixed seed, so training is bit-reproducible.
    gensim's own ``infer_vector`` seeds each document's start vector with Python's
    salted ``hash`` and draws from the model's shared random state, which makes it
    depend on ``PYTHONHASHSEED`` and on the order of calls; :func:`infer` runs the
    same updates from a start vector and random state derived from the seed and a
    CRC of the words, so every document's vector is reproducible on its own.
"""

from __future__ import annotations

import logging
import os
import unicodedata
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "segment", "segment_all", "fit_vocabulary", "bag_of_words", "Doc2VecSettings", "train_doc2vec", "infer",
    "doc2vec_vectors", "segmented", "bow_features", "doc2vec_features", "DEFAULT_VOCAB_SIZE",
]

#: SMCR's bag-of-words size for its news set.
DEFAULT_VOCAB_SIZE = 6500

_TOKENIZER: Any = None


def _tokenizer() -> Any:
    global _TOKENIZER
    if _TOKENIZER is None:
        import jieba

        from ..paths import features_dir

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.tmp_dir = str(features_dir())  # jieba's dictionary cache stays inside xmr's cache
        os.makedirs(tok.tmp_dir, exist_ok=True)
        _TOKENIZER = tok
    return _TOKENIZER


def _keep(token: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in token)


def segment(text: str) -> list[str]:
    """Words of ``text`` (see the module docstring for the exact rules)."""
    text = unicodedata.normalize("NFKC", text)
    words = []
    for token in _tokenizer().lcut(text, cut_all=False, HMM=True):
        for part in token.split():  # jieba can keep inner spaces of Latin phrases
            if _keep(part):
                words.append(part.lower())
    return words


def segment_all(texts: Iterable[str], progress: bool = False) -> list[list[str]]:
    """:func:`segment` every text, with an optional progress bar on stderr."""
    texts = list(texts)
    if progress:
        from tqdm import tqdm

        texts = tqdm(texts, desc="jieba segmentation", unit="text")
    return [segment(t) for t in texts]


def fit_vocabulary(docs: Sequence[Sequence[str]], size: int = DEFAULT_VOCAB_SIZE) -> list[str]:
    """The ``size`` most frequent words over ``docs`` (all of them if fewer), most frequent first."""
    if size < 1:
        raise ValueError(f"vocabulary size must be positive, got {size}")
    counts = Counter(w for doc in docs for w in doc)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def bag_of_words(docs: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """(n_docs, len(vocabulary)) float32 term counts; words outside the vocabulary are ignored."""
    index = {w: j for j, w in enumerate(vocabulary)}
    out = np.zeros((len(docs), len(vocabulary)), dtype=np.float32)
    for i, doc in enumerate(docs):
        for w in doc:
            j = index.get(w)
            if j is not None:
                out[i, j] += 1.0
    return out


@dataclass(frozen=True)
class Doc2VecSettings:
    """Doc2Vec hyper-parameters (gensim names). 300-d as in the DACSL paper.

    Defaults: PV-DBOW (``dm=0``) without word training (``dbow_words=0``), 20
    epochs for training and for inference, ``min_count=2`` (hapaxes dropped). Chosen
    on an 80/20 split *of the train list* (never the test list), with a linear
    probe: PV-DBOW 20 epochs, all vectors inferred, 0.714 held-out accuracy; 40
    epochs 0.684; with skip-gram word training 0.711 at 3x the CPU time; trained
    (instead of inferred) vectors for the fitting texts 0.658-0.696.
    """

    vector_size: int = 300
    dm: int = 0
    dbow_words: int = 0
    window: int = 5
    min_count: int = 2
    negative: int = 5
    sample: float = 1e-4
    epochs: int = 20
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 0


def train_doc2vec(docs: Sequence[Sequence[str]], settings: Doc2VecSettings = Doc2VecSettings()) -> Any:
    """A gensim ``Doc2Vec`` trained on ``docs`` (tags 0..n-1), single-threaded and seeded."""
    from gensim.models.doc2vec import Doc2Vec, TaggedDocument

    corpus = [TaggedDocument(list(doc), [i]) for i, doc in enumerate(docs)]
    params = asdict(settings)
    return Doc2Vec(corpus, workers=1, **params)


def infer(model: Any, docs: Sequence[Sequence[str]], settings: Doc2VecSettings = Doc2VecSettings()) -> np.ndarray:
    """(n_docs, vector_size) float32 inferred vectors, each reproducible on its own (see module docstring).

    Runs ``settings.epochs`` frozen-model updates of one document vector with the
    learning rate decaying linearly from ``alpha`` to ``min_alpha``, as gensim's
    ``infer_vector`` does, but from a start vector and random state seeded by
    ``(settings.seed, crc32(words))``.
    """
    from gensim.models.doc2vec_inner import train_document_dbow, train_document_dm

    dim = model.dv.vector_size
    out = np.empty((len(docs), dim), dtype=np.float32)
    alpha_step = (settings.alpha - settings.min_alpha) / max(settings.epochs - 1, 1)
    saved_random = model.random
    try:
        for i, doc in enumerate(docs):
            words = list(doc)
            crc = zlib.crc32(" ".join(words).encode("utf-8"))
            rng = np.random.default_rng([settings.seed, crc])
            vec = ((rng.random(dim, dtype=np.float32) - 0.5) / dim).reshape(1, dim)
            model.random = np.random.RandomState([settings.seed, crc])  # negative sampling, window draws
            lockf = np.ones(1, dtype=np.float32)
            work = np.zeros(model.layer1_size, dtype=np.float32)
            neu1 = np.zeros(model.layer1_size, dtype=np.float32)
            alpha = settings.alpha
            for _ in range(settings.epochs):
                if model.dm:
                    train_document_dm(model, words, [0], alpha, work, neu1, learn_words=False,
                                      learn_hidden=False, doctag_vectors=vec, doctags_lockf=lockf)
                else:
                    train_document_dbow(model, words, [0], alpha, work, learn_words=False,
                                        learn_hidden=False, doctag_vectors=vec, doctags_lockf=lockf)
                alpha -= alpha_step
            out[i] = vec[0]
    finally:
        model.random = saved_random
    return out


def doc2vec_vectors(
    docs: Sequence[Sequence[str]], n_fit: int, settings: Doc2VecSettings = Doc2VecSettings(), vectors: str = "inferred"
) -> np.ndarray:
    """Doc2Vec features of every doc, the model trained on the first ``n_fit`` docs only.

    ``vectors="inferred"`` infers all documents (fitting ones included) the same way;
    ``"trained"`` keeps the trained vectors for the first ``n_fit`` and infers the rest.
    """
    if not 0 < n_fit <= len(docs):
        raise ValueError(f"n_fit must be in 1..{len(docs)}, got {n_fit}")
    if vectors not in ("inferred", "trained"):
        raise ValueError(f"vectors must be 'inferred' or 'trained', got {vectors!r}")
    model = train_doc2vec(docs[:n_fit], settings)
    if vectors == "trained":
        trained = np.asarray(model.dv.vectors[:n_fit], dtype=np.float32)
        return np.concatenate([trained, infer(model, docs[n_fit:], settings)])
    return infer(model, docs, settings)


# -- cached, from raw files -------------------------------------------------------------------


def _segmentation_key() -> dict[str, Any]:
    from importlib.metadata import version  # not the packages themselves: a warm load imports neither

    return {"jieba": version("jieba"), "rules": "nfkc+accurate+hmm+letters-only+lower"}


def segmented(paths: Sequence[str | os.PathLike[str]], progress: bool = False) -> list[list[str]]:
    """Segmented words of the UTF-8 text files ``paths``, cached by their content."""
    from .cache import cached, file_digests

    if not paths:
        return []

    def compute() -> dict[str, np.ndarray]:
        texts = [_read(p) for p in paths]
        docs = segment_all(texts, progress=progress)
        blob = "\n".join(" ".join(d) for d in docs).encode("utf-8")  # tokens hold no whitespace
        return {"tokens": np.frombuffer(blob, dtype=np.uint8)}

    key = {"files": file_digests(paths), **_segmentation_key()}
    blob = cached("tokens", key, compute, compress=True)["tokens"].tobytes().decode("utf-8")
    return [line.split() for line in blob.split("\n")]


def _read(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8-sig").strip()


def bow_features(
    paths: Sequence[str | os.PathLike[str]], n_fit: int, vocab_size: int = DEFAULT_VOCAB_SIZE, progress: bool = False
) -> np.ndarray:
    """Bag-of-words of the text files ``paths``, the vocabulary fitted on the first ``n_fit`` only (cached)."""
    from .cache import cached, file_digests

    def compute() -> dict[str, np.ndarray]:
        docs = segmented(paths, progress=progress)
        vocab = fit_vocabulary(docs[:n_fit], vocab_size)
        return {"features": bag_of_words(docs, vocab), "vocabulary": np.array(vocab, dtype=np.str_)}

    key = {"files": file_digests(paths), "n_fit": n_fit, "vocab_size": vocab_size, **_segmentation_key()}
    return cached("bow", key, compute, compress=True)["features"]


def doc2vec_features(
    paths: Sequence[str | os.PathLike[str]],
    n_fit: int,
    settings: Doc2VecSettings = Doc2VecSettings(),
    vectors: str = "inferred",
    progress: bool = False,
) -> np.ndarray:
    """Doc2Vec features of the text files ``paths``, trained on the first ``n_fit`` only (cached)."""
    from importlib.metadata import version

    from .cache import cached, file_digests

    def compute() -> dict[str, np.ndarray]:
        docs = segmented(paths, progress=progress)
        if progress:
            import sys

            print(f"Doc2Vec: training on {n_fit} texts, inferring {len(docs)}", file=sys.stderr)
        return {"features": doc2vec_vectors(docs, n_fit, settings, vectors)}

    key = {
        "files": file_digests(paths), "n_fit": n_fit, "vectors": vectors, "gensim": version("gensim"),
        **asdict(settings), **_segmentation_key(),
    }
    return cached("doc2vec", key, compute)["features"]
