"""Exact POWER from the known model: the dynamic-programming solver, its compiled kernels, the accuracy
certificate, resumable sample blocks and the run-level functions.

Modules: ``power`` (``exact_power``, ``single_agent_power``, ``graph_power``),
``solver`` (the two-stage solve, batched torch and the compiled dispatch),
``_vikernel`` (the numba kernels), ``accuracy`` (exact action values
for the learners' metrics), ``blocks`` (sample blocks of a run folder).

Imports: ``multipower.envs``, ``multipower.agents`` and ``multipower.runs``.
"""
