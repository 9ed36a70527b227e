"""Gymnasium registration of the multipower environments (on ``import multipower.envs`` and on ``import multipower``).

* ``"multipower/Maze-v1"``: one agent alone in a layout (``multipower.envs.single_maze.SingleMazeEnv``).
* ``"multipower/JointMaze-H-v1"``, ``"multipower/JointMaze-A-v1"``: one agent of the two-agent maze while the
  other moves uniformly at random over its available actions (``multipower.envs.single_agent.JointMazeEnv``);
  keyword arguments of ``multipower.envs.maze_v1.MazeParallelEnv`` (``layout``, ``collision``, ``obs_type``,
  ``reward_seed``, ...) and ``other_policy`` pass through ``gymnasium.make``.
* ``"multipower/JointGraph-H-v0"``, ``"multipower/JointGraph-A-v0"``: one agent of a joint MDP graph while the
  other moves uniformly at random over its available actions (``multipower.envs.single_agent.JointGraphEnv``;
  keyword arguments of ``multipower.envs.joint_graph_v0.JointGraphParallelEnv``, default graph the packaged
  ``"joint_grid2x2_crash"``).
* ``"multipower/GraphMDP-v0"``: one agent in an MDP graph (``multipower.envs.graph_env.GraphMDPEnv``; ``mdp=`` a
  built-in graph's name, a DOT file, DOT text or ``GraphMDP``; default the
  packaged ``"figure1"``).

Every id builds with ``gymnasium.make(id)`` and no keyword arguments.

Episodes are truncated by Gymnasium's ``TimeLimit`` after ``max_episode_steps`` (default 100, the same as
``maze_v1``'s ``max_cycles``); ``gymnasium.make(id, max_episode_steps=n)`` changes it. Without importing
anything first, ``gymnasium.make("multipower:multipower/Maze-v1")`` imports this package and makes the env.

This module imports only Gymnasium: the entry points are strings, loaded by ``gymnasium.make``.

Version history: v1 (the ``maze_v1`` changes: reward tables fixed at construction by ``rewards`` or
``reward_seed``; ``max_episode_steps`` through the registration; ``"human"`` and ``"rgb_array_list"``
rendering; environments pickle). v0: initial release.
"""

from __future__ import annotations

import gymnasium

#: The default episode length of every registered id (``max_episode_steps``).
MAX_EPISODE_STEPS = 100
ENV_IDS = ("multipower/Maze-v1", "multipower/JointMaze-H-v1", "multipower/JointMaze-A-v1")
#: The MDP-graph environment (built from a graph, not a layout, so not among the maze ids above).
GRAPH_ENV_ID = "multipower/GraphMDP-v0"
#: The single-agent views of a joint MDP graph.
JOINT_GRAPH_ENV_IDS = ("multipower/JointGraph-H-v0", "multipower/JointGraph-A-v0")


def register_envs() -> None:
    """Register ``ENV_IDS``, ``GRAPH_ENV_ID`` and ``JOINT_GRAPH_ENV_IDS`` with Gymnasium (idempotent)."""
    specs = {
        "multipower/Maze-v1": ("multipower.envs.single_maze:SingleMazeEnv", {}),
        "multipower/JointMaze-H-v1": ("multipower.envs.single_agent:JointMazeEnv", {"agent": "H"}),
        "multipower/JointMaze-A-v1": ("multipower.envs.single_agent:JointMazeEnv", {"agent": "A"}),
        "multipower/GraphMDP-v0": ("multipower.envs.graph_env:GraphMDPEnv", {}),
        "multipower/JointGraph-H-v0": ("multipower.envs.single_agent:JointGraphEnv", {"agent": "H"}),
        "multipower/JointGraph-A-v0": ("multipower.envs.single_agent:JointGraphEnv", {"agent": "A"}),
    }
    for env_id, (entry_point, kwargs) in specs.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=MAX_EPISODE_STEPS,
                disable_env_checker=False,
            )
