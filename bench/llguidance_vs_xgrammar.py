"""llguidance against xgrammar for lesson 06b's grammars (compact format, SmolLM2 tokenizer), on the CPU: do the demo's
test-split tool sets compile, how long compiling all of them takes, whether both accept and refuse the lesson's six
replies alike, and milliseconds per decoding step (masks for a batch of 16, applied to random logits) over one reply.

    pip install --no-deps --target /tmp/llg llguidance==1.9.1   # not a project dependency: kept out of the venv
    PYTHONPATH=.:/tmp/llg .venv/bin/python bench/llguidance_vs_xgrammar.py EXPERIMENT

Measured on 2 CPU cores (lesson 06b states the numbers)."""
import json
import sys
import time
from pathlib import Path

import llguidance as llg
import llguidance.hf
import llguidance.torch as lt
import torch
import xgrammar as xgr

from toolcall_lab.config import Experiment, config_from_dict
from toolcall_lab.constrain import _strict, call_wrapping, compile_tools
from toolcall_lab.formats import as_tools, get_format, make_call
from toolcall_lab.models import end_of_turn_ids, load_model
from toolcall_lab.train import load_data

B, FMT = 16, 'compact'
WEATHER = {'type': 'function', 'function': {'name': 'get_weather', 'parameters': {'type': 'object', 'properties': {
    'city': {'type': 'string'}, 'unit': {'type': 'string', 'enum': ['c', 'f']}}, 'required': ['city']}}}


def llg_grammar(tools:list) -> str:
    "The same structural tags as `constrain.call_tags`, as llguidance's Lark grammar (lazy trigger: `<tool_call>` is plain text here)."
    begin, end, trigger = call_wrapping(FMT)
    tags = [llg.StructTag(trigger=trigger, begin=begin(t['function']['name']), grammar=_strict(t['function'].get('parameters')), end=end) for t in tools]
    return llg.StructTag.to_grammar(tags, assume_special=False)


def ms_per_step(ids:list, fill, accept, apply) -> float:
    t = time.perf_counter()
    for i in ids:
        fill(); logits = torch.randn(B, V); apply(logits)
        accept(i)
    return 1000 * (time.perf_counter() - t) / len(ids)


model, tok = load_model('smollm2-135m')
V, stop = model.config.vocab_size, end_of_turn_ids(tok, model)
cfg = config_from_dict(Experiment(Path(sys.argv[1])).read_config()['config'])
toolsets = [as_tools(r['tools']) for r in load_data(cfg.data, langs=cfg.langs)['test'] if r['tools']]
lltok = llguidance.hf.from_tokenizer(tok, n_vocab=V, eos_token=stop[0])
t = time.perf_counter(); matchers = [llg.LLMatcher(lltok, llg_grammar(ts)) for ts in toolsets]; llg_s = time.perf_counter() - t
t = time.perf_counter(); [compile_tools(tok, ts, FMT, model) for ts in toolsets]; xgr_s = time.perf_counter() - t
errors = sorted({m.get_error().split('\n')[0] for m in matchers if m.get_error()})
print(json.dumps({'turns_with_tools': len(toolsets), 'llguidance_failed': sum(bool(m.get_error()) for m in matchers), 'llguidance_errors': errors,
                  'compile_all_s': {'llguidance': round(llg_s, 3), 'xgrammar': round(xgr_s, 3)}}))

good = get_format(FMT).render_calls([make_call('get_weather', {'city': 'Paris', 'unit': 'c'})])
g, xg = llg_grammar(as_tools([WEATHER])), compile_tools(tok, [WEATHER], FMT, model)
for text in [good, 'It is sunny.', good.replace('get_weather', 'get_forecast'), good.replace('"unit"', '"units"'),
             good.replace('"Paris"', '3'), good.replace('}\n</tool_call>', '\n</tool_call>')]:
    m, ids = llg.LLMatcher(lltok, g), tok(text, add_special_tokens=False)['input_ids']
    ok = m.consume_tokens(ids) and not m.is_error() and m.consume_token(stop[0]) and not m.is_error()
    xm = xgr.GrammarMatcher(xg)
    print('accepts: llguidance', bool(ok), 'xgrammar', xm.accept_string(text) and xm.accept_token(stop[0]), repr(text[:50]))

ids = tok('Sure, let me check that for you.\n' + good, add_special_tokens=False)['input_ids']
for _ in range(2):
    lms, lbm = [llg.LLMatcher(lltok, g) for _ in range(B)], lt.allocate_token_bitmask(B, V)
    def lapply(logits):
        bits = ((lbm[:, :, None] >> torch.arange(32, dtype=torch.int32)) & 1).reshape(B, -1)[:, :V].bool()
        logits.masked_fill_(~bits, float('-inf'))
    llg_ms = ms_per_step(ids, lambda: [lt.fill_next_token_bitmask(m, lbm, k) for k, m in enumerate(lms)],
                         lambda i: [m.consume_token(i) for m in lms], lapply)
    xms, xbm = [xgr.GrammarMatcher(xg) for _ in range(B)], xgr.allocate_token_bitmask(B, V)
    xgr_ms = ms_per_step(ids, lambda: [m.fill_next_token_bitmask(xbm, k) for k, m in enumerate(xms)],
                         lambda i: [m.accept_token(i) for m in xms], lambda logits: xgr.apply_token_bitmask_inplace(logits, xbm))
    print(json.dumps({'ms_per_step_batch16': {'llguidance': round(llg_ms, 2), 'xgrammar': round(xgr_ms, 2)}, 'steps': len(ids)}))
