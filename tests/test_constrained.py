"""Constrained decoding (lesson 06b, `toolcall_lab.constrain`): for every format and every built-in tool, replies
generated under the grammar parse in the format and their calls validate against the offered tool's schema.

The tiny random model never starts a call on its own, so a small bias (applied before the grammar's mask) pushes it
to write the format's trigger and then short JSON tokens; whatever it writes, only the grammar decides what is allowed."""
import pytest
from transformers import LogitsProcessor

from toolcall_lab.builtin import BUILTINS
from toolcall_lab.constrain import accepts, call_wrapping, compile_tools, processor_for
from toolcall_lab.evaluate import generate_batch, left_padded_batch
from toolcall_lab.formats import FORMATS, get_format, make_call, parse_tool_calls
from toolcall_lab.inference import check_arguments
from toolcall_lab.models import end_of_turn_ids, load_model

TOOLS = [t for b in BUILTINS.values() for t in b.tools]
MAX_NEW = 64


@pytest.fixture(scope='module')
def tiny(): return load_model('tiny')


class Nudge(LogitsProcessor):
    "Bias the trigger's tokens in order, the end of the turn, and short JSON tokens in a fixed order of preference; then apply `inner` (the grammar)."
    def __init__(self, tok, trigger:str, stop:list, inner, start:int):
        self.trigger, self.inner, self.start = tok(trigger, add_special_tokens=False)['input_ids'], inner, start
        self.reserve = inner.reserve
        self.prefer = [tok(t, add_special_tokens=False)['input_ids'][0] for t in ('"', '}', ']', '0', 'true', ',', ':', '{', '[')]
        self.stop = list(stop)
    def __call__(self, input_ids, scores):
        step, scores = input_ids.shape[1] - self.start, scores.clone()
        if step < len(self.trigger): scores[:, self.trigger[step]] += 200
        scores[:, self.stop] += 120
        for k, i in enumerate(self.prefer): scores[:, i] += 100 - k
        return self.inner(input_ids, scores)


def test_grammar_keeps_valid_calls_and_refuses_the_rest(tiny):
    model, tok = tiny
    for fmt in FORMATS:
        for b in BUILTINS.values():
            g, f = compile_tools(tok, b.tools, fmt, model), get_format(fmt)
            assert compile_tools(tok, b.tools, fmt, model) is g  # cached
            name = b.tools[0]['function']['name']
            good = f.render_calls([make_call(name, {k: 'x' for k in b.tools[0]['function']['parameters'].get('required', [])})])
            if check_arguments(parse_tool_calls(good, fmt, b.tools).calls[0], b.tools) == []: assert accepts(g, good), (fmt, good)
            assert accepts(g, 'Just text.')
            assert not accepts(g, good.replace(f'"{name}"' if fmt != 'function_tag' else f'={name}>', '"no_such_tool"' if fmt != 'function_tag' else '=no_such_tool>')), (fmt, good)
            assert not accepts(g, f.render_calls([make_call(name, {'invented_key': 1})])), fmt


def nudged_generations(tiny, fmt, budget):
    model, tok = tiny
    prompts, tools = ['Call a tool.'] * len(TOOLS), [[t] for t in TOOLS]  # every built-in tool, one per row, one batch
    grammar_for, stop = processor_for(model, tok, fmt, budget), end_of_turn_ids(tok, model)
    start = left_padded_batch(tok, prompts)['input_ids'].shape[1]
    hook = lambda ts: Nudge(tok, call_wrapping(fmt)[2], stop, grammar_for(ts), start)
    return zip(generate_batch(model, tok, prompts, fmt, budget, batch_size=len(prompts), tools=tools, logits_processor_for=hook), tools)


def assert_whole_valid_replies(gens, fmt, budget, reserve=64):
    "Every reply ended (within the budget, or the reserve for a call), parses, and its calls validate; most rows wrote a call."
    finished = 0
    for g, ts in gens:
        p = parse_tool_calls(g.text, fmt, ts)
        assert g.new_tokens <= budget + reserve and not p.errors, (fmt, g.new_tokens, g.text, p.errors)
        for call in p.calls: assert check_arguments(call, ts) == [], (fmt, g.text)
        finished += bool(p.calls)
    assert finished >= len(TOOLS) // 2, f'{fmt}: only {finished} of {len(TOOLS)} rows wrote a whole call'


@pytest.mark.parametrize('fmt', list(FORMATS))
def test_constrained_generation_parses_and_validates(tiny, fmt):
    assert_whole_valid_replies(nudged_generations(tiny, fmt, MAX_NEW), fmt, MAX_NEW)


@pytest.mark.parametrize('fmt', ['hermes', 'function_tag'])
def test_a_call_cut_by_the_budget_is_still_closed(tiny, fmt):
    "A budget that ends inside every call: each open call is closed in the reserve, so no reply is half a call."
    _, tok = tiny
    budget = len(tok(call_wrapping(fmt)[2], add_special_tokens=False)['input_ids']) + 2
    assert_whole_valid_replies(nudged_generations(tiny, fmt, budget), fmt, budget)


def test_without_xgrammar_the_error_names_the_extra(tiny, monkeypatch):
    import toolcall_lab.constrain as c
    monkeypatch.setattr(c, 'xgr', None)
    with pytest.raises(ImportError, match=r'toolcall_lab\[constrain\]'): processor_for(*tiny, 'hermes')
