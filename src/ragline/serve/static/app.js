// ragline web page: plain browser JavaScript, no build step, talks to the /v1 API of the same origin.
"use strict";

const KEY_STORAGE = "ragline.apiKey";
const POLL_MS = 400;
const $ = (id) => document.getElementById(id);

function apiKey() { return localStorage.getItem(KEY_STORAGE) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// An error body is {error: {code, message}}; anything else is reported with its status.
async function errorOf(response) {
  let code = "http_" + response.status, message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) { code = body.error.code || code; message = body.error.message || message; }
    else if (body && body.detail) { message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); }
  } catch (_) { /* not JSON */ }
  const err = new Error(message);
  err.code = code; err.status = response.status;
  err.retryAfter = response.headers.get("Retry-After");
  return err;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(path, opts);
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

function showError(box, err) {
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  let text = err.code ? err.code + ": " + err.message : String(err.message || err);
  if (err.retryAfter) text += " (retry after " + err.retryAfter + " s)";
  box.textContent = text;
  box.hidden = false;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The server marks matched terms as **term** (ragline.snippet); without marks, the query's words are marked here.
function highlighted(snippet, query) {
  const safe = escapeHtml(snippet);
  if (/\*\*[^*]+\*\*/.test(safe)) return safe.replace(/\*\*([^*]+)\*\*/g, "<mark>$1</mark>");
  const words = query.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || [];
  if (!words.length) return safe;
  const pattern = new RegExp("\\b(" + words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")[\\p{L}\\p{N}]*", "giu");
  return safe.replace(pattern, "<mark>$&</mark>");
}

function snippetText(hit) {
  const s = hit.snippet;
  if (s && typeof s === "object") return s.marked || s.text || "";
  return s || (hit.text || "").slice(0, 300);
}

function sourceLink(source) {
  if (!source) return "";
  const safe = escapeHtml(source);
  return /^https?:\/\//.test(source) ? '<a href="' + safe + '" target="_blank" rel="noopener">' + safe + "</a>" : safe;
}

// ---- API key ---------------------------------------------------------------------------------
function initKey() {
  $("api-key").value = apiKey();
  $("key-status").textContent = apiKey() ? "key saved" : "no key";
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
    $("key-status").textContent = key ? "key saved" : "no key";
    refreshStats();
  });
}

// ---- search ----------------------------------------------------------------------------------
let lastHits = [];

function searchBody() {
  return { query: $("query").value.trim(), k: Number($("k").value), mode: $("mode").value };
}

function renderHits(hits, query) {
  lastHits = hits;
  const list = $("results");
  list.innerHTML = "";
  list.dataset.query = query;
  hits.forEach((hit, i) => {
    const li = document.createElement("li");
    li.id = "hit-" + (i + 1);
    li.className = "hit";
    li.dataset.chunkId = hit.chunk_id;
    const title = hit.title || hit.source || hit.doc_id;
    li.innerHTML =
      '<div><span class="hit-title">' + escapeHtml(title) + "</span>" +
      '<span class="hit-score">' + Number(hit.score).toFixed(4) + "</span></div>" +
      '<div class="hit-source">' + sourceLink(hit.source) + "</div>" +
      '<p class="snippet">' + highlighted(snippetText(hit), query) + "</p>";
    list.appendChild(li);
  });
}

async function runSearch(event) {
  if (event) event.preventDefault();
  const body = searchBody();
  if (!body.query) return;
  showError($("search-error"), null);
  $("search-meta").textContent = "searching…";
  try {
    const result = await api("/v1/search", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    renderHits(result.hits || [], body.query);
    $("search-meta").textContent = (result.hits || []).length + " results · " + result.mode + " · " +
      Number(result.took_ms).toFixed(1) + " ms" + (result.cached ? " · cached" : "");
  } catch (err) {
    $("search-meta").textContent = "";
    renderHits([], body.query);
    showError($("search-error"), err);
  }
}

// ---- answer (Server-Sent Events over fetch) ---------------------------------------------------
// One SSE block is "event: NAME\ndata: JSON" lines ended by a blank line.
function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  let payload;
  try { payload = JSON.parse(data.join("\n")); } catch (_) { payload = { text: data.join("\n") }; }
  return { name, payload };
}

function citationHref(citation) {
  const index = lastHits.findIndex((hit) => hit.chunk_id === citation.chunk_id);
  return index >= 0 ? "#hit-" + (index + 1) : null;
}

function renderCitations(citations) {
  const list = $("citations");
  list.innerHTML = "";
  for (const c of citations) {
    const li = document.createElement("li");
    li.value = c.n;
    li.id = "cite-" + c.n;
    const href = citationHref(c);
    const label = escapeHtml(c.title || c.source || c.doc_id);
    li.innerHTML = (href ? '<a href="' + href + '">' + label + "</a>" : label) +
      ' <span class="hit-source">' + sourceLink(c.source) + "</span>";
    list.appendChild(li);
  }
}

// After the stream ends, "[n]" markers become links to the cited result (or citation entry).
function linkMarkers(citations) {
  const byN = new Map(citations.map((c) => [String(c.n), c]));
  const box = $("answer-text");
  box.innerHTML = escapeHtml(box.textContent).replace(/\[(\d+)\]/g, (whole, n) => {
    const c = byN.get(n);
    if (!c) return whole;
    return '<a class="cite" href="' + (citationHref(c) || "#cite-" + n) + '">[' + n + "]</a>";
  });
}

async function runAnswer() {
  const body = searchBody();
  if (!body.query) return;
  const box = $("answer-text");
  box.textContent = "";
  $("citations").innerHTML = "";
  showError($("answer-error"), null);
  $("answer-status").textContent = "retrieving…";
  $("answer-btn").disabled = true;
  let citations = [];
  try {
    if (!lastHits.length || $("results").dataset.query !== body.query) await runSearch();
    const response = await fetch("/v1/answer", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await errorOf(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    $("answer-status").textContent = "streaming…";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const event = parseEvent(block);
        if (!event) continue;
        if (event.name === "citations") { citations = event.payload.citations || []; renderCitations(citations); }
        else if (event.name === "token") box.textContent += event.payload.text || "";
        else if (event.name === "error") throw Object.assign(new Error(event.payload.message), { code: event.payload.code });
        else if (event.name === "done") {
          const cited = event.payload.cited || [];
          $("answer-status").textContent = "done" + (cited.length ? " · cites " + cited.map((n) => "[" + n + "]").join(" ") : "");
        }
      }
    }
    linkMarkers(citations);
    if ($("answer-status").textContent === "streaming…") $("answer-status").textContent = "done";
  } catch (err) {
    $("answer-status").textContent = "";
    if (err.code === "llm_not_configured") {
      err.message = "No language model is configured on this server, so answers are off (search still works). " + err.message;
    }
    showError($("answer-error"), err);
  } finally {
    $("answer-btn").disabled = false;
  }
}

// ---- upload and job progress -----------------------------------------------------------------
function progressText(job) {
  const p = job.progress || {};
  const parts = Object.entries(p).filter(([, v]) => typeof v !== "object").map(([k, v]) => k + " " + v);
  return parts.join(" · ");
}

// Progress counts documents per stage; the furthest stage against the job's documents fills the bar.
function progressFraction(job) {
  const total = Array.isArray(job.documents) ? job.documents.length : (job.progress || {}).total;
  const counts = Object.values(job.progress || {}).filter((v) => typeof v === "number");
  if (!total || !counts.length) return null;
  return Math.min(1, ((job.progress || {}).stored ?? Math.max(...counts)) / total);
}

function reportText(report) {
  if (!report) return "";
  const parts = [];
  for (const [k, v] of Object.entries(report)) {
    if (typeof v === "number") parts.push(k + " " + v);
    else if (Array.isArray(v) && v.length) parts.push(k + " " + v.length);
  }
  return parts.join(" · ");
}

function renderJob(li, job) {
  li.dataset.state = job.state;
  const fraction = job.state === "done" ? 1 : progressFraction(job);
  const bar = fraction === null ? "<progress></progress>" : '<progress max="1" value="' + fraction + '"></progress>';
  const detail = job.state === "done" ? reportText(job.report) : job.state === "failed" ? job.error || "" : progressText(job);
  li.innerHTML = '<div>job <code>' + escapeHtml(job.job_id) + '</code> <span class="job-state state-' +
    escapeHtml(job.state) + '">' + escapeHtml(job.state) + "</span> " + escapeHtml(li.dataset.files || "") + "</div>" +
    (job.state === "done" || job.state === "failed" ? "" : bar) +
    '<div class="job-detail meta">' + escapeHtml(detail) + "</div>";
}

async function pollJob(li, jobId) {
  for (;;) {
    let job;
    try {
      job = await api("/v1/jobs/" + encodeURIComponent(jobId));
    } catch (err) {
      li.querySelector(".job-detail").textContent = err.code + ": " + err.message;
      if (err.status && err.status < 500 && err.status !== 429) return;
      await new Promise((r) => setTimeout(r, POLL_MS * 4));
      continue;
    }
    renderJob(li, job);
    if (job.state === "done" || job.state === "failed") { refreshStats(); return; }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function runUpload(event) {
  event.preventDefault();
  const files = $("files").files;
  if (!files.length) return;
  showError($("upload-error"), null);
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  $("upload-btn").disabled = true;
  try {
    const result = await api("/v1/documents", { method: "POST", body: form });
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.jobId = result.job_id;
    li.dataset.files = files.length + (files.length === 1 ? " file" : " files");
    renderJob(li, { job_id: result.job_id, state: "queued", progress: {} });
    $("jobs").prepend(li);
    $("upload-form").reset();
    pollJob(li, result.job_id);
  } catch (err) {
    showError($("upload-error"), err);
  } finally {
    $("upload-btn").disabled = false;
  }
}

// ---- stats -----------------------------------------------------------------------------------
// The figures a reader looks for first; every other figure is listed under "more".
const MAIN_STATS = ["namespace", "documents", "chunks", "duplicates", "files_failed", "embedder", "dim",
  "vector_dtype", "disk_bytes", "embedding_cache_hit_rate", "query_cache_hit_rate", "result_cache_hit_rate", "updated_at"];

function flatten(value, prefix, out) {
  for (const [k, v] of Object.entries(value)) {
    const name = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, name, out);
    else out.push([name, Array.isArray(v) ? v.join(", ") : v]);
  }
  return out;
}

function statText(name, value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (name.endsWith("_bytes")) return (value / 2 ** 20).toFixed(2) + " MiB";
  if (name.endsWith("_rate")) return (100 * value).toFixed(1) + " %";
  if (name.endsWith("_at")) return new Date(value * 1000).toLocaleString();
  return value.toLocaleString();
}

function statRow(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name.replace(/_/g, " ");
  const dd = document.createElement("dd");
  dd.textContent = statText(name, value);
  dd.dataset.stat = name;
  dl.append(dt, dd);
}

async function refreshStats() {
  showError($("stats-error"), null);
  try {
    const all = new Map(flatten(await api("/v1/stats"), "", []));
    const dl = $("stats");
    dl.innerHTML = "";
    for (const name of MAIN_STATS) if (all.has(name)) statRow(dl, name, all.get(name));
    const more = document.createElement("details");
    more.innerHTML = "<summary>more</summary>";
    const rest = document.createElement("dl");
    for (const [name, value] of all) if (!MAIN_STATS.includes(name)) statRow(rest, name, value);
    more.appendChild(rest);
    if (rest.childElementCount) { const dd = document.createElement("dd"); dd.className = "more"; dd.appendChild(more); dl.append(dd); }
  } catch (err) {
    showError($("stats-error"), err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  initKey();
  $("search-form").addEventListener("submit", runSearch);
  $("answer-btn").addEventListener("click", runAnswer);
  $("upload-form").addEventListener("submit", runUpload);
  $("stats-refresh").addEventListener("click", refreshStats);
  refreshStats();
});
