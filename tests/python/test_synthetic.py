"""hearth.Llama on a synthetic model of another family (Qwen2 shape, byte-level BPE vocabulary, random weights,
written by `hearth synth`), and tool calls in the Hermes syntax of a real Qwen2.5 template."""

import json
import subprocess

import pytest

import hearth
from hearth import _hearth
from conftest import BIN_DIR, SHARED

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 12}, "days": {"type": "integer",
                                                                                         "minimum": 1, "maximum": 7}},
    "required": ["city", "days"]}}}]


@pytest.fixture(scope="module")
def qwen_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny-qwen2-q8_0.gguf"
    subprocess.run([str(BIN_DIR / "hearth"), "synth", "--shape", "tiny-qwen2", "--vocab",
                    str(SHARED / "vocab" / "ggml-vocab-qwen2.gguf"), "--type", "Q8_0", "--seed", "3", "--out",
                    str(path), "--quiet"], check=True)
    return str(path)


@pytest.fixture(scope="module")
def qwen(qwen_path):
    template = (SHARED / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(encoding="utf-8")
    with hearth.Llama(qwen_path, n_ctx=512, n_parallel=2, chat_template=template, verbose=False) as llm:
        yield llm


def test_greedy_completion_is_what_hearth_run_prints(qwen, qwen_path):
    ours = qwen("Hello, world", max_tokens=24, temperature=0)["choices"][0]["text"]
    run = subprocess.run([str(BIN_DIR / "hearth"), "run", "-m", qwen_path, "-p", "Hello, world", "-n", "24", "--temp",
                          "0", "-c", "512", "--no-display-prompt"], capture_output=True, check=True)
    assert run.stdout.decode("utf-8", errors="replace") == ours + "\n"


def test_a_required_call_in_hermes_syntax(qwen):
    messages = [{"role": "user", "content": "What is the weather in Paris this week?"}]
    rendered = qwen.apply_chat_template(messages, tools=TOOLS)
    assert "<tools>" in rendered and "get_weather" in rendered
    result = qwen.create_chat_completion(messages, tools=TOOLS, tool_choice="required", max_tokens=120, seed=5,
                                         parallel_tool_calls=False)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    (call,) = choice["message"]["tool_calls"]
    arguments = json.loads(call["function"]["arguments"])
    assert call["function"]["name"] == "get_weather"
    assert isinstance(arguments["city"], str) and 1 <= arguments["days"] <= 7
    assert choice["message"]["content"] in (None, "")


def test_a_streamed_call_is_the_same_call(qwen):
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    whole = qwen.create_chat_completion(messages, tools=TOOLS, tool_choice="required", max_tokens=120, seed=9)
    chunks = list(qwen.create_chat_completion(messages, tools=TOOLS, tool_choice="required", max_tokens=120, seed=9,
                                              stream=True))
    calls = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    expected = whole["choices"][0]["message"]["tool_calls"]
    assert [c["function"] for c in calls] == [c["function"] for c in expected]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_leaves_the_reply_free(qwen):
    result = qwen.create_chat_completion([{"role": "user", "content": "Hi"}], tools=TOOLS, tool_choice="none",
                                        max_tokens=8, temperature=0)
    assert "tool_calls" not in result["choices"][0]["message"]


def test_batched_prompts_keep_their_own_parameters(qwen):
    prompts = [{"prompt": "One", "max_tokens": 3}, {"prompt": "Two", "max_tokens": 9, "seed": 4, "temperature": 1.0},
               "Three"]
    together = qwen.create_completions(prompts, max_tokens=5, temperature=0)
    single = [qwen("One", max_tokens=3, temperature=0), qwen("Two", max_tokens=9, seed=4, temperature=1.0),
              qwen("Three", max_tokens=5, temperature=0)]
    assert [r["choices"][0]["text"] for r in together] == [r["choices"][0]["text"] for r in single]
    assert [r["usage"]["completion_tokens"] for r in together] == [r["usage"]["completion_tokens"] for r in single]


def test_options_that_would_change_results_are_refused(qwen_path):
    for option in ({"rope_freq_base": 5e5}, {"type_k": 8}, {"rope_scaling_type": 2}, {"type_k": 0, "type_v": 1}):
        with pytest.raises(ValueError):
            hearth.Llama(qwen_path, verbose=False, **option)
    with hearth.Llama(qwen_path, n_ctx=64, type_k=0, type_v=0, flash_attn=True, n_gpu_layers="auto", use_mlock=True,
                      verbose=False) as f32:
        assert f32.memory()["kv_cache"] > 0


def test_gpu_layers_are_a_gpu_or_an_error_never_a_silent_cpu_run(qwen_path):
    for bad in (-2, "all", 1.5, True):
        with pytest.raises(ValueError):
            hearth.Llama(qwen_path, n_ctx=64, n_gpu_layers=bad, verbose=False)
    with hearth.Llama(qwen_path, n_ctx=64, n_gpu_layers="auto", verbose=False) as llm:
        devices = llm.devices()
        assert devices[0]["first_layer"] == 0 and devices[0]["embeddings"] and devices[-1]["output"]
        assert devices[-1]["end_layer"] == llm._model.info()["n_layer"]
    if _hearth.gpu_count() > 0:
        with hearth.Llama(qwen_path, n_ctx=64, n_gpu_layers=-1, verbose=False) as llm:
            assert [d["device"].split(":")[0] for d in llm.devices()] == ["cuda"]
        return
    assert [d["device"] for d in devices] == ["cpu"]
    for layers in (1, -1):
        with pytest.raises(ValueError, match="no CUDA"):
            hearth.Llama(qwen_path, n_ctx=64, n_gpu_layers=layers, verbose=False)
    # The llama_cpp stand-in runs such a script on the CPU, saying so, as llama-cpp-python built without CUDA does.
    from hearth import llama_cpp_compat
    with pytest.warns(RuntimeWarning, match="no CUDA GPU"):
        with llama_cpp_compat.Llama(qwen_path, n_ctx=64, n_gpu_layers=-1, verbose=False) as llm:
            assert [d["device"] for d in llm.devices()] == ["cpu"]
    assert llama_cpp_compat.install().llama.Llama is llama_cpp_compat.Llama
