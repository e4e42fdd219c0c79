# mcpgen: `make test` is the test command CI runs; `make demo` shows the
# generator at work on a sample app.

GO ?= go
# Postgres and MySQL tests run when these are set (see .ci/run); they skip,
# saying so, when unset.
export MCPGEN_TEST_POSTGRES_URL
export MCPGEN_TEST_MYSQL_DSN

.PHONY: test test-short golden demo build vet fmt-check clean

## test: vet, check formatting, then run every test, including the golden
## cases built, vetted and tested inside scaffolded copies of the sample apps.
test: vet fmt-check
	$(GO) test -count=1 -timeout 30m ./...

## test-short: the fast tests only (no builds of generated apps).
test-short:
	$(GO) test -short ./...

## golden: regenerate golden/ from the generator's current output.
golden:
	$(GO) test ./generator/cli -run 'TestGolden' -short -update -count=1

## demo: scaffold the sample app into a temp folder, migrate it on SQLite
## and run the generated tests; no server needed.
demo:
	@set -e; tmp=$$(mktemp -d); \
	echo "==> building mcpgen"; \
	$(GO) build -o $$tmp/mcpgen ./cmd/mcpgen; \
	cp -R testdata/apps/shop $$tmp/shop; \
	echo "==> mcpgen oauth install (in a copy of testdata/apps/shop at $$tmp/shop)"; \
	(cd $$tmp/shop && $$tmp/mcpgen oauth install); \
	echo; echo "==> go mod tidy"; \
	(cd $$tmp/shop && $(GO) mod tidy); \
	echo "==> migrating the app's SQLite database ($$tmp/shop/shop.db)"; \
	(cd $$tmp/shop && DATABASE_URL="file:$$tmp/shop/shop.db?_pragma=foreign_keys(1)" $(GO) run ./cmd/shop migrate up && \
	  DATABASE_URL="file:$$tmp/shop/shop.db?_pragma=foreign_keys(1)" $(GO) run ./cmd/shop migrate status); \
	echo "==> running the generated tests"; \
	(cd $$tmp/shop && $(GO) test -count=1 ./internal/mcpoauth/... ./internal/models/...); \
	echo; echo "Done. The scaffolded app is in $$tmp/shop"

build:
	$(GO) build -o bin/mcpgen ./cmd/mcpgen

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l cmd generator templates); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
