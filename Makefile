# Two commands on a fresh Debian machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test postgis demo bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) || (apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

postgis: $(STAMP)
	@$(BIN)/python -c "from server.embedded.cluster import install_postgis; install_postgis()"

run: postgis
	$(BIN)/gridcase run

test: postgis
	$(BIN)/pytest

bench: postgis
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .data
