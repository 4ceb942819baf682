"""`ragline search` with --where, --path-prefix and --group-by, end to end through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import ragline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~40 s: a dozen CLI processes


@pytest.fixture()
def store(tmp_path):
    docs = tmp_path / "docs"
    (docs / "a").mkdir(parents=True)
    (docs / "a-old").mkdir()
    (docs / "a" / "one.md").write_text("# Rivers\n\nRivers flow to the sea. Rivers carry water.\n")
    (docs / "a-old" / "two.md").write_text("# Old rivers\n\nAn old note about rivers and lakes.\n")
    records = [{"id": f"r{year}", "text": f"Rivers in the year {year}.", "year": year}
               for year in (1985, 1995, 2005)]
    (docs / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    uri = f"local:{tmp_path / 'store'}"
    ragline("ingest", str(docs), "--store", uri, "--embedder", "hashing:64")
    return uri, docs


def search(uri, *args):
    return json.loads(ragline("search", "rivers", "--store", uri, "--json", "-k", "10", *args).stdout)


def test_where_path_prefix_and_group_by(store):
    uri, docs = store
    everything = search(uri, "--mode", "bm25")
    assert len({h["doc_id"] for h in everything}) == 5
    years = search(uri, "--where", "year>=1990", "--where", "kind=jsonl")
    assert sorted(h["text"] for h in years) == ["Rivers in the year 1995.", "Rivers in the year 2005."]
    assert search(uri, "--where", "year in 1985,2005", "--mode", "dense").__len__() == 2
    not_md = search(uri, "--where", "kind!=markdown", "--mode", "bm25")
    assert {h["uri"].split("#")[0].rsplit("/", 1)[-1] for h in not_md} == {"records.jsonl"}
    folder = search(uri, "--path-prefix", str(docs / "a"))
    assert [h["uri"].rsplit("/", 2)[-2:] for h in folder] == [["a", "one.md"]]
    both = search(uri, "--path-prefix", str(docs / "a"), "--where", "not kind=markdown")
    assert both == []
    grouped = search(uri, "--group-by", "doc", "--mode", "bm25", "-k", "2")
    assert len(grouped) == 2 and all(h["matches"] >= 1 and "doc_score" in h for h in grouped)
    assert all("**Rivers**" in h["snippet"] or "**rivers**" in h["snippet"] for h in grouped)
    human = ragline("search", "rivers", "--store", uri, "--group-by", "doc").stdout
    assert "matching chunk(s)" in human


def test_bad_where_is_a_clean_error(store):
    uri, _docs = store
    bad = ragline("search", "rivers", "--store", uri, "--where", "year>>1990", check=False)
    assert bad.returncode == 2 and "needs a number or an ISO date" in bad.stderr
    bad = ragline("search", "rivers", "--store", uri, "--where", "year", check=False)
    assert bad.returncode == 2 and "cannot read the filter" in bad.stderr
    bad = ragline("search", "rivers", "--store", uri, "--group-by", "folder", check=False)
    assert bad.returncode == 2 and "unknown group_by" in bad.stderr
