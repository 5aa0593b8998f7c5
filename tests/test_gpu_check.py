"bench/gpu_check.py --dry: the GPU check's every stage runs on a CPU with the tiny model and prints one strict-JSON summary, so the script keeps working where no GPU is."
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ['load', 'eval_before', 'train', 'eval_after', 'merge', 'gguf_export', 'gguf_parity']


def test_gpu_check_dry_runs_every_stage(tmp_path):
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false'}
    p = subprocess.run([sys.executable, 'bench/gpu_check.py', '--dry', '--out', str(tmp_path/'summary.json')], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-2000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1], parse_constant=lambda c: pytest_fail(f'{c} in the JSON'))
    assert summary == json.loads((tmp_path/'summary.json').read_text())
    assert {'ok', 'dry', 'device', 'model', 'settings', 'stages', 'total_seconds', 'versions'} <= set(summary)
    assert (summary['dry'], summary['device'], summary['model'], summary['ok']) == (True, 'cpu', 'tiny', True)
    assert summary['settings']['optim'] == 'adamw_torch' and summary['settings']['load_in_4bit'] is False
    assert list(summary['stages']) == STAGES
    for name, s in summary['stages'].items():
        assert s['ok'], (name, s)
        assert s['seconds'] >= 0 and s['peak_memory_gb'] > 0, (name, s)
    st = summary['stages']
    assert st['train']['steps'] == 2 and st['train']['tokens_per_s'] > 0 and st['train']['final_train_loss'] > 0
    assert st['eval_before']['turns'] == st['eval_after']['turns'] == 4
    assert st['gguf_parity']['parity_ok'] and st['gguf_parity']['greedy_equal'] and st['gguf_parity']['positions'] > 0


def pytest_fail(msg):
    raise AssertionError(msg)
