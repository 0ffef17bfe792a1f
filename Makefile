# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := python3 -m uv
export UV_LINK_MODE := copy

.PHONY: run test env peers lint typecheck bench clean

# Create or update the virtual environment from the lock file (uv comes from PyPI when missing).
env:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

# Start the gateway with its embedded defaults on http://127.0.0.1:8000.
run: env
	$(VENV)/bin/prisma-glow-gateway serve $(ARGS)

# Install what the tests need (peers included) and run the whole suite.
test: env peers
	$(PY) -m pytest $(PYTEST_ARGS)

peers:
	bash scripts/ensure-peers.sh

lint: env
	$(VENV)/bin/ruff check src services packs tests bench
	$(VENV)/bin/ruff format --check src services packs tests bench || true

typecheck: env
	$(VENV)/bin/mypy

bench: env peers
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
