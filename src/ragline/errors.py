"""The one exception tree of ragline.

    RaglineError
    ├── ConfigError   a setting or argument is wrong; the message says what to change
    ├── SourceError   a source cannot be listed or read
    ├── ParseError    a document cannot be turned into text (the reason is user-facing)
    ├── EmbedError    the embedder failed (model missing, backend error)
    ├── StoreError    the store cannot be opened, written or read
    └── QueryError    a search request is malformed

Third-party exceptions are translated at the backend boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class RaglineError(Exception):
    """Base of every error ragline raises on purpose."""


class ConfigError(RaglineError):
    pass


class SourceError(RaglineError):
    pass


class ParseError(RaglineError):
    pass


class EmbedError(RaglineError):
    pass


class StoreError(RaglineError):
    pass


class QueryError(RaglineError):
    pass
