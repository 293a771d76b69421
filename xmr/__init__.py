"""xmr: supervised image-text cross-modal retrieval, reproduced.

The library behind the xmr reproducibility study of DACSL (Ma, Sheng & He, 2023) and
SMCR (Li et al.). Data flows one way, and the folders are the layers (each imports only
its own layer and those above it in this list):

* :mod:`xmr.paths`, :mod:`xmr.io`, :mod:`xmr.metrics` -- where files live, atomic writes, retrieval mAP;
* :mod:`xmr.data`, :mod:`xmr.features` -- verified datasets and feature extraction;
* :mod:`xmr.methods` -- the twelve methods, one module each, with their declared readings;
* :mod:`xmr.engine` -- one way to train or fit every method (selection on validation);
* :mod:`xmr.fingerprint`, :mod:`xmr.archive`, :mod:`xmr.results`, :mod:`xmr.experiments` -- runs
  keyed by everything that produced them, cached (and archived in the repository), as pandas tables;
* :mod:`xmr.study` -- scales, stand-in datasets, chapters and claims as declarations, statistics;
* :mod:`xmr.orchestrate` -- the plan, its cost, the prefill and the executors that train;
* :mod:`xmr.publish` -- executing the notebooks, the HTML, the fidelity tables, the edition;
* :mod:`xmr.cli` -- the ``xmr`` command.
"""

__version__ = "0.1.0"
