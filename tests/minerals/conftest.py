"""Fixtures of the minerals tests: the simulated salt scene and its measured composition table
(built once per session, never modified)."""

from __future__ import annotations

import pytest

from pixlspec.minerals import make_salt_scene

from tests.helpers.minerals import COMPOSITION_SOURCE


@pytest.fixture(scope="session")
def scene():
    """The simulated 20×20 salt scene (basalt, Ca-sulfate vein, halite grains, carbonate patch)."""
    return make_salt_scene(kind="raster", shape=(20, 20), spacing_mm=0.15, seed=0)


@pytest.fixture(scope="session")
def comp(scene):
    """The scene's composition table as measured (``tests.helpers.minerals.COMPOSITION_SOURCE``)."""
    return COMPOSITION_SOURCE(scene, 11)
