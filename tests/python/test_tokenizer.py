"""Llama.tokenize / detokenize against the real tokenizers' test vectors in ../shared/vocab."""

import pytest

import hearth
from conftest import SHARED

SEPARATOR = "\n__ggml_vocab_test__\n"
VOCABS = sorted(p for p in (SHARED / "vocab").glob("ggml-vocab-*.gguf") if p.with_suffix(".gguf.inp").exists())


def cases(vocab):
    # Bytes, not text mode: universal newlines would turn the vectors' "\r\n" into "\n".
    texts = vocab.with_suffix(".gguf.inp").read_bytes().decode("utf-8").split(SEPARATOR)
    if texts and texts[-1] == "":
        texts.pop()  # the last text is followed by the separator too
    expected = vocab.with_suffix(".gguf.out").read_bytes().decode("utf-8").split("\n")
    assert len(expected) >= len(texts)
    return list(zip(texts, expected))


def test_the_shared_vectors_are_there():
    assert len(VOCABS) >= 8


@pytest.mark.parametrize("vocab", VOCABS, ids=lambda p: p.stem.replace("ggml-vocab-", ""))
def test_tokenize_matches_the_reference(vocab):
    llm = hearth.Llama(str(vocab), vocab_only=True, verbose=False)
    checked = 0
    for text, line in cases(vocab):
        expected = [int(t) for t in line.split()]
        assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) == expected, repr(text)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("vocab", [v for v in VOCABS if "bert" not in v.name], ids=lambda p: p.stem.replace("ggml-vocab-", ""))
def test_detokenize_inverts_tokenize(vocab):
    llm = hearth.Llama(str(vocab), vocab_only=True, verbose=False)
    for text in ["Hello world", " leading space", "naïve café 東京", "line\nbreak\ttab"]:
        assert llm.detokenize(llm.tokenize(text.encode(), add_bos=False)) == text.encode()


def test_a_vocabulary_only_llama_cannot_generate():
    llm = hearth.Llama(str(VOCABS[0]), vocab_only=True, verbose=False)
    with pytest.raises(RuntimeError, match="vocab_only"):
        llm("Hello", max_tokens=4)


def test_special_tokens_are_parsed_only_when_asked(model_path):
    llm = hearth.Llama(model_path, vocab_only=True, verbose=False)
    assert llm.tokenize(b"</s>", add_bos=False, special=True) == [llm.token_eos()]
    assert llm.tokenize(b"</s>", add_bos=False, special=False) != [llm.token_eos()]
    assert llm.tokenize(b"Hi", add_bos=True)[0] == llm.token_bos()
