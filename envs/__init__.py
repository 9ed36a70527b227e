"""Worlds and environments: layouts, the tabular joint model, PettingZoo and Gymnasium environments.

Importing ``envs`` registers the Gymnasium ids ``"multipower/Maze-v1"``, ``"multipower/JointMaze-H-v1"`` and
``"multipower/JointMaze-A-v1"`` (see ``multipower.envs.registration``; ``import multipower`` does too). The names below
load on first use, so that registering costs only the import of Gymnasium.
"""

from __future__ import annotations

import importlib

from multipower.envs.registration import ENV_IDS, register_envs

register_envs()

#: Public name -> module that defines it (loaded on first access).
_LAZY = {
    "ACTION_NAMES": "multipower.envs.layouts",
    "BUILTIN_LAYOUTS": "multipower.envs.layouts",
    "N_ACTIONS": "multipower.envs.layouts",
    "Layout": "multipower.envs.layouts",
    "load_layout": "multipower.envs.layouts",
    "parse_layout": "multipower.envs.layouts",
    "AGENTS": "multipower.envs.model",
    "COLLISIONS": "multipower.envs.model",
    "JointModel": "multipower.envs.model",
    "SingleAgentModel": "multipower.envs.model",
    "joint_model": "multipower.envs.model",
    "single_agent_model": "multipower.envs.model",
    "MazeParallelEnv": "multipower.envs.maze_v1",
    "JointGraphParallelEnv": "multipower.envs.joint_graph_v0",
    "JointGraphEnv": "multipower.envs.single_agent",
    "joint_rewards": "multipower.envs.rewards",
    "JointMazeEnv": "multipower.envs.single_agent",
    "SingleAgentView": "multipower.envs.single_agent",
    "joint_maze_view": "multipower.envs.single_agent",
    "SingleMazeEnv": "multipower.envs.single_maze",
}


def __getattr__(name: str):
    if name in ("maze_v1", "joint_graph_v0"):
        return importlib.import_module(f"multipower.envs.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'multipower.envs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["ENV_IDS", "joint_graph_v0", "maze_v1", "register_envs", *_LAZY]
