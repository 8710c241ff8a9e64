# Set-up needs only python3 and make: the venv and every dependency come from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench bench-video bench-upload bench-reset clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

serve: $(VENV)/.installed
	$(BIN)/ojin-local serve

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/startup_and_throughput.py

bench-video: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/idle_video.py

bench-upload: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/upload_and_download.py

bench-reset: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/reset.py

clean:
	rm -rf $(VENV) build *.egg-info
