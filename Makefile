# Shortcuts for the README's commands, which need only python3: see scripts/dev.py.

.PHONY: demo test install clean

demo:
	python3 scripts/demo

test:
	python3 scripts/test

install:
	python3 scripts/install

clean:
	rm -rf .venv site .pytest_cache .mypy_cache .ruff_cache
