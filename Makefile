# Two commands matter: `make demo` (see it work) and `make test` (the whole suite).
# Both install what they need: Debian packages with apt, then the Python venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pcscd + vpcd give a real PC/SC stack without hardware; libpcsclite-dev/gcc/python3-dev build
# pyscard; chromium is the browser the kiosk and the browser tests use; fonts-noto-cjk renders
# Japanese; opensc cross-checks cards (`opensc-tool -n` names an emulated card `jpki`).
# A pcscd that was already running must restart to see the vpcd readers (try-restart does
# nothing where systemd or pcscd is not running; the tests and the demo then start their own).
APT_PACKAGES := pcscd vsmartcard-vpcd libpcsclite-dev gcc python3-dev python3-venv chromium fonts-noto-cjk opensc

.PHONY: setup apt venv demo run test test-fast test-shifted drills bench lint clean

setup: apt venv

apt:
	@if dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -vq 'install ok installed' \
	    || [ "$$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | wc -l)" -lt "$(words $(APT_PACKAGES))" ]; then \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) && \
	  { $(SUDO) systemctl try-restart pcscd.service 2>/dev/null || true; }; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# `make demo MODE=folders`: through the simulated official terminal's folders instead.
MODE ?= api
demo: setup
	$(BIN)/onshi demo --central $(MODE)

run: setup
	$(BIN)/onshi run

test: setup
	$(BIN)/pytest -p no:cacheprovider

test-fast: venv
	$(BIN)/pytest -p no:cacheprovider tests/unit

# The unit tier again with Python's clock 400 days ahead and 35 days back (time-machine; OpenSSL
# and child processes keep the real time): no test may depend on today's date.
test-shifted: venv
	$(BIN)/pytest -p no:cacheprovider tests/unit --clock-shift-days 400
	$(BIN)/pytest -p no:cacheprovider tests/unit --clock-shift-days -35

# The fault drills and fuzzers with a larger budget than the suite gives them.
drills: setup
	$(BIN)/pytest -p no:cacheprovider tests/drills --drill-budget large

bench: setup
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check device reader sync web sim tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

clean:
	rm -rf $(VENV) .demo .onshi
