"""Subcommands of the ``multipower`` command line (see ``multipower.cli``), and the arguments they share.

The world, discounts, rewards and seed policy are spelled alike on every command (``add_run_arguments``)
and become one ``RunSpec`` (``spec_from_args``). Old spellings still work and
print a one-line deprecation notice on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable, Optional

from multipower.envs.model import COLLISIONS
from multipower.envs.rewards import DISTRIBUTIONS
from multipower.runs.spec import RunSpec, SpecError, check_learner_options

#: Old flag spellings and the ones that replace them.
DEPRECATED = {"--gamma-A": "--gamma-a", "--train-option": "--option"}


def out_path(text: str) -> str:
    """``--out``: a path that names something (an empty one would be the working folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder or file, got {text!r}")
    return text


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


def count(minimum: int = 1, maximum: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type for an integer in ``[minimum, maximum]`` (1: a positive integer, 0: non-negative)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            what = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
            if maximum is not None:
                what = f"an integer from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type for a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """An argparse type for a number in (0, 1) (a tolerance in POWER, whose values lie in [0, max reward])."""
    value = positive_number(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text!r}")
    return value


def dist_param(text: str) -> tuple[str, float]:
    """An argparse type for ``--dist-param NAME=VALUE`` with a numeric VALUE."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--dist-param must look like NAME=VALUE (e.g. a=2), got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dist-param value must be a number, got {value!r}") from None


class Flag(argparse.Action):
    """Stores the value (or appends it, ``append=True``); a deprecated spelling prints a notice on stderr.

    The options given on the command line are collected in ``namespace.given`` (as spelled), so that a command
    can refuse options that a saved run already fixes, whatever their value.
    """

    def __init__(self, *args, append: bool = False, **kwargs) -> None:
        self.append = append
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string in DEPRECATED:
            print(f"multipower: {option_string} is deprecated; use {DEPRECATED[option_string]}", file=sys.stderr)
        if self.append:
            values = [*(getattr(namespace, self.dest) or []), values]
        setattr(namespace, self.dest, values)
        namespace.given = [*getattr(namespace, "given", []), option_string]


def given_flags(args: argparse.Namespace) -> list:
    """The ``Flag`` options given on the command line, in order, each once."""
    return list(dict.fromkeys(getattr(args, "given", [])))


def add_run_arguments(parser: argparse.ArgumentParser, required: bool = False, samples: int = 100,
                      layout_required: Optional[bool] = None) -> None:
    """The flags of a ``RunSpec``: world, discounts, rewards, seed and seed policy.

    ``required``: ``--layout`` and ``--gamma`` have no default (``exact``); otherwise grid3x3 and 0.6.
    ``layout_required``: overrides ``required`` for ``--layout`` (False where ``--mdp`` may replace it).
    """
    default = (lambda value: None) if required else (lambda value: value)
    parser.add_argument("--layout", required=required if layout_required is None else layout_required,
                        default=default("grid3x3"), action=Flag,
                        help="built-in layout name, layout file or text" + ("" if required else " (default grid3x3)"))
    parser.add_argument("--gamma", type=float, required=required, default=default(0.6), action=Flag,
                        help="discount of H (and of A unless --gamma-a)" + ("" if required else "; default 0.6"))
    parser.add_argument("--gamma-a", "--gamma-A", dest="gamma_A", type=float, default=None, action=Flag,
                        help="discount of A (default: --gamma)")
    parser.add_argument("--samples", type=count(1), default=samples, action=Flag,
                        help=f"reward samples (default {samples})")
    parser.add_argument("--collision", default="none", choices=COLLISIONS, action=Flag,
                        help="collision rule (default none)")
    parser.add_argument("--slip", type=float, default=0.0, metavar="P", action=Flag,
                        help="probability in [0, 1] that a chosen move is replaced by a uniform available one (default 0)")
    parser.add_argument("--correlation", type=float, default=0.0, action=Flag,
                        help="reward correlation beta in [-1, 1] (default 0)")
    parser.add_argument("--distribution", default="uniform", choices=tuple(DISTRIBUTIONS), action=Flag,
                        help="reward distribution (default uniform [0, 1])")
    parser.add_argument("--dist-param", type=dist_param, action=Flag, append=True, default=[], metavar="NAME=VALUE",
                        help="distribution parameter, repeatable: low/high, a/b, p, alpha/scale")
    parser.add_argument("--seed", type=count(0), default=0, action=Flag,
                        help="seeds the reward functions (and training); default 0")
    parser.add_argument("--seed-policy", default="uniform", action=Flag,
                        help="A's seed policy: uniform (default), stay, a .npy file with an (S, 5) table over joint states, or with a joint graph (--mdp) a policy graph .gv")


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    """``--option KEY=VALUE`` (old spelling ``--train-option``): learner hyperparameter overrides."""
    parser.add_argument("--option", "--train-option", dest="options", type=key_value("--option"), action=Flag,
                        append=True, default=[], metavar="KEY=VALUE",
                        help="learner hyperparameter override (repeatable): a QLearningConfig, PPOConfig (ppo) or "
                             "SB3PPOConfig (sb3-ppo) field, e.g. min_visits=500 or net_arch=[64,64]")


def spec_from_args(args: argparse.Namespace, learner: Optional[str] = None, redraw_constant: bool = False) -> RunSpec:
    """The ``RunSpec`` of parsed ``add_run_arguments`` flags (and ``--option``, if the command has it).

    Keys are spelled as the flags (``gamma``, ``samples``), so a ``SpecError`` names the flag at fault.
    """
    check_learner_options(learner, dict(getattr(args, "options", []) or []), key="--option")
    mdp = getattr(args, "mdp", None)  # train and compare: a joint MDP graph instead of a layout
    if mdp is not None and "--layout" in given_flags(args):
        raise SpecError("give --layout or --mdp, not both")
    for flag in ("--collision", "--slip"):
        if mdp is not None and flag in given_flags(args):
            raise SpecError(f"{flag} does not apply to --mdp: a joint graph's transitions are its own (export-mdp "
                            "--layout L --joint writes a layout's rule and slip as a graph)")
    world = {"layout": args.layout} if mdp is None else {"layout": None, "mdp": mdp}
    return RunSpec.from_dict({
        **world, "collision": args.collision, "slip": args.slip, "gamma": args.gamma, "gamma_A": args.gamma_A,
        "distribution": {"name": args.distribution, **dict(args.dist_param)}, "correlation": args.correlation,
        "seed": args.seed, "samples": args.samples, "seed_policy": args.seed_policy, "redraw_constant": redraw_constant,
        "learner": learner, "learner_options": dict(getattr(args, "options", []) or []),
    })


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend local|ray`` and ``--ray-address ADDR``: where the work units run (never what they compute)."""
    parser.add_argument("--backend", default="local", choices=("local", "ray"),
                        help="where work units run: local (this machine; default) or ray (a Ray cluster; "
                             "pip install 'multipower[ray]'); same results")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="ray: the cluster to join, as HOST:PORT of `ray start --head`, 'auto' or 'local' "
                             "(default: RAY_ADDRESS, else the cluster last started here, else a new local one)")


def backend_from_args(args: argparse.Namespace):
    """The ``Backend`` of ``add_backend_arguments`` flags; None for ``local``
    (each command's own threads or processes). ``ValueError`` naming the flag for a misuse or a missing Ray."""
    if args.backend == "local":
        if args.ray_address is not None:
            raise ValueError("--ray-address applies to --backend ray only")
        return None
    from multipower.runs.backends import get_backend

    return get_backend("ray", args.ray_address)


def report_backend(backend) -> None:
    """After a cluster run, one line on stderr: the units each node ran."""
    if backend is not None and getattr(backend, "node_units", None):
        print(f"{backend.name}: units per node: {backend.units_by_node()}", file=sys.stderr)


def check_writable_dir(directory: Optional[str], flag: str) -> None:
    """A folder a command will write later (``--tensorboard``) is made and probed now, before any work; one line
    naming ``flag`` if it cannot be written."""
    if directory is not None:
        from multipower.runs.rundir import check_own_folder, make_writable

        make_writable(check_own_folder(directory, flag), flag)
