# Set-up needs only python3 and make: the venv and every dependency come from here.
PYTHON ?= python3
# Bytecode is cached (where an environment turns that off, every `ojin-local serve` a test
# starts would compile Sanic, Peewee and ojin-local from source again: ~0.2 s of CPU each).
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test test-all lint bench bench-video bench-upload bench-reset bench-namespaces bench-plugin bench-shared bench-dist dist dist-test clean

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

# Debian packages the tests need, installed as root with apt-get, otherwise asked for:
# $(call apt_install,PACKAGE,WHAT FOR).
apt_install = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y $(1) || { apt-get update && apt-get install -y $(1); }; \
	else \
		echo "make test needs $(1) $(2): install it (Debian/Ubuntu: sudo apt-get install $(1))" >&2; \
		exit 1; \
	fi

# The console's browser tests drive Debian's Chromium (`playwright install` downloads a browser,
# which fails offline).
CHROMIUM := /usr/bin/chromium
# The database tests start a throw-away Postgres server of their own (tests/postgres_server.py).
POSTGRES := /usr/lib/postgresql/15/bin/initdb
# The shared-instance tests start a throw-away redis-server of their own (tests/redis_server.py).
REDIS := /usr/bin/redis-server

$(CHROMIUM):
	@$(call apt_install,chromium,for the console's browser tests)

$(POSTGRES):
	@$(call apt_install,postgresql,for the database tests (Postgres 15))

$(REDIS):
	@$(call apt_install,redis-server,for the shared-instance tests (Redis 7))

# The load generator of the throughput benchmarks.
WRK := /usr/bin/wrk

$(WRK):
	@$(call apt_install,wrk,for the throughput benchmarks)

# pytest-xdist workers, one per core up to four (TEST_WORKERS=0: one process). Run in one
# process the suite keeps one core of two busy on average, its tests waiting on the servers
# they start (README, "Tests and benchmarks", has the timings).
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal

test: $(VENV)/.installed-test $(CHROMIUM) $(POSTGRES) $(REDIS)
	$(BIN)/ruff check .
	$(PYTEST)

# make test, and the suites it runs on two backends also on the shared profile (README).
test-all: $(VENV)/.installed-test $(CHROMIUM) $(POSTGRES) $(REDIS)
	$(BIN)/ruff check .
	OJIN_TEST_ALL=1 $(PYTEST)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench $(WRK)
	$(BIN)/python benchmarks/startup_and_throughput.py

bench-video: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/idle_video.py

bench-upload: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/upload_and_download.py

bench-reset: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/reset.py

bench-namespaces: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/namespaces.py

bench-plugin: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/plugin_parallel.py

bench-shared: $(VENV)/.installed-bench $(POSTGRES) $(REDIS) $(WRK)
	$(BIN)/python benchmarks/shared_instance.py

# The single-file binary (Linux x86-64), frozen by PyInstaller in a venv of its own so that
# nothing from the test extras ends up inside.
DIST_VENV := .venv-dist
SOURCES := $(shell find ojin_local -type f -not -path '*/__pycache__/*')

$(DIST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DIST_VENV)/bin/pip install --quiet -e '.[redis]' 'pyinstaller==6.22.3'
	touch $@

dist/ojin-local: $(DIST_VENV)/.installed packaging/ojin-local.spec packaging/entry.py $(SOURCES)
	$(DIST_VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/ojin-local.spec

dist: dist/ojin-local

dist-test: dist/ojin-local $(VENV)/.installed-test $(CHROMIUM)
	OJIN_LOCAL_COMMAND=$(CURDIR)/dist/ojin-local $(BIN)/python -m pytest -m blackbox tests/test_blackbox.py

bench-dist: dist/ojin-local
	$(DIST_VENV)/bin/python benchmarks/binary.py dist/ojin-local

clean:
	rm -rf $(VENV) $(DIST_VENV) build dist *.egg-info
