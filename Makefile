# Mobile Backups — developer entry points. `make test` works on a fresh Debian 12.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo

.PHONY: test deps system-deps demo bench bench-quality clean run register build-push

test: deps
	$(BIN)/pytest -q

# End-to-end against a real Nextcloud (AppAPI + webhook_listeners): the suite starts and registers the ExApp itself.
# Needs NEXTCLOUD_URL, NC_AUTH_USER, NC_AUTH_PASS and NC_OCC, e.g. `source /opt/nc/credentials.env && make test-e2e`;
# without them the tests are skipped (`make test` skips them the same way).
.PHONY: test-e2e
test-e2e: deps
	$(BIN)/pytest -q tests/e2e

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

# A sample camera roll, made by the project's generator, organised into a local library; then a preview
# (dry run) of the retention rules in examples/rules.toml on it, as on 1 June 2025.
demo: deps
	rm -rf $(DEMO)
	$(BIN)/python -m mobile_backups.samples camera-roll $(DEMO)/inbox
	$(BIN)/python -m mobile_backups organise --library $(DEMO)/library $(DEMO)/inbox
	$(BIN)/python -m mobile_backups rules --dry-run --rules examples/rules.toml --library $(DEMO)/library --inbox $(DEMO)/inbox --now 2025-06-01

bench: deps
	$(BIN)/python bench/capture_dates.py

# Quality transforms against ImageMagick and the vips command line (installed here if missing and root).
bench-quality: deps
	@if ! [ -x /usr/bin/convert ] || ! command -v vips >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends imagemagick libvips-tools >/dev/null; \
		else \
			echo "For the comparison: sudo apt-get install imagemagick libvips-tools" >&2; \
		fi; \
	fi
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache

# --- ExApp (Nextcloud AppAPI) ---------------------------------------------------------
# Dev loop with AppAPI's manual-install daemon: `make run` in one terminal, then
#   make register NC_OCC='runuser -u www-data -- php /opt/nc/nextcloud/occ'
# in another (AppAPI checks /heartbeat while registering, so the app must be running).
# Without APP_PERSISTENT_STORAGE in the environment, nc_py_api's persistent_storage() uses a cache dir.
EXAPP_ID := mobile_backups
EXAPP_VERSION := 0.1.0
EXAPP_IMAGE := ghcr.io/mobile-backups/mobile_backups:$(EXAPP_VERSION)
NEXTCLOUD_URL ?= http://127.0.0.1:8080
APP_PORT ?= 23000
# A fixed development secret (64 characters) shared by `run` and `register`; never use it in production.
APP_SECRET ?= mobile-backups-dev-secret-not-for-production-0123456789abcdefghi
# What AppAPI's app_api:app:register --json-info reads (ExAppService::getAppInfo), made from appinfo/info.xml.
JSON_INFO = $$($(BIN)/python -m mobile_backups.nextcloud.json_info appinfo/info.xml --port $(APP_PORT) --secret $(APP_SECRET))

run: deps
	APP_ID=$(EXAPP_ID) APP_SECRET=$(APP_SECRET) APP_VERSION=$(EXAPP_VERSION) \
	APP_HOST=127.0.0.1 APP_PORT=$(APP_PORT) NEXTCLOUD_URL=$(NEXTCLOUD_URL) \
		$(BIN)/python ex_app/lib/main.py

register: deps
	$(if $(NC_OCC),,$(error NC_OCC is required, e.g. make register NC_OCC='runuser -u www-data -- php /opt/nc/nextcloud/occ'))
	$(NC_OCC) app_api:daemon:list --output=json | grep -q '"name":"manual_install"' || \
		$(NC_OCC) app_api:daemon:register manual_install "Manual Install" manual-install http 127.0.0.1 $(NEXTCLOUD_URL)
	$(NC_OCC) app_api:app:unregister $(EXAPP_ID) --silent --force || true
	$(NC_OCC) app_api:app:register $(EXAPP_ID) manual_install --wait-finish --json-info "$(JSON_INFO)"

# Multi-arch image named in appinfo/info.xml (docker login ghcr.io first).
build-push:
	docker buildx build --push --platform linux/amd64,linux/arm64 --tag $(EXAPP_IMAGE) .
