"""Worlds and environments: layouts, the tabular joint model, PettingZoo and Gymnasium environments.

Importing ``envs`` registers the Gymnasium ids ``"multipower/Maze-v1"``, ``"multipower/JointMaze-H-v1"`` and
``"multipower/JointMaze-A-v1"`` (see :mod:`envs.registration`; ``import multipower`` does too). The names below
load on first use, so that registering costs only the import of Gymnasium.
"""

from __future__ import annotations

import importlib

from envs.registration import ENV_IDS, register_envs

register_envs()

#: Public name -> module that defines it (loaded on first access).
_LAZY = {
    "ACTION_NAMES": "envs.layouts",
    "BUILTIN_LAYOUTS": "envs.layouts",
    "N_ACTIONS": "envs.layouts",
    "Layout": "envs.layouts",
    "load_layout": "envs.layouts",
    "parse_layout": "envs.layouts",
    "AGENTS": "envs.model",
    "COLLISIONS": "envs.model",
    "JointModel": "envs.model",
    "SingleAgentModel": "envs.model",
    "joint_model": "envs.model",
    "single_agent_model": "envs.model",
    "MazeParallelEnv": "envs.maze_v1",
    "joint_rewards": "envs.rewards",
    "JointMazeEnv": "envs.single_agent",
    "SingleAgentView": "envs.single_agent",
    "joint_maze_view": "envs.single_agent",
    "SingleMazeEnv": "envs.single_maze",
}


def __getattr__(name: str):
    if name == "maze_v1":
        return importlib.import_module("envs.maze_v1")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["ENV_IDS", "maze_v1", "register_envs", *_LAZY]
