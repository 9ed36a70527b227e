"""Learned POWER: the training driver (chunks of reward samples, pools, resume), the Monte-Carlo estimator of
POWER from learned agents' returns, and comparisons of learned against exact POWER.

Modules: ``training`` (the one training driver: chunks, worker processes, resume, progress, TensorBoard;
``train_agents`` is its Python entry), ``workers`` (worker processes that stop with their driver), ``estimator``
(Monte-Carlo POWER from learned policies), ``compare`` (two agents on a layout, learned
against exact), ``single`` (one agent on a layout or MDP graph).

Imports: ``multipower.envs``, ``multipower.agents``, ``multipower.runs``, ``multipower.exact`` and
``multipower.plots``.
"""

from multipower.learned.training import train_agents

__all__ = ["train_agents"]
