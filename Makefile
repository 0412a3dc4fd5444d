# iactq — MySQL-backed job queue. `make` (or `make help`) lists the targets.

# Pinned tool versions (installed into ./.iactq/bin on first use).
SQLC_VERSION        := v1.31.1
# staticcheck 2026.2.2; the proxy serves staticcheck by its module version (v0.x.y) only.
STATICCHECK_VERSION := v0.8.2

SHELL       := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TOOLS_BIN   := $(CURDIR)/.iactq/bin
SQLC        := $(TOOLS_BIN)/sqlc
STATICCHECK := $(TOOLS_BIN)/staticcheck
BIN         := bin/iactq
DBSQLC      := queue/internal/dbsqlc

# Extra `go test` flags, e.g. make test TEST_FLAGS='-run TestClaim -v'; TEST_PKGS narrows.
TEST_FLAGS ?=
TEST_PKGS  ?= ./...

.PHONY: help build generate verify lint fmt test run db-up db-down db-status tools clean

help: ## show this help
	@echo "usage: make TARGET"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# $(call go-install,binary,package,version): install unless that exact version is there.
define go-install
	@if [ "$$(go version -m $(1) 2>/dev/null | awk '$$1 == "mod" {print $$3; exit}')" != "$(3)" ]; then \
		echo "installing $(2)@$(3) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) go install $(2)@$(3); \
	fi
endef

tools: ## install the pinned sqlc and staticcheck into .iactq/bin
	$(call go-install,$(SQLC),github.com/sqlc-dev/sqlc/cmd/sqlc,$(SQLC_VERSION))
	$(call go-install,$(STATICCHECK),honnef.co/go/tools/cmd/staticcheck,$(STATICCHECK_VERSION))

build: ## build bin/iactq
	go build -o $(BIN) ./cmd/iactq

generate: ## regenerate queue/internal/dbsqlc with sqlc
	$(call go-install,$(SQLC),github.com/sqlc-dev/sqlc/cmd/sqlc,$(SQLC_VERSION))
	$(SQLC) generate

verify: generate ## check that the generated code is committed and up to date
	@if ! git diff --quiet -- $(DBSQLC) || [ -n "$$(git status --porcelain -- $(DBSQLC))" ]; then \
		git status --short -- $(DBSQLC); \
		git --no-pager diff --stat -- $(DBSQLC); \
		echo "generated code is stale: run make generate" >&2; \
		exit 1; \
	fi
	@echo "verify: generated code is up to date"

fmt: ## gofmt -w the Go files (generated code excluded)
	@git ls-files --cached --others --exclude-standard -- '*.go' ':(exclude)$(DBSQLC)' \
		| while read -r f; do [ ! -f "$$f" ] || echo "$$f"; done | xargs -r gofmt -w

lint: ## gofmt, go vet, staticcheck and the platform restrictions
	$(call go-install,$(STATICCHECK),honnef.co/go/tools/cmd/staticcheck,$(STATICCHECK_VERSION))
	@files=$$(git ls-files --cached --others --exclude-standard -- '*.go' ':(exclude)$(DBSQLC)' \
		| while read -r f; do [ ! -f "$$f" ] || echo "$$f"; done); \
	bad=$$(if [ -n "$$files" ]; then gofmt -l $$files; fi); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need formatting (run make fmt):" >&2; echo "$$bad" >&2; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...
	scripts/check-restrictions.sh

db-up: ## start the private MariaDB of `make run` (.iactq/run) and print its DSNs
	scripts/db.sh up run

db-down: ## stop the private MariaDB of `make run` (data kept)
	scripts/db.sh down run

db-status: ## say whether the private MariaDB servers run
	@scripts/db.sh status run || true
	@scripts/db.sh status test || true

run: build ## build, start a private MariaDB (unless IACTQ_DSN is set), migrate, load demo data, run workers
	@if [ -n "$${IACTQ_DSN:-}" ]; then \
		admin_dsn=$$IACTQ_DSN; worker_dsn=$$IACTQ_DSN; \
	else \
		scripts/db.sh up run; \
		. .iactq/run/env; \
		admin_dsn=$$IACTQ_ADMIN_DSN; worker_dsn=$$IACTQ_DSN; \
	fi; \
	unset IACTQ_ADMIN_DSN; \
	IACTQ_DSN=$$admin_dsn $(BIN) migrate; \
	echo "enqueueing a few demo jobs (noop; see: bin/iactq jobs list, bin/iactq messages --to demo)"; \
	for i in 1 2 3 4 5; do \
		echo '{"kind":"noop","args":{"sleep_ms":500},"requested_by":"demo"}'; \
	done | IACTQ_DSN=$$worker_dsn $(BIN) enqueue --batch >/dev/null; \
	echo '{"kind":"noop","args":{"fail_attempts":2},"requested_by":"demo","max_attempts":5}' \
		| IACTQ_DSN=$$worker_dsn $(BIN) enqueue --batch >/dev/null; \
	export IACTQ_DSN=$$worker_dsn; \
	exec $(BIN) work --log-format console

test: build ## all tests (unit + integration, -race) against a private MariaDB (.iactq/test), stopped afterwards
	@trap 'scripts/db.sh down test >/dev/null 2>&1 || true' EXIT; \
	scripts/db.sh up test >/dev/null; \
	. .iactq/test/env; \
	export IACTQ_TEST_ADMIN_DSN="$$IACTQ_ADMIN_DSN" IACTQ_TEST_WORKER_DSN="$$IACTQ_DSN" IACTQ_BIN="$(CURDIR)/$(BIN)"; \
	unset IACTQ_DSN IACTQ_ADMIN_DSN; \
	echo "go test -race -count=1 -timeout 30m $(TEST_FLAGS) $(TEST_PKGS)"; \
	go test -race -count=1 -timeout 30m $(TEST_FLAGS) $(TEST_PKGS)

clean: ## remove bin/ (the private servers' data in .iactq/ is kept)
	rm -rf bin
