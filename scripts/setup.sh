#!/usr/bin/env bash
# Create .venv and install multipower with its test tools. Safe to rerun.
# PyTorch: try the pinned CPU build first (on these machines it installs from local disk);
# anywhere it cannot be had, fall back to the range in setup.cfg.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q "torch==2.13.0" || echo "torch==2.13.0 not available here; installing torch from setup.cfg's range"
fi
.venv/bin/python -m pip install -q -e ".[test,ray]"
