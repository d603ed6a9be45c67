# scylla-outbox — everything runs on the embedded stack (scyllaemu + kfake);
# no Docker, ScyllaDB or Kafka needed.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO      ?= go
PKGS    ?= ./...
RACE    ?= -race

.PHONY: all build test unit test-tablets conformance sim crash-bench lint fuzz bench bench-quick bench-backlog-1m bench-emu clean demo dev integration-test metrics

all: build

build:
	$(GO) build -o bin/ ./cmd/...

## test: the whole suite, as CI runs it (unit + integration with -race,
## scylla-cdc-go's own tests against cmd/scyllaemu, then the fault simulator).
test: unit conformance sim

unit:
	$(GO) test $(RACE) -count=1 -timeout 8m $(PKGS)

## test-tablets: the relay's tests (app, cdc, storage) once more with the
## keyspace in tablets mode: CDC over per-table tablet stream sets, as on
## ScyllaDB 2025.4 (see internal/outboxtest, OUTBOX_TEST_TABLETS).
TABLETS_PKGS ?= ./app/... ./cdc/... ./storage/...
test-tablets:
	OUTBOX_TEST_TABLETS=1 $(GO) test $(RACE) -count=1 -timeout 8m $(TABLETS_PKGS)

## conformance: unmodified scylla-cdc-go v1.2.0 tests against a fresh scyllaemu.
conformance:
	./scripts/conformance.sh

## sim: the fault simulator over SEEDS seeds from SEED_START; a failing seed
## prints itself and replays with `go test ./sim -run TestSimulation -sim.seed=N -v`
## (add -sim.trace for the run's trace).
SEEDS ?= 5000
SEED_START ?= 1
sim:
	$(GO) test -count=1 -run TestSimulation -v ./sim -sim.seeds=$(SEEDS) -sim.start=$(SEED_START) | grep -v '^=== RUN'

## crash-bench: duplicates per SIGKILL of the relay, 20,000 events at 170/s,
## ten kills, both processors (about 5 minutes).
crash-bench:
	$(GO) test -count=1 -timeout 20m -run TestRelayCrashDuplicates -v ./app -crash.events=20000 | grep -E 'guarantees_test|^(---|ok|FAIL)' 

## demo: the whole pipeline on the embedded stack, once per processor; fails
## unless every seeded event is published. PROCESSORS=polling for one.
PROCESSORS ?= cdc polling
demo:
	@for p in $(PROCESSORS); do \
		echo "=== outbox demo --processor $$p"; \
		$(GO) run ./cmd/outbox demo --processor $$p || exit 1; \
	done

## dev: embedded ScyllaDB (9042) + Kafka (9092) + relay + HTTP API (8080), until Ctrl-C.
dev:
	$(GO) run ./cmd/outbox dev

## integration-test: the relay's failure scenarios on the embedded stack
## (happy path, 20 s broker outage, crash, poison event, panic, graceful restart).
integration-test:
	$(GO) test $(RACE) -count=1 -v -run 'TestRelay|TestDemo' ./app
	$(GO) test $(RACE) -count=1 -v ./cli

## metrics: the relay's metrics from a running `make dev` (or relay).
METRICS_URL ?= http://localhost:8080/metrics
metrics:
	@curl -fsS $(METRICS_URL) | grep -E '^(cdc_|outbox_|circuit_breaker|dlq_|retry_|actor_restarts|orders_|relay_)'

## lint: gofmt, go vet, then golangci-lint (.golangci.yml) at the version
## scripts/install-golangci-lint.sh pins, which it installs into bin/ first
## when missing (a minute or two, once).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@./scripts/install-golangci-lint.sh
	bin/golangci-lint run $(PKGS)

## fuzz: a short run of each fuzz target (FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./scyllaemu/cql -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./scyllaemu/wire -run '^$$' -fuzz FuzzReadFrame -fuzztime $(FUZZTIME)
	$(GO) test ./scyllaemu/wire -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./scyllaemu/types -run '^$$' -fuzz FuzzValidateCompare -fuzztime $(FUZZTIME)

## bench: the relay benchmark (steady 1,000 events/s for 30 s, the same run
## with the active relay killed halfway and a standby taking over, 100,000-event
## backlog, raw-producer baseline; both processors). Writes bench-report.json
## and bench-latency.svg. The built binary runs, not `go run`: the relay it
## measures is a child process of the same binary.
bench:
	$(GO) build -o bin/outbox ./cmd/outbox
	bin/outbox bench

bench-quick:
	$(GO) build -o bin/outbox ./cmd/outbox
	bin/outbox bench --quick

## bench-backlog-1m: a 1,000,000-event backlog drained by each processor,
## the relay's peak RSS against its 256 MiB bound; heap profiles of the
## relays in reports/bench-heap/ (~15 min on 2 shared cores; the embedded stack takes
## ~10 GiB). Compare any run with an earlier report:
## bin/outbox bench --compare bench/results/full-2core.json
bench-backlog-1m:
	$(GO) build -o bin/outbox ./cmd/outbox
	mkdir -p reports/bench-heap
	bin/outbox bench --workloads backlog --backlog 1000000 --processors cdc,polling --memprofile-dir reports/bench-heap --json reports/bench-backlog-1m.json --svg reports/bench-backlog-1m.svg

## bench-emu: emulator throughput (16 gocql goroutines): inserts into a CDC
## table in memory and with a data directory (write-ahead log; fsync once a
## second, and fsync before every acknowledgement), reads; memory for 1M rows.
bench-emu:
	$(GO) test ./scyllaemu -run '^$$' -bench 'InsertCDC$$|InsertCDCDataDir$$|SelectPartition' -benchtime 100000x
	$(GO) test ./scyllaemu -run '^$$' -bench 'InsertCDCFsyncAlways' -benchtime 10000x
	$(GO) test ./scyllaemu -run '^$$' -bench MemoryMillionRows -benchtime 1x

clean:
	rm -rf bin
