"Several processes: `accelerate launch` runs `toolcall-lab train` unchanged as 2 data-parallel processes (gloo on a CPU): both end with the same LoRA weights and loss, and only the main process writes — one experiment folder, one log row per step. A parallel rank sweep runs its runs at the same time, one process each."
import csv, json, os, socket, subprocess, sys, textwrap
from pathlib import Path

import pytest

from toolcall_lab import config as C, train as T
from toolcall_lab.models import UserError

ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = [sys.executable, '-m', 'accelerate.commands.launch']  # `accelerate launch`, from this interpreter's environment
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'HF_HUB_OFFLINE': '1',
       'CUDA_VISIBLE_DEVICES': ''}
TINY = dict(model='tiny', data=['structural'], n_train=16, n_eval=4, max_steps=4, batch_size=2, eval_steps=2, save_steps=2, rank=4,
            max_length=384, lr=1e-2)
# `toolcall-lab train` as the console script runs it, plus a test-only callback: each process writes a fingerprint of its
# final LoRA weights and its last logged loss into a folder outside the experiment
SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys
    from transformers import TrainerCallback
    from toolcall_lab import cli, train as T

    class Fingerprint(TrainerCallback):
        def on_train_end(self, args, state, control, model=None, **kw):
            h = hashlib.sha256()
            for name, p in sorted(model.named_parameters()):
                if p.requires_grad: h.update(name.encode()); h.update(p.detach().float().numpy().tobytes())
            loss = next((l['loss'] for l in reversed(state.log_history) if 'loss' in l), None)
            with open(os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.json"), 'w') as f:
                json.dump(dict(weights=h.hexdigest(), loss=loss, steps=state.global_step, world=int(os.environ['WORLD_SIZE'])), f)

    cli.train = lambda cfg, **kw: T.train(cfg, callbacks=[Fingerprint()], **kw)
    cli.main(sys.argv[2:])
''')


def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _flags(d: dict) -> list:
    return [x for k, v in d.items() for x in (f"--{k.replace('_', '-')}", *(map(str, v) if isinstance(v, list) else [str(v)]))]


def test_two_processes_train_one_run(tmp_path):
    (tmp_path/'run.py').write_text(SCRIPT)
    prints, out = tmp_path/'prints', tmp_path/'experiments'
    prints.mkdir()
    # --multi_gpu starts the processes through torchrun; with no GPU visible they train on the CPU and talk over gloo
    # (accelerate's own --cpu multi-process mode would need mpirun)
    cmd = [*ACCELERATE, '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(_free_port()),
           str(tmp_path/'run.py'), str(prints), 'train', *_flags({**TINY, 'output_dir': out})]
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    ranks = [json.loads((prints/f'rank{r}.json').read_text()) for r in (0, 1)]
    assert ranks[0]['world'] == ranks[1]['world'] == 2 and ranks[0]['steps'] == 4
    assert ranks[0]['weights'] == ranks[1]['weights']  # DDP kept the two copies of the adapter identical
    assert ranks[0]['loss'] == ranks[1]['loss']
    (run,) = list(out.iterdir())  # one experiment folder: the main process made it and told the other its name
    cfg = json.loads((run/'experiment_config.json').read_text())
    assert cfg['processes'] == 2 and cfg['steps'] == 4 and cfg['final_train_loss'] == pytest.approx(ranks[0]['loss'])
    rows = list(csv.DictReader(open(run/'training_log.csv')))
    assert [int(r['step']) for r in rows if r['train_loss']] == [1, 2, 3, 4]  # each step once: only the main process logs
    assert [int(r['step']) for r in rows if r['eval_loss']] == [2, 4]
    assert (run/'final_model'/'adapter_model.safetensors').exists() and (run/'final_model'/'tokenizer_config.json').exists()
    assert p.stdout.count(f'{run.name}: 4 steps') == 1  # the summary is printed once


def test_parallel_sweep_runs_at_once(tmp_path, monkeypatch):
    for k, v in ENV.items(): monkeypatch.setenv(k, v)
    cfg = C.TrainConfig(**{**TINY, 'max_steps': 2, 'output_dir': str(tmp_path/'sweep')})
    runs = T.sweep(cfg, [2, 4], parallel=True, gpus=2)
    assert len(set(runs)) == 2 and all(r.parent == tmp_path/'sweep' for r in runs)
    configs = [json.loads((r/'experiment_config.json').read_text()) for r in runs]
    assert [(c['config']['rank'], c['config']['alpha'], c['steps']) for c in configs] == [(2, 4, 2), (4, 8, 2)]  # in the order of the ranks
    assert max(c['started'] for c in configs) <= min(c['finished'] for c in configs)  # the two trainings overlapped in time
    assert all((r/'train_process.log').stat().st_size > 0 and (r/'final_model').is_dir() for r in runs)


def test_parallel_sweep_names_every_failed_run(tmp_path, monkeypatch):
    seen = []
    def fake_run(cmd, env, **kw):
        seen.append(env['CUDA_VISIBLE_DEVICES'])
        return subprocess.CompletedProcess(cmd, 2, stdout='toolcall-lab train: error: something broke\n')
    monkeypatch.setattr(T.subprocess, 'run', fake_run)
    with pytest.raises(UserError, match=r'the rank-2 run on GPU 0 failed \(exit code 2\); the rank-4 run on GPU 1 failed .*fix: read its output in .*0-r2\.log'):
        T.sweep(C.TrainConfig(model='tiny', output_dir=str(tmp_path)), [2, 4, 8], parallel=True, gpus=2)
    assert sorted(seen) == ['0', '0', '1']  # round-robin: ranks 2 and 8 on GPU 0, rank 4 on GPU 1
