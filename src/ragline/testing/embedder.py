"""EmbedderContract: what the engine relies on from every ``Embedder``, shipped so that a
third-party embedder (a new runtime, another HTTP API) runs the same tests as the built-in ones.

    class TestMyEmbedder(EmbedderContract):
        atol = 1e-5                           # how far two vectors of one text may differ

        @pytest.fixture(scope="class")
        @classmethod
        def make_embedder(cls):               # a new, open embedder per call
            return lambda: MyEmbedder()

The suite embeds a few short texts. It checks that ``model_id`` and ``revision`` are stable,
non-empty strings (they key the embedding cache); that ``embed`` returns a float32
``(len(texts), dim)`` array of finite, L2-normalised rows (the engine does *not* normalise:
it stores and searches the rows as they come); that a text's vector does not depend on the call,
on its place in the batch or on the batch's other texts (length bucketing and padding must not
move a vector, within ``atol``); that ``[]`` gives ``(0, dim)``; that empty, blank, non-ASCII and
emoji texts embed; that a text beyond ``max_tokens`` is truncated, not refused, exactly where the
chunker counts (``count``/``offsets``: ``max_tokens`` minus the ``special_tokens`` the model adds);
that texts carrying their token ids (``tokenize``, when the embedder has it) and per-token vectors
(``TokenEmbedder``) agree with plain text; that concurrent ``embed`` calls from several threads
give the same vectors (the server embeds from threads); and that ``close()`` may be called twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ragline.embed.base import Embedder, TokenEmbedder

__all__ = ["EDGE_TEXTS", "TEXTS", "EmbedderContract"]

TEXTS = [
    "Boundary layer transition on a flat plate at high Reynolds number.",
    "Shock wave interaction.",
    "Heat transfer to a blunt body in hypersonic flow, measured with thin-film gauges on the nose.",
    "Flutter of a swept wing.",
    "Laminar flow",
]

# Texts a parser can hand over: empty, blank, accented, CJK, emoji, a control character.
EDGE_TEXTS = ["", " ", "\n\t  \n", "Strömungsmechanik für Überschallflügel", "边界层转捩的实验研究",
              "🚀🔥 launch 👩‍🔬", "tab\tand\x00nul"]

# Single-token words (in WordPiece vocabularies), so a prefix of whole words has a known count.
_WORDS = ["wing", "flow", "shock", "heat", "plate", "wave", "nose", "body"]


def _words(n: int, start: int = 0) -> str:
    return " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n))


class EmbedderContract:
    atol: float = 1e-5           # max |difference| between two vectors of one text (batching, threads)
    special_tokens: int = 2      # tokens the model adds around a text ([CLS], [SEP]); the chunker's 2
    token_vectors: bool = True   # whether it gives per-token vectors (TokenEmbedder, MaxSim re-ranking)
    threads: int = 4

    @pytest.fixture(scope="class")
    @classmethod
    def make_embedder(cls) -> Callable[[], Embedder]:
        raise NotImplementedError("an embedder's test class provides make_embedder")

    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls, make_embedder: Callable[[], Embedder]) -> Iterator[Embedder]:
        embedder = make_embedder()
        yield embedder
        embedder.close()

    def close_enough(self, a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and float(np.abs(a - b).max(initial=0.0)) <= self.atol

    def assert_vectors(self, embedder: Embedder, vectors: np.ndarray, n: int) -> None:
        assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32, type(vectors)
        assert vectors.shape == (n, embedder.dim)
        assert np.isfinite(vectors).all()
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4), "rows must be L2-normalised"

    # ----- identity -----------------------------------------------------------------------
    def test_implements_the_protocol(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)

    def test_identity_is_stable(self, embedder: Embedder, make_embedder: Callable[[], Embedder]) -> None:
        for name in ("model_id", "revision"):
            value = getattr(embedder, name)
            assert isinstance(value, str) and value.strip(), f"{name} must be a non-empty string"
        assert isinstance(embedder.max_tokens, int) and embedder.max_tokens > self.special_tokens
        other = make_embedder()
        try:
            assert (other.model_id, other.revision, other.max_tokens) == (
                embedder.model_id, embedder.revision, embedder.max_tokens)
            embedder.embed(TEXTS[:1])
            assert (embedder.model_id, embedder.revision) == (other.model_id, other.revision)
        finally:
            other.close()

    # ----- vectors ------------------------------------------------------------------------
    def test_vectors_are_unit_float32_rows_of_dim(self, embedder: Embedder) -> None:
        vectors = embedder.embed(TEXTS)
        assert isinstance(embedder.dim, int) and embedder.dim > 0
        self.assert_vectors(embedder, vectors, len(TEXTS))
        assert len({row.tobytes() for row in vectors}) == len(TEXTS), "different texts, one vector"

    def test_empty_list_gives_zero_rows_of_dim(self, make_embedder: Callable[[], Embedder]) -> None:
        fresh = make_embedder()  # before any text was embedded, too
        try:
            empty = fresh.embed([])
            assert empty.dtype == np.float32 and empty.shape == (0, fresh.dim)
            assert fresh.embed(TEXTS[:1]).shape == (1, fresh.dim)
        finally:
            fresh.close()

    def test_deterministic(self, embedder: Embedder) -> None:
        assert self.close_enough(embedder.embed(TEXTS), embedder.embed(TEXTS))

    def test_batch_rows_equal_each_text_alone(self, embedder: Embedder) -> None:
        batch = embedder.embed(TEXTS)
        alone = np.vstack([embedder.embed([text]) for text in TEXTS])
        assert self.close_enough(batch, alone), float(np.abs(batch - alone).max())

    def test_batch_composition_does_not_move_vectors(self, embedder: Embedder) -> None:
        batch = embedder.embed(TEXTS)
        reordered = embedder.embed(TEXTS[::-1])[::-1]
        assert self.close_enough(batch, reordered), "order in the batch moved a vector"
        padded = embedder.embed([_words(120), *TEXTS, TEXTS[0]])  # a long neighbour, a duplicate
        assert self.close_enough(batch, padded[1:-1]), "padding to a longer text moved a vector"
        assert self.close_enough(padded[1], padded[-1])

    def test_edge_texts_embed(self, embedder: Embedder) -> None:
        vectors = embedder.embed(EDGE_TEXTS)
        self.assert_vectors(embedder, vectors, len(EDGE_TEXTS))
        for text, row in zip(EDGE_TEXTS, vectors):
            assert self.close_enough(embedder.embed([text])[0], row), repr(text)

    # ----- tokens and truncation ----------------------------------------------------------
    def test_count_and_offsets_agree(self, embedder: Embedder) -> None:
        texts = TEXTS + EDGE_TEXTS
        counts = embedder.count(texts)
        assert counts == [len(embedder.offsets(text)) for text in texts]
        for text in texts:
            spans = embedder.offsets(text)
            assert all(0 <= a <= b <= len(text) for a, b in spans), (text, spans)
            assert [a for a, _ in spans] == sorted(a for a, _ in spans)

    def test_long_text_is_truncated_where_the_chunker_counts(self, embedder: Embedder) -> None:
        room = embedder.max_tokens - self.special_tokens
        full = _words(room)
        assert embedder.count([full]) == [room], "the contract's words must be one token each"
        shorter, longer = _words(room - 1), full + " " + _words(200, start=3)
        vectors = embedder.embed([full, longer, shorter, longer + " " + _words(room)])
        self.assert_vectors(embedder, vectors, 4)
        assert self.close_enough(vectors[1], vectors[0]), "tokens past max_tokens changed the vector"
        assert self.close_enough(vectors[3], vectors[0])
        assert not self.close_enough(vectors[2], vectors[0]), (
            f"the {room}th token did not count: embed truncates before max_tokens - {self.special_tokens}")

    def test_tokenized_texts_give_the_same_vectors(self, embedder: Embedder) -> None:
        tokenize = getattr(embedder, "tokenize", None)
        assert tokenize is not None, ("tokenize() lets the chunker hand over token ids, so chunks are "
                                      "not tokenized a second time (every built-in embedder has it)")
        texts = [*TEXTS, *EDGE_TEXTS, _words(embedder.max_tokens + 40)]
        pieces = list(tokenize(texts))
        assert [str(p) for p in pieces] == texts and all(isinstance(p, str) for p in pieces)
        assert embedder.count(pieces) == embedder.count(texts)
        plain = embedder.embed(texts)
        assert self.close_enough(embedder.embed(pieces), plain)
        mixed = [p if i % 2 else t for i, (p, t) in enumerate(zip(pieces, texts))]
        assert self.close_enough(embedder.embed(mixed), plain)

    def test_token_vectors_agree_with_text(self, embedder: Embedder) -> None:
        assert isinstance(embedder, TokenEmbedder) == self.token_vectors, (
            "token_vectors says whether this embedder gives per-token vectors; the protocol check disagrees")
        if not self.token_vectors:
            return  # the engine then refuses MaxSim re-ranking with a clear QueryError (Engine._query_tokens)
        assert isinstance(embedder, TokenEmbedder)
        room = embedder.max_tokens - self.special_tokens
        texts = [*TEXTS, "", _words(room + 30)]
        arrays = embedder.embed_tokens(texts)
        assert len(arrays) == len(texts)
        for text, count, array in zip(texts, embedder.count(texts), arrays):
            assert array.dtype == np.float32 and array.shape == (min(count, room), embedder.dim), text[:40]
            if len(array):
                assert np.allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-4)
        tokenize = getattr(embedder, "tokenize", None)
        if tokenize is not None:
            for a, b in zip(embedder.embed_tokens(list(tokenize(texts))), arrays):
                assert self.close_enough(a, b)

    # ----- threads and lifecycle ----------------------------------------------------------
    def test_concurrent_calls_give_the_same_vectors(self, embedder: Embedder) -> None:
        batches = [TEXTS, TEXTS[::-1], TEXTS[:2], EDGE_TEXTS, [TEXTS[3]], TEXTS[1:4]] * 2
        serial = [embedder.embed(batch) for batch in batches]
        with ThreadPoolExecutor(self.threads) as pool:
            for _ in range(2):
                parallel = list(pool.map(embedder.embed, batches))
                for batch, one, other in zip(batches, serial, parallel):
                    assert self.close_enough(one, other), f"a concurrent call changed {batch[:1]}"

    def test_close_is_idempotent(self, make_embedder: Callable[[], Embedder]) -> None:
        unused = make_embedder()
        unused.close()
        unused.close()
        used = make_embedder()
        used.embed(TEXTS[:2])
        used.close()
        used.close()
