"""The numbers quoted in README.md and docs/ come out of the commands beside them (scripts/check_doc_numbers.py,
a few minutes on 2 cores, so in the slow suite)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_doc_numbers.py"


def _script():
    spec = importlib.util.spec_from_file_location("check_doc_numbers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quoted_numbers_are_current(tmp_path):
    assert _script().main(["--keep", str(tmp_path)]) == 0


def test_every_checked_page_exists():
    script = _script()
    for name, (commands, pages) in script.CHECKS.items():
        assert commands and pages, name
        for page in pages:
            assert (script.ROOT / page).is_file(), f"{name}: {page}"
