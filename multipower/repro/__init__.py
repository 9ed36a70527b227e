"""Reproductions: the published figures and the experiments beyond them, each run from a YAML config
(``multipower/configs/*.yaml``), with its report and figures.

Modules: ``experiments`` (run a config, sweeps, the demo, report.md),
``checks`` (published numbers evaluated on a result).

Imports: every layer below it (``multipower.envs``, ``agents``, ``runs``, ``exact``, ``plots``, ``learned``);
only ``multipower.cli`` imports it.
"""
