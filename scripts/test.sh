#!/usr/bin/env bash
# The whole test gate from nothing: environment, install (incl. the embedded model and a
# headless Chromium for the HTML report test, bubblewrap for the check sandbox), lint, types,
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the HTML report test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is needed for tests/e2e/test_html_chromium.py: install it (Debian: apt-get install chromium)" >&2
    exit 1
  fi
fi
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian bubblewrap for the sandbox tests (bwrap backend)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "bubblewrap is needed for tests/integration/test_sandbox_escape.py: install it (Debian: apt-get install bubblewrap)" >&2
    exit 1
  fi
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[local,dev]'
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
