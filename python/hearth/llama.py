"""``hearth.Llama``: a drop-in for llama-cpp-python's ``Llama`` class, over Hearth's engine.

Every generation runs on the engine's scheduler (the same one ``hearth serve`` uses), with the GIL released: calls
from several threads are safe, and with ``n_parallel`` > 1 they run batched together. The cache keeps the tokens of
earlier calls, so a prompt that starts the way an earlier one did skips what is already computed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _hearth
from ._types import ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk
from .grammar import LlamaGrammar, grammar_for_response_format
from .processors import LogitsProcessor, LogitsProcessorList, ProcessorHook, StoppingCriteria, StoppingCriteriaList

__all__ = ["Llama", "LlamaState", "LlamaGrammar", "LogitsProcessorList", "StoppingCriteriaList", "LLAMA_DEFAULT_SEED"]

LLAMA_DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"

# llama-cpp-python's chat_format names, as Hearth's built-in templates.
CHAT_FORMATS = {
    "chatml": "chatml",
    "llama-2": "llama-2",
    "llama-3": "llama-3",
    "mistral": "mistral",
    "mistral-instruct": "mistral",
    "gemma": "gemma",
    "phi3": "phi-3",
    "phi-3": "phi-3",
}


@dataclass
class LlamaState:
    """What :meth:`Llama.save_state` keeps: the tokens in the cache and the random source the next call draws its
    seed from. Loading it makes the next call produce what it would have produced right after the save."""

    input_ids: List[int]
    n_tokens: int
    seed: int
    rng_state: Any = field(repr=False, default=None)

    @property
    def llama_state_size(self) -> int:
        return 4 * len(self.input_ids)


@dataclass
class _Plan:
    """One checked generation, ready to submit."""

    prompt: List[int]
    max_tokens: int
    sampling: Dict[str, Any]
    stop: List[str]
    logprobs: bool
    top_logprobs: int
    grammar: Optional[LlamaGrammar]
    chat: Optional[Any] = None  # _hearth.PreparedChat
    hook: Optional[ProcessorHook] = None


def _gpu_layers(n_gpu_layers: Union[int, str]) -> int:
    """``n_gpu_layers`` as the engine takes it: a count, ALL_GPU_LAYERS (-1) or AUTO_GPU_LAYERS."""
    if n_gpu_layers == "auto":
        return _hearth.AUTO_GPU_LAYERS
    if isinstance(n_gpu_layers, bool) or not isinstance(n_gpu_layers, int) or n_gpu_layers < -1:
        raise ValueError(f"n_gpu_layers must be a number of layers, -1 (all) or 'auto', not {n_gpu_layers!r}")
    return n_gpu_layers


class Llama:
    """A model loaded for generation.

    ``Llama(model_path, n_ctx=512, ...)`` takes llama-cpp-python's arguments. Beyond them: ``n_parallel`` (generations
    that run at once, batched; default 1), ``kv_cache_type`` ("f16" or "f32") and ``chat_template`` (Jinja source
    to chat with instead of the model's own template). Arguments that select llama.cpp
    machinery Hearth does not have (LoRA adapters, draft models, custom chat handlers, mirostat) raise ``ValueError``
    rather than being ignored. ``n_gpu_layers``: 0 (the default) runs on the CPU, N puts the last N layers and the
    output on the GPU, -1 all of them, ``"auto"`` as many as the GPU's free memory holds (none without a GPU);
    asking for GPU layers where there is no GPU raises ``ValueError`` (the ``llama_cpp`` compatibility module runs
    such scripts on the CPU with a warning instead, as llama-cpp-python does without CUDA).
    """

    def __init__(
        self,
        model_path: str,
        *,
        n_gpu_layers: Union[int, str] = 0,
        split_mode: int = 0,
        main_gpu: int = 0,
        tensor_split: Optional[List[float]] = None,
        vocab_only: bool = False,
        use_mmap: bool = True,
        use_mlock: bool = False,
        kv_overrides: Optional[Dict[str, Any]] = None,
        seed: int = LLAMA_DEFAULT_SEED,
        n_ctx: int = 512,
        n_batch: int = 512,
        n_ubatch: int = 512,
        n_threads: Optional[int] = None,
        n_threads_batch: Optional[int] = None,
        rope_scaling_type: Optional[int] = None,
        pooling_type: Optional[int] = None,
        rope_freq_base: float = 0.0,
        rope_freq_scale: float = 0.0,
        yarn_ext_factor: float = -1.0,
        yarn_attn_factor: float = 1.0,
        yarn_beta_fast: float = 32.0,
        yarn_beta_slow: float = 1.0,
        yarn_orig_ctx: int = 0,
        logits_all: bool = False,
        embedding: bool = False,
        offload_kqv: bool = True,
        flash_attn: bool = False,
        no_perf: bool = False,
        last_n_tokens_size: int = 64,
        lora_base: Optional[str] = None,
        lora_scale: float = 1.0,
        lora_path: Optional[str] = None,
        numa: Union[bool, int] = False,
        chat_format: Optional[str] = None,
        chat_handler: Optional[Any] = None,
        draft_model: Optional[Any] = None,
        tokenizer: Optional[Any] = None,
        type_k: Optional[int] = None,
        type_v: Optional[int] = None,
        spm_infill: bool = False,
        verbose: bool = True,
        n_parallel: int = 1,
        kv_cache_type: str = "f16",
        chat_template: Optional[str] = None,
    ) -> None:
        for name, value in (("lora_path", lora_path), ("lora_base", lora_base), ("draft_model", draft_model),
                            ("chat_handler", chat_handler), ("tokenizer", tokenizer), ("kv_overrides", kv_overrides)):
            if value is not None:
                raise ValueError(f"{name} is not supported by Hearth")
        if embedding:
            raise ValueError("embedding=True: Hearth does not compute embeddings yet")
        # Options that would change the model's numbers are refused unless they ask for what Hearth does.
        changes = {"rope_freq_base": rope_freq_base != 0.0, "rope_freq_scale": rope_freq_scale != 0.0,
                   "rope_scaling_type": rope_scaling_type not in (None, -1, 0),
                   "yarn_ext_factor": yarn_ext_factor not in (-1.0, 0.0), "yarn_orig_ctx": yarn_orig_ctx != 0,
                   "pooling_type": pooling_type not in (None, -1, 0)}
        for name, changed in changes.items():
            if changed:
                raise ValueError(f"{name} is not supported by Hearth (the model's own value is used)")
        # ggml type ids of the KV cache: 0 f32, 1 f16.
        for name, value in (("type_k", type_k), ("type_v", type_v)):
            if value not in (None, 0, 1):
                raise ValueError(f"{name}={value}: Hearth's KV cache is f16 (1) or f32 (0)")
        if 0 in (type_k, type_v):
            if type_k not in (0, None) or type_v not in (0, None):
                raise ValueError("type_k and type_v must be the same: Hearth keeps keys and values in one precision")
            kv_cache_type = "f32"
        if kv_cache_type not in ("f16", "f32"):
            raise ValueError(f"kv_cache_type must be 'f16' or 'f32', not {kv_cache_type!r}")
        gpu_layers = _gpu_layers(n_gpu_layers)
        if n_ctx < 0 or n_batch < 1 or n_parallel < 1:
            raise ValueError("n_ctx must be >= 0, n_batch and n_parallel >= 1")
        self.model_path = str(model_path)
        self.verbose = verbose
        self.last_n_tokens_size = last_n_tokens_size
        self.logits_all = logits_all
        self.n_batch = n_batch
        self.n_parallel = n_parallel
        self._engine: Optional[_hearth.Engine] = None
        self._model: Optional[_hearth.Model] = None
        self._chat: Optional[_hearth.ModelChat] = None
        self._chat_format = chat_format
        self._chat_template = chat_template
        if chat_format is not None and chat_template is not None:
            raise ValueError("give chat_format or chat_template, not both")
        if not Path(self.model_path).exists():
            raise ValueError(f"Model path does not exist: {self.model_path}")
        start = time.perf_counter()
        if vocab_only:
            self._vocab = _hearth.Vocab.from_file(self.model_path)
            self._n_ctx = n_ctx
        else:
            self._model = _hearth.Model.load(self.model_path)
            self._vocab = self._model.vocab()
            info = self._model.info()
            self._n_ctx = n_ctx if n_ctx > 0 else int(info["n_ctx_train"])
            self._engine = _hearth.Engine(self._model, n_parallel, self._n_ctx, n_batch, n_threads or 0,
                                          kv_cache_type == "f32", gpu_layers)
        self._input_ids: List[int] = []
        # The engine's clock for the last generation that finished: milliseconds from submission to the start, the
        # first token and the end.
        self.last_timings: Dict[str, float] = {}
        self.set_seed(seed)
        if verbose:
            self._report_load(time.perf_counter() - start)

    # ---- the model ------------------------------------------------------------------------------------------------

    def _report_load(self, seconds: float) -> None:
        if self._model is None:
            print(f"hearth: vocabulary of {self.model_path} ({self._vocab.n_vocab} tokens)", file=sys.stderr)
            return
        info = self._model.info()
        memory = self._engine.memory() if self._engine else {}
        mib = lambda n: n / (1 << 20)  # noqa: E731
        print(f"hearth: {info['name']} ({info['architecture']}, {info['n_params'] / 1e6:.1f} M parameters) "
              f"loaded in {seconds * 1e3:.0f} ms; context {self._n_ctx} x {self.n_parallel}; "
              f"KV cache {mib(memory.get('kv_cache', 0)):.1f} MiB, scratch {mib(memory.get('scratch', 0)):.1f} MiB; "
              + ", ".join(f"layers {d['first_layer']}-{d['end_layer'] - 1} on {d['device']}" for d in self.devices()),
              file=sys.stderr)

    def _require_engine(self) -> _hearth.Engine:
        if self._engine is None:
            raise RuntimeError("this Llama was opened with vocab_only=True or closed: it cannot generate")
        return self._engine

    def close(self) -> None:
        """Stops the engine (a running generation ends) and frees its cache; the Llama cannot generate afterwards."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self._model = None

    def __enter__(self) -> "Llama":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @classmethod
    def from_pretrained(cls, repo_id: str, filename: Optional[str] = None, *, local_dir: Optional[str] = None,
                        cache_dir: Optional[str] = None, **kwargs: Any) -> "Llama":
        """A model by its Hugging Face repository and file name, from a local folder: ``local_dir``, ``cache_dir``,
        then ``$HEARTH_MODELS`` (default ``~/.cache/hearth/models``);
        a file that is not there is downloaded with huggingface_hub where that is installed, else raises
        ``FileNotFoundError`` saying where it looked."""
        if not filename:
            raise ValueError("from_pretrained needs a filename (or a glob such as '*q4_k_m.gguf')")
        models = os.environ.get("HEARTH_MODELS", str(Path.home() / ".cache" / "hearth" / "models"))
        folders = [Path(p) for p in (local_dir, cache_dir, models) if p]
        for folder in folders:
            for candidate in (folder / repo_id, folder):
                matches = sorted(candidate.glob(filename)) if candidate.is_dir() else []
                if matches:
                    return cls(str(matches[0]), **kwargs)
        try:
            import huggingface_hub  # type: ignore[import-not-found]
        except ImportError:
            raise FileNotFoundError(f"{filename} of {repo_id} is not in {', '.join(str(f) for f in folders)}, and "
                                    "huggingface_hub is not installed, so Hearth does not download it: fetch the "
                                    "file, then pass its path to Llama(model_path) or put it in one of those "
                                    "folders") from None
        import fnmatch
        names = [n for n in huggingface_hub.list_repo_files(repo_id) if fnmatch.fnmatch(n, filename)]
        if not names:
            raise FileNotFoundError(f"no file of {repo_id} matches {filename}")
        path = huggingface_hub.hf_hub_download(repo_id, sorted(names)[0], local_dir=local_dir, cache_dir=cache_dir)
        return cls(path, **kwargs)

    def n_ctx(self) -> int:
        """Tokens one generation may hold: prompt and output together."""
        return self._n_ctx

    def n_vocab(self) -> int:
        return self._vocab.n_vocab

    def n_embd(self) -> int:
        return int(self._model.info()["n_embd"]) if self._model else 0

    def token_bos(self) -> int:
        return self._vocab.bos

    def token_eos(self) -> int:
        return self._vocab.eos

    def token_nl(self) -> int:
        return self._vocab.newline

    @property
    def metadata(self) -> Dict[str, str]:
        """The GGUF metadata a caller usually wants (name, architecture, chat template)."""
        source = self._model.metadata_string if self._model else self._vocab.metadata_string
        out = {}
        for key in ("general.name", "general.architecture", "tokenizer.chat_template"):
            try:
                value = source(key)
            except Exception:
                value = ""
            if value:
                out[key] = value
        return out

    def memory(self) -> Dict[str, int]:
        """Bytes held: the mapped weights, weights copied to a GPU, the KV cache and scratch."""
        return dict(self._require_engine().memory())

    def devices(self) -> List[Dict[str, Any]]:
        """Where the layers run: per device (in layer order) its name, layers [first_layer, end_layer), whether it
        has the embeddings and the output, and the bytes of weights, KV cache and scratch it holds."""
        return [dict(d) for d in self._require_engine().devices()]

    # ---- tokens ---------------------------------------------------------------------------------------------------

    def tokenize(self, text: Union[bytes, str], add_bos: bool = True, special: bool = False) -> List[int]:
        """Text (UTF-8 bytes) to token ids. ``add_bos``: the BOS (and EOS) the vocabulary asks for; ``special``:
        control tokens written in the text become those tokens."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        return self._vocab.tokenize(text, add_bos, special)

    def detokenize(self, tokens: Sequence[int], prev_tokens: Optional[Sequence[int]] = None,
                   special: bool = False) -> bytes:
        """Token ids to bytes; with ``prev_tokens``, the bytes these tokens add after those."""
        tokens = [int(t) for t in tokens]
        if prev_tokens:
            prev = [int(t) for t in prev_tokens]
            whole = self._vocab.detokenize(prev + tokens, special)
            before = self._vocab.detokenize(prev, special)
            return whole[len(before):] if whole.startswith(before) else whole
        return self._vocab.detokenize(tokens, special)

    def _piece(self, token: int) -> str:
        return self._vocab.token_to_piece(token, False).decode("utf-8", errors="replace")

    # ---- state ----------------------------------------------------------------------------------------------------

    def set_seed(self, seed: int) -> None:
        """Seeds the random source each call without its own ``seed`` draws one from (LLAMA_DEFAULT_SEED: random)."""
        self._seed = seed
        self._rng = random.Random(None if seed == LLAMA_DEFAULT_SEED else seed)

    def reset(self) -> None:
        """Forgets the tokens of the last call (the cache still serves a later prompt that starts the same way)."""
        self._input_ids = []

    @property
    def n_tokens(self) -> int:
        return len(self._input_ids)

    @property
    def input_ids(self) -> List[int]:
        """The tokens of the last call: its prompt, then what it generated."""
        return list(self._input_ids)

    def save_state(self) -> LlamaState:
        return LlamaState(list(self._input_ids), len(self._input_ids), self._seed, self._rng.getstate())

    def load_state(self, state: LlamaState) -> None:
        self._input_ids = list(state.input_ids)
        self._seed = state.seed
        self._rng.setstate(state.rng_state)

    # ---- completions ----------------------------------------------------------------------------------------------

    def _plan(self, prompt_tokens: List[int], max_tokens: Optional[int], *, temperature: float, top_p: float,
              min_p: float, typical_p: float, top_k: int, repeat_penalty: float, frequency_penalty: float,
              presence_penalty: float, seed: Optional[int], logit_bias: Optional[Dict[Any, float]],
              stop: Union[None, str, List[str]], logprobs: bool, top_logprobs: int, grammar: Optional[LlamaGrammar],
              logits_processor: Optional[LogitsProcessor], stopping_criteria: Optional[StoppingCriteria],
              mirostat_mode: int, chat: Any = None) -> _Plan:
        self._require_engine()
        if mirostat_mode:
            raise ValueError("mirostat sampling is not supported by Hearth")
        if not prompt_tokens:
            raise ValueError("the prompt is empty")
        n_ctx = self._n_ctx
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - len(prompt_tokens)
            if max_tokens <= 0:
                raise ValueError(f"Requested tokens ({len(prompt_tokens)}) exceed context window of {n_ctx}: "
                                 "the prompt alone fills it")
        elif len(prompt_tokens) + max_tokens > n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt_tokens) + max_tokens}) exceed context window of {n_ctx}: "
                             f"the prompt has {len(prompt_tokens)} tokens and max_tokens is {max_tokens}")
        if seed is None:
            seed = self._rng.getrandbits(64)
        sampling = {
            "temperature": temperature, "top_p": top_p, "min_p": min_p, "typical_p": typical_p, "top_k": top_k,
            "repeat_penalty": repeat_penalty, "repeat_last_n": self.last_n_tokens_size,
            "frequency_penalty": frequency_penalty, "presence_penalty": presence_penalty, "seed": seed & ((1 << 64) - 1),
            "logit_bias": {int(k): float(v) for k, v in (logit_bias or {}).items()},
        }
        if isinstance(stop, str):
            stop = [stop]
        stop = [s for s in (stop or []) if s]
        hook = None
        if logits_processor is not None or stopping_criteria is not None:
            hook = ProcessorHook(logits_processor, stopping_criteria, self._vocab.eos, len(prompt_tokens))
        return _Plan(list(prompt_tokens), int(max_tokens), sampling, stop, logprobs, top_logprobs, grammar, chat, hook)

    def _submit(self, plan: _Plan) -> "_hearth.Generation":
        return self._require_engine().submit(
            plan.prompt, plan.max_tokens, plan.sampling, plan.stop, False, plan.logprobs, plan.top_logprobs,
            plan.grammar._grammar if plan.grammar is not None else None, plan.chat, plan.hook)

    def _events(self, plan: _Plan, generation: "_hearth.Generation") -> Iterator[Tuple[int, str, Any, Any]]:
        """The generation's events; afterwards ``plan.result`` holds how it ended. Abandoning the iterator cancels
        the generation."""
        generated: List[int] = []
        finished = False
        try:
            while True:
                events = generation.next_events()
                if not events:
                    finished = True
                    break
                for event in events:
                    generated.append(event[0])
                    yield event
        finally:
            if not finished:
                generation.cancel()
        result = generation.result()
        if result["finish_reason"] == "error":
            if plan.hook is not None and plan.hook.error is not None:
                raise plan.hook.error
            raise RuntimeError(f"generation failed: {result['error']}")
        self._input_ids = plan.prompt + generated
        self.last_timings = {k: result[k] for k in ("queue_ms", "time_to_first_token_ms", "duration_ms")}
        plan.result = result  # type: ignore[attr-defined]

    def generate(self, tokens: Sequence[int], top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                 typical_p: float = 1.0, temp: float = 0.80, repeat_penalty: float = 1.0, reset: bool = True,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0, tfs_z: float = 1.0,
                 mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
                 penalize_nl: bool = True, logits_processor: Optional[LogitsProcessor] = None,
                 stopping_criteria: Optional[StoppingCriteria] = None,
                 grammar: Optional[LlamaGrammar] = None) -> Iterator[int]:
        """The tokens that follow ``tokens``, one at a time, until the context is full; an end-of-generation token
        is yielded and ends it. Stop iterating to stop generating."""
        plan = self._plan([int(t) for t in tokens], None, temperature=temp, top_p=top_p, min_p=min_p,
                          typical_p=typical_p, top_k=top_k, repeat_penalty=repeat_penalty,
                          frequency_penalty=frequency_penalty, presence_penalty=presence_penalty, seed=None,
                          logit_bias=None, stop=None, logprobs=False, top_logprobs=0, grammar=grammar,
                          logits_processor=logits_processor, stopping_criteria=stopping_criteria,
                          mirostat_mode=mirostat_mode)
        generation = self._submit(plan)
        for event in self._events(plan, generation):
            yield event[0]

    def _completion_logprobs(self, tokens: List[Tuple[int, str, Any, Any]], offset: int, n_top: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
        for token, _text, logprob, top in tokens:
            piece = self._piece(token)
            out["tokens"].append(piece)
            out["text_offset"].append(offset)
            out["token_logprobs"].append(logprob)
            out["top_logprobs"].append({self._piece(t): lp for t, lp in top} if n_top else None)
            offset += len(piece)
        return out

    def create_completion(
        self,
        prompt: Union[str, List[int]],
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: Optional[int] = None,
        echo: bool = False,
        stop: Union[None, str, List[str]] = [],
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        stopping_criteria: Optional[StoppingCriteria] = None,
        logits_processor: Optional[LogitsProcessor] = None,
        grammar: Optional[LlamaGrammar] = None,
        logit_bias: Optional[Dict[int, float]] = None,
    ) -> Union[Completion, Iterator[CompletionChunk]]:
        """Continues ``prompt`` (text, tokenized with BOS, or token ids). Returns llama-cpp-python's completion dict,
        or with ``stream=True`` an iterator of chunks (abandoning it stops the generation). ``max_tokens`` None or
        <= 0: until the context is full. A prompt and max_tokens over ``n_ctx()`` raise ``ValueError`` naming both."""
        if suffix:
            raise ValueError("suffix (infill) is not supported by Hearth")
        if tfs_z != 1.0:
            raise ValueError("tfs_z (tail-free sampling) is not supported by Hearth (nor by llama.cpp any more)")
        plan, generation, echo_text = self._start_completion(prompt, dict(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, min_p=min_p, typical_p=typical_p, top_k=top_k,
            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
            seed=seed, logit_bias=logit_bias, stop=stop, grammar=grammar, logits_processor=logits_processor,
            stopping_criteria=stopping_criteria, mirostat_mode=mirostat_mode, logprobs=logprobs, echo=echo))
        if stream:
            return self._stream_completion(plan, generation, echo_text, logprobs, model)
        return self._collect_completion(plan, generation, echo_text, logprobs, model)

    def _completion_dict(self, kind: str, choice: Dict[str, Any], model: Optional[str], cid: str, created: int,
                         usage: Optional[Dict[str, int]]) -> Dict[str, Any]:
        out = {"id": cid, "object": kind, "created": created, "model": model or self.model_path, "choices": [choice]}
        if usage is not None:
            out["usage"] = usage
        return out

    @staticmethod
    def _usage(plan: _Plan) -> Dict[str, int]:
        result = plan.result  # type: ignore[attr-defined]
        return {"prompt_tokens": result["prompt_tokens"], "completion_tokens": result["generated_tokens"],
                "total_tokens": result["prompt_tokens"] + result["generated_tokens"],
                "prompt_tokens_details": {"cached_tokens": result["cached_tokens"]}}

    def _collect_completion(self, plan: _Plan, generation: Any, echo_text: str, logprobs: Optional[int],
                            model: Optional[str]) -> Completion:
        events = list(self._events(plan, generation))
        text = echo_text + "".join(e[1] for e in events) + plan.result["text"]  # type: ignore[attr-defined]
        choice = {"text": text, "index": 0,
                  "logprobs": self._completion_logprobs(events, len(echo_text), logprobs or 0) if logprobs is not None else None,
                  "finish_reason": plan.result["finish_reason"]}  # type: ignore[attr-defined]
        return self._completion_dict("text_completion", choice, model, f"cmpl-{uuid.uuid4()}", int(time.time()),
                                     self._usage(plan))  # type: ignore[return-value]

    def _stream_completion(self, plan: _Plan, generation: Any, echo_text: str, logprobs: Optional[int],
                           model: Optional[str]) -> Iterator[CompletionChunk]:
        cid, created = f"cmpl-{uuid.uuid4()}", int(time.time())
        offset = len(echo_text)

        def chunk(text: str, events: List[Any], finish: Optional[str], usage: Optional[Dict[str, int]] = None) -> Any:
            nonlocal offset
            lp = self._completion_logprobs(events, offset, logprobs or 0) if logprobs is not None and events else None
            offset += len(text)
            return self._completion_dict("text_completion", {"text": text, "index": 0, "logprobs": lp,
                                                            "finish_reason": finish}, model, cid, created, usage)

        if echo_text:
            yield chunk(echo_text, [], None)
        for event in self._events(plan, generation):
            if event[1] or logprobs is not None:
                yield chunk(event[1], [event], None)
        yield chunk(plan.result["text"], [], plan.result["finish_reason"], self._usage(plan))  # type: ignore[attr-defined]

    def __call__(self, prompt: Union[str, List[int]], *args: Any, **kwargs: Any) -> Union[Completion, Iterator[CompletionChunk]]:
        """create_completion()."""
        return self.create_completion(prompt, *args, **kwargs)

    # ---- chat -----------------------------------------------------------------------------------------------------

    def _model_chat(self) -> "_hearth.ModelChat":
        if self._chat is None:
            if self._chat_template is not None:
                source = self._chat_template
            elif self._chat_format is None:
                if self._model is not None:
                    source, _fallback = self._model.chat_template()
                else:
                    source = self._vocab.metadata_string("tokenizer.chat_template") or _hearth.builtin_template("chatml")
            elif self._chat_format in CHAT_FORMATS:
                source = _hearth.builtin_template(CHAT_FORMATS[self._chat_format])
            else:
                raise ValueError(f"unknown chat_format {self._chat_format!r}; known: {', '.join(CHAT_FORMATS)}")
            self._chat = _hearth.ModelChat(self._vocab, source)
        return self._chat

    @staticmethod
    def _flatten_messages(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        out = []
        for message in messages:
            if not isinstance(message, dict) or "role" not in message:
                raise ValueError("each message must be a dict with a 'role'")
            content = message.get("content")
            if isinstance(content, list):
                parts = []
                for part in content:
                    if isinstance(part, str):
                        parts.append(part)
                    elif isinstance(part, dict) and part.get("type") == "text":
                        parts.append(part.get("text", ""))
                    else:
                        raise ValueError("content parts must be {'type': 'text', 'text': str}; other kinds are not supported")
                message = dict(message, content="".join(parts))
            out.append(message)
        return out

    def apply_chat_template(self, messages: List[Dict[str, Any]], tools: Optional[List[Dict[str, Any]]] = None,
                            add_generation_prompt: bool = True) -> str:
        """The conversation rendered through the model's chat template (or ``chat_format``)."""
        return self._model_chat().render(json.dumps(self._flatten_messages(messages)),
                                         json.dumps(tools) if tools else "", add_generation_prompt)

    def create_chat_completion(
        self,
        messages: List[Dict[str, Any]],
        functions: Optional[List[Dict[str, Any]]] = None,
        function_call: Optional[Union[str, Dict[str, Any]]] = None,
        tools: Optional[List[Dict[str, Any]]] = None,
        tool_choice: Optional[Union[str, Dict[str, Any]]] = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        stream: bool = False,
        stop: Union[None, str, List[str]] = [],
        seed: Optional[int] = None,
        response_format: Optional[Dict[str, Any]] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        logits_processor: Optional[LogitsProcessor] = None,
        grammar: Optional[LlamaGrammar] = None,
        logit_bias: Optional[Dict[int, float]] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        parallel_tool_calls: bool = True,
    ) -> Union[ChatCompletion, Iterator[ChatCompletionChunk]]:
        """Answers a conversation (OpenAI's messages) through the model's chat template. With ``tools``, calls the
        model makes are parsed into ``message["tool_calls"]`` (``tool_choice`` "auto", "none", "required" or
        ``{"type": "function", "function": {"name": ...}}``; "required" and a named function constrain the reply
        to calls). ``response_format`` / ``grammar`` constrain the text. ``max_tokens`` None: the rest of the context."""
        if tfs_z != 1.0:
            raise ValueError("tfs_z (tail-free sampling) is not supported by Hearth (nor by llama.cpp any more)")
        if functions and not tools:
            tools = [{"type": "function", "function": f} for f in functions]
            if isinstance(function_call, dict):
                tool_choice = {"type": "function", "function": {"name": function_call["name"]}}
            elif function_call is not None:
                tool_choice = function_call
        choice_name, function = "auto", ""
        if isinstance(tool_choice, dict):
            choice_name, function = "function", tool_choice.get("function", {}).get("name", "")
            if not function:
                raise ValueError("tool_choice must be {'type': 'function', 'function': {'name': str}}")
        elif tool_choice is not None:
            choice_name = tool_choice
        if response_format is not None:
            if grammar is not None:
                raise ValueError("give at most one of response_format and grammar")
            grammar = grammar_for_response_format(response_format)
        top_n = int(top_logprobs or 0)
        if top_n and not logprobs:
            raise ValueError("top_logprobs needs logprobs=True")
        prepared = self._model_chat().prepare(json.dumps(self._flatten_messages(messages)),
                                              json.dumps(tools) if tools else "", choice_name, function,
                                              parallel_tool_calls)
        plan = self._plan(prepared.prompt, max_tokens, temperature=temperature, top_p=top_p, min_p=min_p,
                          typical_p=typical_p, top_k=top_k, repeat_penalty=repeat_penalty,
                          frequency_penalty=frequency_penalty, presence_penalty=presence_penalty, seed=seed,
                          logit_bias=logit_bias, stop=stop, logprobs=bool(logprobs), top_logprobs=top_n,
                          grammar=grammar, logits_processor=logits_processor, stopping_criteria=None,
                          mirostat_mode=mirostat_mode, chat=prepared)
        generation = self._submit(plan)
        if stream:
            return self._stream_chat(plan, generation, prepared, model, bool(logprobs), parallel_tool_calls)
        return self._collect_chat(plan, generation, prepared, model, bool(logprobs), parallel_tool_calls)

    def _chat_logprobs(self, events: List[Any]) -> Dict[str, Any]:
        def entry(token: int, logprob: float) -> Dict[str, Any]:
            piece = self._vocab.token_to_piece(token, False)
            return {"token": piece.decode("utf-8", errors="replace"), "logprob": logprob, "bytes": list(piece)}
        return {"content": [dict(entry(t, lp), top_logprobs=[entry(a, alp) for a, alp in top])
                            for t, _text, lp, top in events]}

    @staticmethod
    def _tool_calls(calls: List[Dict[str, str]], parallel: bool) -> List[Dict[str, Any]]:
        if not parallel:
            calls = calls[:1]
        return [{"id": c["id"] or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]

    def _collect_chat(self, plan: _Plan, generation: Any, prepared: Any, model: Optional[str], logprobs: bool,
                      parallel: bool) -> ChatCompletion:
        events = list(self._events(plan, generation))
        text = "".join(e[1] for e in events) + plan.result["text"]  # type: ignore[attr-defined]
        message: Dict[str, Any] = {"role": "assistant", "content": text}
        finish = plan.result["finish_reason"]  # type: ignore[attr-defined]
        if prepared.reply_parser() is not None:
            whole = self._parse_whole(prepared, text)
            message["content"] = whole["content"] or (None if whole["calls"] else "")
            if whole["reasoning"]:
                message["reasoning_content"] = whole["reasoning"]
            if whole["calls"]:
                message["tool_calls"] = self._tool_calls(whole["calls"], parallel)
                finish = "tool_calls"
        choice = {"index": 0, "message": message, "logprobs": self._chat_logprobs(events) if logprobs else None,
                  "finish_reason": finish}
        return self._completion_dict("chat.completion", choice, model, f"chatcmpl-{uuid.uuid4()}", int(time.time()),
                                     self._usage(plan))  # type: ignore[return-value]

    @staticmethod
    def _parse_whole(prepared: Any, text: str) -> Dict[str, Any]:
        parser = prepared.reply_parser()
        first = parser.push(text)
        last = parser.finish()
        return {"content": (first["content"] + last["content"]).strip(),
                "reasoning": (first["reasoning"] + last["reasoning"]).strip(),
                "calls": first["calls"] + last["calls"]}

    def _stream_chat(self, plan: _Plan, generation: Any, prepared: Any, model: Optional[str], logprobs: bool,
                     parallel: bool) -> Iterator[ChatCompletionChunk]:
        cid, created = f"chatcmpl-{uuid.uuid4()}", int(time.time())
        parser = prepared.reply_parser()
        n_calls = 0

        def chunk(delta: Dict[str, Any], finish: Optional[str] = None, events: Optional[List[Any]] = None,
                  usage: Optional[Dict[str, int]] = None) -> Any:
            choice = {"index": 0, "delta": delta, "logprobs": self._chat_logprobs(events) if logprobs and events else None,
                      "finish_reason": finish}
            return self._completion_dict("chat.completion.chunk", choice, model, cid, created, usage)

        def deltas(piece: str, final: bool, events: Optional[List[Any]]) -> Iterator[Any]:
            nonlocal n_calls
            if parser is None:
                if piece or (logprobs and events):
                    yield chunk({"content": piece}, events=events)
                return
            delta = parser.push(piece)
            if final:
                rest = parser.finish()
                delta = {"content": delta["content"] + rest["content"], "reasoning": delta["reasoning"] + rest["reasoning"],
                         "calls": delta["calls"] + rest["calls"]}
            if delta["reasoning"]:
                yield chunk({"reasoning_content": delta["reasoning"]}, events=events)
                events = None
            if delta["content"] or (logprobs and events):
                yield chunk({"content": delta["content"]}, events=events)
            for call in self._tool_calls(delta["calls"], True):
                if parallel or n_calls == 0:
                    yield chunk({"tool_calls": [dict(call, index=n_calls)]})
                n_calls += 1

        yield chunk({"role": "assistant", "content": ""})
        for event in self._events(plan, generation):
            yield from deltas(event[1], False, [event])
        yield from deltas(plan.result["text"], True, None)  # type: ignore[attr-defined]
        finish = "tool_calls" if n_calls else plan.result["finish_reason"]  # type: ignore[attr-defined]
        yield chunk({}, finish, usage=self._usage(plan))

    # ---- many at once ---------------------------------------------------------------------------------------------

    def create_completions(self, prompts: Sequence[Union[str, List[int], Dict[str, Any]]],
                           **kwargs: Any) -> List[Completion]:
        """create_completion() for each prompt, all submitted at once so that they run batched (``n_parallel`` of
        them at a time); the results in the prompts' order. ``kwargs`` apply to every prompt; a prompt given as a
        dict (``{"prompt": ..., "max_tokens": ..., "stop": ..., "seed": ...}``) overrides them for itself."""
        if kwargs.get("stream"):
            raise ValueError("create_completions does not stream; use create_completion(stream=True) per prompt")
        pending = []
        try:
            for item in prompts:
                options = dict(kwargs)
                if isinstance(item, dict):
                    options.update({k: v for k, v in item.items() if k != "prompt"})
                    item = item["prompt"]
                if options.get("stream"):
                    raise ValueError("create_completions does not stream")
                pending.append((self._start_completion(item, options), options))
        except BaseException:
            for (_plan, generation, _echo), _options in pending:
                generation.cancel()
            raise
        return [self._collect_completion(plan, generation, echo, options.get("logprobs"), options.get("model"))
                for (plan, generation, echo), options in pending]

    def _start_completion(self, prompt: Union[str, List[int]], kwargs: Dict[str, Any]) -> Tuple[_Plan, Any, str]:
        defaults = dict(max_tokens=16, temperature=0.8, top_p=0.95, min_p=0.05, typical_p=1.0, top_k=40,
                        repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0, seed=None, logit_bias=None,
                        stop=[], grammar=None, logits_processor=None, stopping_criteria=None, mirostat_mode=0)
        if kwargs.get("suffix"):
            raise ValueError("suffix (infill) is not supported by Hearth")
        if kwargs.get("tfs_z", 1.0) != 1.0:
            raise ValueError("tfs_z (tail-free sampling) is not supported by Hearth (nor by llama.cpp any more)")
        unknown = set(kwargs) - set(defaults) - {"logprobs", "echo", "model", "stream", "suffix", "tfs_z",
                                                 "mirostat_tau", "mirostat_eta"}
        if unknown:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(unknown))}")
        options = {**defaults, **{k: v for k, v in kwargs.items() if k in defaults}}
        logprobs = kwargs.get("logprobs")
        if logprobs is not None and not 0 <= logprobs <= 20:
            raise ValueError("logprobs must be in 0..20")
        prompt_tokens = self.tokenize(prompt, add_bos=True, special=True) if isinstance(prompt, (str, bytes)) \
            else [int(t) for t in prompt]
        max_tokens = options.pop("max_tokens")
        plan = self._plan(prompt_tokens, max_tokens, logprobs=logprobs is not None, top_logprobs=logprobs or 0, **options)
        echo = self._vocab.detokenize(prompt_tokens, False).decode("utf-8", errors="replace") if kwargs.get("echo") else ""
        return plan, self._submit(plan), echo

    async def acreate_completion(self, prompt: Union[str, List[int]], **kwargs: Any) -> Completion:
        """create_completion() for asyncio: the generation runs on the engine while the event loop goes on; many of
        them at once run batched (``n_parallel``)."""
        if kwargs.get("stream"):
            raise ValueError("acreate_completion does not stream")
        return await asyncio.to_thread(self.create_completion, prompt, **kwargs)  # type: ignore[return-value]

    async def acreate_chat_completion(self, messages: List[Dict[str, Any]], **kwargs: Any) -> ChatCompletion:
        """create_chat_completion() for asyncio (see acreate_completion)."""
        if kwargs.get("stream"):
            raise ValueError("acreate_chat_completion does not stream")
        return await asyncio.to_thread(self.create_chat_completion, messages, **kwargs)  # type: ignore[return-value]
