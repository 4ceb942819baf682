# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# torch is needed once, to export the shipped model to ONNX (and for parity tests); pin the
# CPU release that lies on this machine's disk, so pip never pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
STORE ?= local:ragline-data
QUERY ?= How do I report a bug in Python?

.PHONY: demo test test-fast lint system-tools eval bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)" -e ".[torch,dev,plot,milvus,postgres,redis,serve]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ragline ingest samples/corpus --store $(STORE)
	$(BIN)/ragline search "$(QUERY)" --store $(STORE) -k 5

# The test command also keeps src/ lint- and type-clean.
lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/mypy src

# System packages two test files drive, installed when missing (as root, as CI runs):
# promtool (Debian's prometheus, ~20 s) checks deploy/prometheus/alerts.yml in tests/test_deploy.py;
# headless Chromium drives the web page's browser test (tests/serve/test_web.py).
system-tools:
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; } || \
	  { echo "install prometheus (apt-get, as root) for tests/test_deploy.py" >&2; exit 1; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; } || \
	  { echo "install chromium and chromium-driver (apt-get, as root) for the browser test" >&2; exit 1; }

test: lint system-tools
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: $(STAMP) system-tools
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

eval: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/ragline eval datasets/cranfield --store local:.eval-data/cranfield

bench: $(STAMP)
	$(BIN)/ragline bench ingest samples/corpus

clean:
	rm -rf $(VENV) ragline-data
