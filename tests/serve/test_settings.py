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
