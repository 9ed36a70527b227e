"""Figures and animations: heat maps, alignment plots, sweeps, learned-against-exact plots, MDP-graph plots, and
greedy rollouts of trained agents drawn as GIFs.

Modules: :mod:`~multipower.plots.figures` (a run folder's figures), :mod:`~multipower.plots.heatmaps` (joint
and single-agent heat maps), :mod:`~multipower.plots.style` (backend, colours, titles),
:mod:`~multipower.plots.compare` (learned against exact), :mod:`~multipower.plots.graph` (POWER on an MDP graph), :mod:`~multipower.plots.rollout`
(greedy rollouts of tabular policies), :mod:`~multipower.plots.animation` (rollouts as GIFs).

Imports: :mod:`multipower.envs`, :mod:`multipower.agents`, :mod:`multipower.runs` and :mod:`multipower.exact`.
"""
