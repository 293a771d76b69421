"""Building the book: the plan, the prefill, executing the chapter notebooks, the HTML.

Layer: imports :mod:`xmr.study` and everything below it; never :mod:`xmr.cli`.
"""
