"""Small stand-ins shared by the tests (imported by test modules; not a test module itself)."""
from __future__ import annotations

import numpy as np


class AreaMaps:
    """The smallest object ``quantify_map`` accepts (ElementMaps has more): per-point ``areas`` and ``sigma``
    dicts of arrays, ``live_time_s`` and ``instrument``. ``sigma`` defaults to the Poisson σ of the areas."""

    def __init__(self, areas, live, instrument, sigma=None):
        self.areas = areas
        self.sigma = sigma if sigma is not None else {g: np.sqrt(np.maximum(v, 1.0)) for g, v in areas.items()}
        self.live_time_s, self.instrument = live, instrument
