"""Reproductions: the published figures and the experiments beyond them, each run from a YAML config
(``multipower/configs/*.yaml``), with its report and figures.

Modules: :mod:`~multipower.repro.experiments` (run a config, sweeps, the demo, report.md),
:mod:`~multipower.repro.checks` (published numbers evaluated on a result).

Imports: every layer below it (:mod:`multipower.envs`, ``agents``, ``runs``, ``exact``, ``plots``, ``learned``);
only :mod:`multipower.cli` imports it.
"""
