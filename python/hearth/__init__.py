"""Hearth: run GGUF language models locally.

    from hearth import Llama
    llm = Llama("model.gguf", n_ctx=2048)
    print(llm("The capital of France is", max_tokens=16)["choices"][0]["text"])

``Llama`` is a drop-in for llama-cpp-python's class of that name (see hearth.llama); scripts written for
``llama_cpp`` run unchanged under ``python3 -m hearth.llama_cpp_compat script.py``.
"""

from ._hearth import (
    ContextFullError,
    FormatError,
    GrammarError,
    JsonSchemaError,
    LoadError,
    NonFiniteValueError,
    QueueFullError,
    ResourceError,
    SamplingError,
    TemplateError,
    VocabularyError,
)
from .grammar import LlamaGrammar
from .llama import LLAMA_DEFAULT_SEED, Llama, LlamaState
from .processors import LogitsProcessorList, StoppingCriteriaList

__version__ = "0.1.0"

__all__ = [
    "Llama", "LlamaGrammar", "LlamaState", "LogitsProcessorList", "StoppingCriteriaList", "LLAMA_DEFAULT_SEED",
    "ContextFullError", "FormatError", "GrammarError", "JsonSchemaError", "LoadError", "NonFiniteValueError",
    "QueueFullError", "ResourceError", "SamplingError", "TemplateError", "VocabularyError",
]
