"""Grammars that constrain generated text: llama.cpp's GBNF, or a JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

from . import _hearth


class LlamaGrammar:
    """A compiled grammar, as llama-cpp-python's ``LlamaGrammar``.

    Errors in the text raise :class:`hearth.GrammarError` (a ``ValueError``) naming the line and column; a JSON
    Schema keyword Hearth cannot follow raises :class:`hearth.JsonSchemaError` naming it.
    """

    def __init__(self, grammar: "_hearth.Grammar", text: str) -> None:
        self._grammar = grammar
        self._grammar_text = text

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> "LlamaGrammar":
        """GBNF text (start rule ``root``)."""
        return cls(_hearth.Grammar.parse(grammar), grammar)

    @classmethod
    def from_file(cls, file: Union[str, Path], verbose: bool = True) -> "LlamaGrammar":
        """A ``.gbnf`` file."""
        return cls.from_string(Path(file).read_text(encoding="utf-8"), verbose)

    @classmethod
    def from_json_schema(cls, json_schema: Union[str, dict], verbose: bool = True, *, compact: bool = False) -> "LlamaGrammar":
        """JSON valid under ``json_schema`` (text or a dict). ``compact``: no whitespace in the output."""
        text = json_schema if isinstance(json_schema, str) else json.dumps(json_schema)
        return cls(_hearth.Grammar.from_json_schema(text, compact), _hearth.json_schema_to_gbnf(text))

    @classmethod
    def json_object(cls) -> "LlamaGrammar":
        """Any JSON object."""
        return cls(_hearth.Grammar.json_object(), "")

    def __repr__(self) -> str:
        return f"LlamaGrammar({self._grammar_text[:60]!r}...)"


def grammar_for_response_format(response_format: Any) -> Union[LlamaGrammar, None]:
    """OpenAI's ``response_format`` (``text``, ``json_object`` with an optional ``schema`` as llama-cpp-python takes
    it, or ``json_schema``) as a grammar, or None for free text."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or "type" not in response_format:
        raise ValueError("response_format must be a dict with a 'type'")
    kind = response_format["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        return LlamaGrammar.from_json_schema(schema) if schema is not None else LlamaGrammar.json_object()
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise ValueError("response_format.json_schema must be a dict with a 'schema'")
        return LlamaGrammar.from_json_schema(spec["schema"])
    raise ValueError(f"response_format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}")
