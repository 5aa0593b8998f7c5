"The compact tools block is one renderer: the chat template (what training, evaluation and serving render) and the `compact` format object (what `tools_in_text` writes for templates that ignore tools) produce the same characters, for every built-in tool and for schema shapes the built-in data does not use."
import pytest

from toolcall_lab.builtin import BUILTINS, load_builtin
from toolcall_lab.data import to_record
from toolcall_lab.formats import CompactFormat, compact_signature
from toolcall_lab.inference import build_prompt, tools_in_text
from toolcall_lab.models import load_tokenizer
from toolcall_lab.templates import render_chat, tool_template

TOK = load_tokenizer()
TEMPLATE = tool_template('compact')
ODD = [{'type': 'function', 'function': {'name': 'odd', 'parameters': {'type': 'object', 'required': ['a'], 'properties': {
          'a': {'type': ['string', 'null']}, 'b': {'type': 'array', 'items': {'type': 'object', 'properties': {'x': {'type': 'number'}}, 'required': ['x']}},
          'c': {'enum': [1, 2, 3]}, 'd': {}, 'e': {'type': 'array'}, 'f': {'type': 'boolean'}}}}},
       {'type': 'function', 'function': {'name': 'no_params', 'description': 'Nothing to pass'}}]
HELLO = [{'role': 'user', 'content': 'hi'}]


def _by_template(tools): return TOK.apply_chat_template(HELLO, tools=tools, chat_template=TEMPLATE, tokenize=False, add_generation_prompt=True)
def _by_format(tools): return TOK.apply_chat_template(tools_in_text(HELLO, tools, 'compact'), chat_template=TEMPLATE, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize('name', list(BUILTINS))
def test_template_and_format_write_the_same_tools_block(name):
    tools = BUILTINS[name].tools
    assert _by_template(tools) == _by_format(tools)
    for t in tools: assert compact_signature(t) in _by_template(tools)


def test_unusual_schemas_render_the_same():
    assert _by_template(ODD) == _by_format(ODD)
    assert 'odd(a: str|null, b?: [{x: num}], c?: 1|2|3, d?: any, e?: [any], f?: bool)' in _by_template(ODD)
    assert 'no_params() - Nothing to pass' in _by_template(ODD)


def test_training_text_starts_with_the_inference_prompt():
    for row in load_builtin('all', n_train=4, n_validation=1, n_test=4)['test']:
        rec = to_record(row)
        i = next(j for j, m in enumerate(rec['messages']) if m['role'] == 'assistant')
        prompt = build_prompt(TOK, rec['messages'][:i], rec['tools'], 'compact', TEMPLATE)
        assert render_chat(TOK, rec, TEMPLATE, 'compact').startswith(prompt)
        assert CompactFormat().system_prompt(rec['tools']) in prompt
