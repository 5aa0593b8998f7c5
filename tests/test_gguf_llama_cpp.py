"""Q8_0 GGUF export read back by the `gguf` package, the comparison logic of bench/gguf_check.py, and — only where
llama-cpp-python is installed (`make gguf-check` builds it) — the tiny llama and qwen2 files run in llama.cpp."""
import importlib.util
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from toolcall_lab.export import write_gguf
from toolcall_lab.models import load_tokenizer, tiny_model
from toolcall_lab.templates import example_records, with_tool_template

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('gguf_check', ROOT/'bench'/'gguf_check.py')
gguf_check = importlib.util.module_from_spec(spec); spec.loader.exec_module(gguf_check)


@pytest.fixture(scope='module')
def tok(): return with_tool_template(load_tokenizer(), 'hermes')


@pytest.fixture(scope='module')
def model(tok): return tiny_model(tok, intermediate_size=96)  # ffn_down rows of 96 = 3 blocks; q rows of 64 = 2


def test_q8_0_round_trips(tok, model, tmp_path):
    path = write_gguf(model, tok, tmp_path/'q8.gguf', 'q8_0')
    r = gguf.GGUFReader(path)
    assert r.fields['general.file_type'].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    tensors = {t.name: t for t in r.tensors}
    assert {t.tensor_type.name for n, t in tensors.items() if n.endswith('norm.weight')} == {'F32'}
    sd = model.state_dict()
    for gname, name in [('token_embd.weight', 'model.embed_tokens.weight'), ('blk.0.ffn_down.weight', 'model.layers.0.mlp.down_proj.weight'),
                        ('blk.1.attn_v.weight', 'model.layers.1.self_attn.v_proj.weight')]:
        t, w = tensors[gname], sd[name].numpy()
        assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0, gname
        back = gguf.quants.dequantize(t.data, t.tensor_type)
        assert back.shape == w.shape
        step = np.abs(w).reshape(-1, 32).max(-1, keepdims=True) / 127
        assert (np.abs(back - w).reshape(-1, 32) <= 0.57 * step + 1e-12).all(), gname  # half a step, plus the f16 rounding of the scale
        assert np.abs(back - w).max() > 0  # really quantized


def test_q8_0_keeps_f16_where_rows_are_not_whole_blocks(tok, tmp_path):
    odd = tiny_model(tok, intermediate_size=80)  # ffn_down rows of 80 do not split into blocks of 32
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(write_gguf(odd, tok, tmp_path/'odd.gguf', 'q8_0')).tensors}
    assert (types['blk.0.ffn_down.weight'], types['blk.0.ffn_up.weight']) == ('F16', 'Q8_0')


def test_write_gguf_names_the_dtypes(tok, model, tmp_path):
    with pytest.raises(ValueError, match='dtype must be one of f32, f16, q8_0'): write_gguf(model, tok, tmp_path/'x.gguf', 'q4_k')


def logits(picks:dict, n:int=5) -> np.ndarray:
    row = np.zeros(n, dtype=np.float32)
    for i, v in picks.items(): row[i] = v
    return row


def test_compare_greedy_equal():
    r = gguf_check.compare_greedy([1, 2], [1, 2], [logits({1: 3}), logits({2: 3})], [logits({1: 3.002}), logits({2: 3})])
    assert r['equal'] and r['tokens'] == 2 and r['max_logit_diff'] == pytest.approx(2e-3, rel=1e-2)
    assert gguf_check.greedy_ok([r], 'f16') and not gguf_check.greedy_ok([r], 'f32')  # 2e-3 is over f32's tolerance, not f16's


def test_compare_greedy_rounding_tie_and_real_divergence():
    hf, cpp = [logits({1: 3}), logits({2: 5.0, 3: 4.99})], [logits({1: 3.01}), logits({2: 4.98, 3: 4.995})]
    tie = gguf_check.compare_greedy([1, 2], [1, 3], hf, cpp)
    d = tie['first_divergence']
    assert not tie['equal'] and (d['step'], d['hf_token'], d['cpp_token']) == (1, 2, 3)
    assert d['hf_gap'] == pytest.approx(0.01, abs=1e-5) and d['cpp_gap'] == pytest.approx(0.015, abs=1e-5) and d['rounding']
    assert tie['max_logit_diff'] == pytest.approx(0.02, abs=1e-5)  # the divergent step counts: both saw the same prefix
    far = gguf_check.compare_greedy([1, 2], [1, 3], hf, [logits({1: 3}), logits({2: 0, 3: 6})])
    assert not far['first_divergence']['rounding'] and not gguf_check.greedy_ok([far], 'q8_0')
    stopped = gguf_check.compare_greedy([1, 2], [1], hf, cpp[:1])
    assert not stopped['equal'] and not stopped['first_divergence']['rounding']


def test_first_difference():
    assert gguf_check.first_difference('abc', 'abc') is None
    assert gguf_check.first_difference('<tools>{"a": "서울"}', '<tools>{"a": "\\uc11c"}')['at'] == 14


@pytest.mark.skipif(importlib.util.find_spec('llama_cpp') is None, reason='llama-cpp-python is not installed: make llama-cpp builds it (make test does)')
@pytest.mark.parametrize('dtype', ['f32', 'f16'])
def test_tiny_files_in_llama_cpp(tok, model, dtype, tmp_path):
    records = list(example_records().values())
    for label, m in [('llama', model), ('qwen2', gguf_check.tiny_qwen2(tok))]:
        res = gguf_check.check_file(write_gguf(m, tok, tmp_path/f'{label}.gguf', dtype), dtype, m, tok, records, 8)
        assert res['ok'] and res['arch'] == label, res
