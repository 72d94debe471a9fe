"""The package as a process sees it: memory across loads, Ctrl-C, llama-cpp-python scripts run unchanged."""

import ctypes
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import hearth

ENV = dict(os.environ)


def rss_bytes():
    """Resident memory once freed memory is handed back: glibc keeps freed heap pages resident (each thread pool's
    threads get their own arena), which would count as growth though nothing is live."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_loading_and_closing_twenty_times_does_not_grow(model_path):
    def cycle():
        with hearth.Llama(model_path, n_ctx=256, n_threads=2, verbose=False) as llm:
            llm("Hello", max_tokens=4, temperature=0)

    for _ in range(5):
        cycle()
    before = rss_bytes()
    for _ in range(20):
        cycle()
    growth = rss_bytes() - before
    assert growth < 2 << 20, f"RSS grew by {growth} bytes over 20 load/close cycles"


def run_python(code, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_ctrl_c_interrupts_a_generation(model_path):
    # A logits processor slows each token to 20 ms, so that the generation would take seconds.
    child = run_python("""
        import sys, time, hearth
        llm = hearth.Llama(sys.argv[1], n_ctx=512, verbose=False)
        print("ready", flush=True)
        try:
            llm("Hello", max_tokens=400, logit_bias={llm.token_eos(): float("-inf")},
                logits_processor=lambda ids, scores: (time.sleep(0.02), scores)[1])
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            print(llm("Hello", max_tokens=3, temperature=0)["usage"]["completion_tokens"], flush=True)
    """, model_path)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    start = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["interrupted", "3"]
    assert time.monotonic() - start < 3


LLAMA_CPP_SCRIPT = """
import sys
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama import LogitsProcessorList

llm = Llama(model_path=sys.argv[1], n_ctx=512, n_gpu_layers=-1, seed=1337, verbose=False)
output = llm("Q: Name the planets in the solar system? A: ", max_tokens=16, stop=["Q:", "\\n"], echo=True)
print(output["choices"][0]["text"].startswith("Q: Name the planets"))
grammar = LlamaGrammar.from_string('root ::= "yes" | "no"')
print(llm("Is it?", grammar=grammar, max_tokens=4)["choices"][0]["text"] in ("yes", "no"))
reply = llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
print(reply["choices"][0]["message"]["role"])
for chunk in llm("Once", max_tokens=4, stream=True):
    pass
print(len(llm.tokenize(b"Hello world")) > 1)
"""


def test_a_llama_cpp_python_script_runs_unchanged_through_the_compat_module(model_path, tmp_path):
    script = tmp_path / "uses_llama_cpp.py"
    script.write_text(LLAMA_CPP_SCRIPT)
    run = subprocess.run([sys.executable, "-m", "hearth.llama_cpp_compat", str(script), model_path], env=ENV,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "assistant", "True"]


def test_the_compat_module_is_opt_in():
    run = subprocess.run([sys.executable, "-c", "import hearth, sys; import llama_cpp; print(llama_cpp.__file__)"],
                         env=ENV, capture_output=True, text=True)
    # Without install() (or -m hearth.llama_cpp_compat) llama_cpp is whatever is installed, never Hearth.
    assert "hearth" not in run.stdout
