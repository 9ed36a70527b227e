"""Learned POWER: the training driver (chunks of reward samples, pools, resume), the Monte-Carlo estimator of
POWER from learned agents' returns, and comparisons of learned against exact POWER.

Modules: :mod:`~multipower.learned.training` (training runs in chunks), :mod:`~multipower.learned.estimator`
(Monte-Carlo POWER from learned policies), :mod:`~multipower.learned.compare` (two agents on a layout, learned
against exact), :mod:`~multipower.learned.single` (one agent on a layout or MDP graph).

Imports: :mod:`multipower.envs`, :mod:`multipower.agents`, :mod:`multipower.runs`, :mod:`multipower.exact` and
:mod:`multipower.plots`.
"""
