"""Learners and policies: tabular policies, batched Q-learning, PPO, saved agents."""

from agents.logging import TrainingLogger, greedy_optimal_fraction, optimal_response_q, value_gap
from agents.policies import TabularPolicy, check_policy, greedy_policy, stay_policy, uniform_policy
from agents.qlearning import (
    QLearningConfig,
    QLearningResult,
    TwoStageResult,
    default_config,
    learn_qlearning,
    learned_metrics,
    train_q,
    train_two_stage,
)
from agents.storage import TrainedAgents, load_agents, save_agents

__all__ = [
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
    "optimal_response_q",
    "save_agents",
    "stay_policy",
    "train_q",
    "train_two_stage",
    "uniform_policy",
    "value_gap",
]
