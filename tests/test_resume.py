"Resume robustness: a run killed while writing a checkpoint resumes from the last complete one and ends with the same loss curve as a run never interrupted; throughput after a resume counts only the resumed part; whole-file writes are atomic; a failed start leaves no folder."
import csv, json, os, signal, subprocess, sys, textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from toolcall_lab import config as C, train as T
from toolcall_lab.models import UserError

ROOT = Path(__file__).resolve().parent.parent
# Run in subprocesses so a SIGKILL ends only the run; one thread each, so the float sums match between processes.
SCRIPT = textwrap.dedent('''
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from toolcall_lab.config import TrainConfig
    from toolcall_lab.train import train
    mode, out = sys.argv[1], sys.argv[2]
    if mode == 'resume':
        from toolcall_lab.cli import main
        main(['train', '--resume', sys.argv[3]])
        sys.exit(0)
    if mode == 'kill':  # SIGKILL while checkpoint-4 is written: its optimizer.pt is half on disk, trainer_state.json never comes
        real_save = torch.save
        def save(obj, f, *a, **k):
            if 'checkpoint-4' in str(f) and str(f).endswith('optimizer.pt'):
                with open(f, 'wb') as fh: fh.write(b'partial optimizer state')
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *a, **k)
        torch.save = save
    train(TrainConfig(model='tiny', data=['structural'], n_train=16, n_eval=2, max_steps=6, save_steps=2, eval_steps=3,
                      batch_size=1, rank=4, max_length=256, lr=5e-2, output_dir=out))  # a high lr, so a wrongly restored state shows
''')
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'HF_HUB_OFFLINE': '1'}


def _start(tmp, *args):
    return subprocess.Popen([sys.executable, str(tmp/'run.py'), *map(str, args)], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_dir(parent: Path) -> Path:
    (d,) = [p for p in parent.iterdir() if p.is_dir()]
    return d


def _curve(run: Path) -> dict:
    "`{step: train_loss}` from a run's training_log.csv, one row per step."
    rows = [r for r in csv.DictReader(open(run/'training_log.csv')) if r['train_loss']]
    steps = [int(r['step']) for r in rows]
    assert steps == sorted(set(steps)), f'duplicate or unordered steps in the log: {steps}'
    return {int(r['step']): float(r['train_loss']) for r in rows}


def _tokens(checkpoint: Path) -> int:
    return json.loads((checkpoint/'trainer_state.json').read_text())['num_input_tokens_seen']


def test_kill_during_checkpoint_save_then_resume_matches_uninterrupted_run(tmp_path):
    (tmp_path/'run.py').write_text(SCRIPT)
    full, killed = _start(tmp_path, 'full', tmp_path/'full'), _start(tmp_path, 'kill', tmp_path/'killed')
    out_full, err_full = full.communicate(timeout=300)
    _, err_killed = killed.communicate(timeout=300)
    assert full.returncode == 0, err_full[-3000:]
    assert killed.returncode == -signal.SIGKILL, err_killed[-3000:]
    run = _run_dir(tmp_path/'killed')
    assert (run/'checkpoint-4'/'optimizer.pt').read_bytes() == b'partial optimizer state'
    assert not (run/'checkpoint-4'/'trainer_state.json').exists()
    assert [T.checkpoint_complete(run/c) for c in ('checkpoint-2', 'checkpoint-4')] == [True, False]
    tokens_at_2 = _tokens(run/'checkpoint-2')

    resumed = _start(tmp_path, 'resume', tmp_path/'killed', run)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert 'resuming from checkpoint-2' in out and 'incomplete checkpoint-4' in out, out

    reference = _run_dir(tmp_path/'full')
    want, got = _curve(reference), _curve(run)
    assert list(got) == list(want) == [1, 2, 3, 4, 5, 6]
    assert got == pytest.approx(want, rel=1e-5), (got, want)
    assert max(want.values()) - min(want.values()) > 0.05, want  # the curve moves: a wrong resume would not match it by chance

    # throughput of the resumed part: its own tokens (total minus those seen at checkpoint-2) over its own seconds
    summary = json.loads((run/'experiment_config.json').read_text())
    total = _tokens(run/'checkpoint-6')
    assert total == _tokens(reference/'checkpoint-6') and 0 < tokens_at_2 < total
    assert summary['resumed_from_step'] == 2 and summary['steps'] == 6
    assert summary['train_tokens'] == total - tokens_at_2
    assert summary['tokens_per_s'] == pytest.approx(summary['train_tokens'] / summary['train_seconds'], rel=0.15)
    ref_summary = json.loads((reference/'experiment_config.json').read_text())
    assert ref_summary['train_tokens'] == total and ref_summary['resumed_from_step'] is None


def _checkpoint(out: Path, step: int, files=('adapter_model.safetensors', 'optimizer.pt', 'scheduler.pt'), state='ok') -> Path:
    cp = out/f'checkpoint-{step}'
    cp.mkdir(parents=True)
    for name in files: (cp/name).write_bytes(b'\x00weights')
    if state == 'ok': (cp/'trainer_state.json').write_text(json.dumps({'global_step': step, 'num_input_tokens_seen': 100 * step}))
    elif state is not None: (cp/'trainer_state.json').write_text(state)
    return cp


@pytest.mark.parametrize('broken', [
    dict(state=None),  # killed before the trainer state was written
    dict(state='{"global_step": 4, "log_hi'),  # killed while writing it
    dict(state='{"global_step": 3}'),  # a state from another step
    dict(files=('adapter_model.safetensors', 'scheduler.pt')),  # no optimizer
    dict(files=('optimizer.pt', 'scheduler.pt')),  # no weights
])
def test_incomplete_checkpoint_is_skipped_and_removed(tmp_path, capsys, broken):
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 4, **broken)
    assert T.resume_checkpoint(tmp_path).name == 'checkpoint-2'
    assert 'resuming from checkpoint-2' in capsys.readouterr().out
    assert not (tmp_path/'checkpoint-4').exists()


def test_empty_weights_file_is_incomplete(tmp_path):
    cp = _checkpoint(tmp_path, 2)
    (cp/'optimizer.pt').write_bytes(b'')
    assert not T.checkpoint_complete(cp)
    with pytest.raises(UserError, match='no complete checkpoint to resume from'): T.resume_checkpoint(tmp_path)


def test_resume_folder_errors(tmp_path):
    with pytest.raises(UserError, match='resume folder .* does not exist'): T.resume_checkpoint(tmp_path/'nowhere')
    with pytest.raises(UserError, match='experiment_config.json does not exist'): T.resume_config(tmp_path)


def test_throughput_after_resume_counts_only_resumed_tokens():
    state = SimpleNamespace(global_step=6, num_input_tokens_seen=3000, log_history=[{'loss': 2.0}, {'loss': 1.0, 'num_tokens': 2000}])
    s = T._run_summary(SimpleNamespace(state=state), 10.0, 'cpu', start_tokens=T._tokens_seen({'num_input_tokens_seen': 1200}), resumed_from=2)
    assert (s['train_tokens'], s['tokens_per_s'], s['resumed_from_step']) == (1800, 180.0, 2)
    assert T._run_summary(SimpleNamespace(state=state), 10.0, 'cpu')['tokens_per_s'] == 300.0


def test_atomic_write_keeps_old_file_when_write_fails_midway(tmp_path, monkeypatch):
    f = tmp_path/'experiment_config.json'
    C.atomic_write(f, '{"old": true}')
    def fail(fd): raise OSError('disk full')  # strikes after the new text was written to the temp file
    monkeypatch.setattr(os, 'fsync', fail)
    with pytest.raises(OSError, match='disk full'): C.atomic_write(f, '{"new": true, "much": "longer text"}')
    assert f.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ['experiment_config.json']


def test_truncate_log_is_atomic(tmp_path, monkeypatch):
    log = tmp_path/'training_log.csv'
    cb = T.CSVLogCallback(log)
    for step in (1, 2, 3):
        cb.on_log(None, SimpleNamespace(global_step=step, epoch=step / 3), None, logs={'loss': 1.0 / step})
    before = log.read_text()
    monkeypatch.setattr(os, 'replace', lambda *a: (_ for _ in ()).throw(OSError('killed')))
    with pytest.raises(OSError): T.truncate_log(log, 1)
    assert log.read_text() == before
    monkeypatch.undo()
    T.truncate_log(log, 2)
    assert [r['step'] for r in csv.DictReader(open(log))] == ['1', '2']


@pytest.fixture(scope='module')
def tiny():
    from toolcall_lab.models import load_model
    return load_model('tiny')


def test_failed_start_leaves_no_folder(tmp_path, monkeypatch, tiny):
    cfg = C.TrainConfig(model='tiny', data=['structural'], n_train=4, n_eval=2, max_steps=1, batch_size=2, output_dir=str(tmp_path/'a'))
    def no_model(*a, **k): raise OSError('model load failed')
    monkeypatch.setattr(T, 'load_model', no_model)
    with pytest.raises(OSError, match='model load failed'): T.train(cfg)
    assert not (tmp_path/'a').exists()
    # PEFT refuses the LoRA settings after the folder was made: the folder goes again
    bad = C.TrainConfig(**{**T.asdict(cfg), 'target_modules': ['no_such_proj'], 'output_dir': str(tmp_path/'b')})
    with pytest.raises(ValueError, match='no_such_proj'): T.train(bad, *tiny)
    assert list((tmp_path/'b').iterdir()) == []
    # a bad config fails before anything: no folder, no model
    with pytest.raises(C.ConfigError, match="config key 'data'"):
        T.train(C.TrainConfig(**{**T.asdict(cfg), 'data': ['missing.jsonl'], 'output_dir': str(tmp_path/'c')}))
    assert not (tmp_path/'c').exists()


def test_failed_start_on_bad_data_leaves_no_folder(tmp_path, tiny):
    from toolcall_lab.data import DataError
    bad = tmp_path/'bad.jsonl'
    bad.write_text('\n'.join(json.dumps({'messages': [{'role': 'user', 'content': f'q{i}'}, {'role': 'assistant', 'tool_calls': 'not a list'}]})
                             for i in range(12)) + '\n')
    cfg = C.TrainConfig(model='tiny', data=[str(bad)], n_train=4, n_eval=2, max_steps=1, batch_size=2, output_dir=str(tmp_path/'runs'))
    with pytest.raises((DataError, UserError)): T.train(cfg, *tiny)
    assert not (tmp_path/'runs').exists() or not any((tmp_path/'runs').iterdir())
