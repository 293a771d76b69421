"""The study: scales, the stand-in datasets, the chapters and the claims, as declarations over runs.

Layer: imports :mod:`xmr.experiments` (runs through the results cache), the engine and
everything below; never :mod:`xmr.orchestrate`, :mod:`xmr.publish` or :mod:`xmr.cli`.
"""
