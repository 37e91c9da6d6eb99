"""Fixtures of the RLlib tests: one real local Ray instance per test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
