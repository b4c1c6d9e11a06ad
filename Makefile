# Daihou — the two commands of the README, and a few helpers.
#   make run    install, migrate, demo data, start web + Celery worker + beat
#   make test   install and run the whole test suite (browser tests included)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev

.PHONY: run test install install-dev browser lint format messages check-translations clean-data

run: install
	$(BIN)/python -m devtools run

test: install-dev browser
	$(BIN)/python -m devtools test $(PYTEST_ARGS)

# `make run` needs only the portal's packages; the test tools (Playwright, Hypothesis, ruff…)
# come with the first `make test`. Reinstalled whenever the dependency list or the lock changes.
install: $(INSTALLED)
install-dev: $(DEV_INSTALLED)

$(INSTALLED): pyproject.toml requirements/constraints.txt
	@echo "Daihou: installing the portal's Python packages into $(VENV) (when they change) ..."
	@started=$$(date +%s); \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements/constraints.txt . && \
	echo "  packages installed ($$(( $$(date +%s) - started )) s)"
	touch $@

$(DEV_INSTALLED): $(INSTALLED)
	@echo "Daihou: installing the test tools into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements/constraints.txt ".[dev]"
	touch $@

# Browser tests drive the system Chromium (Playwright's own download does not work
# on the company network). Installed from Debian's packages when we may.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's chromium for the browser tests"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
		else \
			echo "WARNING: chromium not found; browser tests will be skipped (sudo apt-get install chromium)"; \
		fi; }

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Update the Chinese catalog after changing strings (needs GNU gettext: apt-get install gettext).
messages: install
	$(BIN)/python -m devtools exec -- manage.py update_catalog

check-translations: install
	$(BIN)/python -m devtools exec -- manage.py check_translations

clean-data:
	$(BIN)/python -c "from devtools.engines import reset_data; reset_data()"
