"""Generation with a LoRA adapter attached vs merged into the base weights, on the same test prompts, in one run.

    python bench/merge_speed.py EXPERIMENT/final_model [--n 16] [--max-new-tokens 96] [--repeats 2] [--threads 2]

Loads the base model of the adapter's experiment twice with `load_model(..., adapter=...)`: once as base + PEFT adapter
(`merge=False`, the adapter's `B·A` computed beside every targeted layer at every step) and once merged
(`merge=True`, PEFT's `merge_and_unload`). Generates `--n` prompts from the built-in test split (spread over
decisions, as the demo picks them) greedily in one batch with each, alternating the two `--repeats` times so that
neither always runs first, prints the best time of each, the ratio, and how many greedy outputs are identical
(merging rounds the weights differently, so a near-tie may flip a token)."""
import argparse, time
from pathlib import Path

import torch

from toolcall_lab.builtin import load_builtin
from toolcall_lab.config import Experiment
from toolcall_lab.evaluate import generate_batch, render_prompts, sample_turns
from toolcall_lab.scoring import eval_turns
from toolcall_lab.models import load_model


def base_model_of(adapter: Path) -> str:
    "The `model` setting of the experiment the adapter folder belongs to."
    exp = Experiment(adapter.parent)
    if not exp.config_path.exists(): raise SystemExit(f'{exp.config_path} not found; fix: pass the {Experiment.FINAL_MODEL}/ (or checkpoint-N/) folder of a toolcall-lab experiment')
    return exp.read_config()['config']['model']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('adapter', help="an experiment's final_model/ or checkpoint-N/ folder")
    ap.add_argument('--n', type=int, default=16, help='number of prompts')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--repeats', type=int, default=2, help='timed runs of each, alternating')
    ap.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    adapter = Path(args.adapter)
    name = base_model_of(adapter)
    models = {'adapter attached': load_model(name, adapter=adapter, merge=False),
              'merged': load_model(name, adapter=adapter, merge=True)}
    tok = models['merged'][1]
    prompts = render_prompts(tok, sample_turns(eval_turns(load_builtin('all')['test']), args.n))
    print(f'{name} + {adapter}, {torch.get_num_threads()} threads: {len(prompts)} prompts in one batch, '
          f'max_new_tokens={args.max_new_tokens}')

    for model, t in models.values(): generate_batch(model, t, prompts[:1], max_new_tokens=4)  # warm-up
    best, outs = {k: float('inf') for k in models}, {}
    for r in range(args.repeats):
        for k, (model, t) in models.items():
            s = time.perf_counter()
            outs[k] = generate_batch(model, t, prompts, max_new_tokens=args.max_new_tokens, batch_size=len(prompts))
            dt = time.perf_counter() - s
            best[k] = min(best[k], dt)
            new = sum(g.new_tokens for g in outs[k])
            print(f'  run {r + 1} {k:>16}: {dt:6.1f} s, {new} new tokens, {new / dt:5.1f} tokens/s', flush=True)

    a, m = outs['adapter attached'], outs['merged']
    same = sum(x.text == y.text for x, y in zip(a, m))
    print(f"best: adapter attached {best['adapter attached']:.1f} s, merged {best['merged']:.1f} s; "
          f"merged is {best['adapter attached'] / best['merged']:.2f}x as fast; identical outputs: {same}/{len(prompts)}")


if __name__ == '__main__':
    main()
