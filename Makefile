# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TS     := clients/typescript

.PHONY: demo test unit integration install browser lock stack-up stack-down bench stress clean

install: $(STAMP) browser

# Headless Chromium for the dashboard test (Debian's package); fails loudly when it cannot.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium (dashboard test)"; apt-get update -qq && apt-get install -y -qq chromium; } || \
	  { echo "ERROR: chromium is required by the dashboard test and could not be installed (apt-get install chromium)" >&2; exit 1; }

# Exact versions and hashes from requirements.lock; the project itself installs editable.
# The TypeScript client's packages come from its package-lock.json (npm ci); its tests are part
# of `make test`, so Node.js 20+ and npm are required, not optional.
$(STAMP): requirements.lock pyproject.toml $(TS)/package.json $(TS)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "Node.js 20+ and npm are required for the TypeScript client (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
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
	$(BIN)/python bench/serde.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/scale.py

# >= 1,000 hostile inputs against a private real stack + worker (stress/): outcome counts, peak RSS.
stress: $(STAMP)
	$(BIN)/python -m stress

# Re-pin after changing dependencies in pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .meshstream $(TS)/node_modules $(TS)/dist
