"""The fidelity page's tables, rendered from the code: a small Sphinx extension.

``book/fidelity.md`` writes

    ```{readings} dacsl
    ```

    ```{validation-evidence} dacsl
    ```

and the build puts there the method's declared readings
(:func:`xmr.methods.readings.readings_table`) and the summary of the validation
runs behind its validation-based defaults (:data:`xmr.methods.readings.EVIDENCE_FILE`),
so the page cannot drift from the code. Cells are plain text nodes: no markup in a
paper quotation can break the build.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["setup", "evidence_summary"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> Any:
    from docutils import nodes

    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)

    def row(cells: Sequence[str]) -> Any:
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=str(cell))
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


def evidence_summary(method: str) -> "Any":
    """Validation avg mAP per (feature set, option, value, other settings): mean, std, runs."""
    from ..methods.readings import summarise_evidence, validation_evidence

    frame = validation_evidence()
    frame = frame[frame["method"] == method].copy()
    if frame.empty:
        return frame
    frame["value"] = frame["value"].map(lambda v: json.dumps(v))
    frame["settings"] = frame["fixed"].map(lambda d: ", ".join(f"{k}={v}" for k, v in sorted((d or {}).items())) or "defaults")
    return summarise_evidence(frame, ("features", "option", "settings", "value"))


def setup(app: Any) -> dict[str, Any]:
    from docutils.parsers.rst import Directive

    from ..methods.readings import readings_table

    class Readings(Directive):
        required_arguments = 1

        def run(self) -> list[Any]:
            df = readings_table(self.arguments[0])
            cols = ["option", "interprets", "default", "alternatives", "most literal", "basis", "evidence"]
            return [_table(cols, df[cols].astype(str).values.tolist(), [10, 22, 12, 12, 8, 8, 28])]

    class ValidationEvidence(Directive):
        required_arguments = 1

        def run(self) -> list[Any]:
            df = evidence_summary(self.arguments[0])
            if df.empty:
                from docutils import nodes

                return [nodes.paragraph(text="No validation runs of this method are recorded in the evidence file.")]
            rows = [[r["features"], r["option"], r["settings"], r["value"], f"{r['mean']:.4f}",
                     "" if r["count"] < 2 else f"{r['std']:.4f}", str(int(r["count"]))] for _, r in df.iterrows()]
            return [_table(["features", "option", "other settings", "value", "val avg mAP", "std", "runs"], rows,
                           [14, 10, 26, 12, 8, 8, 5])]

    app.add_directive("readings", Readings)
    app.add_directive("validation-evidence", ValidationEvidence)
    return {"parallel_read_safe": True, "version": "1"}
