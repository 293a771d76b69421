"""Running the book's training: the plan (every run the chapters declare, cached or not), its cost, the prefill
that trains what is missing, and the executors (local processes, Dask) it trains on.

Layer: imports :mod:`xmr.study` and everything below it; never :mod:`xmr.publish` or :mod:`xmr.cli`.
"""
