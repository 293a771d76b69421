# Two entry points (see README): `make book` and `make test`. Each creates its own
# virtual environment in .venv when missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= full
# Runs trained side by side before the notebooks (xmr book --jobs; 0 = one per core). The
# smoke scale has too little training for the extra planning pass to pay.
JOBS ?= $(if $(filter full,$(SCALE)),0,1)
# The data directory: $XMR_DATA_DIR if set, else ../shared/data when present, else ./data.
export XMR_DATA_DIR ?= $(if $(wildcard ../shared/data),../shared/data,data)

.PHONY: test book smoke-book venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras; re-install when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(subst +,$(comma),$*)]"
	touch $@

comma := ,

venv: $(VENV)/.installed-test+features+book+notebooks

test: $(VENV)/.installed-test+features+book+notebooks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

book: $(VENV)/.installed-test+features+book+notebooks
	$(BIN)/xmr book --scale $(SCALE) --jobs $(JOBS)

smoke-book:
	$(MAKE) book SCALE=smoke

clean:
	rm -rf _build book/chapters
