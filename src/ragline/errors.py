"""The one exception tree of ragline.

    RaglineError
    ├── ConfigError   a setting or argument is wrong; the message says what to change
    ├── SourceError   a source cannot be listed or read
    ├── ParseError    a document cannot be turned into text (the reason is user-facing)
    ├── EmbedError    the embedder failed (model missing, backend error)
    ├── StoreError    the store cannot be opened, written or read
    ├── QueryError    a search request is malformed
    └── LLMError      the chat model (answers) failed; ``code`` is stable (llm_unavailable, ...)

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


class LLMError(RaglineError):
    """The chat-completions server failed or is not configured. ``code`` is stable, for the
    server's JSON errors and SSE ``error`` events: llm_not_configured, llm_unavailable,
    llm_rate_limited, llm_timeout, llm_refused, llm_bad_response, llm_stream_broken, llm_error."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
