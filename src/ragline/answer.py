"""Answers with citations: retrieve, pack the best chunks into a token budget, ask a chat model
to answer from them citing ``[n]``, and stream the answer as events.

    answerer = Answerer(engine, open_llm("openai:gpt-4o-mini"))
    for event in answerer.stream("How are deletes propagated?"):
        print(event.event, event.data)      # citations, then token..., then done (or error)

Framework-agnostic: the server's ``POST /v1/answer`` writes each ``AnswerEvent.sse()`` as it comes,
the CLI prints the tokens. Retrieval errors (a bad filter, an empty query) raise ``QueryError``
from ``retrieve`` before any event; chat-model failures become one ``error`` event with a stable
code (``LLMError.code``), or an ``LLMError`` from ``answer``.

Token budget: chunks are counted with the engine embedder's tokenizer (MiniLM's WordPiece by
default). A chat model's own tokenizer differs; on English prose WordPiece counts come within
about 10-15% of GPT-style BPE counts, so leave that much headroom in ``max_context_tokens``.
Whole chunks only, best first; a chunk that does not fit is skipped and smaller later ones may
still fill the rest of the budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ragline.errors import ConfigError, LLMError
from ragline.llm import Message, Usage
from ragline.records import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages the user gives you. "
    "Cite every statement with the number of the passage it comes from, in square brackets, "
    "like [1] or [2][3]. If the passages do not contain the answer, say that the context does "
    "not contain the answer instead of guessing. Be concise.")
_CITED = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


class ChatModel(Protocol):
    """What the answerer needs from a chat client (``ragline.llm.ChatClient`` is one)."""

    model: str

    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]: ...


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    source: str
    title: str | None
    snippet: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What retrieval packed for one question: the passages (numbered 1..n) and their tokens."""

    question: str
    citations: tuple[Citation, ...]
    passages: tuple[str, ...]
    tokens: int
    retrieved: int  # hits before packing

    def messages(self, system_prompt: str = SYSTEM_PROMPT) -> list[Message]:
        blocks = "\n\n".join(self.passages) if self.passages else "(no passages were found)"
        return [{"role": "system", "content": system_prompt},
                {"role": "user", "content": f"Context passages:\n\n{blocks}\n\nQuestion: {self.question}"}]


@dataclass(frozen=True)
class AnswerEvent:
    event: str  # citations | token | done | error
    data: dict[str, Any]

    def sse(self) -> str:
        """The event as a server-sent event (``text/event-stream``)."""
        return f"event: {self.event}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    cited: list[int]
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": [c.to_dict() for c in self.citations], "cited": self.cited,
                "usage": self.usage}


def cited_numbers(text: str, n: int) -> list[int]:
    """The passage numbers ``text`` cites (``[2]``, ``[1, 3]``, ``[1][2]``), in order of first
    citation, keeping only 1..n: a model citing a passage it was not given is not a citation."""
    seen: list[int] = []
    for group in _CITED.findall(text):
        for number in re.split(r"\s*[,;]\s*", group):
            value = int(number)
            if 1 <= value <= n and value not in seen:
                seen.append(value)
    return seen


def pack(hits: Sequence[Hit], count_tokens: Any, budget: int) -> tuple[list[tuple[Hit, str]], int]:
    """Whole passages, best first, within ``budget`` tokens (header lines included). Returns the
    (hit, passage) pairs kept, numbered in order, and the tokens they use."""
    kept: list[tuple[Hit, str]] = []
    used = 0
    for hit in hits:
        n = len(kept) + 1
        title = hit.chunk.metadata.get("title")
        header = f"[{n}] " + (f"{title} ({hit.uri})" if title else hit.uri)
        passage = f"{header}\n{hit.chunk.text.strip()}"
        tokens = int(count_tokens([passage])[0])
        if used + tokens > budget:
            continue
        kept.append((hit, passage))
        used += tokens
    return kept, used


class Answerer:
    """Retrieval plus a chat model. ``llm=None`` is allowed: ``retrieve`` works, and answering
    fails with ``LLMError('llm_not_configured')`` so a server can say so clearly."""

    def __init__(self, engine: Any, llm: ChatModel | None, *, k: int = 8, mode: str = "hybrid",
                 max_context_tokens: int = 2000, system_prompt: str = SYSTEM_PROMPT):
        if k < 1:
            raise ConfigError(f"answer: k must be at least 1, got {k}")
        if max_context_tokens < 16:
            raise ConfigError(f"answer: max_context_tokens must be at least 16, got {max_context_tokens}")
        self.engine, self.llm = engine, llm
        self.k, self.mode, self.max_context_tokens = k, mode, max_context_tokens
        self.system_prompt = system_prompt

    def retrieve(self, question: str, *, k: int | None = None, mode: str | None = None,
                 filters: Any = None, max_context_tokens: int | None = None) -> Context:
        """Search and pack. Raises ``QueryError`` for a bad request (before anything streams)."""
        budget = max_context_tokens if max_context_tokens is not None else self.max_context_tokens
        if budget < 16:
            raise ConfigError(f"answer: max_context_tokens must be at least 16, got {budget}")
        hits = self.engine.search(question, k or self.k, mode=mode or self.mode, filter=filters)
        kept, used = pack(hits, self.engine.embedder.count, budget)
        citations = tuple(
            Citation(n, hit.chunk.chunk_id, hit.chunk.doc_id, hit.uri, hit.chunk.metadata.get("title"),
                     hit.snippet.marked() if hit.snippet is not None else hit.chunk.text[:240], round(hit.score, 6))
            for n, (hit, _) in enumerate(kept, start=1))
        return Context(question, citations, tuple(passage for _, passage in kept), used, len(hits))

    def generate(self, context: Context) -> Iterator[AnswerEvent]:
        """``citations``, then a ``token`` per streamed piece, then ``done`` with the numbers the
        text cited; a chat-model failure ends the stream with one ``error`` event instead."""
        yield AnswerEvent("citations", {"citations": [c.to_dict() for c in context.citations],
                                        "context_tokens": context.tokens})
        if self.llm is None:
            yield _error(LLMError("llm_not_configured", _NOT_CONFIGURED))
            return
        usage = Usage()
        pieces: list[str] = []
        try:
            for piece in self.llm.stream(context.messages(self.system_prompt), usage):
                pieces.append(piece)
                yield AnswerEvent("token", {"text": piece})
        except LLMError as exc:
            yield _error(exc)
            return
        text = "".join(pieces)
        yield AnswerEvent("done", {"cited": cited_numbers(text, len(context.citations)), "usage": usage.to_dict(),
                                   "model": self.llm.model})

    def stream(self, question: str, **options: Any) -> Iterator[AnswerEvent]:
        """``retrieve`` then ``generate``; without a chat model, ``LLMError`` before anything."""
        if self.llm is None:
            raise LLMError("llm_not_configured", _NOT_CONFIGURED)
        yield from self.generate(self.retrieve(question, **options))

    def answer(self, question: str, **options: Any) -> Answer:
        """The whole answer; a chat-model failure raises its ``LLMError``."""
        context = self.retrieve(question, **options)
        citations = list(context.citations)
        pieces: list[str] = []
        for event in self.generate(context):
            if event.event == "token":
                pieces.append(event.data["text"])
            elif event.event == "error":
                raise LLMError(event.data["code"], event.data["message"])
            elif event.event == "done":
                return Answer("".join(pieces), citations, event.data["cited"], event.data["usage"])
        raise LLMError("llm_error", "the answer stream ended without a result")  # not reached


_NOT_CONFIGURED = ("no chat model is configured: pass --llm openai:MODEL (and --llm-base-url for a server "
                   "other than OpenAI's; the key comes from $OPENAI_API_KEY)")


def _error(exc: LLMError) -> AnswerEvent:
    return AnswerEvent("error", {"code": exc.code, "message": str(exc)})


__all__ = ["SYSTEM_PROMPT", "Answer", "AnswerEvent", "Answerer", "ChatModel", "Citation", "Context",
           "cited_numbers", "pack"]
