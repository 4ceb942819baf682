from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragline.chunk import Chunker, ChunkerConfig, split
from ragline.errors import ConfigError
from ragline.ids import make_doc_id
from ragline.records import Document, Section

WORDS = st.sampled_from(["alpha", "beta", "gamma.", "delta,", "epsilon!", "zeta", "\n\n", "\n", "naïve",
                         "über-long-hyphenated-word", "3.14", "x", "(paren)", "日本語", "—"])


def test_split_cuts_at_sentence_boundary(hashing_embedder):
    text = ("One two three four five six. " * 3 + "Seven eight nine ten eleven twelve. ") * 2
    spans = split(text, hashing_embedder, max_tokens=20, overlap=0)
    assert len(spans) > 1
    for span in spans[:-1]:
        assert text[span.start:span.end].endswith("."), text[span.start:span.end]


def test_split_prefers_paragraph_over_sentence(hashing_embedder):
    text = "Aaa bbb ccc. Ddd eee fff.\n\nGgg hhh iii. Jjj kkk lll. Mmm nnn ooo. Ppp qqq rrr."
    spans = split(text, hashing_embedder, max_tokens=16, overlap=0)
    assert text[spans[0].start:spans[0].end] == "Aaa bbb ccc. Ddd eee fff."


def test_overlap_repeats_tail_tokens(hashing_embedder):
    text = " ".join(f"w{i}" for i in range(300))
    spans = split(text, hashing_embedder, max_tokens=50, overlap=10)
    for a, b in zip(spans, spans[1:]):
        assert b.start < a.end, "consecutive chunks must overlap"


@pytest.mark.parametrize("max_tokens, overlap", [(4, 0), (64, 32), (64, -1)])
def test_invalid_parameters_say_what_to_change(hashing_embedder, max_tokens, overlap):
    with pytest.raises(ConfigError):
        split("some text", hashing_embedder, max_tokens, overlap)


def test_chunker_rejects_size_above_model_limit(hashing_embedder):
    with pytest.raises(ConfigError, match="model's limit"):
        Chunker(hashing_embedder, 256, ChunkerConfig(max_tokens=512))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=400), max_tokens=st.integers(8, 80),
       overlap_frac=st.floats(0, 0.45))
def test_spans_are_exact_bounded_and_cover_the_text(hashing_embedder, words, max_tokens, overlap_frac):
    text = " ".join(words).strip()
    overlap = int(max_tokens * overlap_frac) if max_tokens // 2 > 0 else 0
    overlap = min(overlap, max_tokens // 2 - 1)
    spans = split(text, hashing_embedder, max_tokens, overlap)
    offsets = hashing_embedder.offsets(text)
    if not offsets:
        assert spans == []
        return
    assert spans[0].start == offsets[0][0] and spans[-1].end == offsets[-1][1]
    for span in spans:
        chunk = text[span.start:span.end]
        assert chunk == chunk.strip() and chunk
        assert hashing_embedder.count([chunk])[0] == span.token_count <= max_tokens
    for a, b in zip(spans, spans[1:]):
        assert a.start < b.start and b.start <= a.end + 2 or text[a.end:b.start].strip() == ""


def test_chunker_lineage(hashing_embedder):
    text = "Intro\n\n" + "Para one sentence. " * 80 + "\n\nSecond part. " * 40
    mid = text.index("Second")
    doc = Document(doc_id=make_doc_id("ns", "file:///x.md"), uri="file:///x.md", version="v", text=text,
                   kind="markdown", sections=(Section(0, mid, page=1, heading=("A",)),
                                              Section(mid, len(text), page=2, heading=("A", "B"))),
                   metadata={"uri": "file:///x.md"})
    chunks = Chunker(hashing_embedder, 256, ChunkerConfig(64, 8))(doc)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.token_count <= 64
        assert chunk.metadata["page"] == (1 if chunk.start < mid else 2)
    assert chunks[-1].metadata["heading"] == "A > B"
    # Same input, same ids: upserts are idempotent.
    assert [c.chunk_id for c in Chunker(hashing_embedder, 256, ChunkerConfig(64, 8))(doc)] == \
           [c.chunk_id for c in chunks]


def test_chunks_crossing_a_page_break_record_the_last_page(hashing_embedder):
    pages = ["Page one words. " * 30, "Page two words. " * 30, "Page three words. " * 30]
    text = "\n\n".join(pages)
    sections, offset = [], 0
    for number, page in enumerate(pages, start=1):
        sections.append(Section(offset, offset + len(page), page=number))
        offset += len(page) + 2
    doc = Document(doc_id=make_doc_id("ns", "file:///p.pdf"), uri="file:///p.pdf", version="v", text=text,
                   kind="pdf", sections=tuple(sections), metadata={"uri": "file:///p.pdf"})
    chunks = Chunker(hashing_embedder, 256, ChunkerConfig(100, 0))(doc)
    for chunk in chunks:
        first = next(s.page for s in reversed(sections) if s.start <= chunk.start)
        last = next(s.page for s in reversed(sections) if s.start <= chunk.end - 1)
        assert chunk.metadata["page"] == first
        assert chunk.metadata.get("page_end", first) == last
    assert any("page_end" in c.metadata for c in chunks)


# ----- the character bound: text the tokenizer turns into one [UNK] is still split ------------
BLOB_ALPHABETS = {"hex": "0123456789abcdef", "letters": "abcdefghijklmnopqrstuvwxyz",
                  "base64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="}
BLOBS = st.builds(lambda alphabet, n, seed: "".join(alphabet[(seed * 7 + i * i) % len(alphabet)]
                                                    for i in range(n)),
                  st.sampled_from(list(BLOB_ALPHABETS.values())), st.integers(1, 3000), st.integers(0, 97))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(WORDS, BLOBS), min_size=1, max_size=60), max_tokens=st.integers(8, 80),
       overlap_frac=st.floats(0, 0.45), max_chars=st.integers(1, 400))
def test_no_span_exceeds_either_bound_and_every_token_is_covered(hashing_embedder, parts, max_tokens,
                                                                 overlap_frac, max_chars):
    text = " ".join(parts).strip()
    overlap = min(int(max_tokens * overlap_frac), max_tokens // 2 - 1)
    spans = split(text, hashing_embedder, max_tokens, overlap, max_chars)
    covered = bytearray(len(text))
    for span in spans:
        chunk = text[span.start:span.end]
        assert chunk and len(chunk) <= max_chars
        assert hashing_embedder.count([chunk])[0] == span.token_count <= max_tokens
        covered[span.start:span.end] = b"\x01" * len(chunk)
    for a, b in zip(spans, spans[1:]):
        assert a.start < b.start and a.end < b.end  # always forward, never the same chunk twice
    for start, end in hashing_embedder.offsets(text):
        assert all(covered[start:end]), f"token {text[start:end][:40]!r} is in no chunk"


def test_a_5_mb_line_without_spaces_becomes_bounded_chunks(hashing_embedder):
    blob = "0123456789abcdef" * (5 * 2**20 // 16)  # one [UNK] token to the tokenizer
    assert len(hashing_embedder.offsets(blob[:4096])) == 1
    text = "A short preface. " * 40 + "\n\n" + blob + "\n\nAnd an ending sentence."
    doc = Document(doc_id=make_doc_id("ns", "file:///blob.txt"), uri="file:///blob.txt", version="v",
                   text=text, kind="text", metadata={})
    config = ChunkerConfig()
    chunks = Chunker(hashing_embedder, 256, config)(doc)
    assert config.char_limit == 4096
    assert max(len(c.text) for c in chunks) <= 4096
    assert sum(len(c.text) for c in chunks if set(c.text) <= set("0123456789abcdef")) == len(blob)
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text and chunk.token_count <= 254
    assert chunks[0].text.startswith("A short preface.") and chunks[-1].text == "And an ending sentence."


def test_max_chars_is_validated(hashing_embedder):
    with pytest.raises(ConfigError, match="max_chars"):
        Chunker(hashing_embedder, 256, ChunkerConfig(max_chars=0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(WORDS, BLOBS, st.text(max_size=30)), min_size=1, max_size=80),
       segment=st.integers(1, 300))
@example(parts=["0\uc154"], segment=1)
def test_tokenizing_in_segments_gives_the_same_offsets(hashing_embedder, parts, segment):
    from ragline.chunk import token_ids, token_offsets

    text = " ".join(parts)
    whole = hashing_embedder.offsets(text)
    pieces = token_offsets(text, hashing_embedder, segment)
    offsets, ids, words = token_ids(text, hashing_embedder, segment)
    assert offsets == pieces and len(ids) == len(pieces)
    if all(len(run) <= segment for run in text.replace("\n", " ").replace("\t", " ").split(" ")):
        assert pieces == whole
        # The ids, and where words change, are those of one encode of the whole text.
        _, whole_ids, whole_words = hashing_embedder.encode_ids(text)
        assert list(ids) == list(whole_ids)
        assert [a != b for a, b in zip(words, words[1:])] == [a != b for a, b in zip(whole_words, whole_words[1:])]
    else:  # a run without whitespace longer than a segment is cut there: tokens stay in order
        # (two tokens may share a span: a Hangul syllable decomposes into two jamo tokens)
        assert all(0 <= a < b <= len(text) for a, b in pieces)
        assert all(a <= c and b <= d for (a, b), (c, d) in zip(pieces, pieces[1:]))
        if len(text) > segment:
            assert words is None  # ... and no chunk may take ids from the cut run


class _CountOnly:
    """The embedder's tokenizer without ``tokenize``: split takes its count-only path."""

    def __init__(self, tokenizer):
        self.offsets, self.count = tokenizer.offsets, tokenizer.count


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=300), max_tokens=st.integers(8, 64),
       overlap_frac=st.floats(0, 0.45))
def test_batched_counts_and_carried_ids_change_no_cut(hashing_embedder, words, max_tokens, overlap_frac):
    """Counting every chunk in one call (and keeping its ids) cuts exactly where re-counting each
    chunk as it is cut does; the ids are the chunk's own tokens."""
    from ragline.chunk import _cuts

    text = " ".join(words)
    overlap = int(max_tokens * overlap_frac) if max_tokens // 2 > int(max_tokens * overlap_frac) else 0
    careful = [(s.start, s.end, s.token_count) for s in _cuts(
        text, hashing_embedder.offsets(text), hashing_embedder, max_tokens, overlap, 16 * max_tokens,
        recount=lambda chunk: hashing_embedder.count([chunk])[0])]
    for tokenizer in (hashing_embedder, _CountOnly(hashing_embedder)):
        spans = split(text, tokenizer, max_tokens, overlap)
        assert [(s.start, s.end, s.token_count) for s in spans] == careful
    for span in split(text, hashing_embedder, max_tokens, overlap):
        assert span.text == text[span.start:span.end]
        assert list(span.text.ids) == hashing_embedder.tokenizer._plain.encode(
            span.text, add_special_tokens=False).ids


# ----- chunk ids are frozen: a faster chunker must not make existing stores re-embed ------------
# Computed with the chunker of commit 25e39da (which tokenized every chunk's text a second time),
# before the chunker took each chunk's ids from the document's one tokenization.
FROZEN_CHUNKS = {
    ("good/tutorial-whatnow.html", 256, 32): (
        ["1d63bbf792d3ccb214cf32a96a32e550", "818c0dfcec625c6f2cdaa2ceb0b0e299", "d90c1ddf83740095e6d3992e19ba50f7"],
        [247, 253, 191], "2b636966f5c7f3a7"),
    ("good/tutorial-whatnow.html", 64, 8): (
        ["0990468897a3b843997a5f9e78eafc63", "634062e99edc972dfee3ba787a94ecaa", "50efc4d7cad09a459fc375130f11d027",
         "2cba714eaff0022a52bfba6c2c24e8f7", "51cfb97db7b852134feaca877809e07d", "1b32d7cc963ab2fd80438713888c645d",
         "5ffb590d4ec9eb5eff3f7bff6b30cc81", "33914604e9f8f223254142dd4f7b27c4", "449165e6661312807a2634cd13afd9fe",
         "d23134d44905004f9f40facd9ff5ee17", "324604296da2eaabc19d3164fe250d24", "6454e8233c0606e076906abdd6c7c99c",
         "9d16f595d3efb44088b73ef6c68cfb28", "9f8b4a0b6e705f6866b015441beb8990"],
        [61, 55, 60, 61, 57, 48, 46, 61, 42, 53, 48, 58, 50, 35], "3e2ef65425291e4f"),
    # Decomposed accents and control characters, cut small with a wide overlap: many cuts inside words.
    ("encoding/unicode_nfd_controls.md", 32, 15): (
        "690787d80d0a5c6c",  # xxh3-64 of the 32 chunk ids joined by spaces
        [30, 32, 32, 32, 23, 32, 23, 32, 32, 22, 32, 32, 20, 25, 25, 32, 32, 24, 32, 27, 32, 32, 32, 31, 32, 24, 31,
         32, 32, 23, 32, 22], "389a2fcd075d408a"),
}


@pytest.mark.parametrize("key", list(FROZEN_CHUNKS), ids=lambda key: f"{key[0]}-{key[1]}-{key[2]}")
def test_chunk_ids_texts_and_token_ids_match_the_frozen_ones(hashing_embedder, key):
    import numpy as np
    import xxhash

    from ragline.parse import parse_bytes
    from tests.conftest import FIXTURES

    rel, max_tokens, overlap = key
    ids, counts, token_digest = FROZEN_CHUNKS[key]
    uri = f"file:///fixtures/{rel}"
    parsed = parse_bytes((FIXTURES / rel).read_bytes(), uri)
    doc = Document(doc_id=make_doc_id("ns", uri), uri=uri, version="v", text=parsed.text, kind=parsed.kind,
                   sections=parsed.sections, metadata={})
    chunks = Chunker(hashing_embedder, 256, ChunkerConfig(max_tokens, overlap))(doc)
    chunk_ids = [c.chunk_id for c in chunks]
    if isinstance(ids, str):
        assert xxhash.xxh3_64_hexdigest(" ".join(chunk_ids).encode()) == ids
    else:
        assert chunk_ids == ids
    assert [c.token_count for c in chunks] == counts
    # The ids carried to the embedder are the chunk's own tokens, as a separate encode gives them.
    carried = np.concatenate([c.text.ids for c in chunks]).astype("<i4")
    assert xxhash.xxh3_64_hexdigest(carried.tobytes()) == token_digest
    for chunk in chunks:
        assert list(chunk.text.ids) == hashing_embedder.tokenizer._plain.encode(chunk.text,
                                                                                add_special_tokens=False).ids



@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(WORDS, st.sampled_from(['."', "?')", '!")]', ":", ";\n", ".\n\n\n", "\n \n"]),
                          st.text(alphabet=".!?:;\"')] \nab", max_size=8)), min_size=1, max_size=120))
def test_boundaries_found_at_once_are_the_gaps_strengths(hashing_embedder, parts):
    """The strongest gaps found from the text's newlines and terminators are those that asking
    every gap finds."""
    from ragline.chunk import _boundaries, _boundary_strength

    text = " ".join(parts)
    offsets = hashing_embedder.offsets(text)
    found = _boundaries(text, offsets)
    for strength in (3, 2, 1):
        assert found.by_strength[strength] == [
            i for i in range(1, len(offsets)) if _boundary_strength(text, offsets[i - 1][1], offsets[i][0]) == strength]


# ----- one tokenization per document ------------------------------------------------------------
# Text where a cut can fall inside a word, beside punctuation, in characters the normalizer drops
# (zero-width space, form feed, combining accents, controls) or in whitespace it maps to a space.
ODD = st.sampled_from(["\u200b", "\x0c", "\x0b", "\x1c", "\u0301", "e\u0301", "\u00a0", "\u3000", "\r\n", "\t",
                       "\u2028", "unaffable", "tokenization's", "x\u200by", "ﬁ", "İ", "ß", "😀", "a" * 101, "\x00"])


class _TextOnly:
    """The embedder's tokenizer without ``encode_ids``: every chunk is tokenized on its own text."""

    def __init__(self, tokenizer):
        self.offsets, self.count, self.tokenize = tokenizer.offsets, tokenizer.count, tokenizer.tokenize


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(WORDS, ODD, st.text(max_size=12)), min_size=1, max_size=200),
       separators=st.lists(st.sampled_from([" ", "", "\n", "\u200b", " \u0301"]), min_size=1, max_size=5),
       max_tokens=st.integers(8, 40), overlap_frac=st.floats(0, 0.45))
def test_ids_sliced_from_the_document_are_the_chunks_own(hashing_embedder, parts, separators, max_tokens,
                                                         overlap_frac):
    """A chunk takes its slice of the document's ids only where that is what its own text gives:
    the same spans, counts and ids as tokenizing every chunk on its own."""
    text = "".join(part + separators[i % len(separators)] for i, part in enumerate(parts))
    overlap = min(int(max_tokens * overlap_frac), max_tokens // 2 - 1)
    spans = split(text, hashing_embedder, max_tokens, overlap)
    alone = split(text, _TextOnly(hashing_embedder.tokenizer), max_tokens, overlap)
    assert [(s.start, s.end, s.token_count) for s in spans] == [(s.start, s.end, s.token_count) for s in alone]
    plain = hashing_embedder.tokenizer._plain
    for span in spans:
        assert span.text == text[span.start:span.end]
        assert list(span.text.ids) == plain.encode(span.text, add_special_tokens=False).ids
        assert len(span.text.ids) == span.token_count <= max_tokens


class _Tally:
    """The real model tokenizer, counting the characters each method is given."""

    def __init__(self, tokenizer):
        self.inner, self.encoded, self.alone = tokenizer, 0, 0
        self.offsets, self.count, self.carry = tokenizer.offsets, tokenizer.count, tokenizer.carry

    def encode_ids(self, text):
        self.encoded += len(text)
        return self.inner.encode_ids(text)

    def tokenize(self, texts):
        self.alone += sum(map(len, texts))
        return self.inner.tokenize(texts)


def test_a_document_is_tokenized_once(hashing_embedder):
    from ragline.parse import parse_bytes
    from tests.conftest import SAMPLES

    for name, max_tokens, overlap in [("docs/python/library-copy.html", 254, 32), ("licences/apache-2.0.txt", 254, 32),
                                      ("licences/apache-2.0.txt", 64, 8)]:
        text = parse_bytes((SAMPLES / name).read_bytes(), f"file:///{name}").text
        tally = _Tally(hashing_embedder.tokenizer)
        spans = split(text, tally, max_tokens, overlap)
        assert len(spans) >= 3 and tally.encoded == len(text)
        # Only chunks cut inside a word (an overlap or a window that found no boundary) are
        # tokenized again on their own; tokenizing every chunk again took over twice the text.
        assert tally.encoded + tally.alone <= 1.15 * len(text), (name, tally.alone, len(text))
        assert [(s.start, s.end, s.token_count) for s in spans] == [
            (s.start, s.end, s.token_count) for s in split(text, _TextOnly(hashing_embedder.tokenizer), max_tokens,
                                                           overlap)]


def test_a_tokenizer_without_word_boundaries_tokenizes_every_chunk(tmp_path):
    """Byte-level BPE puts the space before a word into its first token, so a chunk's own text
    does not tokenize as in context: such a tokenizer gives no word numbers, and every chunk is
    tokenized on its own text (with the same cuts and its own ids)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from ragline.embed.tokenizer import ModelTokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    text = " ".join(["The quick brown fox jumps over the lazy dog.", "Pack my box with five dozen liquor jugs!"] * 40)
    bpe.train_from_iterator([text], trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.save(str(tmp_path / "tokenizer.json"))
    tokenizer = ModelTokenizer(tmp_path, 512)
    assert tokenizer.encode_ids(text)[2] is None
    tally = _Tally(tokenizer)
    spans = split(text, tally, 24, 6)
    assert tally.alone == sum(s.end - s.start for s in spans)
    assert [(s.start, s.end, s.token_count) for s in spans] == [
        (s.start, s.end, s.token_count) for s in split(text, _TextOnly(tokenizer), 24, 6)]
    for span in spans:
        assert list(span.text.ids) == bpe.encode(span.text, add_special_tokens=False).ids
