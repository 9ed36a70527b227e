"""Learners and policies: tabular policies, batched Q-learning, PPO."""
