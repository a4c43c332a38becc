# Mobile Backups — developer entry points. `make test` works on a fresh Debian 12.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: test deps system-deps demo bench clean

test: deps
	$(BIN)/pytest -q

deps: system-deps $(VENV)/.installed

# exiftool (the benchmark's baseline, and the test fixtures' metadata writer) and ffmpeg (real videos).
system-deps:
	@if ! command -v exiftool >/dev/null || ! command -v ffmpeg >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libimage-exiftool-perl ffmpeg >/dev/null; \
		else \
			echo "Install exiftool and ffmpeg first: sudo apt-get install libimage-exiftool-perl ffmpeg" >&2; exit 1; \
		fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# A sample camera roll, made by the project's generator, organised into a local library.
demo: deps
	rm -rf $(DEMO)
	$(BIN)/python -m mobile_backups.samples camera-roll $(DEMO)/inbox
	$(BIN)/python -m mobile_backups organise --library $(DEMO)/library $(DEMO)/inbox

bench: deps
	$(BIN)/python bench/capture_dates.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
