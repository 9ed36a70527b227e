"""Figures and animations: heat maps, alignment plots, sweeps, learned-against-exact plots, MDP-graph plots, and
greedy rollouts of trained agents drawn as GIFs.

Modules: ``figures`` (a run folder's figures), ``heatmaps`` (joint
and single-agent heat maps), ``style`` (backend, colours, titles),
``compare`` (learned against exact), ``graph`` (POWER on an MDP graph), ``rollout``
(greedy rollouts of tabular policies), ``animation`` (rollouts as GIFs).

Imports: ``multipower.envs``, ``multipower.agents``, ``multipower.runs`` and ``multipower.exact``.
"""
