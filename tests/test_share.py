"Sharing a run: the model card holds every headline metric before and after with the worse ones marked; `push` stages an adapter or a merged model that loads back and computes what the run's own adapter computes; bad input and Hub failures end in one clear line; the Hub path is two `HfApi` calls, tested here with those calls replaced."
import contextlib, io, json, shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import ModelCard
from hypothesis import given, settings, strategies as st

from toolcall_lab import share
from toolcall_lab.scoring import HEADLINE, LOWER_IS_BETTER
from toolcall_lab.report import got_worse, metric_table
from toolcall_lab.models import OFFLINE_MODELS, load_model
from toolcall_lab.share import model_card, push

DEMO = Path(__file__).resolve().parent.parent/'nbs'/'runs'/'demo'
EVAL_FILES = ['eval_base.json', 'eval_base.csv', 'eval_lora.json', 'eval_lora.csv']


@pytest.fixture(scope='module')
def exp(tmp_path_factory):
    "A real two-step training run of the tiny model (high lr, so the adapter changes the model), with the stored demo's evaluation files."
    from toolcall_lab.config import TrainConfig
    from toolcall_lab.train import train
    torch.set_num_threads(2)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        out = train(TrainConfig(model='tiny', data=['when2call'], rank=4, lr=1e-2, max_steps=2, eval_steps=2, save_steps=2,
                                batch_size=2, n_train=4, n_eval=2, output_dir=str(tmp_path_factory.mktemp('experiments'))))
    for f in EVAL_FILES: shutil.copy(DEMO/f, out)
    return out


def _variant(exp, dst, evals=EVAL_FILES, **config) -> Path:
    "A copy of the run with some evaluation files and config keys changed (nothing else)."
    shutil.copytree(exp, dst, ignore=shutil.ignore_patterns('eval_*', 'checkpoint-*'))
    for f in evals: shutil.copy(exp/f, dst)
    doc = json.loads((dst/'experiment_config.json').read_text())
    doc['config'] |= config
    (dst/'experiment_config.json').write_text(json.dumps(doc))
    return dst


def _rows(table:str) -> dict:
    "`{metric: [cells...]}` of a Markdown metric table."
    out = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        out[cells[0].removesuffix(' ↓')] = cells[1:]
    return out


def _logits(model, tok):
    prompt = tok.apply_chat_template([{'role': 'user', 'content': 'Weather in Seoul?'}], tokenize=False, add_generation_prompt=True)
    with torch.inference_mode(): return model(**tok(prompt, return_tensors='pt', add_special_tokens=False)).logits


# ------------------------------------------------------------------ the card

def test_card_front_matter_and_every_headline_metric(exp):
    card = model_card(exp, 'me/tiny-toolcall', license='apache-2.0')
    meta = ModelCard(card).data.to_dict()
    assert (meta['library_name'], meta['license'], meta['tags']) == ('peft', 'apache-2.0', ['lora', 'tool-calling', 'trl', 'toolcall-lab'])
    assert 'base_model' not in meta and 'datasets' not in meta  # the tiny model and the built-in data have no Hub id
    assert 'license' not in ModelCard(model_card(exp)).data.to_dict()
    for section in ['## Base model', '## Training data', '## Training settings', '## Evaluation', '## How to use it', '## Limitations']:
        assert section in card
    rows = _rows(card.split('## Evaluation')[1].split('## How to use')[0].strip().split('\n\n')[-1])
    assert list(rows) == list(HEADLINE)
    saved = {t: json.loads((DEMO/f'eval_{t}.json').read_text())['metrics'] for t in ('base', 'lora')}
    for k, (before, after, change) in rows.items():
        a, b = saved['base'][k]['value'], saved['lora'][k]['value']
        assert before.startswith(f'{a:.3f}') and after.startswith(f'{b:.3f}'), k
        assert change.startswith(f'{b - a:+.3f}'), k
        assert change.endswith('**worse**') == ((b > a) if k in LOWER_IS_BETTER else (b < a)), k
    assert sum(c.endswith('**worse**') for *_, c in rows.values()) >= 1  # the stored demo did get worse somewhere


def test_card_settings_and_data_come_from_the_run(exp):
    run = json.loads((exp/'experiment_config.json').read_text())
    card = model_card(exp)
    for text in [f"| LoRA rank / alpha / dropout | 4 / 8 / {run['config']['dropout']} |", f"{run['train_seconds']} s on {run['device']}",
                 f"{run['tokens_per_s']} tokens/s", '| tool-call format | `hermes` |', '| max length | 512 tokens |', '- `when2call`: built-in synthetic',
                 f"{run['n_train']} training records and {run['n_eval']} validation records", "PeftModel.from_pretrained(base, 'your-name/"]:
        assert text in card, text


def test_card_for_offline_base_merged_and_hub_data(exp, tmp_path):
    v = _variant(exp, tmp_path/'smol', model='smollm2-135m', data=['structural', 'someone/toolcalls'], fmt='compact')
    card = model_card(v, 'me/smol', merged=True)
    meta = ModelCard(card).data.to_dict()
    assert meta['base_model'] == OFFLINE_MODELS['smollm2-135m'].source and meta['library_name'] == 'transformers'
    assert meta['datasets'] == ['someone/toolcalls']
    assert OFFLINE_MODELS['smollm2-135m'].filename in card  # says the weights it trained on are a converted GGUF
    assert "AutoModelForCausalLM.from_pretrained('me/smol')" in card and 'PeftModel' not in card and '--model smol --fmt compact' in card


def test_card_without_results_says_so(exp, tmp_path):
    none = model_card(_variant(exp, tmp_path/'none', evals=[]))
    assert 'No evaluation results were found' in none and '| metric |' not in none and '**worse**' not in none
    one = model_card(_variant(exp, tmp_path/'one', evals=['eval_base.json']))
    assert 'Only `eval_base.json` was found' in one and '| metric | base |' in one and '| change |' not in one


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(HEADLINE), st.none() | st.floats(0, 1), st.none() | st.floats(0, 1))
def test_worse_follows_the_metric_direction(metric, a, b):
    pair = {t: {'metrics': {metric: {'value': float('nan') if v is None else v}}} for t, v in (('base', a), ('lora', b))}
    change = _rows(metric_table(pair))[metric][-1]
    expected = a is not None and b is not None and (b > a if metric in LOWER_IS_BETTER else b < a)
    assert got_worse(metric, a, b) == expected and change.endswith('**worse**') == expected
    assert change == 'n/a' if None in (a, b) else change.startswith(f'{b - a:+.3f}')


# ------------------------------------------------------------------ push to a local folder

def test_push_adapter_layout_and_reload_parity(exp, tmp_path):
    path = Path(push(exp, 'me/tiny-toolcall', local_dir=tmp_path))
    assert path == tmp_path/'me'/'tiny-toolcall'
    files = {str(p.relative_to(path)) for p in path.rglob('*') if p.is_file()}
    assert {'README.md', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer_config.json', 'chat_template.jinja',
            'results/training_log.csv', 'results/experiment_config.json', *(f'results/{f}' for f in EVAL_FILES)} <= files
    assert 'training_args.bin' not in files and not any(f.startswith('checkpoint') for f in files)
    assert (path/'README.md').read_text() == model_card(exp, 'me/tiny-toolcall')
    orig, tok = load_model('tiny', adapter=exp/'final_model')
    pushed, ptok = load_model('tiny', adapter=path)
    base, _ = load_model('tiny', device='cpu', dtype=torch.float32)
    lo, lp = _logits(orig, tok), _logits(pushed, ptok)
    assert torch.equal(lo, lp)
    assert (lo - _logits(base, tok)).abs().max() > 1e-3  # the adapter matters, so equality above means something
    assert ptok.chat_template == tok.chat_template


def test_push_adapter_names_the_hub_base(exp, tmp_path):
    v = _variant(exp, tmp_path/'smol', model='smollm2-135m')
    path = Path(push(v, 'me/smol', local_dir=tmp_path/'hub'))
    cfg = json.loads((path/'adapter_config.json').read_text())
    assert cfg['base_model_name_or_path'] == OFFLINE_MODELS['smollm2-135m'].source
    assert cfg['r'] == json.loads((exp/'final_model'/'adapter_config.json').read_text())['r']


def test_push_merged_matches_the_adapter_and_replaces_the_repo(exp, tmp_path):
    first = Path(push(exp, 'me/tiny', local_dir=tmp_path))
    assert (first/'adapter_config.json').exists()
    path = Path(push(exp, 'me/tiny', merged=True, local_dir=tmp_path))
    assert path == first and not (path/'adapter_config.json').exists() and not (path/'adapter_model.safetensors').exists()
    assert (path/'model.safetensors').exists() and (path/'results'/'eval_lora.json').exists()
    assert ModelCard.load(path/'README.md').data.library_name == 'transformers'
    merged, mtok = load_model(path, device='cpu', dtype=torch.float32)
    orig, tok = load_model('tiny', adapter=exp/'final_model')
    assert (_logits(merged, mtok) - _logits(orig, tok)).abs().max() < 1e-4


# ------------------------------------------------------------------ errors

def test_folder_without_final_model(exp, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'has no final_model/.*fix: pass the folder'): push(tmp_path, 'me/x', local_dir=tmp_path)
    v = _variant(exp, tmp_path/'unfinished')
    shutil.rmtree(v/'final_model')
    with pytest.raises(FileNotFoundError, match=str(v)): push(v, 'me/x', local_dir=tmp_path)
    (tmp_path/'only_adapter').mkdir(); shutil.copytree(exp/'final_model', tmp_path/'only_adapter'/'final_model')
    with pytest.raises(FileNotFoundError, match='experiment_config.json'): push(tmp_path/'only_adapter', 'me/x', local_dir=tmp_path)


@pytest.mark.parametrize('repo_id', ['model-only', 'a/b/c', 'me/bad name', '../escape', 'me/--x', 'me/x.', '', None, 'me/' + 'x' * 97])
def test_bad_repo_id(exp, tmp_path, repo_id):
    with pytest.raises(ValueError, match="'owner/name'"): push(exp, repo_id, local_dir=tmp_path)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ the Hub path, with HfApi replaced

@pytest.fixture
def fake_hub(monkeypatch):
    calls = []
    def create_repo(self, repo_id, **kw):
        calls.append(('create_repo', repo_id, kw, self.token)); return f'https://huggingface.co/{repo_id}'
    def upload_folder(self, **kw):
        calls.append(('upload_folder', kw['repo_id'], kw, sorted(str(p.relative_to(kw['folder_path'])) for p in Path(kw['folder_path']).rglob('*') if p.is_file())))
    monkeypatch.setattr(huggingface_hub.HfApi, 'create_repo', create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, 'upload_folder', upload_folder)
    return calls


def test_hub_push_calls_hfapi_with_the_staged_folder(exp, fake_hub):
    url = push(exp, 'me/tiny-toolcall', token='hf_test')
    assert url == 'https://huggingface.co/me/tiny-toolcall'
    (c_name, c_repo, c_kw, c_token), (u_name, u_repo, u_kw, u_files) = fake_hub
    assert (c_name, c_repo, c_kw, c_token) == ('create_repo', 'me/tiny-toolcall', {'private': True, 'exist_ok': True}, 'hf_test')
    assert (u_name, u_repo, u_kw['delete_patterns']) == ('upload_folder', 'me/tiny-toolcall', '*')
    assert {'README.md', 'adapter_config.json', 'adapter_model.safetensors', 'results/eval_lora.json'} <= set(u_files)
    assert not Path(u_kw['folder_path']).exists()  # the staging folder is temporary
    push(exp, 'me/public', private=False, token='hf_test')
    assert fake_hub[2][2]['private'] is False


@pytest.mark.parametrize('where', ['create_repo', 'upload_folder'])
def test_hub_failure_is_one_line_with_the_fix(exp, monkeypatch, where):
    def fail(self, *a, **kw): raise ConnectionError('[Errno -2] Name or service not known\n  deep inside httpx')
    monkeypatch.setattr(huggingface_hub.HfApi, 'create_repo', lambda self, repo_id, **kw: f'https://huggingface.co/{repo_id}')
    monkeypatch.setattr(huggingface_hub.HfApi, where, fail)
    with pytest.raises(RuntimeError) as e: push(exp, 'me/x', token='hf_test')
    msg = str(e.value)
    assert '\n' not in msg and 'me/x' in msg and 'ConnectionError' in msg and 'hf auth login' in msg and 'HF_TOKEN' in msg
    assert e.value.__suppress_context__


def test_no_token_fails_before_any_hub_call(exp, monkeypatch, fake_hub):
    monkeypatch.setattr(share, 'get_token', lambda: None)
    with pytest.raises(RuntimeError, match='hf auth login.*HF_TOKEN'): push(exp, 'me/x')
    assert fake_hub == []
