"""Publishing the book: executing the chapter notebooks, the HTML, the fidelity page's tables, the edition's
facts, and the extension that lets a plain ``jupyter-book build book`` execute missing chapters.

Layer: imports :mod:`xmr.orchestrate`, :mod:`xmr.study` and everything below; never :mod:`xmr.cli`.
"""
