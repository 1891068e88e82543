# Two commands matter: `make demo` (see it work) and `make test` (the whole suite).
# Both install what they need: Debian packages with apt, then the Python venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pcscd + vpcd give a real PC/SC stack without hardware; libpcsclite-dev/gcc/python3-dev build
# pyscard; chromium is the browser the kiosk and the browser tests use; fonts-noto-cjk renders
# Japanese; opensc cross-checks cards (`opensc-tool -n` names an emulated card `jpki`); systemd
# (systemd-analyze) and cage let the suite verify and score the units in systemd/.
# A pcscd that was already running must restart to see the vpcd readers (try-restart does
# nothing where systemd or pcscd is not running; the tests and the demo then start their own).
APT_PACKAGES := pcscd vsmartcard-vpcd libpcsclite-dev gcc python3-dev python3-venv chromium fonts-noto-cjk opensc systemd cage

.PHONY: setup apt venv demo run test test-fast test-shifted drills bench bench-load lint clean install install-packages install-app install-files install-system uninstall seal-key

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

# The staff server alone under 1/8/32 HTTPS clients and 10,000 requests (bench/load.py):
# `make bench-load ARGS=--pinned` runs the appliance on one core with 512 MiB (bench/pinned.py).
ARGS ?=
bench-load: venv
	$(BIN)/python -m bench.load $(ARGS)

lint: venv
	$(BIN)/ruff check device reader sync web sim tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

clean:
	rm -rf $(VENV) .demo .onshi

# ---------------------------------------------------------------------------------------------
# The appliance (docs/install.md): `sudo make install` on Raspberry Pi OS / Debian 12.
# DESTDIR=/some/dir stages the same tree there without root, apt, users or systemctl (packaging,
# and the suite's test). `make uninstall` keeps /var/lib/onshi, /etc/onshi and the store key
# unless PURGE=1.
PREFIX ?= /opt/onshi
DESTDIR ?=
PURGE ?=
# Extra pip options for the app's install (the suite's test passes --no-deps).
PIP_FLAGS ?=
UNITDIR := /usr/local/lib/systemd/system
SYSUSERSDIR := /usr/local/lib/sysusers.d
TMPFILESDIR := /usr/local/lib/tmpfiles.d
POLKITDIR := /etc/polkit-1/rules.d
CHROMIUMPOLICYDIR := /etc/chromium/policies/managed
CONFDIR := /etc/onshi
CREDENTIAL := /etc/credstore.encrypted/onshi-store-key
# What the desk needs at run time (the build tools are for pyscard where no wheel exists).
APPLIANCE_PACKAGES := pcscd python3-venv libpcsclite-dev gcc python3-dev chromium cage fonts-noto-cjk
ROOT := $(if $(DESTDIR),,$(SUDO))
STAGE := $(DESTDIR)$(PREFIX)

CHECK_PREFIX = @case "$(notdir $(PREFIX))" in *onshi*) ;; \
    *) echo "PREFIX must be a directory of its own (…/onshi), not '$(PREFIX)'"; exit 64;; esac

install: install-system

install-packages:
ifeq ($(DESTDIR),)
	$(ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APPLIANCE_PACKAGES)
endif

# The app in its own venv at PREFIX (bin/onshi, bin/onshi-admin), compiled where it will run.
install-app: install-packages
	$(CHECK_PREFIX)
	$(ROOT) $(PYTHON) -m venv $(STAGE)
	$(ROOT) $(STAGE)/bin/pip install -q --no-compile --upgrade $(PIP_FLAGS) .
ifneq ($(DESTDIR),)
	# The venv was made in DESTDIR: its scripts must name the prefix it will run from.
	grep -rlI --null -F '$(STAGE)' $(STAGE)/bin $(STAGE)/pyvenv.cfg | xargs -0 -r sed -i 's#$(STAGE)#$(PREFIX)#g'
endif
	$(ROOT) $(STAGE)/bin/python -m compileall -q $(if $(DESTDIR),-s $(DESTDIR) -p /) $(STAGE)/lib
	sed 's#@PREFIX@#$(PREFIX)#g' systemd/onshi-admin | $(ROOT) tee $(STAGE)/bin/onshi-admin >/dev/null
	$(ROOT) chmod 0755 $(STAGE)/bin/onshi-admin

# Units, users, policies, docs and an example configuration (an existing one is kept).
install-files:
	$(CHECK_PREFIX)
	$(ROOT) install -d $(STAGE)/share/onshi $(STAGE)/share/doc/onshi
	$(ROOT) install -m 0644 systemd/onshi.toml.example $(STAGE)/share/onshi/onshi.toml.example
	$(ROOT) install -m 0644 docs/install.md docs/configuration.md docs/terminal.md $(STAGE)/share/doc/onshi/
	$(ROOT) install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(POLKITDIR) $(DESTDIR)$(CHROMIUMPOLICYDIR) $(DESTDIR)$(CONFDIR)
	$(ROOT) install -m 0644 systemd/onshi.service systemd/onshi-kiosk.service $(DESTDIR)$(UNITDIR)/
	$(ROOT) install -m 0644 systemd/onshi.sysusers $(DESTDIR)$(SYSUSERSDIR)/onshi.conf
	$(ROOT) install -m 0644 systemd/onshi.tmpfiles $(DESTDIR)$(TMPFILESDIR)/onshi.conf
	$(ROOT) install -m 0644 systemd/onshi-pcsc.rules $(DESTDIR)$(POLKITDIR)/60-onshi-pcsc.rules
	$(ROOT) install -m 0644 systemd/chromium-policy.json $(DESTDIR)$(CHROMIUMPOLICYDIR)/onshi.json
	@# An existing configuration is the clinic's: never overwritten.
	@if [ -e $(DESTDIR)$(CONFDIR)/onshi.toml ]; then echo "keeping $(CONFDIR)/onshi.toml"; \
	else $(ROOT) install -m 0640 systemd/onshi.toml.example $(DESTDIR)$(CONFDIR)/onshi.toml; fi

# On the machine itself only (no DESTDIR): users, the store key, the units enabled.
install-system: install-app install-files
ifeq ($(DESTDIR),)
	$(ROOT) systemd-sysusers $(SYSUSERSDIR)/onshi.conf
	$(ROOT) systemd-tmpfiles --create $(TMPFILESDIR)/onshi.conf
	$(ROOT) chgrp onshi $(CONFDIR)/onshi.toml
	@# The store key, sealed to this machine: made once; an existing key beside old data is sealed
	@# instead of a new one (the appliance refuses two different keys).
	@if $(ROOT) test -e $(CREDENTIAL); then echo "keeping the store key $(CREDENTIAL)"; \
	elif $(ROOT) test -e /var/lib/onshi/store.key; then \
	  $(ROOT) systemd-creds encrypt --name=store-key /var/lib/onshi/store.key $(CREDENTIAL) \
	  && echo "sealed the existing /var/lib/onshi/store.key as $(CREDENTIAL)"; \
	else head -c 64 /dev/urandom | $(ROOT) systemd-creds encrypt --name=store-key - $(CREDENTIAL) \
	  && echo "made a new store key $(CREDENTIAL)"; fi
	$(ROOT) systemctl daemon-reload
	$(ROOT) systemctl enable onshi.service onshi-kiosk.service
	@echo "Installed. Edit $(CONFDIR)/onshi.toml, then: sudo systemctl start onshi onshi-kiosk"
endif

uninstall:
	$(CHECK_PREFIX)
ifeq ($(DESTDIR),)
	-$(ROOT) systemctl disable --now onshi-kiosk.service onshi.service
endif
	$(ROOT) rm -rf $(STAGE)
	$(ROOT) rm -f $(DESTDIR)$(UNITDIR)/onshi.service $(DESTDIR)$(UNITDIR)/onshi-kiosk.service \
	    $(DESTDIR)$(SYSUSERSDIR)/onshi.conf $(DESTDIR)$(TMPFILESDIR)/onshi.conf \
	    $(DESTDIR)$(POLKITDIR)/60-onshi-pcsc.rules $(DESTDIR)$(CHROMIUMPOLICYDIR)/onshi.json
ifeq ($(PURGE),1)
	@# Patient data and the only key that opens it: gone for good.
	$(ROOT) rm -rf $(DESTDIR)/var/lib/onshi $(DESTDIR)/var/lib/onshi-kiosk $(DESTDIR)$(CONFDIR)
	$(ROOT) rm -f $(DESTDIR)$(CREDENTIAL)
else
	@echo "kept /var/lib/onshi (patient data), $(CONFDIR) and $(CREDENTIAL); PURGE=1 removes them"
endif
ifeq ($(DESTDIR),)
	$(ROOT) systemctl daemon-reload
endif

# Seal a store key file (from the recovery sheet or a backup) as the appliance's credential on
# this machine: `sudo make seal-key KEY=/path/store.key`. An existing credential is not replaced.
seal-key:
	@[ -n "$(KEY)" ] || { echo "KEY=/path/to/store.key is required"; exit 64; }
	@if $(SUDO) test -e $(CREDENTIAL); then echo "$(CREDENTIAL) exists: move it aside first"; exit 73; fi
	$(SUDO) systemd-tmpfiles --create $(TMPFILESDIR)/onshi.conf
	$(SUDO) systemd-creds encrypt --name=store-key $(KEY) $(CREDENTIAL)
