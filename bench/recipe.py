"""The recipe study: fine-tune with given settings, then score checkpoints along the way on the held-out test (unseen
phrasing) and on a validation sample (seen phrasing); append one JSON line per scored checkpoint: settings, training
wall-seconds up to that checkpoint, and the headline metrics.

    .venv/bin/python bench/recipe.py --lr 1e-3 --rank 16 --steps 48 --batch-size 8 --eval-every 16 [--fmt compact]
                                     [--lora-layers 10] [--results nbs/runs/recipe_study.jsonl]

Lesson 07 plots the lines this script writes (full-call exact against training wall-seconds)."""
import argparse, json, os, time
from pathlib import Path

import torch
from transformers import TrainerCallback

from toolcall_lab.evaluate import HEADLINE, evaluate_model
from toolcall_lab.models import load_model
from toolcall_lab.train import TrainConfig, load_data, train


class StepClock(TrainerCallback):
    "Wall-seconds since training began, at the end of every optimizer step."
    def __init__(self): self.t0, self.at = None, {}
    def on_train_begin(self, args, state, control, **kw): self.t0 = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): self.at[state.global_step] = time.perf_counter() - self.t0


def scores(res) -> dict: return {k: None if res.metrics[k]['value'] != res.metrics[k]['value'] else round(res.metrics[k]['value'], 4) for k in HEADLINE}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--rank', type=int, default=16)
    ap.add_argument('--steps', type=int, default=48)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--eval-every', type=int, default=0, help='score a checkpoint every this many steps (0: only the end)')
    ap.add_argument('--fmt', default='compact')
    ap.add_argument('--lora-layers', type=int, default=None)
    ap.add_argument('--n-train', type=int, default=None)
    ap.add_argument('--val-limit', type=int, default=40)
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--results', default='nbs/runs/recipe_study.jsonl')
    ap.add_argument('--out', default='/tmp/recipe_runs')
    ap.add_argument('--no-eval', action='store_true', help='train only (a speed probe); nothing is appended')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
    every = a.eval_every or a.steps
    cfg = TrainConfig(data=['structural', 'when2call', 'helpdesk'], fmt=a.fmt, rank=a.rank, lr=a.lr, max_steps=a.steps,
                      batch_size=a.batch_size, eval_steps=a.steps, save_steps=every, keep_checkpoints=None, n_train=a.n_train,
                      n_eval=16, lora_layers=a.lora_layers, output_dir=a.out)
    clock = StepClock()
    out = train(cfg, callbacks=[clock])
    summary = json.loads((out / 'experiment_config.json').read_text())
    print(json.dumps({k: summary[k] for k in ('train_seconds', 'tokens_per_s', 'final_train_loss', 'min_eval_loss')}))
    if a.no_eval: return
    dd = load_data(cfg.data)
    for step in range(every, a.steps + 1, every):
        model, tok = load_model(cfg.model, adapter=out / (f'checkpoint-{step}' if step < a.steps else 'final_model'), merge=True)
        t = time.perf_counter()
        test = evaluate_model(model, tok, dd['test'], cfg.fmt, f'lora_{step}', out, a.max_new_tokens)
        seen = evaluate_model(model, tok, dd['validation'], cfg.fmt, f'lora_{step}_validation', out, a.max_new_tokens, limit=a.val_limit)
        row = dict(lr=a.lr, rank=a.rank, batch_size=a.batch_size, fmt=a.fmt, lora_layers=a.lora_layers, step=step, records_seen=step * a.batch_size,
                   train_s=round(clock.at[step], 1), eval_s=round(time.perf_counter() - t, 1), test_turns=len(test.turns),
                   tokens_per_s=summary['tokens_per_s'], test=scores(test), seen=scores(seen), folder=str(out))
        print(json.dumps(row))
        Path(a.results).parent.mkdir(parents=True, exist_ok=True)
        with open(a.results, 'a') as f: f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
