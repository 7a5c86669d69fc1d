# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lock clean translations vendor

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flask --app referral demo

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	@ls bench/[!_]*.py >/dev/null 2>&1 || { echo "no benchmarks yet"; exit 0; }; \
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# After changing a page's words: gather them, merge into es and fr, fill in, then compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k reason -k reason_n:1,2 --no-location --sort-output \
		--project referral --copyright-holder referral -o referral/translations/messages.pot referral
	$(BIN)/pybabel update -i referral/translations/messages.pot -d referral/translations \
		--no-fuzzy-matching
	$(BIN)/pybabel compile -d referral/translations --statistics

# The browser libraries, pinned in referral/blueprints/web/vendor/package.json (needs npm).
vendor:
	bash referral/blueprints/web/vendor/refresh.sh

# Refresh the pinned versions after changing pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockenv/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
