"""xmr: supervised image-text cross-modal retrieval, reproduced.

The library behind the xmr reproducibility study of DACSL (Ma, Sheng & He, 2023)
and SMCR (Li et al.). Data flows one way: raw files -> :mod:`xmr.data` (verified)
-> :mod:`xmr.methods` (trained by one engine) -> results cache -> notebooks -> book.
"""

__version__ = "0.1.0"
