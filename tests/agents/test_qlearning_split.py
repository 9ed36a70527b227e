"""Q-learned agents do not depend on how the work is split: sample k's agents depend on its reward functions,
the seed and the hyperparameters only, never on --jobs, --chunk, the chunk size or its batch-mates."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from multipower.agents.qlearning import train_q
from multipower.agents.qlearning_config import default_config
from multipower.agents.qlearning_stages import train_two_stage
from multipower.agents.storage import load_agents
from multipower.envs.model import joint_model
from multipower.envs.policies import uniform_policy
from multipower.envs.rewards import RewardSampler
from multipower.cli import main
from multipower.runs.execution import Execution
from multipower.envs.problem import StageProblem, TwoStageProblem

SMALL = ["--option", "min_visits=60", "--option", "max_steps=2000", "--option", "check_every=50"]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_agents_are_byte_identical_for_any_jobs_and_chunk(tmp_path):
    runs = {"j1": ["--jobs", "1"], "j2": ["--jobs", "2"], "j2c2": ["--jobs", "2", "--chunk", "2"],
            "j1c3": ["--jobs", "1", "--chunk", "3"], "j1cs1": ["--jobs", "1", "--option", "chunk_size=1"]}
    digests = {}
    for name, extra in runs.items():
        out = tmp_path / name
        assert main(["train", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "7", "--seed", "3",
                     "--no-eval", "--out", str(out), *SMALL, *extra]) == 0
        digests[name] = _digest(out / "agents.npz")
    assert len(set(digests.values())) == 1, digests
    agents = load_agents(tmp_path / "j1")
    assert agents.n_samples == 7 and np.isfinite(agents.q_H[:, :, 0]).all()


def test_a_sample_trained_alone_equals_it_trained_in_a_batch():
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=1).pairs(0, 6)
    common = dict(seed=1,
                  config_H=default_config(0.6, min_visits=60, max_steps=2000, check_every=50),
                  config_A=default_config(0.6, deterministic_other=True, min_visits=40, max_steps=2000, check_every=50))
    whole = train_two_stage(TwoStageProblem(model, R_H, R_A, 0.6), **common)
    for k in (0, 4):
        alone = train_two_stage(TwoStageProblem(model, R_H[k:k + 1], R_A[k:k + 1], 0.6), **common, sample_offset=k)
        np.testing.assert_array_equal(alone.H.q[0], whole.H.q[k])
        np.testing.assert_array_equal(alone.A.q[0], whole.A.q[k])
        np.testing.assert_array_equal(alone.policy_A[0], whole.policy_A[k])


def test_stopping_rule_is_per_sample():
    """Samples stop at their own step counts; a chunk's finished samples are frozen while the others go on."""
    model = joint_model("grid3x3")
    R, _ = RewardSampler(model.n_states, seed=0).pairs(0, 6)
    config = default_config(0.6, min_visits=60, max_steps=3000, check_every=25, chunk_size=6)
    together = train_q(StageProblem(model, R, 0.6), config=config, seed=2)
    apart = train_q(
        StageProblem(model, R, 0.6),
        config=default_config(0.6, min_visits=60, max_steps=3000, check_every=25, chunk_size=1),
        seed=2,
    )
    np.testing.assert_array_equal(together.q, apart.q)
    np.testing.assert_array_equal(together.steps, apart.steps)
    np.testing.assert_array_equal(together.visits, apart.visits)
    assert together.stopped.all()
    assert together.transitions == apart.transitions


def test_mixed_deterministic_and_stochastic_other_policies_do_not_interact():
    """Stage 2: a sample whose frozen H is deterministic learns the same next to one whose H has ties."""
    model = joint_model("grid3x3")
    R, _ = RewardSampler(model.n_states, seed=5).pairs(0, 2)
    det = np.zeros((model.n_states, 5))
    det[:, 0] = 1.0
    tied = model.action_mask_H / model.action_mask_H.sum(1, keepdims=True)
    config = default_config(0.6, min_visits=40, max_steps=1500, check_every=50)
    both = train_q(StageProblem(model, R, 0.6, "A", np.stack([det, tied])), config=config, seed=4)
    first = train_q(StageProblem(model, R[:1], 0.6, "A", det[None]), config=config, seed=4)
    second = train_q(StageProblem(model, R[1:], 0.6, "A", tied[None]), config=config, seed=4, sample_offset=1)
    np.testing.assert_array_equal(both.q[0], first.q[0])
    np.testing.assert_array_equal(both.q[1], second.q[0])


def test_default_jobs_is_the_available_cores(monkeypatch):
    from multipower.learned import training

    seen = []

    def record(units, n_jobs, *args):
        seen.append(n_jobs)
        return iter(())

    monkeypatch.setattr(training, "available_cores", lambda: 3)
    monkeypatch.setattr(training, "_run_units", record)
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 2)
    with pytest.raises(KeyError):  # no chunk came back from the stand-in
        training.train_chunks(
            "qlearning",
            TwoStageProblem(model, R_H, R_A, 0.6, 0.6, seed_policy=uniform_policy(model.action_mask_A)),
            0,
            (None, None),
        )
    assert seen == [3]


def test_progress_counts_each_sample_once():
    from multipower.learned import training

    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 3)
    settings = (default_config(0.6, min_visits=40, max_steps=1000, check_every=50),
                default_config(0.6, deterministic_other=True, min_visits=40, max_steps=1000, check_every=50))
    for jobs in (1, 2):
        calls = []
        training.train_chunks(
            "qlearning",
            TwoStageProblem(model, R_H, R_A, 0.6, 0.6, seed_policy=uniform_policy(model.action_mask_A)),
            0,
            settings,
            execution=Execution(jobs=jobs, chunk_size=1, progress=calls.append),
        )
        assert sum(calls) == 3 == training.progress_total("qlearning", 3, settings, 0.6, 0.6)[0]


def test_variance_reduced_runs_do_not_depend_on_the_split():
    """Epoch boundaries follow the step count alone: chunks of 1 or 3 samples, one or two jobs, same Q-tables."""
    model = joint_model("grid3x3")
    R, _ = RewardSampler(model.n_states, seed=7).pairs(0, 3)
    config = default_config(0.99, min_visits=200, max_steps=2000, check_every=25, vr_start=100)
    together = train_q(StageProblem(model, R, 0.99), config=config, seed=2)
    apart = train_q(StageProblem(model, R, 0.99), config=replace(config, chunk_size=1), seed=2)
    np.testing.assert_array_equal(together.q, apart.q)
    plain = train_q(StageProblem(model, R, 0.99), config=replace(config, vr_start=0), seed=2)
    assert not np.array_equal(together.q, plain.q)  # the recentring is on


def test_variance_reduction_and_joint_values_are_no_ops_against_a_deterministic_other_agent():
    """Every sampled target from (s, a) is then the same s', so the recentring adds exactly 0; and with one possible
    move of the other agent, joint-action values Q(s, a, o) are Q(s, a): the same updates, bit for bit."""
    model = joint_model("grid3x3")
    R, _ = RewardSampler(model.n_states, seed=5).pairs(0, 2)
    stay = np.zeros((model.n_states, 5))
    stay[:, 0] = 1.0
    config = default_config(0.99, deterministic_other=True, min_visits=100, max_steps=1500, check_every=50)
    plain = train_q(StageProblem(model, R, 0.99, "A", stay), config=config, seed=4)
    recentred = train_q(StageProblem(model, R, 0.99, "A", stay), config=replace(config, vr_start=100), seed=4)
    np.testing.assert_allclose(recentred.q, plain.q, rtol=0, atol=1e-9)
    joint = train_q(StageProblem(model, R, 0.99, "A", stay), config=replace(config, joint_values=True), seed=4)
    np.testing.assert_array_equal(joint.q, plain.q)


def test_long_horizon_defaults_against_the_seed_use_variance_reduction():
    from multipower.agents.qlearning_config import VR_FROM_GAMMA

    assert default_config(0.99).vr_start == 2000 and default_config(0.99).min_visits == 15_000
    assert default_config(0.9).vr_start == 0 and default_config(0.9).min_visits == int(np.ceil(6000 * 10 ** 0.5))
    assert default_config(0.99, deterministic_other=True).vr_start == 0 and VR_FROM_GAMMA == 0.99
