# Two commands on a fresh Debian machine: `make run` and `make test` (see README.md).
# Each installs what is missing: Debian packages (PostgreSQL + PostGIS; Node.js for the docs UI;
# Chromium and CJK fonts for the tests), the npm packages of package-lock.json, and the venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# `npm ci` writes this file last, so it stands for a complete node_modules.
NODE_STAMP := node_modules/.package-lock.json
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
TEST_DEBS := chromium fonts-noto-cjk

.PHONY: run test lint postgis assets browser bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) || (apt-get update -qq && $(APT_INSTALL) python3-venv && $(PYTHON) -m venv $(VENV))
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

# --ignore-scripts: no package here needs one, and one (@scarf/scarf) only reports the install.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && $(APT_INSTALL) nodejs npm)
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

assets: $(NODE_STAMP)

postgis: $(STAMP)
	@$(BIN)/python -m server.embedded.cluster

browser:
	@dpkg -s $(TEST_DEBS) >/dev/null 2>&1 || (apt-get update -qq && $(APT_INSTALL) $(TEST_DEBS))

run: postgis assets
	$(BIN)/gridcase run

# The habits of the code, held by every test run: ruff (pycodestyle, pyflakes, bugbear, pyupgrade,
# simplify, isort, complexity 12), ruff's formatting, and mypy with zero errors.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint postgis assets browser
	$(BIN)/pytest

bench: postgis
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .data node_modules
