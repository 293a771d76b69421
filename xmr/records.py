"""A stored run as a typed record: :class:`RunRecord` over the JSON of a results-cache entry or an archive line.

The JSON layout is unchanged (``key``, ``identity``, ``run``, ``provenance``, ``digest``: see :mod:`xmr.results`);
this type reads it once, checks that the parts a reader relies on are there, and names them, so code above the
cache reads ``rec.method`` and ``rec.score("avg")`` instead of ``rec["identity"]["method"]`` and
``rec["run"]["avg"]``. :meth:`RunRecord.to_json` gives the layout back, byte for byte the same dict.

Layer: imports nothing of xmr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["RunRecord", "IDENTITY_KEYS"]

#: The identity fields a record must hold to be replayed or grouped (:func:`xmr.results.identity` writes them all).
IDENTITY_KEYS = ("method", "dataset", "protocol", "dataset_options", "hparams", "without", "epochs", "seed")


@dataclass(frozen=True)
class RunRecord:
    """One stored run. ``identity`` is what determines it (its cache key is the hash of it), ``run`` what it gave,
    ``provenance`` where and when it ran, ``digest`` the seal over all of them (``None`` on an unsealed entry)."""

    key: str
    identity: Mapping[str, Any]
    run: Mapping[str, Any]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    digest: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> RunRecord:
        """The record of a parsed entry; a :class:`ValueError` naming what is missing for anything else."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"a run record is a JSON object, got {type(entry).__name__}")
        missing = [k for k in ("key", "identity", "run") if k not in entry]
        if missing:
            raise ValueError(f"run record {entry.get('key', '?')!r} lacks {', '.join(missing)}")
        ident = entry["identity"]
        if not isinstance(ident, Mapping) or any(k not in ident for k in IDENTITY_KEYS):
            lacks = [k for k in IDENTITY_KEYS if not isinstance(ident, Mapping) or k not in ident]
            raise ValueError(f"run record {entry['key']!r}: its identity lacks {', '.join(lacks)}")
        if not isinstance(entry["run"], Mapping):
            raise ValueError(f"run record {entry['key']!r}: its run is not an object")
        return cls(str(entry["key"]), ident, entry["run"], entry.get("provenance") or {}, entry.get("digest"))

    def to_json(self) -> dict[str, Any]:
        """The entry's JSON layout (what :meth:`from_json` read)."""
        out: dict[str, Any] = {"key": self.key, "identity": self.identity, "run": self.run}
        if self.provenance:
            out["provenance"] = self.provenance
        if self.digest is not None:
            out["digest"] = self.digest
        return out

    @property
    def method(self) -> str:
        return str(self.identity["method"])

    @property
    def dataset(self) -> str:
        return str(self.identity["dataset"])

    @property
    def seed(self) -> int:
        return int(self.identity["seed"])

    @property
    def without(self) -> tuple[str, ...]:
        return tuple(self.identity["without"] or ())

    @property
    def seconds(self) -> float:
        return float(self.run.get("seconds") or 0.0)

    def score(self, name: str) -> float:
        """A test score of the run (``"i2t"``, ``"t2i"``, ``"avg"``): a :class:`KeyError` naming the ones it has."""
        if name not in self.run:
            raise KeyError(f"run {self.key} has no score {name!r}; it has {', '.join(k for k in ('i2t', 't2i', 'avg') if k in self.run)}")
        return float(self.run[name])

    def label(self) -> str:
        """``method dataset seed S [without T] [key]``: how a report names the run."""
        without = f" without {','.join(self.without)}" if self.without else ""
        return f"{self.method} {self.dataset} seed {self.seed}{without} [{self.key}]"
