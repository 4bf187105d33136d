"""Strict JSON text: what pixlspec writes never holds NaN or Infinity.

``json.dumps`` writes bare ``NaN``/``Infinity`` by default, which is not JSON
(RFC 8259) and which strict parsers (JavaScript, jq, Go, ...) refuse.
:func:`strict_json` writes ``null`` instead and records why, per field, under
the top-level key :data:`NULL_REASONS_KEY` (``{"areas.Fe": "NaN: not
determined"}``), so a reader can tell a missing value from an unknown one.
"""
from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["strict_json", "jsonable", "NULL_REASONS_KEY"]

#: Top-level key listing the fields written as null because they were not finite.
NULL_REASONS_KEY = "null_reasons"


def _reason(v: float) -> str:
    if math.isnan(v):
        return "NaN: not determined (e.g. a parameter the fit could not estimate, or no valid point)"
    return f"{'+' if v > 0 else '-'}Infinity: not finite"


def jsonable(obj: Any, reasons: dict[str, str] | None = None, path: str = "") -> Any:
    """``obj`` with numpy values made plain, NaN/inf replaced by None (reasons collected by field path)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v, reasons, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, reasons, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), reasons, path)
    if isinstance(obj, np.generic):
        return jsonable(obj.item(), reasons, path)
    if isinstance(obj, float) and not math.isfinite(obj):
        if reasons is not None:
            reasons[path or "value"] = _reason(obj)
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def strict_json(obj: Any, indent: int | None = 2) -> str:
    """JSON text of ``obj`` without NaN/Infinity (see the module docstring)."""
    reasons: dict[str, str] = {}
    data = jsonable(obj, reasons)
    if reasons:
        if isinstance(data, dict):
            data = {**data, NULL_REASONS_KEY: reasons}
        elif isinstance(data, list) and all(isinstance(x, dict) for x in data):
            data = [{**x, NULL_REASONS_KEY: {k.split("].", 1)[1]: r for k, r in reasons.items()
                                             if k.startswith(f"[{i}].")}}
                    if any(k.startswith(f"[{i}].") for k in reasons) else x for i, x in enumerate(data)]
    return json.dumps(data, indent=indent, allow_nan=False)
