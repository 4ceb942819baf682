"""The web page end to end in headless Chromium against a real ``ragline serve`` subprocess.

Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them) driven by selenium; the
server runs with the hashing embedder on a temporary store and one fixed API key. The screenshot is
kept as a test artifact: test-artifacts/web.png.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "corpus"
UPLOADS = [SAMPLES / "notes" / "zen-of-python.txt", SAMPLES / "docs" / "xmltodict-README.md",
           SAMPLES / "licences" / "psf-history-and-license.pdf"]
API_KEY = "web-test-key-7f3a"
ARTIFACT = REPO / "test-artifacts" / "web.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1400,1100"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    with _serve(tmp_path) as url:
        yield url


@contextmanager
def _serve(tmp_path: Path, **env_extra: str) -> Iterator[str]:
    """A real ``ragline serve`` on a free 127.0.0.1 port (no chat model unless ``env_extra`` names one)."""
    from ragline.bench_serve import running_server

    env: dict[str, str | None] = {"HF_HUB_OFFLINE": "1", "RAGLINE_SERVE_API_KEYS": f"{API_KEY}=web",
                                  "RAGLINE_SERVE_LLM": None, **env_extra}
    with running_server(f"local:{tmp_path / 'store'}", embedder="hashing:384", log=tmp_path / "serve.log",
                        ready_timeout=120, env=env, auth=True) as url:
        yield url


@pytest.fixture()
def browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def test_web_page_uploads_searches_answers_and_shows_stats(server: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    find = browser.find_element
    browser.get(server + "/")
    assert browser.title == "ragline"

    # Without a key the API refuses, and the page says so in the stats panel.
    wait.until(ec.visibility_of_element_located((By.ID, "stats-error")))
    assert "unauthorized" in find(By.ID, "stats-error").text

    # The key is kept in localStorage: it is still there after a reload.
    find(By.ID, "api-key").send_keys(API_KEY)
    find(By.ID, "key-save").click()
    browser.refresh()
    assert find(By.ID, "api-key").get_attribute("value") == API_KEY
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#stats dd[data-stat="documents"]'))
    assert find(By.CSS_SELECTOR, '#stats dd[data-stat="documents"]').text == "0"

    # Upload three files through the form (one request), then follow the job to its end.
    find(By.ID, "files").send_keys("\n".join(str(path) for path in UPLOADS))
    find(By.ID, "upload-btn").click()
    job = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#jobs li.job")))
    assert job.get_attribute("data-job-id")
    WebDriverWait(browser, 180).until(lambda d: job.get_attribute("data-state") in ("done", "failed"))
    assert job.get_attribute("data-state") == "done", job.text
    assert "3 files" in job.text
    api = httpx.get(f"{server}/v1/jobs/{job.get_attribute('data-job-id')}",
                    headers={"Authorization": f"Bearer {API_KEY}"}).json()
    assert api["state"] == "done" and api["report"] is not None

    # The stats panel refreshes when the job is done: three documents, some chunks.
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '#stats dd[data-stat="documents"]').text == "3")
    assert int(find(By.CSS_SELECTOR, '#stats dd[data-stat="chunks"]').text.replace(",", "")) >= 3
    assert find(By.CSS_SELECTOR, '#stats dd[data-stat="namespace"]').text == "web"

    # Search: results with highlighted snippets and their sources.
    find(By.ID, "query").send_keys("namespaces are one honking great idea")
    find(By.ID, "search-btn").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.hit"))
    hits = browser.find_elements(By.CSS_SELECTOR, "#results li.hit")
    assert 1 <= len(hits) <= 10
    assert "zen-of-python" in hits[0].find_element(By.CSS_SELECTOR, ".hit-source").text
    marks = [[mark.text.lower() for mark in hit.find_elements(By.CSS_SELECTOR, ".snippet mark")] for hit in hits]
    assert marks[0], "the top snippet marks the query's words"
    # The Zen's last line is in one of the results, every word of the query marked.
    assert any({"namespaces", "honking", "great", "idea"} <= set(found) for found in marks), marks
    assert "results" in find(By.ID, "search-meta").text and "hybrid" in find(By.ID, "search-meta").text
    sources = {hit.find_element(By.CSS_SELECTOR, ".hit-source").text for hit in hits}
    assert all(any(path.name in source for path in UPLOADS) for source in sources), sources
    assert "cached" not in find(By.ID, "search-meta").text
    # The same search again: the result cache answers, and the page says so.
    find(By.ID, "search-btn").click()
    wait.until(lambda d: "cached" in d.find_element(By.ID, "search-meta").text)

    # Answer: no LLM is configured on this server; the panel says plainly that answers are off.
    find(By.ID, "answer-btn").click()
    wait.until(ec.visibility_of_element_located((By.ID, "answer-error")))
    message = find(By.ID, "answer-error").text
    assert message.startswith("llm_not_configured:")
    assert "No language model is configured" in message
    assert find(By.ID, "answer-text").text == ""

    ARTIFACT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACT))
    assert ARTIFACT.stat().st_size > 10_000
    print(f"screenshot: {ARTIFACT}")


def test_answer_panel_streams_an_answer_with_linked_citations(tmp_path: Path, browser) -> None:
    """With a chat model (tests/llm_server.py, a real OpenAI-compatible server on 127.0.0.1) the
    answer streams into the panel, its citations are listed and its [n] markers become links."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from tests.llm_server import ChatServer

    with ChatServer() as chat, _serve(tmp_path, RAGLINE_SERVE_LLM="openai:test-chat",
                                      RAGLINE_SERVE_LLM_BASE_URL=chat.base_url) as server:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with open(UPLOADS[0], "rb") as handle:
            job = httpx.post(f"{server}/v1/documents", headers=auth,
                             files=[("files", (UPLOADS[0].name, handle.read(), "text/plain"))]).json()["job_id"]
        deadline = time.monotonic() + 120
        while httpx.get(f"{server}/v1/jobs/{job}", headers=auth).json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        wait = WebDriverWait(browser, 60)
        find = browser.find_element
        browser.get(server + "/")
        find(By.ID, "api-key").send_keys(API_KEY)
        find(By.ID, "key-save").click()
        find(By.ID, "query").send_keys("namespaces are one honking great idea")
        find(By.ID, "answer-btn").click()
        wait.until(lambda d: d.find_element(By.ID, "answer-status").text.startswith("done"))
        text = find(By.ID, "answer-text").text
        assert text.startswith("From the context:"), text  # the test server's deterministic answer
        assert not find(By.ID, "answer-error").is_displayed()
        citations = browser.find_elements(By.CSS_SELECTOR, "#citations li")
        assert citations and all("zen-of-python" in c.text for c in citations)
        links = browser.find_elements(By.CSS_SELECTOR, "#answer-text a.cite")
        assert links and all(link.text.startswith("[") for link in links)
        assert "cites [1]" in find(By.ID, "answer-status").text
        # The chat server saw the uploaded text in its prompt, so the answer came from this tenant's chunks.
        prompts = [str(entry) for entry in chat.requests_log()]
        assert any("honking" in prompt for prompt in prompts)
        browser.save_screenshot(str(ARTIFACT.with_name("web-answer.png")))
