# Valise: the two commands a user needs are `make run` and `make test`.
GO      ?= go
BIN     := bin
DATA    ?= ./data
STATICCHECK_VERSION := v0.8.2

.PHONY: all build run test test-unit test-large bench lint deps-run deps-test clean

all: build

## build: compile the node and its tools into ./bin
build:
	$(GO) build -o $(BIN)/appliance ./cmd/appliance
	$(GO) build -o $(BIN)/console ./cmd/console

## run: install what a node needs, build, init ./data on first run, serve on 127.0.0.1
run: deps-run build
	DATA=$(DATA) ./scripts/run.sh

## test: install what the tests need, lint, the race suite, then the large-file tests
test: deps-test lint
	VALISE_REQUIRE_ALL=1 ./scripts/test.sh

## test-large: only the large-file tests (serial, without -race)
test-large:
	VALISE_REQUIRE_ALL=1 ./scripts/test.sh large

## bench: the benchmarks and their same-run baselines
bench: build
	./scripts/bench.sh

## lint: gofmt, go vet, staticcheck
lint:
	./scripts/lint.sh

deps-run:
	./scripts/deps.sh run

deps-test:
	./scripts/deps.sh test

clean:
	rm -rf $(BIN)
