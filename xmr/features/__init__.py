"""Feature extraction from raw images and texts, with an on-disk cache.

:mod:`~xmr.features.image`
    EfficientNet-Lite0 (ImageNet) 1280-d image features.
:mod:`~xmr.features.text`
    jieba word segmentation, bag-of-words and Doc2Vec text features.
:mod:`~xmr.features.cache`
    Content-keyed, atomically written feature files under :func:`xmr.paths.features_dir`.

The heavy dependencies (torch model, Pillow, jieba, gensim) are the ``features``
extras and are imported inside functions, so importing this package is cheap.

Layer: imports only :mod:`xmr.paths` and :mod:`xmr.io`; it knows nothing of datasets, methods or the study.
"""
