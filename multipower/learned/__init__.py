"""Learned POWER: the training driver (chunks of reward samples, pools, resume), the Monte-Carlo estimator of
POWER from learned agents' returns, and comparisons of learned against exact POWER.

Modules: ``training`` (training runs in chunks), ``estimator``
(Monte-Carlo POWER from learned policies), ``compare`` (two agents on a layout, learned
against exact), ``single`` (one agent on a layout or MDP graph).

Imports: ``multipower.envs``, ``multipower.agents``, ``multipower.runs``, ``multipower.exact`` and
``multipower.plots``.
"""
