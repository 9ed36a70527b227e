"""Runs: what to compute and where it is kept.

Modules: ``spec`` (the run specification shared by the commands: *what* a run computes), ``execution``
(``Execution``, *how and where* it runs, and ``Storage``, the run folder it is kept in), ``configs``
(reproduction configs, saved results read back with their checks), ``rundir`` (run folders: manifests,
confinement, the one-writer lock, atomic writes), ``results`` (``PowerResult``, per-state POWER with its
configuration), ``chunkstore`` (verified chunks of trained samples), ``backends`` and ``ray_backend`` (where blocks
and chunks run), ``heap`` (glibc keeps freed memory for the next chunk).

Imports: ``multipower.envs`` and ``multipower.agents``.
"""
