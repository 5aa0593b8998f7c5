"""The recipe study: fine-tune with given settings, then score checkpoints along the way on the held-out test split
(unseen phrasing), on the held-out-tools split when there is one, and optionally on a validation sample (seen
phrasing); append one JSON line per scored checkpoint: settings, training wall-seconds and records seen up to that
checkpoint, tokens/s, and the headline metrics.

    .venv/bin/python bench/recipe.py --lr 1e-3 --rank 16 --batch-size 2 --n-train 480 --eval-every 80 --langs en
                                     [--data structural when2call helpdesk] [--loraplus 16] [--rename-share 0.3]
                                     [--results nbs/runs/recipe_study.jsonl] [--tag name]

Lesson 07 plots the lines this script writes (full-call exact against records seen and training wall-seconds)."""
import argparse, json, os, time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import TrainerCallback

from toolcall_lab.evaluate import evaluate_model
from toolcall_lab.scoring import HEADLINE
from toolcall_lab.data import to_record
from toolcall_lab.masking import tokenize_dataset
from toolcall_lab.models import load_model
from toolcall_lab.config import Experiment, TrainConfig
from toolcall_lab.train import load_data, train


class StepClock(TrainerCallback):
    "Wall-seconds since training began, at the end of every optimizer step."
    def __init__(self): self.t0, self.at = None, {}
    def on_train_begin(self, args, state, control, **kw): self.t0 = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): self.at[state.global_step] = time.perf_counter() - self.t0


def scores(res) -> dict: return {k: None if res.metrics[k]['value'] != res.metrics[k]['value'] else round(res.metrics[k]['value'], 4) for k in HEADLINE}


def held_out_loss(model, tok, records, fmt) -> float:
    "Mean loss per trained token of the test records (teacher-forced): a cheap signal that moves with the scores."
    ds, _ = tokenize_dataset([to_record(r) for r in records], tok, tok.chat_template, fmt)
    total, n = 0.0, 0
    with torch.no_grad():
        for row in ds:
            ids, labels = torch.tensor([row['input_ids']]), torch.tensor([row['labels']])
            k = int((labels[:, 1:] != -100).sum())
            total += model(input_ids=ids, labels=labels).loss.item() * k; n += k
    return round(total / n, 4)


def unseen_split(langs):
    "The held-out-tools test split, where the package has one."
    try: from toolcall_lab.unseen import load_unseen
    except ImportError: return None
    return load_unseen(langs=langs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', nargs='+', default=['structural', 'when2call', 'helpdesk'])
    ap.add_argument('--langs', nargs='+', default=None)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--rank', type=int, default=16)
    ap.add_argument('--loraplus', type=float, default=None, help='LoRA+ ratio of B to A learning rates')
    ap.add_argument('--rename-share', type=float, default=0.0, help='share of training records whose tools are renamed and redescribed')
    ap.add_argument('--dropout', type=float, default=0.0, help='LoRA dropout')
    ap.add_argument('--distractors', type=int, nargs=2, default=[0, 1], help='fewest and most unneeded tools in training prompts')
    ap.add_argument('--batch-size', type=int, default=2)
    ap.add_argument('--n-train', type=int, required=True, help='records seen, each once')
    ap.add_argument('--eval-every', type=int, default=0, help='score a checkpoint every this many steps (0: only the end)')
    ap.add_argument('--scheduler', default='cosine')
    ap.add_argument('--fmt', default='compact')
    ap.add_argument('--lora-layers', type=int, default=None)
    ap.add_argument('--extra', default='{}', help='more TrainConfig keys as JSON')
    ap.add_argument('--val-limit', type=int, default=0, help='validation turns scored too (0: none)')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--tag', default='')
    ap.add_argument('--results', default='nbs/runs/recipe_study.jsonl')
    ap.add_argument('--out', default='/tmp/recipe_runs')
    ap.add_argument('--no-eval', action='store_true', help='train only (a speed probe); nothing is appended')
    ap.add_argument('--loss-only', action='store_true', help='score checkpoints by held-out loss only (no generation)')
    ap.add_argument('--gen-final', action='store_true', help='generation scores for the final model only; loss for earlier checkpoints')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
    steps = a.n_train // a.batch_size
    every = a.eval_every or steps
    cfg = TrainConfig(data=a.data, langs=a.langs, fmt=a.fmt, rank=a.rank, lr=a.lr, loraplus_ratio=a.loraplus, max_steps=steps,
                      rename_share=a.rename_share, dropout=a.dropout, train_distractors=a.distractors,
                      batch_size=a.batch_size, eval_steps=steps, save_steps=every, keep_checkpoints=None, n_train=a.n_train,
                      n_eval=16, lora_layers=a.lora_layers, scheduler=a.scheduler, output_dir=a.out, **json.loads(a.extra))
    clock = StepClock()
    out = train(cfg, callbacks=[clock])
    summary = Experiment(out).read_config()
    print(json.dumps({k: summary[k] for k in ('train_seconds', 'tokens_per_s', 'final_train_loss', 'min_eval_loss')}))
    if a.no_eval: return
    dd, unseen = load_data(cfg.data, langs=cfg.langs), unseen_split(cfg.langs)
    for step in range(every, steps + 1, every):
        model, tok = load_model(cfg.model, adapter=(out / f'checkpoint-{step}' if step < steps else Experiment(out).final_model), merge=True)
        t = time.perf_counter()
        row = dict(tag=a.tag, config={k: v for k, v in asdict(cfg).items() if k not in ('output_dir', 'eval_steps', 'save_steps', 'keep_checkpoints')},
                   step=step, records_seen=step * a.batch_size, train_s=round(clock.at[step], 1), tokens_per_s=summary['tokens_per_s'],
                   test_loss=held_out_loss(model, tok, dd['test'], cfg.fmt))
        if a.loss_only or (a.gen_final and step < steps):
            print(json.dumps(row))
            with open(a.results, 'a') as f: f.write(json.dumps(row) + '\n')
            continue
        test = evaluate_model(model, tok, dd['test'], cfg.fmt, f'lora_{step}', out, a.max_new_tokens)
        row |= dict(test_turns=len(test.turns), test=scores(test))
        if unseen is not None: row['unseen_tools'] = scores(evaluate_model(model, tok, unseen, cfg.fmt, f'lora_{step}_unseen', out, a.max_new_tokens))
        if a.val_limit: row['seen'] = scores(evaluate_model(model, tok, dd['validation'], cfg.fmt, f'lora_{step}_validation', out, a.max_new_tokens, limit=a.val_limit))
        row |= dict(eval_s=round(time.perf_counter() - t, 1), folder=str(out))
        print(json.dumps(row))
        Path(a.results).parent.mkdir(parents=True, exist_ok=True)
        with open(a.results, 'a') as f: f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
