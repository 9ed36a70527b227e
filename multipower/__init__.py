"""multipower: multi-agent POWER (instrumental value) in gridworlds.

Importing ``multipower`` registers the environments' Gymnasium ids (``"multipower/Maze-v1"``,
``"multipower/JointMaze-H-v1"``, ``"multipower/JointMaze-A-v1"``); it loads Gymnasium and nothing heavier.
"""

from multipower.envs.registration import register_envs as _register_envs

__version__ = "0.2.0"

_register_envs()
