"""hearth.Llama on the demo model: what llama-cpp-python's users rely on, and agreement with `hearth run`."""

import asyncio
import json
import subprocess
import threading

import pytest

import hearth
from conftest import BIN_DIR

PROMPT = "The Python interpreter"


def text_of(result):
    return result["choices"][0]["text"]


def greedy(llm, prompt=PROMPT, **kwargs):
    return llm(prompt, temperature=0, **kwargs)


def test_greedy_completion_is_what_hearth_run_prints(llm, model_path):
    ours = text_of(greedy(llm, max_tokens=40))
    run = subprocess.run([str(BIN_DIR / "hearth"), "run", "-m", model_path, "-p", PROMPT, "-n", "40", "--temp", "0",
                          "-c", "512", "-t", "2", "--no-display-prompt"], capture_output=True, text=True, check=True)
    assert run.stdout == ours + "\n"
    assert len(ours) > 20


def test_the_completion_dict_has_llama_cpp_pythons_shape(llm):
    result = greedy(llm, max_tokens=8)
    assert result["object"] == "text_completion"
    assert result["id"].startswith("cmpl-")
    assert result["model"] == llm.model_path
    choice = result["choices"][0]
    assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert choice["finish_reason"] == "length"
    usage = result["usage"]
    assert usage["prompt_tokens"] == len(llm.tokenize(PROMPT.encode()))
    assert usage["completion_tokens"] == 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + 8


def test_generate_yields_the_greedy_tokens(llm):
    prompt = llm.tokenize(PROMPT.encode())
    tokens = []
    for token in llm.generate(prompt, temp=0):
        tokens.append(token)
        if len(tokens) == 10:
            break
    assert llm.detokenize(tokens, prev_tokens=prompt).decode() == text_of(greedy(llm, max_tokens=10))


def test_a_stream_joins_to_the_same_text(llm):
    whole = greedy(llm, max_tokens=30)
    chunks = list(greedy(llm, max_tokens=30, stream=True))
    assert "".join(c["choices"][0]["text"] for c in chunks) == text_of(whole)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert len({c["id"] for c in chunks}) == 1


def test_token_prompts_and_echo(llm):
    tokens = llm.tokenize(PROMPT.encode())
    assert text_of(greedy(llm, tokens, max_tokens=12)) == text_of(greedy(llm, max_tokens=12))
    assert text_of(greedy(llm, max_tokens=12, echo=True)) == PROMPT + text_of(greedy(llm, max_tokens=12))


def test_stop_strings_end_the_text_before_them(llm):
    free = text_of(greedy(llm, max_tokens=40))
    stop = free[len(free) // 2: len(free) // 2 + 3]
    cut = greedy(llm, max_tokens=40, stop=[stop, "never-written"])
    assert text_of(cut) == free[: free.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(c["choices"][0]["text"] for c in greedy(llm, max_tokens=40, stop=stop, stream=True))
    assert streamed == text_of(cut)


def test_a_seed_reproduces_a_sampled_text(llm):
    first = text_of(llm(PROMPT, max_tokens=24, temperature=1.0, seed=1234))
    assert text_of(llm(PROMPT, max_tokens=24, temperature=1.0, seed=1234)) == first
    others = {text_of(llm(PROMPT, max_tokens=24, temperature=1.0, seed=s)) for s in range(5)}
    assert len(others) > 1


def test_set_seed_makes_unseeded_calls_reproducible(llm):
    llm.set_seed(42)
    first = [text_of(llm(PROMPT, max_tokens=16, temperature=1.0)) for _ in range(2)]
    llm.set_seed(42)
    assert [text_of(llm(PROMPT, max_tokens=16, temperature=1.0)) for _ in range(2)] == first


def test_a_prompt_over_the_context_raises_with_both_counts(llm):
    prompt = llm.tokenize(b"word " * 300)
    with pytest.raises(ValueError, match=rf"{len(prompt) + 300}.*512.*{len(prompt)} tokens and max_tokens is 300"):
        llm(prompt, max_tokens=300)
    with pytest.raises(ValueError, match="exceed context window of 512"):
        llm(llm.tokenize(b"word " * 600), max_tokens=None)
    assert text_of(greedy(llm, max_tokens=4))  # still healthy


def test_max_tokens_none_runs_to_the_end_of_the_context(llm):
    result = llm(PROMPT, max_tokens=None, temperature=0, logit_bias={llm.token_eos(): float("-inf")})
    assert result["usage"]["total_tokens"] == llm.n_ctx()
    assert result["choices"][0]["finish_reason"] == "length"


def test_the_cache_serves_a_repeated_prefix(llm):
    prefix = "A long shared beginning of a prompt that two calls have in common, " * 3
    llm(prefix + "first", max_tokens=2, temperature=0)
    again = llm(prefix + "second", max_tokens=2, temperature=0)
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] >= len(llm.tokenize(prefix.encode())) - 2


def test_save_and_load_state_resume_identically(llm):
    llm.set_seed(7)
    llm(PROMPT, max_tokens=4, temperature=1.0)
    state = llm.save_state()
    assert state.n_tokens == len(llm.tokenize(PROMPT.encode())) + 4
    after = [text_of(llm("Debian", max_tokens=16, temperature=1.0)) for _ in range(2)]
    llm.load_state(state)
    assert llm.input_ids == state.input_ids
    assert [text_of(llm("Debian", max_tokens=16, temperature=1.0)) for _ in range(2)] == after


def test_logprobs_of_a_completion(llm):
    result = greedy(llm, max_tokens=6, logprobs=3)
    logprobs = result["choices"][0]["logprobs"]
    assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) == len(logprobs["top_logprobs"]) == 6
    assert "".join(logprobs["tokens"]) == text_of(result)
    for token, logprob, top in zip(logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"]):
        assert logprob <= 0 and len(top) == 3
        assert max(top.values()) == pytest.approx(logprob, abs=1e-5)  # greedy: the chosen token is the most probable
    offsets = logprobs["text_offset"]
    assert offsets == sorted(offsets) and offsets[0] == 0


def test_a_logits_processor_rewrites_every_step(llm):
    np = pytest.importorskip("numpy")
    (forced,) = llm.tokenize(b"the", add_bos=False)  # "▁the"
    seen = []

    def only_the(input_ids, scores):
        assert isinstance(scores, np.ndarray) and scores.shape == (llm.n_vocab(),)
        seen.append(len(input_ids))
        out = np.full_like(scores, -np.inf)
        out[forced] = 0
        return out

    result = llm(PROMPT, max_tokens=5, logits_processor=hearth.LogitsProcessorList([only_the]))
    assert text_of(result) == " the" * 5
    prompt = len(llm.tokenize(PROMPT.encode()))
    assert seen == [prompt + i for i in range(5)]


def test_a_failing_logits_processor_raises_its_own_error(llm):
    def broken(input_ids, scores):
        raise KeyError("from the processor")

    with pytest.raises(KeyError, match="from the processor"):
        llm(PROMPT, max_tokens=5, logits_processor=broken)
    assert text_of(greedy(llm, max_tokens=3))


def test_stopping_criteria_end_the_generation(llm):
    prompt = len(llm.tokenize(PROMPT.encode()))
    result = llm(PROMPT, max_tokens=30, temperature=0,
                 stopping_criteria=hearth.StoppingCriteriaList([lambda ids, logits: len(ids) >= prompt + 3]))
    assert result["usage"]["completion_tokens"] == 4  # three tokens, then the end of generation it forces
    assert result["choices"][0]["finish_reason"] == "stop"


def test_grammars_constrain_the_text(llm):
    answer = hearth.LlamaGrammar.from_string('root ::= "yes" | "no"')
    assert text_of(llm(PROMPT, max_tokens=8, grammar=answer)) in {"yes", "no"}
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}}, "required": ["name"]}
    out = json.loads(text_of(llm(PROMPT, max_tokens=60, grammar=hearth.LlamaGrammar.from_json_schema(schema))))
    assert isinstance(out["name"], str) and len(out["name"]) <= 12
    with pytest.raises(hearth.GrammarError, match="line 1"):
        hearth.LlamaGrammar.from_string("root ::= (")
    with pytest.raises(ValueError, match="not-a-keyword|unsupported"):
        hearth.LlamaGrammar.from_json_schema({"type": "string", "not-a-keyword-x": True, "x-forbidden": 1, "if": {}})


def test_chat_completion_renders_the_template(llm):
    messages = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "What is Debian?"}]
    result = llm.create_chat_completion(messages, max_tokens=12, temperature=0)
    assert result["object"] == "chat.completion"
    message = result["choices"][0]["message"]
    assert message["role"] == "assistant" and isinstance(message["content"], str)
    rendered = llm.apply_chat_template(messages)
    assert "What is Debian?" in rendered
    expected = llm.tokenize(rendered.encode(), add_bos=False, special=True)
    if expected[0] != llm.token_bos():
        expected = [llm.token_bos()] + expected
    assert result["usage"]["prompt_tokens"] == len(expected)
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "Debian?"}]}]
    assert llm.apply_chat_template(parts) == llm.apply_chat_template([messages[1]])


def test_chat_stream_joins_to_the_same_message(llm):
    messages = [{"role": "user", "content": "Name a Python module."}]
    whole = llm.create_chat_completion(messages, max_tokens=20, temperature=0)
    chunks = list(llm.create_chat_completion(messages, max_tokens=20, temperature=0, stream=True))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_chat_format_picks_a_builtin_template(model_path):
    with hearth.Llama(model_path, n_ctx=256, chat_format="chatml", verbose=False) as chatml:
        assert chatml.apply_chat_template([{"role": "user", "content": "hi"}]).startswith("<|im_start|>user\nhi")
    with pytest.raises(ValueError, match="unknown chat_format"):
        hearth.Llama(model_path, n_ctx=256, chat_format="no-such-format", verbose=False).apply_chat_template([])


def test_response_format_gives_json(llm):
    result = llm.create_chat_completion([{"role": "user", "content": "Give me JSON."}], max_tokens=60,
                                        response_format={"type": "json_object", "schema": {
                                            "type": "object", "properties": {"ok": {"type": "boolean"}},
                                            "required": ["ok"]}})
    assert isinstance(json.loads(result["choices"][0]["message"]["content"])["ok"], bool)


def test_a_required_tool_call_is_parsed(llm):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]}}}]
    result = llm.create_chat_completion([{"role": "user", "content": "Weather in Paris?"}], tools=tools,
                                        tool_choice="required", max_tokens=80, temperature=0)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather" and call["id"]
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)
    streamed = list(llm.create_chat_completion([{"role": "user", "content": "Weather in Paris?"}], tools=tools,
                                               tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                               max_tokens=80, temperature=0, stream=True))
    calls = [d for c in streamed for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls and calls[0]["function"]["name"] == "get_weather"
    assert streamed[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_logprobs(llm):
    result = llm.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=5, temperature=0,
                                        logprobs=True, top_logprobs=2)
    content = result["choices"][0]["logprobs"]["content"]
    assert len(content) == result["usage"]["completion_tokens"]
    assert all(len(entry["top_logprobs"]) == 2 and entry["logprob"] <= 0 for entry in content)
    assert bytes(sum((e["bytes"] for e in content), [])).decode(errors="replace") == \
        result["choices"][0]["message"]["content"]


def test_calls_from_many_threads_give_the_sequential_answers(llm):
    prompts = ["The Python interpreter", "Debian packages", "A fortune:", "import os"]
    sequential = [text_of(greedy(llm, p, max_tokens=16)) for p in prompts]
    results = [None] * len(prompts)

    def work(i):
        results[i] = text_of(greedy(llm, prompts[i], max_tokens=16))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential


def test_an_abandoned_stream_frees_its_slot(llm):
    stream = llm(PROMPT, max_tokens=400, temperature=0, stream=True, logit_bias={llm.token_eos(): float("-inf")})
    next(stream)
    next(stream)
    stream.close()  # what a `break` out of the loop (then garbage collection) does
    result = greedy(llm, max_tokens=8)  # would wait behind 400 tokens if the slot were still taken
    assert result["usage"]["completion_tokens"] == 8
    never_iterated = llm(PROMPT, max_tokens=400, stream=True)
    del never_iterated
    assert text_of(greedy(llm, max_tokens=3))


def test_batched_completions_are_the_single_answers(model_path):
    prompts = ["The Python interpreter", "Debian packages", "A fortune:", "import os", "The kernel", "Lists are"]
    with hearth.Llama(model_path, n_ctx=256, n_parallel=4, n_threads=2, verbose=False) as batched:
        single = [text_of(greedy(batched, p, max_tokens=12)) for p in prompts]
        together = batched.create_completions(prompts, max_tokens=12, temperature=0)
        assert [text_of(r) for r in together] == single

        async def gather():
            return await asyncio.gather(*(batched.acreate_completion(p, max_tokens=12, temperature=0) for p in prompts))

        assert [text_of(r) for r in asyncio.run(gather())] == single


def test_bad_files_raise_clear_errors(tmp_path):
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ValueError, match="does not exist"):
        hearth.Llama(str(missing), verbose=False)
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\xff" * 60)
    with pytest.raises(hearth.LoadError):
        hearth.Llama(str(garbage), verbose=False)
    assert issubclass(hearth.LoadError, ValueError)


def test_from_pretrained_finds_local_files_and_never_downloads(model_path, tmp_path):
    import shutil
    shutil.copy(model_path, tmp_path / "demo-q8_0.gguf")
    with hearth.Llama.from_pretrained("someone/demo", "*q8_0.gguf", local_dir=str(tmp_path), n_ctx=128,
                                      verbose=False) as found:
        assert found.model_path.endswith("demo-q8_0.gguf")
    with pytest.raises(FileNotFoundError, match="does not download"):
        hearth.Llama.from_pretrained("someone/elsewhere", "*q4_k_m.gguf", local_dir=str(tmp_path / "empty"))


def test_unsupported_options_are_refused_not_ignored(model_path, llm):
    with pytest.raises(ValueError, match="lora_path"):
        hearth.Llama(model_path, lora_path="adapter.gguf", verbose=False)
    with pytest.raises(ValueError, match="mirostat"):
        llm(PROMPT, max_tokens=2, mirostat_mode=2)


def test_hostile_arguments_are_clear_errors_and_leave_the_model_healthy(llm):
    user = [{"role": "user", "content": "x"}]
    tool = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    cases = [
        (lambda: llm.create_chat_completion("hello"), ValueError, "dict with a 'role'"),
        (lambda: llm.create_chat_completion(user, tools={"a": 1}), ValueError, "array"),
        (lambda: llm.create_chat_completion(user, tools=tool, tool_choice={"type": "function", "function": {"name": "g"}}),
         ValueError, "no tool is named 'g'"),
        (lambda: llm.create_chat_completion(user, tool_choice="required"), ValueError, "no tools"),
        (lambda: llm("x", max_tokens=2, logit_bias={10 ** 6: 1.0}), ValueError, "outside the vocabulary"),
        (lambda: llm([1, 99999999], max_tokens=2), ValueError, "99999999 is outside the vocabulary"),
        (lambda: llm("x", max_tokens=2, logprobs=50), ValueError, "0..20"),
        (lambda: llm("x", max_tokens=2, temperature=float("nan")), hearth.SamplingError, "NaN"),
        (lambda: llm("x", max_tokens=2, top_k="a"), TypeError, "top_k must be a number, not str"),
        (lambda: llm.detokenize([10 ** 7]), IndexError, "outside the vocabulary"),
        (lambda: llm.create_chat_completion(user, response_format={"type": "json_schema", "json_schema": {
            "schema": {"type": "bogus"}}}), hearth.JsonSchemaError, "bogus"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert text_of(llm(b"\xff\xfe\x80 abc", max_tokens=2, temperature=0)) is not None  # any bytes tokenize
    assert text_of(greedy(llm, max_tokens=3))
