"""What every learner trains at once: one chunk of reward samples, both stages (docs/concepts.md#two-stage-training).

Each learner module exposes ``train_chunk(task, progress) -> arrays``: H learns against the seed policy, its
greedy policy is frozen, A learns against it, for the samples ``[task.start, task.stop)``. Everything around
that (cutting a run into chunks, worker processes, the chunk store, progress bars, TensorBoard folders) is the
training driver's (``multipower.learned.training``), so it exists once for all learners.

A chunk's arrays depend only on its samples' rewards, the seed and the settings, never on the chunk's size or
position, so a run cut differently, or resumed, ends with the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from multipower.agents.logging import ExactQ
from multipower.envs.model import JointModel
from multipower.envs.problem import TwoStageProblem

#: ``progress(n)``: ``n`` more units of work done (each learner's unit: ``multipower.learned.training.progress_total``).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ChunkTask:
    """Both stages of the reward samples ``[start, start + k)``; picklable, so a worker process can train it.

    Attributes:
        problem: The joint model (its tables are the dynamics), the chunk's ``(k, S)`` reward functions, each
            agent's discount and A's seed policy (``multipower.envs.problem.TwoStageProblem``).
        seed: The run's seed; with the sample indices it fixes every draw.
        start: Index in the whole run of the chunk's first sample.
        settings: The learner's hyperparameters (``multipower.learned.training.learner_settings``).
        device: Torch device of the batched PPO learner (``"cpu"`` or ``"cuda"``).
        tensorboard: This chunk's TensorBoard folder, or ``None`` for no logging.
        reference: Exact optimal action values (an ``ExactQ``) for the accuracy curves in TensorBoard.
    """

    problem: TwoStageProblem
    seed: int
    start: int
    settings: Any
    device: str = "cpu"
    tensorboard: Optional[str] = None
    reference: Optional[ExactQ] = None

    @property
    def model(self) -> JointModel:
        return self.problem.model

    @property
    def R_H(self) -> np.ndarray:
        return self.problem.R_H

    @property
    def R_A(self) -> np.ndarray:
        return self.problem.R_A

    @property
    def gamma_H(self) -> float:
        return self.problem.gamma_H

    @property
    def gamma_A(self) -> float:
        return self.problem.gamma_A

    @property
    def seed_policy(self) -> np.ndarray:
        """``(S, 5)`` A's policy while H learns."""
        return self.problem.seed_table()

    @property
    def stop(self) -> int:
        """One past the index of the chunk's last sample."""
        return self.start + len(self.R_H)

    @property
    def samples(self) -> range:
        """The indices of the chunk's samples in the whole run."""
        return range(self.start, self.stop)


def per_sample_seconds(k: int, seconds_H: float, seconds_A: float) -> np.ndarray:
    """``(k, 2)`` a chunk's seconds per stage, split evenly over its ``k`` samples."""
    return np.tile([seconds_H / k, seconds_A / k], (k, 1))
