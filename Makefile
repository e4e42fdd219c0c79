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

## demo: build mcpgen, scaffold the sample app into a temp folder, migrate it
## on SQLite, start `mcpgen dev-server` and the app, run the connect flow and
## the example job, print the tool result. KEEP=1 keeps both servers running.
demo:
	$(GO) run ./testdata/demo $(if $(KEEP),-keep)

build:
	$(GO) build -o bin/mcpgen ./cmd/mcpgen

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l cmd generator templates); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
