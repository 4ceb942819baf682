"""The server's settings: arguments > ``RAGLINE_SERVE_*`` environment > the ``serve`` section of
the settings tree (``[serve]`` in ragline.toml, ``RAGLINE_SERVE__*``) > defaults.

    settings = ServeSettings(store="local:./ragline-data", embedder="hashing:384", auth=False)
    RAGLINE_SERVE_API_KEYS="key1=tenant-a,key2=tenant-b" ragline serve --workers 2

With ``--workers N`` uvicorn builds the app in each worker from the environment (``app_from_env``),
so every setting has an environment variable; secrets (keys) are never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from ragline.errors import ConfigError
from ragline.settings import ServeSection, resolve_settings


class _TreeSource(PydanticBaseSettingsSource):
    """The values ``[serve]`` in ragline.toml or ``RAGLINE_SERVE__*`` set (not the defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ answers for every field at once

    def __call__(self) -> dict[str, Any]:
        resolved = resolve_settings()
        return {name.partition(".")[2]: value for name, value, origin in resolved.rows()
                if name.startswith("serve.") and origin != "default"}


class ServeSettings(ServeSection, BaseSettings):  # type: ignore[misc]
    """The ``serve`` section of the settings tree (``ragline.settings.ServeSection``: every field
    and default is there), read as its own settings object: arguments > ``RAGLINE_SERVE_<FIELD>``
    (flat, what ``--workers N`` exports to each worker) > ``RAGLINE_SERVE__<FIELD>`` > ``[serve]``
    in ragline.toml > defaults."""

    model_config = SettingsConfigDict(env_prefix="RAGLINE_SERVE_", extra="ignore", frozen=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TreeSource(settings_cls)

    def query_batch_window_s(self) -> float:
        return self.batch_window_ms / 1000

    def key_map(self) -> dict[str, str]:
        """The operator's keys, {key: namespace}, from ``api_keys``."""
        return parse_key_map(self.api_keys.get_secret_value())


def flat_env_overrides(arguments: Mapping[str, Any] | None = None) -> dict[str, tuple[Any, str]]:
    """``{field: (value, "env:RAGLINE_SERVE_<FIELD>")}`` for each field a flat variable sets and
    ``arguments`` (which win) do not: the value is what ``ServeSettings(**arguments)`` resolves,
    i.e. what the server would run with (``ragline config show`` lists these over the tree's)."""
    given = {name: value for name, value in (arguments or {}).items() if value is not None}
    found = EnvSettingsSource(ServeSettings)()  # the very source ServeSettings reads them with
    flat = [name for name in found if name in ServeSettings.model_fields and name not in given]
    if not flat:
        return {}
    try:
        settings = ServeSettings(**given)
    except ValidationError as exc:
        problems = "; ".join(f"serve.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ConfigError(f"invalid server settings (RAGLINE_SERVE_* variables): {problems}") from None
    names = {name.lower(): name for name in os.environ}
    prefix = "RAGLINE_SERVE_"
    return {name: (getattr(settings, name), "env:" + names.get((prefix + name).lower(), prefix + name.upper()))
            for name in flat}


def parse_key_map(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, namespace = part.partition("=")
        if not sep or not key.strip() or not namespace.strip():
            raise ConfigError("RAGLINE_SERVE_API_KEYS takes 'key=namespace' pairs separated by commas")
        keys[key.strip()] = namespace.strip()
    return keys


__all__ = ["ServeSettings", "flat_env_overrides", "parse_key_map"]
