"""The settings tree: defaults < ragline.toml < RAGLINE_* < flags, each value's source shown by
`ragline config show`, and every default kept in one place."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragline.chunk import ChunkerConfig
from ragline.engine import SETTING_OF, Engine, EngineConfig
from ragline.errors import ConfigError
from ragline.neardup import NearDupConfig
from ragline.pipeline import IngestSettings
from ragline.settings import default, resolve_settings, setting_names

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RAGLINE_* variable from the caller's shell, and a working folder without ragline.toml."""
    for name in list(os.environ):
        if name.startswith("RAGLINE_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def test_precedence_defaults_toml_env_flags(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "ragline.toml").write_text(
        '[chunk]\nmax_tokens = 200\noverlap = 20\n[search]\nfeedback_chunks = 1\n'
        '[store]\nnamespace = "from-toml"\n[serve]\nport = 8080\n')  # another tool's table is left alone
    monkeypatch.setenv("RAGLINE_CHUNK__OVERLAP", "10")
    monkeypatch.setenv("RAGLINE_SEARCH__FEEDBACK_CHUNKS", "2")
    monkeypatch.setenv("RAGLINE_STORE", "local:/tmp/from-env")  # the flat name that predates the tree
    resolved = resolve_settings({"search.feedback_chunks": 0, "chunk.max_chars": None})
    table = {name: (value, source) for name, value, source in resolved.rows()}
    assert table["chunk.max_tokens"] == (200, "toml:ragline.toml")
    assert table["chunk.overlap"] == (10, "env:RAGLINE_CHUNK__OVERLAP")
    assert table["search.feedback_chunks"] == (0, "flag")
    assert table["store.uri"] == ("local:/tmp/from-env", "env:RAGLINE_STORE")
    assert table["store.namespace"] == ("from-toml", "toml:ragline.toml")
    assert table["chunk.max_chars"] == (None, "default")  # None is "not given", not a flag
    assert table["ingest.batch_chunks"] == (256, "default")
    assert [name for name, _, _ in resolved.rows()] == setting_names()
    # the nested name beats the flat one
    monkeypatch.setenv("RAGLINE_STORE__URI", "local:/tmp/nested")
    assert resolve_settings().settings.store.uri == "local:/tmp/nested"


def test_bad_settings_name_the_setting_and_the_source(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "typo.toml").write_text("[chunk]\nmax_tokn = 100\n")
    with pytest.raises(ConfigError, match=r"typo\.toml.*chunk\.max_tokn: Extra inputs are not permitted"):
        resolve_settings(config=clean_env / "typo.toml")
    with pytest.raises(ConfigError, match="'missing.toml' \\(--config\\) does not exist"):
        resolve_settings(config="missing.toml")
    monkeypatch.setenv("RAGLINE_CONFIG", "gone.toml")
    with pytest.raises(ConfigError, match="'gone.toml' \\(RAGLINE_CONFIG\\) does not exist"):
        resolve_settings()
    monkeypatch.delenv("RAGLINE_CONFIG")
    (clean_env / "ragline.toml").write_text("[chunk\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings()
    (clean_env / "ragline.toml").unlink()
    monkeypatch.setenv("RAGLINE_INGEST__NEAR_DUP_THRESHOLD", "1.5")
    with pytest.raises(ConfigError, match=r"ingest\.near_dup_threshold: Input should be less than or equal to 1"):
        resolve_settings()
    with pytest.raises(ConfigError, match="unknown setting 'chunk.size'; settings are store.uri"):
        resolve_settings({"chunk.size": 3})


def test_every_default_comes_from_the_tree() -> None:
    config = EngineConfig()
    for name, path in SETTING_OF.items():
        assert getattr(config, name) == default(path), name
    assert {f.name for f in dataclasses.fields(EngineConfig)} - set(SETTING_OF) == {"create_store", "extra"}
    ingest = IngestSettings()
    for field in dataclasses.fields(IngestSettings):
        if field.name != "near_dup":
            assert getattr(ingest, field.name) == default(f"ingest.{field.name}"), field.name
    assert NearDupConfig().threshold == default("ingest.near_dup_threshold")
    chunker = ChunkerConfig()
    assert (chunker.max_tokens, chunker.overlap, chunker.max_chars) == (
        default("chunk.max_tokens"), default("chunk.overlap"), default("chunk.max_chars"))


def test_engine_open_reads_the_tree_and_arguments_win(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                      hashing_embedder) -> None:
    store = clean_env / "store"
    (clean_env / "ragline.toml").write_text(f'[store]\nuri = "local:{store}"\n[chunk]\nmax_tokens = 80\n'
                                            '[search]\nhybrid_depth = 6\n')
    monkeypatch.setenv("RAGLINE_SEARCH__HYBRID_DEPTH", "7")
    with Engine.open(embedder=hashing_embedder) as engine:
        assert engine.config.store == f"local:{store}" and store.is_dir()
        assert (engine.config.max_tokens, engine.config.hybrid_depth) == (80, 7)
        assert engine.chunker.config.max_tokens == 80
    with Engine.open(embedder=hashing_embedder, max_tokens=72, hybrid_depth=2, parse_workers=None) as engine:
        assert (engine.config.max_tokens, engine.config.hybrid_depth, engine.config.parse_workers) == (72, 2, None)
    # explicit arguments keep the engine's own messages
    with pytest.raises(ConfigError, match="batch_chunks must be at least 1, got 0"):
        Engine.open(embedder=hashing_embedder, batch_chunks=0)


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("RAGLINE_")}
    return subprocess.run([sys.executable, "-m", "ragline.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**base, "PYTHONPATH": SRC, "COLUMNS": "200", **env}, timeout=120, check=False)


@pytest.mark.integration
def test_config_show_says_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "ragline.toml").write_text('[chunk]\nmax_tokens = 200\noverlap = 20\n[ingest]\nbatch_chunks = 64\n')
    (tmp_path / "other.toml").write_text('[chunk]\nmax_tokens = 100\n')
    env = {"RAGLINE_CHUNK__OVERLAP": "10", "RAGLINE_STATE": "postgresql://me:hunter2@db.example/rag"}
    result = _cli("config", "show", "--json", "--embedder", "hashing:64", "--set", "search.feedback_chunks=0",
                  cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    settings = shown["settings"]
    assert shown["file"] == "ragline.toml"
    assert settings["chunk.max_tokens"] == {"value": 200, "source": "toml:ragline.toml"}
    assert settings["ingest.batch_chunks"] == {"value": 64, "source": "toml:ragline.toml"}
    assert settings["chunk.overlap"] == {"value": 10, "source": "env:RAGLINE_CHUNK__OVERLAP"}
    assert settings["embed.spec"] == {"value": "hashing:64", "source": "flag"}
    assert settings["search.feedback_chunks"] == {"value": 0, "source": "flag"}
    assert settings["search.hybrid_depth"] == {"value": 4, "source": "default"}
    assert "hunter2" not in result.stdout and settings["store.state"]["source"] == "env:RAGLINE_STATE"
    human = _cli("--config", "other.toml", "config", "show", "--max-tokens", "64", cwd=tmp_path, env={})
    assert human.returncode == 0, human.stderr
    lines = {line.split()[1]: line for line in human.stdout.splitlines() if line.count("│") >= 3}
    assert "64" in lines["chunk.max_tokens"] and "flag" in lines["chunk.max_tokens"]
    assert "32" in lines["chunk.overlap"] and "default" in lines["chunk.overlap"]
    from_file = _cli("--config", "other.toml", "config", "show", "--json", cwd=tmp_path, env={})
    assert json.loads(from_file.stdout)["settings"]["chunk.max_tokens"] == {"value": 100, "source": "toml:other.toml"}
    bad = _cli("config", "show", "--set", "chunk.max_tokens=4", cwd=tmp_path, env={})
    assert bad.returncode == 2 and "chunk.max_tokens: Input should be greater than or equal to 8" in bad.stderr


@pytest.mark.integration
def test_cli_ingest_takes_its_settings_from_the_file(tmp_path: Path) -> None:
    from tests.conftest import FIXTURES

    store = tmp_path / "store"
    (tmp_path / "ragline.toml").write_text(f'[store]\nuri = "local:{store}"\nnamespace = "docs"\n'
                                           '[embed]\nspec = "hashing:64"\n[chunk]\nmax_tokens = 80\n')
    ingested = _cli("ingest", str(FIXTURES / "good"), "--json", "--parse-workers", "0", cwd=tmp_path, env={})
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["namespace"] == "docs"
    with Engine.open(f"local:{store}", namespace="docs", create_store=False) as engine:
        assert engine.config.embedder == "hashing:64"  # reopened with the embedder it was built with
        assert json.loads(engine.state.get_meta("docs", "config") or "{}")["max_tokens"] == 80
        chunks = engine.store.get([hit.chunk.chunk_id for hit in engine.search("license", 50, mode="bm25")])
    assert chunks and max(chunk.token_count for chunk in chunks) <= 80
