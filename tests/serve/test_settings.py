"""Server settings: the environment, key lists, exposure checks and the public surface."""

from __future__ import annotations

import pytest

import ragline.serve
from ragline.errors import ConfigError
from ragline.serve.launch import check_exposure
from ragline.serve.settings import ServeSettings, parse_key_map
from ragline.serve.uploads import sniff_kind, upload_uri


def test_public_surface():
    assert sorted(ragline.serve.__all__) == ["ServeSettings", "app_from_env", "create_app"]


def test_settings_come_from_the_environment_and_keys_stay_secret(monkeypatch):
    monkeypatch.setenv("RAGLINE_SERVE_API_KEYS", "k1=alpha, k2=beta")
    monkeypatch.setenv("RAGLINE_SERVE_MAX_IN_FLIGHT", "7")
    settings = ServeSettings()
    assert settings.key_map() == {"k1": "alpha", "k2": "beta"} and settings.max_in_flight == 7
    assert "k1" not in repr(settings)
    assert settings.query_batch_window_s() == 0.002
    with pytest.raises(ConfigError, match="key=namespace"):
        parse_key_map("just-a-key")


def test_no_auth_is_refused_off_loopback():
    check_exposure(ServeSettings(auth=False, host="127.0.0.1"))
    check_exposure(ServeSettings(auth=True, host="0.0.0.0"))
    with pytest.raises(ConfigError, match="127.0.0.1"):
        check_exposure(ServeSettings(auth=False, host="0.0.0.0"))


@pytest.mark.parametrize(("data", "name", "kind", "uri"), [
    (b"%PDF-1.7 ...", "report.txt", "pdf", "upload://t/report.txt?as=.pdf"),
    (b"<!DOCTYPE html><html><body>x</body></html>", "page.pdf", "html", "upload://t/page.pdf?as=.html"),
    (b"# Title\n\ntext", "notes.md", "markdown", "upload://t/notes.md"),
    (b"plain words", "../../etc/passwd", "text", "upload://t/..%2F..%2Fetc%2Fpasswd?as=.txt"),
    (b"\x00\x01\x02binary\x00", "x.txt", "binary", "upload://t/x.txt"),
])
def test_the_parser_is_chosen_from_the_bytes_and_names_stay_names(data, name, kind, uri):
    assert sniff_kind(data, name) == kind
    assert upload_uri("t", name, kind) == uri


def test_the_serve_section_of_the_settings_tree(monkeypatch, tmp_path):
    """[serve] in ragline.toml < RAGLINE_SERVE__* < RAGLINE_SERVE_* (flat) < arguments."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    for name in list(os.environ):
        if name.startswith("RAGLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ragline.toml").write_text('[serve]\nport = 9100\nworkers = 3\nmax_in_flight = 5\n'
                                           'api_keys = "toml-key=tenant-t"\nllm = "openai:from-toml"\n')
    monkeypatch.setenv("RAGLINE_SERVE__WORKERS", "4")
    monkeypatch.setenv("RAGLINE_SERVE__MAX_IN_FLIGHT", "6")
    monkeypatch.setenv("RAGLINE_SERVE_MAX_IN_FLIGHT", "7")
    settings = ServeSettings(llm="openai:argument")
    assert (settings.port, settings.workers, settings.max_in_flight, settings.llm) == (9100, 4, 7, "openai:argument")
    assert settings.key_map() == {"toml-key": "tenant-t"} and settings.batch_max == 32
    (tmp_path / "ragline.toml").write_text('[serve]\nprot = 1\n')
    with pytest.raises(ConfigError, match="serve.prot"):
        ServeSettings()
    # `ragline config show` lists the section, with where each value came from, keys redacted.
    (tmp_path / "ragline.toml").write_text('[serve]\nport = 9100\napi_keys = "toml-key=tenant-t"\n')
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    shown = subprocess.run([sys.executable, "-m", "ragline.cli", "config", "show", "--json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["settings"]
    assert rows["serve.port"] == {"value": 9100, "source": "toml:ragline.toml"}
    assert rows["serve.workers"] == {"value": 4, "source": "env:RAGLINE_SERVE__WORKERS"}
    assert rows["serve.batch_max"] == {"value": 32, "source": "default"}
    assert rows["serve.api_keys"]["value"] == "[REDACTED]" and "toml-key" not in shown.stdout


def test_config_show_resolves_the_serve_section_as_the_server_does(monkeypatch, tmp_path):
    """Flat RAGLINE_SERVE_<FIELD> variables (what --workers N exports) win over the tree in
    `ragline config show` as in ServeSettings; flags still win over them; keys stay redacted."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    for name in list(os.environ):
        if name.startswith("RAGLINE_"):
            monkeypatch.delenv(name)
    (tmp_path / "ragline.toml").write_text('[serve]\nport = 9100\nmax_in_flight = 5\nworkers = 2\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
           "RAGLINE_SERVE__MAX_IN_FLIGHT": "6", "RAGLINE_SERVE_MAX_IN_FLIGHT": "7", "RAGLINE_SERVE_PORT": "9300",
           "RAGLINE_SERVE_AUTH": "false", "RAGLINE_SERVE_ADMIN_KEY": "admin-hunter2",
           "RAGLINE_SERVE__BATCH_MAX": "8"}

    def show(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ragline.cli", "config", "show", *args], cwd=tmp_path,
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)

    shown = show("--json", "--set", "serve.port=9400")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["settings"]
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served = ServeSettings(port=9400)  # what the server runs with, the same way
    assert rows["serve.max_in_flight"] == {"value": served.max_in_flight, "source": "env:RAGLINE_SERVE_MAX_IN_FLIGHT"}
    assert served.max_in_flight == 7
    assert rows["serve.port"] == {"value": 9400, "source": "flag"}
    assert rows["serve.auth"] == {"value": False, "source": "env:RAGLINE_SERVE_AUTH"} and served.auth is False
    assert rows["serve.workers"] == {"value": 2, "source": "toml:ragline.toml"} and served.workers == 2
    assert rows["serve.batch_max"] == {"value": 8, "source": "env:RAGLINE_SERVE__BATCH_MAX"} and served.batch_max == 8
    assert rows["serve.admin_key"] == {"value": "[REDACTED]", "source": "env:RAGLINE_SERVE_ADMIN_KEY"}
    assert "hunter2" not in shown.stdout
    table = show(COLUMNS="200")
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if "serve.max_in_flight" in line)
    assert "7" in line and "RAGLINE_SERVE_MAX_IN_FLIGHT" in "".join(line.split())
    bad = show("--json", RAGLINE_SERVE_PORT="not-a-port")
    assert bad.returncode == 2 and "serve.port" in bad.stderr and "RAGLINE_SERVE_" in bad.stderr
