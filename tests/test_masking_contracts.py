"Mask contracts: for every template family the package ships, the default model's own template and a template that renders tools itself, the trained tokens are exactly the assistant turns plus their end-of-turn token, and training text agrees with inference text."
import copy

import pytest
from trl.chat_template_utils import qwen2_5_chat_template

from toolcall_lab.formats import get_format
from toolcall_lab.masking import assistant_mask, tokenize_dataset, trained_turns
from toolcall_lab.models import load_tokenizer
from toolcall_lab.templates import TOOL_TEMPLATES, check_parity, example_records, tool_template

TOK = load_tokenizer()
QWEN_TOK = copy.deepcopy(TOK)
QWEN_TOK.chat_template = qwen2_5_chat_template  # Qwen2.5's own template (TRL's verbatim copy) on SmolLM2's vocabulary
RECORDS = example_records()
# (name, tokenizer, chat template, tool format): package templates, SmolLM2's own (tools as text), a model's own tool template
FAMILIES = ([(f'package-{f}', TOK, tool_template(f), f) for f in TOOL_TEMPLATES]
            + [(f'smollm2-own-{f}', TOK, None, f) for f in TOOL_TEMPLATES] + [('qwen2.5-own', QWEN_TOK, None, 'hermes')])
CASES = [(fam, rec) for fam in FAMILIES for rec in RECORDS]


def expected_turns(record, fmt, eot):
    "Each assistant turn as the model writes it: content, calls in the format, end-of-turn token."
    return ['\n'.join(s for s in [m['content'], get_format(fmt).render_calls(m['tool_calls']) if m.get('tool_calls') else ''] if s) + eot
            for m in record['messages'] if m['role'] == 'assistant']


@pytest.mark.parametrize('family,name', CASES, ids=[f'{f[0]}-{r}' for f, r in CASES])
def test_trained_tokens_are_exactly_the_assistant_turns(family, name):
    _, tok, tpl, fmt = family
    record = RECORDS[name]
    m = assistant_mask(tok, record, tpl, fmt)
    assert trained_turns(tok, m['input_ids'], m['assistant_masks']) == expected_turns(record, fmt, tok.eos_token)
    trained = tok.decode([i for i, k in zip(m['input_ids'], m['assistant_masks']) if k])
    for msg in record['messages']:
        if msg['role'] != 'assistant' and msg['content']: assert msg['content'] not in trained


@pytest.mark.parametrize('family,name', CASES, ids=[f'{f[0]}-{r}' for f, r in CASES])
def test_parity_holds(family, name):
    _, tok, tpl, fmt = family
    report = check_parity(tok, RECORDS[name], tpl, fmt)
    assert report.ok, report._repr_markdown_()


@pytest.mark.parametrize('fmt', list(TOOL_TEMPLATES))
def test_mask_agrees_with_transformers_generation_marks(fmt):
    for record in RECORDS.values():
        ref = TOK.apply_chat_template(record['messages'], tools=record['tools'], chat_template=tool_template(fmt), tokenize=True,
                                      return_dict=True, return_assistant_tokens_mask=True)
        assert assistant_mask(TOK, record, tool_template(fmt), fmt) == {'input_ids': ref['input_ids'], 'assistant_masks': ref['assistant_masks']}


def test_fully_truncated_record_is_reported():
    # the first trained token of records 0 and 1 lies past 300 tokens (their system prompts list two tools)
    with pytest.warns(UserWarning, match='2 of 3 records dropped'):
        ds, report = tokenize_dataset(list(RECORDS.values()), TOK, tool_template(), max_length=300)
    assert report.kept == 1 and list(report.dropped) == [0, 1] and 'truncation' in report.dropped[1]
    assert all(any(l != -100 for l in row) for row in ds['labels'])
