"""Learners: batched Q-learning, batched PPO, SB3's MaskablePPO, and saved agents (the tabular policies they
produce are ``multipower.envs.policies``).

Each learner module (``qlearning_stages``, ``ppo``, ``sb3_ppo``) exposes ``train_chunk(task, progress)``: both
stages for one chunk of reward samples (``multipower.agents.chunk.ChunkTask``). Chunking, worker processes,
the chunk store, progress bars and TensorBoard folders are the training driver's
(``multipower.learned.training``).

``agents`` imports only ``envs`` and numeric libraries; exact references for accuracy metrics are passed in
(``reference=``, an ``multipower.agents.logging.ExactQ``).
"""

from multipower.agents.logging import ExactQ, TrainingLogger, greedy_optimal_fraction, value_gap
from multipower.envs.policies import TabularPolicy, check_policy, greedy_policy, stay_policy, uniform_policy
from multipower.agents.qlearning import QLearningResult, train_q
from multipower.agents.qlearning_config import QLearningConfig, default_config
from multipower.agents.chunk import ChunkTask
from multipower.agents.qlearning_stages import TwoStageResult, learned_metrics, train_two_stage
from multipower.agents.storage import TrainedAgents, load_agents, save_agents

__all__ = [
    "ChunkTask",
    "ExactQ",
    "QLearningConfig",
    "QLearningResult",
    "TabularPolicy",
    "TrainedAgents",
    "TrainingLogger",
    "TwoStageResult",
    "check_policy",
    "default_config",
    "greedy_optimal_fraction",
    "greedy_policy",
    "learned_metrics",
    "load_agents",
    "save_agents",
    "stay_policy",
    "train_q",
    "train_two_stage",
    "uniform_policy",
    "value_gap",
]
