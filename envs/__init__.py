"""Worlds and environments: layouts, the tabular joint model, PettingZoo and Gymnasium environments.

Importing ``envs`` registers the Gymnasium ids ``"multipower/Maze-v0"``, ``"multipower/JointMaze-H-v0"`` and
``"multipower/JointMaze-A-v0"`` (see :mod:`envs.registration`).
"""

from envs.layouts import ACTION_NAMES, BUILTIN_LAYOUTS, N_ACTIONS, Layout, load_layout, parse_layout
from envs.model import AGENTS, COLLISIONS, JointModel, SingleAgentModel, joint_model, single_agent_model
from envs import maze_v0
from envs.maze_v0 import MazeParallelEnv
from envs.registration import ENV_IDS, register_envs
from envs.single_agent import SingleAgentView, joint_maze_view
from envs.single_maze import SingleMazeEnv

register_envs()


__all__ = [
    "ACTION_NAMES",
    "AGENTS",
    "BUILTIN_LAYOUTS",
    "COLLISIONS",
    "ENV_IDS",
    "JointModel",
    "Layout",
    "MazeParallelEnv",
    "N_ACTIONS",
    "SingleAgentModel",
    "SingleAgentView",
    "SingleMazeEnv",
    "joint_maze_view",
    "joint_model",
    "load_layout",
    "maze_v0",
    "parse_layout",
    "register_envs",
    "single_agent_model",
]
