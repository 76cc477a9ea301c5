# cartservice — every target installs what it needs into .venv (Python), .tools (buf) and
# clients/ts/node_modules (the TypeScript client, from its package-lock.json).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
INSTALLED := $(VENV)/.installed
TS := clients/ts
TS_INSTALLED := $(TS)/node_modules/.installed
RUNTIME := $(VENV)/.runtime
# Debian's Chromium, for the storefront page's browser test (playwright-core brings no browser).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's toolchains for the Go and Java recipe (README, "Go, Java and the rest").
GO_JAVA := /usr/share/java/perfmark-api.jar
GO_JAVA_PACKAGES := protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-go \
	golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev golang-google-grpc-dev \
	protobuf-compiler-grpc-java-plugin default-jdk-headless libprotobuf-java libgrpc-java \
	libnetty-java libperfmark-java
APT_INSTALL := $(SUDO) apt-get install -y --no-install-recommends
PIP_VERSION := 26.3

.PHONY: run storefront test bench gen check-gen lint breaking ci clean lock

## run: install the runtime into .venv, migrate the embedded SQLite database and serve on 127.0.0.1:50051
run: $(RUNTIME)
	@port=$${CARTSERVICE_PORT:-50051}; \
	$(BIN)/cartservice serve & server=$$!; \
	trap 'kill -INT $$server 2>/dev/null; wait $$server; exit 0' INT TERM; \
	until $(BIN)/cartservice health --address 127.0.0.1:$$port --timeout 1 >/dev/null 2>&1; do \
		kill -0 $$server 2>/dev/null || exit 1; sleep 0.2; \
	done; \
	token=$$($(BIN)/cartservice token --user-id 1 --collection-id 4982 --roles ROLE_USER --ttl 12h) && \
	echo "cartservice: serving on 127.0.0.1:$$port (Ctrl-C stops). Try, with a 12-hour token of user 1:" && \
	echo "  grpcurl -plaintext -H 'authorization: Bearer $$token' -d '{}' 127.0.0.1:$$port cartservice.cart.v1.CartService/CreateCart"; \
	wait $$server

## storefront: `make run` with the browser endpoint on 8091, and the storefront page on
## http://127.0.0.1:8080 calling it (STOREFRONT_PORT and BROWSER_PORT change them)
storefront: $(RUNTIME) $(TS_INSTALLED)
	@cd $(TS) && npx tsc -p .
	@page=$${STOREFRONT_PORT:-8080}; api=$${BROWSER_PORT:-8091}; port=$${CARTSERVICE_PORT:-50051}; \
	$(BIN)/cartservice serve --browser-port $$api --cors-origins http://127.0.0.1:$$page & server=$$!; \
	trap 'kill -INT $$server 2>/dev/null; wait $$server; exit 0' INT TERM; \
	until $(BIN)/cartservice health --address 127.0.0.1:$$port --timeout 1 >/dev/null 2>&1; do \
		kill -0 $$server 2>/dev/null || exit 1; sleep 0.2; \
	done; \
	token=$$($(BIN)/cartservice token --user-id 1 --collection-id 4982 --roles ROLE_USER --ttl 12h) && \
	node $(TS)/dist/storefront/serve.js --api http://127.0.0.1:$$api --token "$$token" --port $$page & page_server=$$!; \
	trap 'kill $$page_server 2>/dev/null; kill -INT $$server 2>/dev/null; wait $$server; exit 0' INT TERM; \
	wait $$server

## test: install with the test extras and run the whole suite (PostgreSQL and SQLite), then the
## TypeScript client's tests (Node's test runner against real servers, the storefront page in
## Debian's Chromium, installed here when missing)
test: $(INSTALLED) $(TS_INSTALLED) $(CHROMIUM) $(GO_JAVA)
	$(BIN)/pytest
	cd $(TS) && npm test

## bench: the request path against a no-op echo and a bare-SQL baseline, one and two workers
bench: $(INSTALLED)
	$(BIN)/python -m bench.request_path --workers 1,2

## gen: regenerate clients/python/cartservice and clients/ts/gen from protos/
gen: $(INSTALLED) $(TS_INSTALLED) $(BUF)
	scripts/gen.sh clients/python
	rm -rf $(TS)/gen && cd $(TS) && ../../$(BUF) generate --template buf.gen.yaml

## check-gen: fail when the committed generated code differs from what protos/ generates
check-gen: $(INSTALLED) $(TS_INSTALLED) $(BUF)
	@rm -rf build/gen-check && scripts/gen.sh build/gen-check >/dev/null 2>&1
	@diff -r clients/python/cartservice build/gen-check/cartservice \
		|| (echo "generated code is stale: run 'make gen' and commit" && exit 1)
	@cd $(TS) && ../../$(BUF) generate --template buf.gen.yaml -o ../../build/gen-check/ts
	@diff -r $(TS)/gen build/gen-check/ts/gen \
		|| (echo "generated TypeScript is stale: run 'make gen' and commit" && exit 1)
	@echo "generated code is up to date"

## lint: ruff, mypy on server/, buf lint and buf format
lint: $(INSTALLED) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint
	$(BUF) format -d --exit-code

## breaking: buf breaking against the previous commit, once it had a contract
breaking: $(BUF)
	@if git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		$(BUF) breaking --against '.git#ref=HEAD~1'; \
	else echo "no earlier contract to compare with"; fi

## ci: what .ci/run runs on a clean clone
ci: check-gen lint breaking test

# Installs come from the hash-pinned locks (scripts/lock.sh refreshes them); `pip check` fails
# when pyproject.toml asks for something the lock lacks.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

$(RUNTIME): requirements/runtime.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps -e clients/python -e .
	$(BIN)/pip check
	touch $@

$(INSTALLED): requirements/dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e clients/python -e .
	$(BIN)/pip check
	touch $@ $(RUNTIME)

## lock: refresh requirements/*.lock from pyproject.toml
lock: $(INSTALLED)
	scripts/lock.sh

$(CHROMIUM):
	$(APT_INSTALL) chromium || ($(SUDO) apt-get update && $(APT_INSTALL) chromium)

$(GO_JAVA):
	$(APT_INSTALL) $(GO_JAVA_PACKAGES) || ($(SUDO) apt-get update && $(APT_INSTALL) $(GO_JAVA_PACKAGES))

$(TS_INSTALLED): $(TS)/package-lock.json
	cd $(TS) && npm ci --silent --no-audit --no-fund
	touch $@

$(BUF):
	mkdir -p .tools
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

clean:
	rm -rf $(VENV) .tools build var
