"""One record flows through data → templates → masking → evaluate → serve unchanged: every module reads it through
`loading.normalize_record`, so a turn is rendered, masked, evaluated and served from the same messages and tools."""
import json

import pytest

from toolcall_lab.data import to_dataset, to_record
from toolcall_lab.evaluate import render_prompts
from toolcall_lab.scoring import eval_turns
from toolcall_lab.inference import build_prompt
from toolcall_lab.loading import normalize_record
from toolcall_lab.masking import assistant_mask
from toolcall_lab.models import load_tokenizer
from toolcall_lab.openai_api import from_openai_messages
from toolcall_lab.templates import example_records, render_chat, with_tool_template

RECORDS = example_records()


@pytest.fixture(scope='module')
def tok():
    return with_tool_template(load_tokenizer(), 'hermes')


def as_arrow_row(rec: dict) -> dict:
    "The record as a `datasets` row gives it back: JSON strings, absent fields as None."
    return dict(to_dataset([rec])[0])


def to_openai(messages: list) -> list:
    "The messages as an OpenAI client sends them: call ids, arguments as JSON strings, results by `tool_call_id`."
    out, n = [], 0
    for m in messages:
        m = dict(m)
        if m.get('tool_calls'):
            m['tool_calls'] = [{'id': f'call_{(n := n + 1)}', 'type': 'function',
                                'function': {'name': c['function']['name'], 'arguments': json.dumps(c['function']['arguments'])}}
                               for c in m['tool_calls']]
        if m['role'] == 'tool': m = {'role': 'tool', 'tool_call_id': f'call_{n}', 'content': m['content']}
        out.append(m)
    return out


def without_ids(messages: list) -> list:
    "Messages without the ids a wire protocol adds (call `id`, `tool_call_id`)."
    strip = lambda m: {k: v for k, v in m.items() if k != 'tool_call_id'} | (
        {'tool_calls': [{k: v for k, v in c.items() if k != 'id'} for c in m['tool_calls']]} if m.get('tool_calls') else {})
    return [strip(m) for m in messages]


@pytest.mark.parametrize('name', list(RECORDS))
def test_data_keeps_a_canonical_record_as_it_is(name):
    rec = RECORDS[name]
    assert normalize_record(rec) == rec
    assert normalize_record(rec, strict=True) == rec
    assert to_record(as_arrow_row(rec)) == rec and normalize_record(as_arrow_row(rec)) == rec


@pytest.mark.parametrize('name', list(RECORDS))
def test_templates_and_masking_see_the_same_record(tok, name):
    rec, row = RECORDS[name], as_arrow_row(RECORDS[name])
    assert render_chat(tok, rec) == render_chat(tok, row)
    assert assistant_mask(tok, rec) == assistant_mask(tok, row)


@pytest.mark.parametrize('name', list(RECORDS))
def test_evaluate_and_serve_build_the_same_prompt_from_the_same_messages(tok, name):
    rec = RECORDS[name]
    turns = eval_turns([as_arrow_row(rec)])
    assert turns, 'every example record has an assistant turn'
    for turn, prompt in zip(turns, render_prompts(tok, turns, 'hermes')):
        j = len(turn['messages'])
        assert turn['messages'] == rec['messages'][:j] and turn['gold'] == rec['messages'][j] and turn['tools'] == rec['tools']
        served = from_openai_messages(to_openai(rec['messages'][:j]))
        assert without_ids(served) == rec['messages'][:j]
        assert build_prompt(tok, served, rec['tools'], 'hermes') == prompt
