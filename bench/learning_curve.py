"""Tool-calling accuracy against training steps: the base model and every checkpoint of one run, on the same test turns.

    # train a run that keeps its checkpoints, then evaluate them
    .venv/bin/toolcall-lab train --data structural when2call helpdesk --rank 16 --lr 1e-3 --max-steps 150 \\
        --save-steps 25 --keep-checkpoints 10 --eval-steps 50 --n-eval 8 --max-length 768 --output-dir runs
    .venv/bin/python bench/learning_curve.py runs/<experiment> [--limit 60] [--max-new-tokens 96] [--skip-base]
                                             [--steps 25 50 100] [--jsonl nbs/runs/course/learning_curve.jsonl]

Answers the question `make demo` cannot answer in 15 minutes on 2 CPU cores: how many steps does the model need
to reach the targets? Every `checkpoint-<step>/` adapter of the experiment is evaluated (let `--save-steps` divide
`--max-steps`, so that the last checkpoint is the final model) with `evaluate_model` on the same `--limit` test turns
(spread over decisions, as the demo picks them), greedy, the same `max_new_tokens`. Writes `eval_base.json/.csv` and `eval_step<N>.json/.csv` into the experiment folder, prints a
markdown table (one row per step, headline metrics with 95% bootstrap intervals) and writes it to
`learning_curve.md`; with `--jsonl`, also one JSON line per checkpoint with the records seen and the training
wall-seconds up to it (from the run's `training_log.csv`), for lesson 07's plot. Checkpoints taken mid-run are not annealed (the learning rate is still high there), so they
understate what a run of that length with its own schedule would reach."""
import argparse, csv, json, re, time
from datetime import datetime
from pathlib import Path

from toolcall_lab.config import Experiment
from toolcall_lab.evaluate import evaluate_model, load_eval
from toolcall_lab.models import load_model
from toolcall_lab.templates import with_tool_template
from toolcall_lab.train import load_data

KEYS = ['decision_macro_f1', 'tool_name_accuracy', 'args_exact', 'args_per_key', 'full_call_exact', 'ast_match', 'json_validity_rate',
        'schema_validity_rate', 'hallucination_rate', 'hallucinated_arg_rate']


def checkpoints(exp: Path) -> list:
    "(step, adapter folder) of every checkpoint, in step order."
    found = [(int(m.group(1)), p) for p in exp.glob('checkpoint-*') if (m := re.fullmatch(r'checkpoint-(\d+)', p.name))]
    return sorted((s, p) for s, p in found if (p/'adapter_config.json').exists())


def seconds_at(exp: Path) -> dict:
    "Training wall-seconds at each logged step, from the run's CSV log (timestamps)."
    rows = [(int(r['step']), datetime.fromisoformat(r['timestamp']).timestamp()) for r in csv.DictReader(open(Experiment(exp).log_path)) if r.get('timestamp')]
    t0 = rows[0][1] - (rows[1][1] - rows[0][1] if len(rows) > 1 else 0)  # step 1 took about as long as step 2
    return {step: t - t0 for step, t in rows}


def cell(m: dict) -> str:
    lo, hi = m.get('ci', [None, None])
    return f"{m['value']:.2f}" + (f' [{lo:.2f}, {hi:.2f}]' if lo is not None else '')


def table(rows: list) -> str:
    head = '| step | wall s | ' + ' | '.join(KEYS) + ' |'
    lines = [head, '|' + '---|' * (len(KEYS) + 2)]
    lines += [f'| {step} | {res.meta["wall_s"]:.0f} | ' + ' | '.join(cell(res.metrics[k]) for k in KEYS) + ' |' for step, res in rows]
    return '\n'.join(lines)


def write_line(path:Path, line:dict):
    "Add `line` to the JSON-lines file at `path`, in place of an earlier line for the same run and step: a rerun does not duplicate points."
    same = lambda o: (o.get('run'), o.get('step')) == (line['run'], line['step'])
    kept = [l for l in path.read_text().splitlines() if l.strip() and not same(json.loads(l))] if path.exists() else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(l + '\n' for l in [*kept, json.dumps(line)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('experiment', help='experiment folder of a `toolcall-lab train` run')
    ap.add_argument('--limit', type=int, default=60, help='test turns, spread over decisions (0: all)')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--skip-base', action='store_true', help='reuse eval_base.json if the folder has one')
    ap.add_argument('--steps', type=int, nargs='+', help='evaluate only these checkpoints (default: all)')
    ap.add_argument('--jsonl', help='one JSON line per checkpoint (step, records seen, training seconds, headline metrics), '
                                    'replacing the line of the same run and step when the file has one')
    args = ap.parse_args()
    exp = Path(args.experiment)
    cfg = Experiment(exp).read_config()['config']
    test, limit = load_data(cfg['data'], langs=cfg.get('langs'))['test'], args.limit or None
    rows = []
    if args.skip_base and (exp/'eval_base.json').exists(): rows.append(('base', load_eval(exp, 'base')))
    else:
        model, tok = load_model(cfg['model'])
        with_tool_template(tok, cfg['fmt'])
        rows.append(('base', evaluate_model(model, tok, test, cfg['fmt'], 'base', exp, args.max_new_tokens, limit=limit)))
    clock = seconds_at(exp)
    for step, folder in checkpoints(exp):
        if args.steps and step not in args.steps: continue
        t = time.perf_counter()
        model, tok = load_model(cfg['model'], adapter=folder, merge=True)
        res = evaluate_model(model, tok, test, cfg['fmt'], f'step{step}', exp, args.max_new_tokens, limit=limit)
        rows.append((step, res))
        print(f'step {step}: evaluated in {time.perf_counter() - t:.0f} s', flush=True)
        if args.jsonl:
            line = dict(run=exp.name, step=step, records_seen=step * cfg['batch_size'] * cfg.get('grad_accum', 1), train_s=round(clock.get(step, float('nan')), 1),
                        test_turns=len(res.turns), test={k: res.metrics[k]['value'] for k in KEYS})
            write_line(Path(args.jsonl), line)
    md = f"{cfg['model']}, rank {cfg['rank']}, lr {cfg['lr']:g}, batch {cfg['batch_size']}, data {', '.join(cfg['data'])}; " \
         f"{len(rows[0][1].turns)} test turns\n\n{table(rows)}\n"
    (exp/'learning_curve.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main()
