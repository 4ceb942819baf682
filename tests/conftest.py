from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"
SAMPLES = Path(__file__).parent.parent / "samples" / "corpus"


def ragline_cli(*args: str, crash_at: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``ragline ARGS`` in a subprocess (offline, wide console), killed at the crash point
    ``crash_at`` (``RAGLINE_CRASH_AT``, see ragline._faults) when one is given."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "1000"}
    env.pop("RAGLINE_CRASH_AT", None)
    if crash_at:
        env["RAGLINE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "ragline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def hashing_embedder():
    from ragline.embed.hashing import HashingEmbedder

    return HashingEmbedder(64)


@pytest.fixture(scope="session")
def onnx_embedder():
    from ragline.embed.onnx import OnnxEmbedder

    return OnnxEmbedder()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A private, writable copy of the fixture corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(FIXTURES, target)
    return target


@pytest.fixture()
def engine_factory(tmp_path: Path, hashing_embedder):
    from ragline.engine import Engine

    def make(store: Path | None = None, **options):
        return Engine.open(f"local:{store or tmp_path / 'store'}", embedder=hashing_embedder, **options)

    return make
