"""``multipower --help``, a mistyped command and ``exact``'s help answer without loading torch or the solver."""

import subprocess
import sys

import pytest

from multipower import cli

PROBE = """
import sys
from multipower import cli
try:
    code = cli.main({argv!r})
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "numba", "pettingzoo", "multipower.exact.solver") if m in sys.modules)
print("HEAVY", heavy, "EXIT", code)
"""


@pytest.mark.parametrize("argv", [["--help"], ["no-such-command"], ["exact", "--help"], ["exact", "--gamma", "2"],
                                  ["plot", "--help"], ["train", "--help"], ["reproduce", "--help"]])
def test_help_and_argument_errors_load_nothing_heavy(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] EXIT" in out.stdout, out.stdout + out.stderr


def test_top_level_help_lists_every_command_with_its_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in text
        assert cli.command_help(name).split()[0] in text


def test_each_command_still_parses_its_arguments():
    parser = cli.build_parser(["plot", "somewhere"])
    args = parser.parse_args(["plot", "somewhere"])
    assert args.command == "plot" and callable(args.handler)
    full = cli.build_parser()  # no argv: every command's full parser
    assert full.parse_args(["plot", "x"]).command == "plot"
