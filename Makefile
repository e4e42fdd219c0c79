# mcpgen: `make test` is the test command CI runs; `make demo` shows the
# generator at work on a sample app; `make bench` measures the generated code.

GO ?= go
# Postgres and MySQL tests run when these are set (see .ci/run); they skip,
# saying so, when unset.
export MCPGEN_TEST_POSTGRES_URL
export MCPGEN_TEST_MYSQL_DSN

.PHONY: test test-short golden demo bench conformance fuzz soak build vet fmt-check clean

## test: vet, check formatting, then run every test, including the golden
## cases built, vetted and tested inside scaffolded copies of the sample apps.
## The scale proofs run last, printing their counts.
test: vet fmt-check
	cd mcpoauth && $(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 30m -skip '^TestScale$$' ./...
	@log=$$(mktemp); status=0; \
	$(GO) test -count=1 -timeout 20m -run '^TestScale$$' -v ./generator/cli > $$log 2>&1 || status=$$?; \
	if [ $$status = 0 ]; then grep -E '^(ok|PASS)|--- PASS: TestScale/[a-z]+ |--- SKIP|_test.go:[0-9]+: ' $$log; else cat $$log; fi; \
	rm -f $$log; exit $$status

## test-short: the fast tests only (no builds of generated apps).
test-short:
	cd mcpoauth && $(GO) test -short ./...
	$(GO) test -short ./...

## golden: regenerate golden/ from the generator's current output.
golden:
	$(GO) test ./generator/cli -run 'TestGolden' -short -update -count=1

## demo: build mcpgen, scaffold the sample app into a temp folder, migrate it
## on SQLite, start `mcpgen dev-server` and the app, run the connect flow and
## the example job, print the tool result. KEEP=1 keeps both servers running.
demo:
	$(GO) run ./testdata/demo $(if $(KEEP),-keep)

## bench: the scale benchmarks of BENCHMARKS.md. Scaffolds the sample app into
## a temp folder per database (SQLite; PostgreSQL and MySQL when the variables
## above are set, each in a fresh database) and runs go test -bench in the
## generated package. BENCHFLAGS=-quick for a smoke run; -out=FILE keeps the
## results for benchstat.
bench:
	$(GO) run ./testdata/bench $(BENCHFLAGS)

## conformance: the official MCP conformance suite's client authorization
## scenarios (2025-11-25, 2025-03-26, draft) against the sample app as
## `mcpgen oauth install` leaves it, connected through its pages and called
## through Clients.For. The pinned suite and the Node 22 it needs are
## installed with npm into the user cache on first use. Fails on any failed
## or warning check. CONFORMANCEFLAGS=-scenario=step-up runs a subset.
conformance:
	$(GO) run ./testdata/conformance $(CONFORMANCEFLAGS)

## fuzz: each fuzz target for FUZZTIME (default 30s): the runtime's
## (server URLs, ciphertexts, challenges, resource metadata, callbacks) and
## the generator's names. Their seeds run in make test; findings land in
## testdata/fuzz of their package, to commit with the fix.
FUZZTIME ?= 30s
RUNTIME_FUZZ = FuzzCanonicalServerURL FuzzKeyringOpen FuzzChallengeScope FuzzResourceMetadata FuzzCallback
fuzz:
	@set -e; for f in $(RUNTIME_FUZZ); do echo "==> mcpoauth $$f"; (cd mcpoauth && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) .); done
	@echo "==> generator FuzzNames"; $(GO) test -run '^$$' -fuzz '^FuzzNames$$' -fuzztime $(FUZZTIME) ./generator

## soak: refresh under faults, as BENCHMARKS.md reports it (not in make
## test): SOAK_CYCLES (default 1000) expiry cycles of 1-second tokens, 4
## worker processes x 16 goroutines on one credential, the dev server
## rotating refresh tokens with reuse detection and injecting 5xx, 429,
## timeouts, slow and early-refused refreshes and lost answers, a worker
## SIGKILLed every 100 cycles; on SQLite, and PostgreSQL and MySQL when
## their variables are set, all at once. Prints each database's figures;
## fails on a spurious reconnect, an invalid_grant, a reuse detection or
## a lost token.
SOAK_CYCLES ?= 1000
soak:
	@log=$$(mktemp); status=0; \
	MCPGEN_SOAK_CYCLES=$(SOAK_CYCLES) $(GO) test -count=1 -timeout 120m -run '^TestSoak$$' -v ./generator/cli > $$log 2>&1 || status=$$?; \
	if [ $$status = 0 ]; then grep -E '^(ok|PASS)|--- (PASS|SKIP)|soak_test.go:[0-9]+: ' $$log; else cat $$log; fi; \
	rm -f $$log; exit $$status

build:
	$(GO) build -o bin/mcpgen ./cmd/mcpgen

vet:
	cd mcpoauth && $(GO) vet ./...
	$(GO) vet ./... ./testdata/demo ./testdata/bench ./testdata/conformance

fmt-check:
	@out=$$(gofmt -l cmd generator mcpoauth templates testdata); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
