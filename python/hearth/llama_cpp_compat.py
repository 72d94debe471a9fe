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

from . import _types, grammar, llama
from .grammar import LlamaGrammar
from .llama import LLAMA_DEFAULT_SEED, Llama, LlamaState
from .processors import LogitsProcessorList, StoppingCriteriaList


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
    for sub, module in {"llama": llama, "llama_grammar": grammar, "llama_types": _types}.items():
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
