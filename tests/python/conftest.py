"""Fixtures for the Python package's tests. ctest runs them with the package built in build/python (PYTHONPATH),
HEARTH_SHARED pointing at ../shared and HEARTH_BIN_DIR at the hearth binary."""

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("HEARTH_SHARED", Path(__file__).resolve().parents[3] / "shared"))
BIN_DIR = Path(os.environ.get("HEARTH_BIN_DIR", Path(__file__).resolve().parents[2] / "build" / "bin"))
DEMO_MODEL = SHARED / "models" / "hearth-demo-13m-q8_0.gguf"


@pytest.fixture(scope="session")
def model_path() -> str:
    assert DEMO_MODEL.exists(), f"{DEMO_MODEL} is missing (../shared beside the checkout, or HEARTH_SHARED)"
    return str(DEMO_MODEL)


@pytest.fixture(scope="module")
def llm(model_path):
    import hearth

    with hearth.Llama(model_path, n_ctx=512, n_threads=2, verbose=False) as model:
        yield model
