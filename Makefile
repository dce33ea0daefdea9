# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test notebooks bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/workbench demo --dir demo

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 4 --dist loadgroup -q

# WORKBENCH_STORE (default demo/workbench.duckdb) is passed on absolute; for the demo store its Exchange
# (`workbench demo --serve`) runs in the background while Jupyter does
notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	$(BIN)/python -m workbench.notebooks_launcher $(BIN)/jupyter lab notebooks/

# every bench at full size; each appends its BENCH_RESULT line to bench-results.jsonl, from which the README's
# benchmark table is regenerated (bench/_readme.py). A bench missing a ratio target exits 1: reported at the end.
bench: $(STAMP)
	rm -f bench-results.jsonl
	status=0; for script in bench/[!_]*.py; do BENCH_RESULTS=bench-results.jsonl $(BIN)/python $$script || status=1; done; \
	$(BIN)/python bench/_readme.py bench-results.jsonl README.md; exit $$status

clean:
	rm -rf $(VENV) demo .pytest_cache
