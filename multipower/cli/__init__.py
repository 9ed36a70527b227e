"""The ``multipower`` command line. Each subcommand lives in ``multipower/cli/commands/<name>.py`` (``-`` as ``_``) and
defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

Only the command being run is imported: ``multipower --help`` and a mistyped command read each command's
``HELP`` from its source without importing it, so they answer at once, without loading torch or the solver.
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import os
import re
import signal
import sys
import threading
from importlib import resources
from typing import Optional, Sequence

from multipower import __version__


COMMANDS = ("exact", "train", "compare", "plot", "reproduce", "demo", "export-mdp", "animate")


def _module(name: str) -> str:
    """The module of a command: ``export-mdp`` lives in ``commands/export_mdp.py``."""
    return name.replace("-", "_")


def command_help(name: str) -> str:
    """The ``HELP`` string of ``multipower/cli/commands/<name>.py``, read from the source (the module is not run)."""
    source = resources.files("multipower.cli.commands").joinpath(f"{_module(name)}.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                break
    return importlib.import_module(f"multipower.cli.commands.{_module(name)}").HELP  # HELP is computed: import after all


def _chosen(argv: Sequence[str]) -> Optional[str]:
    """The command named in ``argv``: its first argument that is not an option, if that is a command."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


class UsageError(Exception):
    """A command line argparse refuses; ``main`` prints it as one line and returns 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message}")


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, ``multipower <command>: error: ...`` (no usage block:
    a command's usage runs to a dozen lines and buries the message), raised as ``UsageError``."""

    def error(self, message: str):
        raise UsageError(self.prog, message)


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it names is imported (all of them without ``argv``)."""
    chosen = _chosen(argv) if argv is not None else None
    parser = Parser(prog="multipower", description="Multi-agent POWER in gridworlds.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also MULTIPOWER_DEBUG=1)")
    parser.add_argument("--version", action="version", version=f"multipower {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if argv is None or name == chosen:
            module = importlib.import_module(f"multipower.cli.commands.{_module(name)}")
            sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(sub)
            sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,  # after the command too
                             help="show the full traceback of an error (also MULTIPOWER_DEBUG=1)")
            sub.set_defaults(handler=module.run)
        else:
            subparsers.add_parser(name, help=command_help(name), add_help=False)
    return parser


def _terminate(signum, frame) -> None:
    """SIGTERM is handled like Ctrl-C: the command saves what it finished and says how to resume."""
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # reported by the command's parser, as its other errors are (not by the top-level one)
            raise UsageError(f"multipower {args.command}", f"unrecognized arguments: {' '.join(unknown)}")
    except UsageError as error:
        print(f"{error} (see --help)", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, OSError) as error:  # SpecError, the package's checks, unreadable files: one line
        if args.debug or os.environ.get("MULTIPOWER_DEBUG") == "1":
            raise
        message = _as_flag(_one_line(error), _options_of(parser, args.command))
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:  # names where, and that finished work stays
            where = getattr(args, "out", None) or error.filename or "the output"
            message = (f"no space left on the device holding {where} ({message}); free some space and rerun the "
                       "same command: finished pieces are kept")
        print(f"multipower {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # commands that save partial work say what they saved; others saved nothing new
        print(f"multipower {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if "multipower.runs.rundir" in sys.modules:  # the folders this command locked for writing
            sys.modules["multipower.runs.rundir"].release()


#: Python names of run keys whose flag is spelled otherwise.
_FLAG_OF = {"n_samples": "--samples", "samples": "--samples", "gamma_H": "--gamma", "learner_options": "--option",
            "max_memory": "--max-memory", "ray_address": "--ray-address"}


def _options_of(parser: argparse.ArgumentParser, command: str) -> set:
    """The option strings of ``command``'s parser."""
    for action in parser._actions:  # argparse keeps subparsers as an action with a ``choices`` mapping
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return {s for a in action.choices[command]._actions for s in a.option_strings}
    return set()


def _as_flag(message: str, options: set) -> str:
    """A message that opens with a Python parameter name (``'gamma' must be ...``, ``device: ...``) opens with
    the command line's flag instead (``--gamma must be ...``), when the command has that flag."""
    # a field of the Python API's values (execution.jobs, storage.overwrite, rewards.seed) is its flag too
    match = re.match(r"^'?(?:(?:execution|storage|rewards|rollouts)\.)?([A-Za-z][A-Za-z_]*)'?(?=[:\s])", message)
    if not match:
        return message
    key = match.group(1)
    flag = _FLAG_OF.get(key, "--" + key.replace("_", "-").lower())
    return flag + message[match.end():] if flag in options else message


def _one_line(error: Exception) -> str:
    """The message of ``error`` on one line (an OSError names its file: ``[Errno 21] Is a directory: 'x'``)."""
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
