"""Importing this module imports every method module, which registers them."""

import importlib

from . import MODULES

for _name in MODULES:
    importlib.import_module(f"xmr.methods.{_name}")
