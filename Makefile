# tcplab: `make run` sets up a fresh Debian 12 machine and runs the default
# suite on the netns backend; `make test` runs the type check, unit and
# end-to-end tests and ends with `N passed, N failed`.

SHELL := /bin/bash
BIN   := node_modules/.bin
TS_SOURCES := $(shell find src -name '*.ts' 2>/dev/null)

.PHONY: all deps build agent schema run test unit e2e image docker clean gc doctor bench

all: build

deps:
	@bash scripts/install-deps.sh

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

agent:
	@$(MAKE) -s -C agent

dist/cli/main.js: node_modules/.package-lock.json $(TS_SOURCES) tsconfig.json tsconfig.build.json
	$(BIN)/tsc -p tsconfig.build.json
	@chmod +x dist/cli/main.js

build: deps agent dist/cli/main.js

schema: node_modules/.package-lock.json
	$(BIN)/tsx scripts/gen-schema.ts

run: build
	node dist/cli/main.js run $(or $(ARGS),--jobs auto)

test: build
	@bash scripts/install-deps.sh --test
	node scripts/test.mjs $(TESTS)

unit: build
	node scripts/test.mjs test/unit

e2e: build
	node scripts/test.mjs test/e2e

image: build
	bash containers/build-image.sh

docker:
	bash containers/start-dockerd.sh

gc: build
	node dist/cli/main.js gc

doctor: build
	node dist/cli/main.js doctor

bench: build
	@for b in bench/*.ts; do echo "== $$b"; $(BIN)/tsx $$b || exit 1; done

clean:
	rm -rf dist agent/build results
