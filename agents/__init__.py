"""Learners: batched Q-learning, PPO, saved agents (the tabular policies they produce are ``multipower.envs.policies``).

``agents`` imports only ``envs`` and numeric libraries; exact references for accuracy metrics are passed in
(``reference=``, an ``multipower.agents.logging.ExactQ``).
"""

from multipower.agents.logging import ExactQ, TrainingLogger, greedy_optimal_fraction, value_gap
from multipower.envs.policies import TabularPolicy, check_policy, greedy_policy, stay_policy, uniform_policy
from multipower.agents.qlearning import QLearningResult, train_q
from multipower.agents.qlearning_config import QLearningConfig, default_config
from multipower.agents.qlearning_stages import TwoStageResult, learn_qlearning, learned_metrics, train_two_stage
from multipower.agents.storage import TrainedAgents, load_agents, save_agents

__all__ = [
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
    "learn_qlearning",
    "learned_metrics",
    "load_agents",
    "save_agents",
    "stay_policy",
    "train_q",
    "train_two_stage",
    "uniform_policy",
    "value_gap",
]
