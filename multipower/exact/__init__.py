"""Exact POWER from the known model: the dynamic-programming solver, its compiled kernels, the accuracy
certificate, resumable sample blocks and the run-level functions.

Modules: :mod:`~multipower.exact.power` (``exact_power``, ``single_agent_power``, ``graph_power``),
:mod:`~multipower.exact.solver` (the two-stage solve, batched torch and the compiled dispatch),
:mod:`~multipower.exact._vikernel` (the numba kernels), :mod:`~multipower.exact.accuracy` (exact action values
for the learners' metrics), :mod:`~multipower.exact.blocks` (sample blocks of a run folder).

Imports: :mod:`multipower.envs`, :mod:`multipower.agents` and :mod:`multipower.runs`.
"""
