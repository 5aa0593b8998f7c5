"""One `make demo` run as a line of the recipe study: its `demo.json` (settings, records seen, training seconds, tokens/s,
headline metrics on the test split, the held-out tools and the validation sample) in the shape `bench/recipe.py` writes,
appended to a study file. Lesson 07 reads the lines; `make demo` runs have no held-out loss.

    .venv/bin/python bench/demo_to_study.py experiments/<run> "R3-demo-d12-rename50 (make demo)" nbs/runs/recipe_study_3.jsonl"""
import json, sys
from pathlib import Path

from toolcall_lab.scoring import HEADLINE

exp, tag, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
d = json.loads((exp/'demo.json').read_text())
r4 = lambda m: {k: None if m.get(k) is None else round(m[k], 4) for k in HEADLINE}
cfg = {k: v for k, v in d['config'].items() if k not in ('output_dir', 'eval_steps', 'save_steps', 'keep_checkpoints')}
row = dict(tag=tag, config=cfg, step=cfg['max_steps'], records_seen=d['records_seen'], train_s=d['seconds']['train'],
           tokens_per_s=d['tokens_per_s'], test_loss=None, test_turns=d['test_turns'], test=r4(d['metrics']['lora']),
           unseen_tools=r4(d['metrics']['lora_unseen_tools']), seen=r4(d['metrics']['lora_validation']), folder=str(exp))
with open(out, 'a') as f: f.write(json.dumps(row) + '\n')
print(json.dumps(row)[:200])
