"""Subcommands of the ``multipower`` command line (see ``multipower.cli``), and argument types they share."""

from __future__ import annotations

import argparse
import json
from typing import Callable


def key_value(flag: str) -> Callable[[str], tuple]:
    """An argparse type for ``flag KEY=VALUE``: VALUE parsed as JSON where possible, else kept as a string."""

    def parse(text: str) -> tuple:
        if "=" not in text:
            raise argparse.ArgumentTypeError(f"{flag} must be KEY=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        try:
            return key, json.loads(value)
        except json.JSONDecodeError:
            return key, value

    return parse
