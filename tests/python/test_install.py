"""`pip install ./python` into a fresh virtual environment, offline (pip may reach no index)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


import pytest


@pytest.mark.parametrize("source", ["python", "."], ids=["python-folder", "checkout-root"])
def test_pip_installs_the_package_into_a_fresh_venv_offline(tmp_path, model_path, source):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", str(ROOT / source)], env=env,
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import sys, hearth; assert hearth.__file__.startswith(sys.prefix), hearth.__file__; "
                            "llm = hearth.Llama(sys.argv[1], n_ctx=128, verbose=False); "
                            "print(llm('Hello', max_tokens=3, temperature=0)['usage']['completion_tokens'])", model_path],
                           env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "3"
    typed = list((venv / "lib").glob("python3*/site-packages/hearth/py.typed"))
    assert typed, "py.typed is part of the wheel"
