"""Load shedding, deadlines and the job queue bound, on the real app with its real thread pools."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.serve.conftest import wait_job


def test_over_the_in_flight_bound_requests_are_shed_at_once_and_slow_ones_hit_the_deadline(make_client):
    with make_client(auth=False, max_in_flight=2, search_threads=1, deadline_s=2.0, retry_after_s=3) as client:
        runtime = client.app.state.runtime
        assert client.post("/v1/search", json={"query": "warm up"}).status_code == 200  # engine open
        gate = threading.Event()
        runtime.search_pool.submit(gate.wait, 30)   # the one search thread is busy
        try:
            with ThreadPoolExecutor(2) as pool:
                waiting = [pool.submit(client.post, "/v1/search", json={"query": f"q{i}"}) for i in range(2)]
                deadline = time.monotonic() + 10
                while client.app.state.runtime.search_pool._work_queue.qsize() < 2:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                started = time.perf_counter()
                shed = client.post("/v1/search", json={"query": "one too many"})
                shed_seconds = time.perf_counter() - started
                assert shed.status_code == 429 and shed.headers["Retry-After"] == "3"
                assert shed.json()["error"]["code"] == "overloaded"
                assert shed_seconds < 0.5  # answered at once, not queued
                # Health, readiness and metrics are never shed.
                assert client.get("/healthz").status_code == 200
                assert client.get("/readyz").status_code == 200
                metrics = client.get("/metrics").text
                assert 'ragline_shed_total{route="/v1/search"}' in metrics
                assert "ragline_in_flight 2.0" in metrics
                for future in waiting:
                    answer = future.result(30)
                    assert answer.status_code == 504, answer.text
                    assert answer.json()["error"]["code"] == "deadline_exceeded"
        finally:
            gate.set()
        assert client.post("/v1/search", json={"query": "after"}).status_code == 200


def test_a_full_job_queue_answers_429_and_accepted_jobs_all_finish(make_client):
    with make_client(auth=False, job_queue_size=2) as client:
        runtime = client.app.state.runtime
        gate = threading.Event()
        runtime.writer.call(lambda: gate.wait(30))   # the writer thread is busy
        try:
            accepted = [client.post("/v1/documents", json={"records": [{"id": f"d{i}", "text": f"text number {i}"}]})
                        for i in range(2)]
            assert [a.status_code for a in accepted] == [202, 202]
            refused = client.post("/v1/documents", json={"records": [{"id": "d9", "text": "one too many"}]})
            assert refused.status_code == 429 and refused.headers["Retry-After"]
            assert client.get(f"/v1/jobs/{accepted[0].json()['job_id']}").json()["state"] == "queued"
            metrics = client.get("/metrics").text
            assert 'ragline_queue_depth{queue="serve_jobs"} 2.0' in metrics
            assert 'ragline_jobs{state="queued"} 2.0' in metrics
        finally:
            gate.set()
        for answer in accepted:
            assert wait_job(client, answer.json()["job_id"], {})["state"] == "done"
        assert client.get("/v1/stats").json()["documents"] == 2


def test_a_job_that_raises_is_failed_with_its_error(make_client, tmp_path):
    with make_client(auth=False) as client:
        runtime = client.app.state.runtime
        # A real failure under the writer: its engine's store is closed under it.
        engine = runtime.write_engine("default")
        engine.store.close()
        job_id = client.post("/v1/documents", json={"records": [{"id": "x", "text": "doomed"}]}).json()["job_id"]
        job = wait_job(client, job_id, {})
        assert job["state"] == "failed" and job["error"], job
        runtime._writers.pop("default")
        retry = client.post("/v1/documents", json={"records": [{"id": "x", "text": "fine now"}]}).json()["job_id"]
        assert wait_job(client, retry, {})["state"] == "done"
