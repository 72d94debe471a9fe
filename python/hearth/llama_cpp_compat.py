"""Runs code written for llama-cpp-python (``import llama_cpp``) on Hearth, unchanged. Opt-in:

    python3 -m hearth.llama_cpp_compat script.py [args...]     # the script sees Hearth as llama_cpp

or, in code, ``hearth.llama_cpp_compat.install()`` before the first ``import llama_cpp``. Only the high-level API is
provided (Llama, LlamaGrammar, LogitsProcessorList, StoppingCriteriaList, LlamaState); the low-level ``llama_*``
C functions are not.
"""

from __future__ import annotations

import runpy
import sys
import types
import warnings
from typing import Any, Union

from . import _hearth, _types, grammar, llama
from .grammar import LlamaGrammar
from .llama import LLAMA_DEFAULT_SEED, LlamaState
from .processors import LogitsProcessorList, StoppingCriteriaList


class Llama(llama.Llama):
    """hearth.Llama with llama-cpp-python's reading of ``n_gpu_layers``: on a machine without a GPU, a script's
    request for GPU layers (``n_gpu_layers=-1`` in most examples) runs on the CPU, with a warning, as
    llama-cpp-python built without CUDA does; hearth.Llama refuses it."""

    def __init__(self, model_path: str, *, n_gpu_layers: Union[int, str] = 0, **kwargs: Any) -> None:
        if n_gpu_layers not in (0, "auto") and _hearth.gpu_count() == 0:
            warnings.warn(f"n_gpu_layers={n_gpu_layers!r}: this machine has no CUDA GPU Hearth can use; running on "
                          "the CPU", RuntimeWarning, stacklevel=2)
            n_gpu_layers = 0
        super().__init__(model_path, n_gpu_layers=n_gpu_layers, **kwargs)


def install() -> types.ModuleType:
    """Makes ``import llama_cpp`` (and llama_cpp.llama, llama_cpp.llama_grammar) give Hearth's classes."""
    if "llama_cpp" in sys.modules and getattr(sys.modules["llama_cpp"], "__hearth__", False):
        return sys.modules["llama_cpp"]
    package = types.ModuleType("llama_cpp", "Hearth, standing in for llama-cpp-python")
    package.__hearth__ = True  # type: ignore[attr-defined]
    package.__path__ = []  # type: ignore[attr-defined]  # a package, so that submodules import
    for name, value in {"Llama": Llama, "LlamaGrammar": LlamaGrammar, "LlamaState": LlamaState,
                        "LogitsProcessorList": LogitsProcessorList, "StoppingCriteriaList": StoppingCriteriaList,
                        "LLAMA_DEFAULT_SEED": LLAMA_DEFAULT_SEED, "__version__": "0.3.0+hearth"}.items():
        setattr(package, name, value)
    sys.modules["llama_cpp"] = package
    # llama_cpp.llama: hearth.llama's names, with the Llama above.
    llama_module = types.ModuleType("llama_cpp.llama", llama.__doc__)
    llama_module.__dict__.update({k: v for k, v in vars(llama).items() if not k.startswith("__")})
    llama_module.Llama = Llama  # type: ignore[attr-defined]
    for sub, module in {"llama": llama_module, "llama_grammar": grammar, "llama_types": _types}.items():
        sys.modules[f"llama_cpp.{sub}"] = module
        setattr(package, sub, module)
    return package


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python3 -m hearth.llama_cpp_compat SCRIPT.py [ARGS...]", file=sys.stderr)
        raise SystemExit(2)
    install()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
