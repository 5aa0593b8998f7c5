"""GGUF export of the qwen2 architecture (reload parity, tied and untied embeddings) and the Ollama Go templates
per tool format and family, rendered with a small interpreter of Go's text/template and compared with the Jinja prompt."""
import copy, json, re, warnings

import gguf
import pytest
import torch
from tokenizers import Regex, pre_tokenizers
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from toolcall_lab import export
from toolcall_lab.inference import build_prompt, make_call
from toolcall_lab.models import load_tokenizer, tiny_model
from toolcall_lab.export import (OLLAMA_TEMPLATES, QWEN2_SPLIT, check_modelfile, compare_models, export_gguf, ollama_modelfile,
                                 ollama_template, write_gguf)
from toolcall_lab.templates import TEMPLATE_FAMILIES, example_records, llama3_tokenizer, tool_template, with_tool_template

torch.set_num_threads(2)


@pytest.fixture(scope='module')
def tok(): return with_tool_template(load_tokenizer(), 'hermes')


@pytest.fixture(scope='module')
def prompts(tok):
    return [build_prompt(tok, [{'role': 'user', 'content': q}]) for q in ['What is the weather in Seoul?', '서울 날씨 (3일)?']]


def tiny_qwen2(tok, tie:bool, seed:int=0):
    "A 2-layer Qwen2 with `tok`'s vocabulary, rope theta 1e6 and random (non-zero) q/k/v biases."
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=tie,
                      rope_parameters={'rope_type': 'default', 'rope_theta': 1e6}, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias'): p.normal_(0, 0.5)
    return model


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


# --- A small interpreter of Go's text/template: the subset Ollama's templates use -------------------------------------------
_ACTION = re.compile(r'{{(- )?(.*?)( -)?}}', re.S)
_TERM = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\$\w*(?:\.\w+)*|(?:\.\w+)+|\.|-?\d+|\w+)')
_WS = ' \t\r\n'


class Struct:
    "A Go struct value; `json` is what Ollama's String method prints for it."
    def __init__(self, json_=None, **fields): self.__dict__.update(fields); self._json = json_
    def __str__(self):
        if self._json is None: raise ValueError('Go would print a struct here')
        return json.dumps(self._json, ensure_ascii=False)


class Seq2(list):
    "An `iter.Seq2`: `range $k, $v := ...` yields its pairs."


def _lex(src):
    out, pos, trim = [], 0, False
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        text = text.lstrip(_WS) if trim else text
        out += [('text', text.rstrip(_WS) if m[1] else text), ('act', m[2].strip())]
        pos, trim = m.end(), bool(m[3])
    return out + [('text', src[pos:].lstrip(_WS) if trim else src[pos:])]


def _parse(toks, i=0):
    "Nodes up to the next `else`/`end`, and that token's index."
    nodes = []
    while i < len(toks):
        kind, s = toks[i]
        word = s.split(None, 1)[0] if kind == 'act' and s else ''
        if kind == 'text': nodes.append(('text', s))
        elif word in ('else', 'end'): return nodes, i
        elif word in ('if', 'range', 'with'):
            branches, head = [], s
            while head != 'end':
                body, i = _parse(toks, i + 1)
                branches.append((head, body)); head = toks[i][1]
            nodes.append(('block', branches))
        elif not s.startswith('/*'): nodes.append(('act', s))
        i += 1
    return nodes, i


def _truth(v): return v is not None and (bool(v) if isinstance(v, (bool, int, float, str, list, dict)) else True)


def _text(v):
    if v is None or isinstance(v, (list, dict)): raise ValueError(f'Go would print {v!r} as <no value> or a Go value')
    return ('true' if v else 'false') if isinstance(v, bool) else str(v)


def _field(v, name):
    if isinstance(v, dict): return v.get(name)  # Ollama parses with missingkey=zero
    if v is None: raise ValueError(f'nil pointer evaluating .{name}')
    return getattr(v, name)


def _terms(s):
    stack, pos, s = [[]], 0, s.strip()
    while pos < len(s):
        m = _TERM.match(s, pos)
        if not m: raise ValueError(f'cannot parse {s[pos:]!r}')
        t, pos = m[1], m.end()
        if t == '(': stack.append([])
        elif t == ')': inner = stack.pop(); stack[-1].append(inner)
        else: stack[-1].append(t)
    return stack[0]


class GoTemplate:
    def __init__(self, src): self.nodes = _parse(_lex(src))[0]

    def render(self, data):
        out = []; self.run(self.nodes, data, [{'$': data}], out)
        return ''.join(out)

    def run(self, nodes, dot, scopes, out):
        for kind, x in nodes:
            if kind == 'text': out.append(x)
            elif kind == 'block': self.block(x, dot, scopes, out)
            elif m := re.match(r'(\$\w+)\s*(:?=)\s*(.*)$', x, re.S):
                v = self.cmd(_terms(m[3]), dot, scopes)
                (scopes[-1] if m[2] == ':=' else next(sc for sc in reversed(scopes) if m[1] in sc))[m[1]] = v
            else: out.append(_text(self.cmd(_terms(x), dot, scopes)))

    def block(self, branches, dot, scopes, out):
        kind, rest = branches[0][0].split(None, 1)
        if kind == 'range': return self.range(rest, branches, dot, scopes, out)
        for head, body in branches:
            if head == 'else': return self.run(body, dot, scopes + [{}], out)
            words = head.split(None, 2) if head.startswith('else ') else [''] + head.split(None, 1)
            v = self.cmd(_terms(words[2]), dot, scopes)
            if _truth(v): return self.run(body, v if words[1] == 'with' else dot, scopes + [{}], out)

    def range(self, rest, branches, dot, scopes, out):
        m = re.match(r'(?:(\$\w*)\s*(?:,\s*(\$\w*))?\s*:=\s*)?(.*)$', rest, re.S)
        items = self.cmd(_terms(m[3]), dot, scopes)
        pairs = list(items) if isinstance(items, Seq2) else sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        if not pairs and len(branches) > 1: self.run(branches[1][1], dot, scopes + [{}], out)
        for k, v in pairs:
            scope = {m[1]: k, m[2]: v} if m[2] else {m[1]: v} if m[1] else {}
            self.run(branches[0][1], v, scopes + [scope], out)

    def cmd(self, terms, dot, scopes):
        head = terms[0]
        if isinstance(head, str) and head in ('and', 'or'):
            for t in terms[1:]:
                v = self.term(t, dot, scopes)
                if _truth(v) != (head == 'and'): return v
            return v
        if isinstance(head, str) and head in _FUNCS: return _FUNCS[head](*[self.term(t, dot, scopes) for t in terms[1:]])
        if len(terms) != 1: raise ValueError(f'{head!r} is not a function')
        return self.term(head, dot, scopes)

    def term(self, t, dot, scopes):
        if isinstance(t, list): return self.cmd(t, dot, scopes)
        if t.startswith('"'): return json.loads(t)
        if t.lstrip('-').isdigit(): return int(t)
        if t in ('true', 'false', 'nil'): return {'true': True, 'false': False, 'nil': None}[t]
        if t == '.': return dot
        if t.startswith('$'):
            name, *path = t.split('.')
            v = next(sc[name] for sc in reversed(scopes) if name in sc)
        else: v, path = dot, t.split('.')[1:]
        for f in path: v = _field(v, f)
        return v


def _index(v, *keys):
    for k in keys: v = v[k]
    return v


_FUNCS = {'not': lambda v: not _truth(v), 'eq': lambda a, *bs: any(a == b for b in bs), 'ne': lambda a, b: a != b, 'len': len,
          'index': _index, 'slice': lambda v, i=0, j=None: v[i:j], 'json': lambda v: json.dumps(v, separators=(',', ':'))}


def test_go_interpreter_follows_go_semantics():
    go = lambda src, data=None: GoTemplate(src).render(data or {})
    assert go('a  {{- "b" -}}  \n c') == 'abc'
    assert go('{{ range $i, $x := .L }}{{ if $i }}, {{ end }}{{ $x }}{{ else }}none{{ end }}', {'L': [1, 2]}) == '1, 2'
    assert go('{{ range .L }}x{{ else }}none{{ end }}', {'L': []}) == 'none'
    assert go('{{ $s := "" }}{{ range .L }}{{ $s }}{{ $s = "-" }}{{ . }}{{ end }}', {'L': ['a', 'b']}) == 'a-b'
    assert go('{{ if and .A (eq (len .L) 2) }}yes{{ else if .B }}b{{ end }}|{{ with .M.k }}{{ . }}{{ end }}', {'A': 1, 'L': [1, 2], 'M': {'k': 'v'}}) == 'yes|v'
    assert go('{{ $last := eq (len (slice $.L 1)) 1 }}{{ $last }}', {'L': [1, 2]}) == 'true'
    with pytest.raises(ValueError): go('{{ .Missing.Field }}', {})


# --- Ollama's template data, built from a canonical record as Ollama builds it from a chat request -----------------------
def _go_tool(t):
    f = t['function']; p = f.get('parameters') or {}
    kind = lambda v: [v['type']] if isinstance(v.get('type'), str) else list(v.get('type') or [])
    props = Seq2((k, Struct(Type=kind(v), Enum=v.get('enum'), Items=v.get('items'), Description=v.get('description', '')))
                 for k, v in (p.get('properties') or {}).items())
    params = Struct(Type=p.get('type', 'object'), Required=p.get('required') or [], Properties=Struct(All=props))
    return Struct(t, Type='function', Function=Struct(f, Name=f['name'], Description=f.get('description', ''), Parameters=params))


def _go_message(m):
    calls = [Struct(Function=Struct(Name=c['function']['name'], Arguments=Struct(c['function']['arguments']))) for c in m.get('tool_calls') or []]
    return Struct(Role=m['role'], Content=m.get('content') or '', ToolCalls=calls)


def ollama_values(messages, tools):
    return {'System': '\n\n'.join(m['content'] for m in messages if m['role'] == 'system'),
            'Messages': [_go_message(m) for m in messages], 'Tools': [_go_tool(t) for t in tools or []]}


def _records():
    "lesson 02's records, plus one with a system prompt and a tool with optional, enum, integer, array, union and untyped parameters."
    forecast = {'type': 'function', 'function': {'name': 'forecast', 'description': 'Daily forecast.', 'parameters': {'type': 'object', 'properties': {
        'city': {'type': 'string', 'description': 'City'}, 'unit': {'type': 'string', 'enum': ['c', 'f']}, 'days': {'type': 'integer'},
        'hours': {'type': 'array', 'items': {'type': 'number'}}, 'tags': {'type': 'array'}, 'flag': {'type': ['boolean', 'null']}, 'extra': {}},
        'required': ['city', 'days']}}}
    ping = {'type': 'function', 'function': {'name': 'ping', 'parameters': {'type': 'object', 'properties': {}}}}
    rich = {'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Forecast for Jeju, 2 days?'},
                         {'role': 'assistant', 'content': '', 'tool_calls': [make_call('forecast', {'city': 'Jeju', 'days': 2, 'hours': [9, 12.5]})]},
                         {'role': 'tool', 'name': 'forecast', 'content': '{"days": ["sun", "rain"]}'},
                         {'role': 'assistant', 'content': 'Sun, then rain.'}], 'tools': [forecast, ping]}
    return list(example_records().values()) + [rich]


@pytest.mark.parametrize('family', sorted(TEMPLATE_FAMILIES))
@pytest.mark.parametrize('fmt', sorted(TEMPLATE_FAMILIES['chatml']))
def test_ollama_template_renders_the_training_prompt(tok, fmt, family):
    "Before every assistant turn, Ollama's prompt (the Go template) is the inference prompt of the Jinja template training used."
    go, jinja, turns = GoTemplate(ollama_template(fmt, family)), tool_template(fmt, family), 0
    for rec in _records():
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
