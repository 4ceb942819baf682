"""``cache="redis://..."`` (``ragline serve --cache``) against a real valkey server: two server
instances over one store share search results (the second answers the first's query from the
cache, ``cached: true``), and an upload through either moves every later search to fresh results."""

from __future__ import annotations

import pytest

from tests.serve.conftest import bearer, wait_job
from tests.test_cache_redis import _start, _stop

H = bearer("key-a")
QUERY = "why do glaciers calve icebergs"


@pytest.fixture(scope="module")
def valkey(tmp_path_factory):
    process, url = _start(tmp_path_factory.mktemp("valkey-serve"))
    yield url
    _stop(process)


def _ingest(client, records) -> None:
    accepted = client.post("/v1/documents", json={"records": records}, headers=H)
    assert accepted.status_code == 202, accepted.text
    assert wait_job(client, accepted.json()["job_id"], H)["state"] == "done"


def _search(client) -> tuple[list[str], bool]:
    answer = client.post("/v1/search", json={"query": QUERY, "k": 5, "mode": "hybrid"}, headers=H)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [hit["chunk_id"] for hit in body["hits"]], body["cached"]


def test_two_servers_share_results_and_an_upload_invalidates(make_client, valkey):
    import redis

    cache = f"{valkey}?prefix=t-serve"
    with make_client(api_keys="key-a=tenant-a", cache=cache) as one, \
            make_client(api_keys="key-a=tenant-a", cache=cache) as two:
        _ingest(one, [{"id": f"g{i}", "text": f"Glaciers calve icebergs {w} when the ice front breaks."}
                      for i, w in enumerate(["quickly", "slowly"])])
        first, cached = _search(one)
        assert len(first) == 2 and not cached
        # The other server never ran this query: its answer is the first one's, from Redis.
        again, cached = _search(two)
        assert again == first and cached
        assert redis.Redis.from_url(valkey).keys("t-serve:result:*")
        # An upload through the second server: both now search afresh and see the new document.
        _ingest(two, [{"id": "g9", "text": "Glaciers calve icebergs at night when the tide falls."}])
        after, cached = _search(one)
        assert not cached and len(after) == 3 and set(first) < set(after)
        after_two, cached = _search(two)
        assert cached and after_two == after


def test_without_a_shared_cache_the_servers_do_not_share(make_client):
    with make_client(api_keys="key-a=tenant-a") as one, make_client(api_keys="key-a=tenant-a") as two:
        _ingest(one, [{"id": "g0", "text": "Glaciers calve icebergs when the ice front breaks."}])
        assert _search(one)[1] is False and _search(one)[1] is True
        assert _search(two)[1] is False
