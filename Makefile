# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TS     := clients/typescript
CONSOLE := streams/worker/web/console

.PHONY: demo test unit integration install console browser promtool lock stack-up stack-down bench stress clean compose-test

install: $(STAMP) console browser promtool

# Headless Chromium for the dashboard test (Debian's package); fails loudly when it cannot.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium (dashboard test)"; apt-get update -qq && apt-get install -y -qq chromium; } || \
	  { echo "ERROR: chromium is required by the dashboard test and could not be installed (apt-get install chromium)" >&2; exit 1; }

# The worker console's front-end packages (preact, htm, mermaid), pinned by its package-lock.json
# and served by the worker itself: no CDN at run time (streams/worker/web/vendor.py).
console: $(CONSOLE)/node_modules/.package-lock.json

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "ERROR: npm is required for the worker console (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error

# promtool (Debian's prometheus package) validates and unit-tests deploy/alerts.yml; fails loudly.
promtool:
	@command -v promtool >/dev/null 2>&1 || \
	  { echo "installing Debian's prometheus (promtool, for the alert rule tests)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; } || \
	  { echo "ERROR: promtool is required by the alert rule tests and could not be installed (apt-get install prometheus)" >&2; exit 1; }

# Exact versions and hashes from requirements.lock; the project itself installs editable.
# The TypeScript client's packages come from its package-lock.json (npm ci); its tests are part
# of `make test`, so Node.js 20+ and npm are required, not optional.
$(STAMP): requirements.lock pyproject.toml clients/python/pyproject.toml $(TS)/package.json $(TS)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "Node.js 20+ and npm are required for the TypeScript client (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e clients/python
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/meshstream demo $(if $(KEEP),--keep)

# The whole suite against the real stack (started by the test fixtures on free ports).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

integration: install
	$(BIN)/python -m pytest -q -m integration

stack-up: $(STAMP)
	$(BIN)/meshstream stack up

stack-down: $(STAMP)
	$(BIN)/meshstream stack down

bench: $(STAMP)
	$(BIN)/python bench/processors.py
	$(BIN)/python bench/geometry_stages.py
	$(BIN)/python bench/serde.py
	$(BIN)/python bench/typed_payloads.py
	$(BIN)/python bench/thumbnails.py
	$(BIN)/python bench/pool_ipc.py
	$(BIN)/python bench/worker_start.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/s3_server_cores.py
	$(BIN)/python bench/remote_s3.py
	$(BIN)/python bench/slot_memory.py
	$(BIN)/python bench/scale.py

# >= 1,000 hostile inputs against a private real stack + worker (stress/): outcome counts, peak RSS.
stress: $(STAMP)
	$(BIN)/python -m stress

# docker-compose.yml for real: images built here (base image made with debootstrap when no
# registry is reachable), 3 brokers + 3 workers, a scan from the host, a worker and a broker
# SIGKILLed mid-batch, `down -v`; dockerd stopped and its network state removed (deploy/compose-test.sh).
# Needs root (apt, dockerd). Not part of `make test`: see docs/deploy.md.
compose-test: $(STAMP)
	bash deploy/compose-test.sh

# Re-pin after changing dependencies in pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .meshstream $(TS)/node_modules $(TS)/dist $(TS)/build $(CONSOLE)/node_modules
