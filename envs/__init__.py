"""Worlds and environments: layouts, the tabular joint model, PettingZoo and Gymnasium environments."""

from envs.layouts import ACTION_NAMES, BUILTIN_LAYOUTS, N_ACTIONS, Layout, load_layout, parse_layout
from envs.model import AGENTS, COLLISIONS, JointModel, SingleAgentModel, joint_model, single_agent_model

__all__ = [
    "ACTION_NAMES",
    "AGENTS",
    "BUILTIN_LAYOUTS",
    "COLLISIONS",
    "JointModel",
    "Layout",
    "N_ACTIONS",
    "SingleAgentModel",
    "joint_model",
    "load_layout",
    "parse_layout",
    "single_agent_model",
]
