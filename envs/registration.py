"""Gymnasium registration of the multipower environments (called on ``import envs``).

* ``"multipower/Maze-v0"``: one agent alone in a layout (:class:`envs.single_maze.SingleMazeEnv`).
* ``"multipower/JointMaze-H-v0"``, ``"multipower/JointMaze-A-v0"``: one agent of the two-agent maze while the
  other moves uniformly at random over its available actions (:class:`envs.single_agent.SingleAgentView`);
  keyword arguments of :class:`envs.maze_v0.MazeParallelEnv` (``layout``, ``collision``, ``obs_type``, ...)
  and ``other_policy`` pass through ``gymnasium.make``.

Episode length is the environments' own (``max_steps`` / ``max_cycles``), so no ``TimeLimit`` is added.
"""

from __future__ import annotations

import gymnasium

ENV_IDS = ("multipower/Maze-v0", "multipower/JointMaze-H-v0", "multipower/JointMaze-A-v0")


def register_envs() -> None:
    """Register :data:`ENV_IDS` with Gymnasium (idempotent)."""
    specs = {
        "multipower/Maze-v0": ("envs.single_maze:SingleMazeEnv", {}),
        "multipower/JointMaze-H-v0": ("envs.single_agent:joint_maze_view", {"agent": "H"}),
        "multipower/JointMaze-A-v0": ("envs.single_agent:joint_maze_view", {"agent": "A"}),
    }
    for env_id, (entry_point, kwargs) in specs.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs, disable_env_checker=False)
