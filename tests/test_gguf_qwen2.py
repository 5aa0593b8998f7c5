"""GGUF export of the qwen2 architecture (reload parity, tied and untied embeddings) and the Ollama Go templates
per tool format and family, rendered with a small interpreter of Go's text/template and compared with the Jinja prompt."""
import copy, importlib.util, re, warnings
from pathlib import Path

import gguf
import pytest
import torch
from tokenizers import Regex, pre_tokenizers
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from go_template import GoTemplate, ollama_values, template_records
from toolcall_lab import export
from toolcall_lab.inference import build_prompt
from toolcall_lab.models import load_tokenizer, tiny_model
from toolcall_lab.export import (OLLAMA_TEMPLATES, QWEN2_SPLIT, check_modelfile, compare_models, export_gguf, ollama_modelfile,
                                 ollama_template, write_gguf)
from toolcall_lab.templates import TEMPLATE_FAMILIES, llama3_tokenizer, tool_template, with_tool_template

_spec = importlib.util.spec_from_file_location('gguf_check', Path(__file__).resolve().parent.parent/'bench'/'gguf_check.py')
gguf_check = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(gguf_check)
tiny_qwen2 = gguf_check.tiny_qwen2  # the one tiny Qwen2 with random q/k/v biases

torch.set_num_threads(2)


@pytest.fixture(scope='module')
def tok(): return with_tool_template(load_tokenizer(), 'hermes')


@pytest.fixture(scope='module')
def prompts(tok):
    return [build_prompt(tok, [{'role': 'user', 'content': q}]) for q in ['What is the weather in Seoul?', '서울 날씨 (3일)?']]




def reload(path):
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


@pytest.fixture(scope='module')
def tied(tok, tmp_path_factory):
    model = tiny_qwen2(tok, tie=True)
    return model, write_gguf(model, tok, tmp_path_factory.mktemp('qwen2')/'tied.gguf')


def test_qwen2_metadata_and_tensors(tok, tied):
    model, path = tied
    r = gguf.GGUFReader(path)
    field = lambda k: r.fields[k].contents()
    assert (field('general.architecture'), field('qwen2.rope.freq_base'), field('qwen2.block_count')) == ('qwen2', 1e6, 2)
    assert (field('tokenizer.ggml.pre'), field('tokenizer.chat_template')) == ('smollm', tok.chat_template)
    assert tok.convert_ids_to_tokens(field('tokenizer.ggml.eos_token_id')) == '<|im_end|>'
    tensors = {t.name: t for t in r.tensors}
    assert {'blk.1.attn_q.bias', 'blk.1.attn_k.bias', 'blk.1.attn_v.bias'} <= set(tensors)
    assert 'output.weight' not in tensors and 'blk.0.attn_output.bias' not in tensors
    sd = model.state_dict()  # no q/k permutation for qwen2: llama.cpp runs its rope in the NEOX (rotate-halves) layout
    for gname, name in [('blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight'), ('blk.0.attn_k.bias', 'model.layers.0.self_attn.k_proj.bias')]:
        assert torch.equal(torch.from_numpy(tensors[gname].data.copy()).reshape(sd[name].shape), sd[name])


def test_qwen2_reload_parity_tied(tok, prompts, tied):
    model, path = tied
    g = reload(path)
    assert type(g).__name__ == 'Qwen2ForCausalLM' and g.config.tie_word_embeddings
    p = compare_models(model, g, tok, prompts, max_new_tokens=4)
    assert (p.max_logit_diff, p.greedy_equal) == (0.0, True), p


def test_qwen2_reload_parity_untied(tok, prompts, tmp_path):
    model = tiny_qwen2(tok, tie=False, seed=1)
    path = write_gguf(model, tok, tmp_path/'untied.gguf')
    assert 'output.weight' in {t.name for t in gguf.GGUFReader(path).tensors}
    g = reload(path)
    assert not g.config.tie_word_embeddings
    assert not torch.equal(g.lm_head.weight, g.model.embed_tokens.weight)
    p = compare_models(model, g, tok, prompts, max_new_tokens=4)
    assert (p.max_logit_diff, p.greedy_equal) == (0.0, True), p


def test_qwen2_permuted_would_not_match(tok, prompts, tmp_path, monkeypatch):
    "The parity check can fail: writing qwen2 with llama's q/k permutation gives a file that loads but computes other logits."
    monkeypatch.setitem(export._GGUF_ARCHS, 'qwen2', export._GGUFArch(gguf.MODEL_ARCH.QWEN2, permute_qk=True))
    model = tiny_qwen2(tok, tie=True)
    p = compare_models(model, reload(write_gguf(model, tok, tmp_path/'wrong.gguf')), tok, prompts, max_new_tokens=1)
    assert p.max_logit_diff > 1e-3, p


def test_refuses_what_it_cannot_write(tok, tmp_path):
    with pytest.raises(NotImplementedError, match='sliding-window'):
        write_gguf(Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                                num_key_value_heads=1, use_sliding_window=True, sliding_window=64)), tok, tmp_path/'x.gguf')
    with pytest.raises(NotImplementedError, match='rope scaling'):
        write_gguf(tiny_model(tok, num_hidden_layers=1, rope_parameters={'rope_type': 'linear', 'factor': 2.0, 'rope_theta': 1e4}), tok, tmp_path/'x.gguf')
    assert not (tmp_path/'x.gguf').exists()


def test_tokenizer_pre(tok):
    qwen_like = copy.deepcopy(tok)
    qwen_like.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior='isolated'), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    assert [export._tokenizer_pre(t) for t in (tok, llama3_tokenizer(), qwen_like)] == ['smollm', 'llama-bpe', 'qwen2']


def test_go_interpreter_follows_go_semantics():
    go = lambda src, data=None: GoTemplate(src).render(data or {})
    assert go('a  {{- "b" -}}  \n c') == 'abc'
    assert go('{{ range $i, $x := .L }}{{ if $i }}, {{ end }}{{ $x }}{{ else }}none{{ end }}', {'L': [1, 2]}) == '1, 2'
    assert go('{{ range .L }}x{{ else }}none{{ end }}', {'L': []}) == 'none'
    assert go('{{ $s := "" }}{{ range .L }}{{ $s }}{{ $s = "-" }}{{ . }}{{ end }}', {'L': ['a', 'b']}) == 'a-b'
    assert go('{{ if and .A (eq (len .L) 2) }}yes{{ else if .B }}b{{ end }}|{{ with .M.k }}{{ . }}{{ end }}', {'A': 1, 'L': [1, 2], 'M': {'k': 'v'}}) == 'yes|v'
    assert go('{{ $last := eq (len (slice $.L 1)) 1 }}{{ $last }}', {'L': [1, 2]}) == 'true'
    with pytest.raises(ValueError): go('{{ .Missing.Field }}', {})


@pytest.mark.parametrize('family', sorted(TEMPLATE_FAMILIES))
@pytest.mark.parametrize('fmt', sorted(TEMPLATE_FAMILIES['chatml']))
def test_ollama_template_renders_the_training_prompt(tok, fmt, family):
    "Before every assistant turn, Ollama's prompt (the Go template) is the inference prompt of the Jinja template training used."
    go, jinja, turns = GoTemplate(ollama_template(fmt, family)), tool_template(fmt, family), 0
    for rec in template_records():
        msgs = rec['messages']
        for i in (i for i, m in enumerate(msgs) if m['role'] == 'assistant'):
            assert go.render(ollama_values(msgs[:i], rec['tools'])) == build_prompt(tok, msgs[:i], rec['tools'], fmt, jinja), (fmt, family, i)
            turns += 1
    assert turns == 9


@pytest.mark.parametrize('family', sorted(TEMPLATE_FAMILIES))
def test_modelfile_follows_the_tokenizer(family):
    tok = llama3_tokenizer() if family == 'llama3' else load_tokenizer()
    for fmt in OLLAMA_TEMPLATES[family]:
        tok.chat_template = tool_template(fmt, family)
        mf = ollama_modelfile('m.gguf', tok)
        assert f'TEMPLATE """{ollama_template(fmt, family)}"""' in mf
        assert check_modelfile(mf, fmt, family) == []
        stops = re.findall(r'^PARAMETER stop "(.*)"$', mf, re.M)
        assert stops[0] == {'chatml': '<|im_end|>', 'llama3': '<|eot_id|>'}[family] == export.end_of_turn_token(tok)


def test_export_gguf_compact_model(tok, tmp_path):
    "A compact-trained model gets the compact Modelfile, without the old warning."
    ctok = copy.deepcopy(tok); ctok.chat_template = tool_template('compact')
    tiny_model(ctok, num_hidden_layers=1).save_pretrained(tmp_path/'m'); ctok.save_pretrained(tmp_path/'m')
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        path = export_gguf(tmp_path/'m', tmp_path/'out')
    mf = (path.parent/'Modelfile').read_text()
    assert ollama_template('compact') in mf and check_modelfile(mf, 'compact') == []
    with pytest.raises(ValueError, match="writes 'compact' calls"): export_gguf(tmp_path/'m', tmp_path/'out2', fmt='hermes')
