from __future__ import annotations

import pytest

from ragline.neardup import NearDupConfig
from ragline.parse_stage import FileTask, ParseStage


@pytest.fixture()
def units(engine_factory):
    """(engine, make_unit): DocUnits made by the real parse stage, for the engine's namespace."""
    engine = engine_factory()
    stage = ParseStage(engine.chunker, engine.config.namespace, 2**20, NearDupConfig(threshold=0.8))

    def make(name: str, text: str):
        uri = f"file:///corpus/{name}.txt"
        (unit,) = stage(FileTask(uri, text.encode(), f"v-{hash(text)}", {"path": f"{name}.txt"})).units
        return unit

    yield engine, make
    engine.close()
