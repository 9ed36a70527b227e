"""Former home of the shared numeric checks; they now live in :mod:`envs.validation` (kept for one version)."""

from envs.validation import available_cores, check_gamma  # noqa: F401
