"""The server's settings: arguments > ``RAGLINE_SERVE_*`` environment > the ``serve`` section of
the settings tree (``[serve]`` in ragline.toml, ``RAGLINE_SERVE__*``) > defaults.

    settings = ServeSettings(store="local:./ragline-data", embedder="hashing:384", auth=False)
    RAGLINE_SERVE_API_KEYS="key1=tenant-a,key2=tenant-b" ragline serve --workers 2

With ``--workers N`` uvicorn builds the app in each worker from the environment (``app_from_env``),
so every setting has an environment variable; secrets (keys) are never printed.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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


def parse_key_map(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, namespace = part.partition("=")
        if not sep or not key.strip() or not namespace.strip():
            raise ConfigError("RAGLINE_SERVE_API_KEYS takes 'key=namespace' pairs separated by commas")
        keys[key.strip()] = namespace.strip()
    return keys


__all__ = ["ServeSettings", "parse_key_map"]
