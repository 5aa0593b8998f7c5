"The demo's data and evaluation choices: the language filter end to end, shorter training prompts, renamed tools only in training, and the evaluation speed-up that must not change a token."
import pytest

from toolcall_lab.evaluate import _generate_padded, _generate_shrinking, generate_batch, render_prompts
from toolcall_lab.scoring import eval_turns
from toolcall_lab.models import load_tokenizer, tiny_model
from toolcall_lab.templates import with_tool_template
from toolcall_lab.config import ConfigError, TrainConfig
from toolcall_lab.train import load_data, prepare_datasets

DATA = ['structural', 'when2call', 'helpdesk']


@pytest.fixture(scope='module')
def english(): return load_data(DATA, langs=['en'], train_distractors=[0, 1])


def test_every_split_is_in_the_chosen_language(english):
    for split in ('train', 'validation', 'test'):
        assert set(english[split]['lang']) == {'en'}, split
        assert set(english[split]['dataset']) == set(DATA), split  # the helpdesk speaks English too: three domains stay


def test_the_test_split_is_the_demos(english):
    turns = eval_turns(english['test'])
    assert len(turns) >= 120 and sum(t['decision'] == 'call' for t in turns) >= 48
    assert {t['decision'] for t in turns} == {'call', 'ask', 'answer', 'decline'}


def test_unknown_or_unreadable_languages_fail_early():
    with pytest.raises(ConfigError, match='langs'): TrainConfig(langs=['xx'])
    with pytest.raises(ConfigError, match='langs'): TrainConfig(langs=[])
    with pytest.raises(ConfigError, match='train_distractors'): TrainConfig(train_distractors=[2, 1])


def test_fewer_distractors_only_in_training(english):
    default = load_data(DATA, langs=['en'])
    n_tools = lambda ds: sum(len(r) for r in ds['tools']) / len(ds)
    assert n_tools(english['train']) < n_tools(default['train'])
    assert english['test']['tools'] == default['test']['tools']  # the test prompts never change with the training recipe


def test_renamed_tools_only_in_training():
    tok = with_tool_template(load_tokenizer(), 'compact')
    cfg = dict(data=['when2call'], langs=['en'], fmt='compact', n_train=24, n_eval=4)
    plain, _ = prepare_datasets(TrainConfig(**cfg), tok, verbose=False)
    renamed, val = prepare_datasets(TrainConfig(**cfg, rename_share=1.0), tok, verbose=False)
    assert plain['input_ids'] != renamed['input_ids']
    plain_val = prepare_datasets(TrainConfig(**cfg), tok, verbose=False)[1]
    assert plain_val['input_ids'] == val['input_ids']


@pytest.mark.parametrize('batch_size', [1, 3, 8])
def test_dropping_finished_rows_changes_no_token(english, batch_size):
    "The shrinking loop against transformers' generate, with stops that end rows at different steps."
    tok = with_tool_template(load_tokenizer(), 'compact')
    model = tiny_model(tok)
    prompts = render_prompts(tok, eval_turns(english['test'])[:8], 'compact')[:batch_size]
    free, _ = _generate_padded(model, tok, prompts, 10, [len(tok) - 1])
    for stops in ([free[0][1]], [free[-1][4], free[0][7]], [len(tok) - 1]):
        reference, _ = _generate_padded(model, tok, prompts, 10, stops)
        assert _generate_shrinking(model, tok, prompts, 10, stops)[0] == reference
    a = generate_batch(model, tok, prompts, 'compact', 10, batch_size, shrink=True)
    b = generate_batch(model, tok, prompts, 'compact', 10, batch_size, shrink=False)
    assert [g.text for g in a] == [g.text for g in b]


def test_training_prompts_with_distractors_make_the_model_choose():
    "With 1-2 unneeded tools (the demo's setting) every call record offers more tools than it needs, and the needed one is not always listed first."
    dd = load_data(DATA, langs=['en'], train_distractors=[1, 2])
    firsts, n = 0, 0
    for r in dd['train'].select(range(600)):
        needed = {tc['function']['name'] for m in r['messages'] if m.get('tool_calls') for tc in m['tool_calls']}
        if not needed: continue
        offered = [t['function']['name'] for t in r['tools']]
        assert len(set(offered) - needed) >= 1, (r['id'], offered, needed)
        firsts += offered[0] in needed; n += 1
    assert n > 200 and 0.2 < firsts / n < 0.8, (firsts, n)


def test_learning_curve_lines_replace_a_rerun_of_the_same_checkpoint(tmp_path):
    import importlib.util, json
    from pathlib import Path
    spec = importlib.util.spec_from_file_location('learning_curve', Path(__file__).parents[1]/'bench'/'learning_curve.py')
    lc = importlib.util.module_from_spec(spec); spec.loader.exec_module(lc)
    p = tmp_path/'curve.jsonl'
    for line in (dict(run='a', step=25, v=1), dict(run='a', step=50, v=1), dict(run='b', step=25, v=1), dict(run='a', step=25, v=2)):
        lc.write_line(p, line)
    assert [json.loads(l) for l in p.read_text().splitlines()] == [dict(run='a', step=50, v=1), dict(run='b', step=25, v=1), dict(run='a', step=25, v=2)]
