# The two commands in the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint browser translations clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Tocsin needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/tocsin up $(RUN_ARGS)

# The tests drive Debian's chromium (browser tests), opendkim-testmsg (opendkim-tools, the
# DKIM tests' second verifier), Dovecot (the mailbox polling tests' IMAP and POP3 server) and
# Postfix (the relay whose bounces come back); install what is missing when we may, with one
# apt-get update.
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	PATH="$$PATH:/usr/sbin:/sbin" command -v opendkim-testmsg >/dev/null 2>&1 || missing="$$missing opendkim-tools"; \
	[ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ] || missing="$$missing dovecot-imapd dovecot-pop3d"; \
	[ -x /usr/sbin/postfix ] || missing="$$missing postfix"; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "the tests need$$missing: install it (e.g. apt-get install$$missing)"; exit 1; fi; }

test: $(VENV)/.installed browser
	$(BIN)/ruff check app emails worker tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Public pages' catalogues: extract the strings, merge them into each language, compile.
translations: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k gettext -k lazy_gettext -k N_ --no-location \
	  --sort-output --width 100 --project Tocsin -o app/translations/messages.pot .
	$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations \
	  --no-fuzzy-matching --ignore-obsolete --width 100
	$(BIN)/pybabel -q compile -d app/translations --statistics

clean:
	rm -rf $(VENV) instance
