"""Importing this module imports every method module in the package, which registers them.

Discovery is by listing the package, so adding a method never edits a shared file.
"""

import importlib
import pkgutil
from pathlib import Path

# the package's folder by path, not ``from . import __path__``: importing the package from here would close a cycle
# (xmr.methods -> registry -> this module -> xmr.methods)
_path = [str(Path(__file__).resolve().parent)]
_INFRA = {"registry", "base"}

for _info in pkgutil.iter_modules(_path):
    if not _info.name.startswith("_") and _info.name not in _INFRA:
        importlib.import_module(f"{__package__}.{_info.name}")
