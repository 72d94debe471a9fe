"""Logits processors and stopping criteria, as llama-cpp-python's: callables of (input_ids, scores).

With numpy installed, ``input_ids`` is an ``np.intc`` array (prompt and generated tokens) and ``scores`` an
``np.single`` array of the next token's logits; without it, both are Python lists.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None  # type: ignore[assignment]

LogitsProcessor = Callable[[Any, Any], Any]
StoppingCriteria = Callable[[Any, Any], bool]


class LogitsProcessorList(List[LogitsProcessor]):
    """Applies each processor in turn; each returns the new scores."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(List[StoppingCriteria]):
    """True when any criterion is."""

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        return any(criterion(input_ids, logits) for criterion in self)


class ProcessorHook:
    """What the engine calls before each token is sampled (on its own thread, holding the GIL): runs the user's
    logits processor and stopping criteria over copies of the engine's buffers and writes the scores back.

    A stopping criterion that says stop makes the end-of-generation token the only choice, so the generation ends
    with finish_reason "stop" before another token is written. An exception is kept and re-raised to the caller.
    """

    def __init__(self, processor: Optional[LogitsProcessor], stopping: Optional[StoppingCriteria], eos: int,
                 prompt_tokens: int) -> None:
        self.processor = processor
        self.prompt_tokens = prompt_tokens
        self.stopping = stopping
        self.eos = eos
        self.error: Optional[BaseException] = None

    def __call__(self, tokens: memoryview, logits: memoryview) -> None:
        try:
            if np is not None:
                input_ids = np.array(tokens, dtype=np.intc)
                scores = np.array(logits, dtype=np.single)
            else:
                input_ids = list(tokens)
                scores = list(logits)
            if self.processor is not None:
                scores = self.processor(input_ids, scores)
            if self.stopping is not None and len(input_ids) > self.prompt_tokens and self.stopping(input_ids, scores):
                if np is not None:
                    scores = np.full(len(logits), -np.inf, dtype=np.single)
                else:
                    scores = [float("-inf")] * len(logits)
                scores[self.eos] = 0.0
            if np is not None:
                scores = np.ascontiguousarray(scores, dtype=np.single)
                if scores.shape != (len(logits),):
                    raise ValueError(f"a logits processor returned {scores.shape} scores, not ({len(logits)},)")
                logits[:] = memoryview(scores)
            else:
                if len(scores) != len(logits):
                    raise ValueError(f"a logits processor returned {len(scores)} scores, not {len(logits)}")
                for i, value in enumerate(scores):
                    logits[i] = float(value)
        except BaseException as error:  # noqa: B902 - re-raised on the caller's thread
            self.error = error
            raise
