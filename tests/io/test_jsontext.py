"""Strict JSON text (pixlspec.io.jsontext)."""

from __future__ import annotations

import math

import pytest


def test_strict_json_writes_null_with_reason():
    import json

    from pixlspec.io.jsontext import NULL_REASONS_KEY, strict_json

    text = strict_json({"a": 1.0, "b": {"c": math.nan, "d": [1.0, -math.inf]}})
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    assert data["b"]["c"] is None and data["b"]["d"][1] is None
    assert set(data[NULL_REASONS_KEY]) == {"b.c", "b.d[1]"}
