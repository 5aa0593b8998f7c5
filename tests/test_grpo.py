"""GRPO (lesson 07b, `toolcall_lab.rl`): the reward is lesson 06's scoring read part by part, the prompt pool comes from
training records the fine-tuning run never reached, TRL sees the prompts token for token as evaluation does, the configs
are checked key by key, and two real GRPO steps run on the tiny model through `run_grpo` and through `toolcall-lab grpo`."""
import json
from pathlib import Path

import pytest
import yaml
from peft import LoraConfig, get_peft_model

from toolcall_lab import rl
from toolcall_lab.cli import main
from toolcall_lab.config import ConfigError, Experiment
from toolcall_lab.evaluate import left_padded_batch, render_prompts
from toolcall_lab.formats import get_format, make_call
from toolcall_lab.models import UserError, load_model, load_tokenizer
from toolcall_lab.scoring import eval_turns
from toolcall_lab.templates import llama3_tokenizer, qwen_tokenizer, with_tool_template
from toolcall_lab.train import load_data

ROOT = Path(__file__).resolve().parent.parent
SFT = {'data': ['structural', 'when2call', 'helpdesk'], 'langs': ['en'], 'train_distractors': [1, 2], 'rename_share': 0.5,
       'seed': 42, 'n_train': 1000, 'fmt': 'compact'}  # the demo's fine-tuning settings


@pytest.fixture(scope='module')
def pool(): return rl.grpo_prompts(SFT, 32)


def _columns(turn, n):
    return dict(gold=[json.dumps(turn['gold'])] * n, tools=[json.dumps(turn['tools'])] * n, decision=[turn['decision']] * n,
                acceptable=[json.dumps(turn['gold'].get('acceptable'))] * n)


def _rewards(turn, texts, fmt='compact'):
    "Each part's reward for each text, and the weighted total."
    cols = _columns(turn, len(texts))
    parts = {p: rl.reward_function(p, fmt)(texts, **cols) for p in rl.REWARD_PARTS}
    return parts, rl.total_reward(rl.score_completions(texts, **cols, fmt=fmt))


def test_the_pool_is_unseen_and_half_calls(pool):
    dd = load_data(SFT['data'], langs=SFT['langs'], train_distractors=SFT['train_distractors'])
    trained = rl.unseen_training_records(SFT, skip_trained=False).select(range(SFT['n_train']))
    assert len(rl.unseen_training_records(SFT)) == len(dd['train']) - SFT['n_train']
    trained_ids = {t['id'].rsplit(':', 1)[0] for t in eval_turns(trained)}
    assert not trained_ids & {t['id'].rsplit(':', 1)[0] for t in pool}  # no prompt from a record the fine-tuning run trained on
    assert sum(t['decision'] == 'call' for t in pool) == 16 and len(pool) == 32
    assert sum(t['decision'] == 'call' for t in rl.grpo_prompts(SFT, 32, call_share=0.75)) == 24
    assert {t['decision'] for t in pool} == {'call', 'answer', 'ask', 'decline'}
    with pytest.raises(UserError, match='set skip_trained: false'): rl.grpo_prompts({**SFT, 'n_train': None}, 32)


def test_reward_parts_follow_the_scoring(pool):
    turn = next(t for t in pool if t['decision'] == 'call' and len(t['gold']['tool_calls']) == 1)
    f = turn['gold']['tool_calls'][0]['function']
    args = json.loads(f['arguments']) if isinstance(f['arguments'], str) else f['arguments']
    fmt = get_format('compact')
    texts = [fmt.render_calls([make_call(f['name'], args)]), fmt.render_calls([make_call(f['name'], args | {'zzz': 1})]),
             fmt.render_calls([make_call('not_offered', args)]), 'Sure, happy to help.', fmt.render_calls([make_call(f['name'], args)])[:-14]]
    parts, total = _rewards(turn, texts)
    assert parts['decision'] == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert parts['call'] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert parts['valid'][:3] == [1.0, 0.0, 0.0] and parts['valid'][3] is None and parts['valid'][4] == 0.0
    assert parts['hallucination'] == [0.0, -1.0, -1.0, 0.0, 0.0]
    assert total[0] == 2.5 and total[0] > max(total[1:]) and total[3] < total[1]


def test_reward_where_no_call_is_wanted(pool):
    turn = next(t for t in pool if t['decision'] == 'answer')
    name = turn['tools'][0]['function']['name']
    parts, total = _rewards(turn, [turn['gold']['content'], get_format('compact').render_calls([make_call(name, {})])])
    assert parts['call'] == [None, None] and parts['decision'] == [1.0, 0.0]
    assert total[0] > total[1]


@pytest.mark.parametrize('family', ['smollm2', 'llama3', 'qwen'])
def test_trl_sees_the_prompt_evaluation_renders(pool, family):
    "TRL tokenizes text prompts with special tokens: the ids it gets must be the ids evaluation generates from (Llama 3's tokenizer adds a BOS the template already wrote)."
    tok = {'smollm2': load_tokenizer, 'llama3': llama3_tokenizer, 'qwen': qwen_tokenizer}[family]()
    with_tool_template(tok, 'compact')
    turns = pool[:3]
    ds = rl.prompt_dataset(tok, turns, 'compact')
    for row, text in zip(ds, render_prompts(tok, turns, 'compact')):
        assert tok(text=row['prompt'])['input_ids'] == tok(text, add_special_tokens=False)['input_ids']
    enc = left_padded_batch(tok, render_prompts(tok, turns[:1], 'compact'))
    assert tok(text=ds[0]['prompt'])['input_ids'] == enc['input_ids'][0][enc['attention_mask'][0].bool()].tolist()


@pytest.mark.parametrize('name', ['grpo-cpu', 'grpo-gpu-24gb'])
def test_configs_are_checked_and_build_trl_settings(name, tmp_path):
    path = ROOT/'configs'/f'{name}.yaml'
    d = yaml.safe_load(path.read_text())
    cfg = rl.load_grpo_config(path, adapter='x')
    assert {k: getattr(cfg, k) for k in d} == d  # every key read as written
    device = 'cpu' if name.endswith('cpu') else 'cuda'
    args = rl.grpo_args(cfg, tmp_path, 'cpu') if device == 'cpu' else None  # the GPU file's dry run: the same checks, TRL's config on a CPU
    if args is None: args = rl.grpo_args(rl.grpo_config({**d, 'bf16': False}), tmp_path, 'cpu')
    assert args.per_device_train_batch_size == cfg.prompts_per_step * cfg.num_generations and args.num_generations == cfg.num_generations
    assert args.beta == cfg.beta > 0 and args.max_steps == cfg.max_steps


@pytest.mark.parametrize('d, key, says', [({'lr': 'fast'}, 'lr', 'valid number'), ({'num_generation': 4}, 'num_generation', 'not a GRPO setting'),
                                          ({'num_generations': 1}, 'num_generations', 'at least 2'), ({'call_share': 1.5}, 'call_share', 'from 0 to 1'),
                                          ({'beta': -0.1}, 'beta', 'at least 0'), ({'weights': {'style': 1.0}}, 'weights', 'style'),
                                          ({'weights': {'call': 'high'}}, 'weights', 'valid number'), ({'prompts': 2}, 'prompts', 'fewer than prompts_per_step'),
                                          ({'temperature': float('inf')}, 'temperature', 'finite')])
def test_bad_settings_name_the_key(d, key, says):
    with pytest.raises(ConfigError, match=says) as e: rl.grpo_config(d)
    assert e.value.key == key


@pytest.fixture(scope='module')
def tiny_sft(tmp_path_factory):
    "A fine-tuning run folder with a LoRA adapter on the tiny model and the demo's data settings."
    run = tmp_path_factory.mktemp('sft')
    model, tok = load_model('tiny'); with_tool_template(tok, 'compact')
    get_peft_model(model, LoraConfig(r=4, target_modules='all-linear')).save_pretrained(run/'final_model'); tok.save_pretrained(run/'final_model')
    Experiment(run).write_config({'config': SFT})
    return run/'final_model'


def test_two_grpo_steps_on_the_tiny_model(tiny_sft, tmp_path):
    cfg = rl.GRPORun(adapter=str(tiny_sft), model='tiny', prompts=4, prompts_per_step=2, num_generations=2, max_steps=2,
                     max_completion_length=16, evaluate=False, output_dir=str(tmp_path))
    exp = Experiment(rl.run_grpo(cfg, device='cpu'))
    log = exp.read_log()
    assert list(log['step']) == [1, 2] and {'reward', 'kl', *rl.REWARD_PARTS} <= set(log.columns)
    assert (exp.final_model/'adapter_model.safetensors').is_file() and not (exp.final_model/'ref').exists()  # TRL's frozen copy is not saved
    run = exp.read_config()
    assert run['summary']['steps'] == 2 and len(run['prompts']) == 4 and run['sft'] == SFT
    model, _ = load_model('tiny', adapter=exp.final_model)  # the saved adapter loads back
    assert model is not None


def test_the_command_runs_two_steps_and_refuses_bad_input(tiny_sft, tmp_path, capsys):
    cfg = tmp_path/'g.yaml'
    cfg.write_text(yaml.safe_dump(dict(prompts=4, prompts_per_step=2, num_generations=2, max_completion_length=16, evaluate=False)))
    main(['grpo', '--config', str(cfg), '--adapter', str(tiny_sft), '--model', 'tiny', '--max-steps', '2', '--output-dir', str(tmp_path/'runs')])
    out = capsys.readouterr().out
    assert 'mean reward by quarter' in out and len(Experiment(out.strip().splitlines()[-1]).read_log()) == 2
    for argv, says in [(['grpo', '--max-steps', '2'], 'grpo starts from a fine-tuned adapter'),
                       (['grpo', '--adapter', str(tmp_path)], 'is missing'),
                       (['grpo', '--config', str(cfg), '--adapter', str(tiny_sft), '--prompts', '0'], "config key 'prompts'")]:
        with pytest.raises(SystemExit) as e: main(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err
