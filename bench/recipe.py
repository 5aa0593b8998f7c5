"""One point of the recipe study: fine-tune with given settings, then score the merged model on the held-out test
(unseen phrasing) and on a validation sample (seen phrasing); append one JSON line of settings, seconds and metrics.

    .venv/bin/python bench/recipe.py --lr 1e-3 --rank 16 --steps 60 --batch-size 8 [--fmt compact] [--top-layers 0]
                                     [--results nbs/runs/recipe_study.jsonl]

`--top-layers K` puts LoRA only on the top K transformer layers (0: all layers), so the backward pass stops early.
Lesson 07 plots the lines this script writes (full-call exact against training wall-seconds)."""
import argparse, json, os, time
from pathlib import Path

import torch

from toolcall_lab.evaluate import evaluate_model, load_for_eval
from toolcall_lab.train import TrainConfig, load_data, train

HEADLINE = ['decision_macro_f1', 'tool_name_accuracy', 'args_exact', 'full_call_exact', 'ast_match', 'json_validity_rate',
            'schema_validity_rate', 'hallucination_rate', 'hallucinated_arg_rate']


def top_layers_regex(k: int, n_layers: int = 30) -> str:
    "A PEFT `target_modules` regex: every linear layer of the top `k` of `n_layers` decoder layers."
    layers = '|'.join(str(i) for i in range(n_layers - k, n_layers))
    return rf'.*\.layers\.({layers})\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--rank', type=int, default=16)
    ap.add_argument('--steps', type=int, default=60)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--fmt', default='compact')
    ap.add_argument('--top-layers', type=int, default=0)
    ap.add_argument('--n-train', type=int, default=None)
    ap.add_argument('--val-limit', type=int, default=40)
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--results', default='nbs/runs/recipe_study.jsonl')
    ap.add_argument('--out', default='/tmp/recipe_runs')
    ap.add_argument('--no-eval', action='store_true', help='train only (a speed probe); nothing is appended')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
    cfg = TrainConfig(data=['structural', 'when2call', 'helpdesk'], fmt=a.fmt, rank=a.rank, lr=a.lr, max_steps=a.steps,
                      batch_size=a.batch_size, eval_steps=a.steps, save_steps=a.steps, n_train=a.n_train, n_eval=16,
                      target_modules=top_layers_regex(a.top_layers) if a.top_layers else 'all-linear', output_dir=a.out)
    t = time.perf_counter()
    out = train(cfg)
    train_s = time.perf_counter() - t
    summary = json.loads((out / 'experiment_config.json').read_text())
    if a.no_eval: return print(json.dumps(dict(top_layers=a.top_layers, train_s=round(train_s, 1), **{k: summary[k] for k in ('train_seconds', 'tokens_per_s', 'final_train_loss')})))
    model, tok = load_for_eval(cfg.model, adapter=out / 'final_model', merge=True)
    dd = load_data(cfg.data)
    t = time.perf_counter()
    test = evaluate_model(model, tok, dd['test'], cfg.fmt, 'lora', out, a.max_new_tokens)
    seen = evaluate_model(model, tok, dd['validation'], cfg.fmt, 'lora_validation', out, a.max_new_tokens, limit=a.val_limit)
    eval_s = time.perf_counter() - t
    row = dict(lr=a.lr, rank=a.rank, steps=a.steps, batch_size=a.batch_size, fmt=a.fmt, top_layers=a.top_layers,
               train_s=round(train_s, 1), trainer_s=summary['train_seconds'], tokens_per_s=summary['tokens_per_s'], eval_s=round(eval_s, 1),
               final_train_loss=summary['final_train_loss'], eval_loss=summary['min_eval_loss'], test_turns=len(test.turns),
               test={k: round(test.metrics[k]['value'], 4) for k in HEADLINE}, seen={k: round(seen.metrics[k]['value'], 4) for k in HEADLINE},
               folder=str(out))
    print(json.dumps(row))
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    with open(a.results, 'a') as f: f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
