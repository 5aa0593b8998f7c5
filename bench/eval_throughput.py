"""Per-example vs batched greedy generation on the same test prompts, in one run.

    python bench/eval_throughput.py [--n 16] [--max-new-tokens 96] [--model smollm2-135m] [--threads 2]

Renders `--n` prompts from the built-in test split (spread over decisions, as `evaluate_model(limit=n)` picks them)
with the training chat template, generates them one at a time (`batch_size=1`) and then in one length-sorted,
left-padded batch, checks that the greedy outputs are token-for-token identical, and prints both times and the ratio."""
import argparse, time

import torch

from toolcall_lab.builtin import load_builtin
from toolcall_lab.evaluate import eval_turns, generate_batch, render_prompts, sample_turns
from toolcall_lab.models import DEFAULT_MODEL, load_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=16, help='number of prompts')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--model', default=DEFAULT_MODEL)
    ap.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, tok = load_model(args.model)
    turns = sample_turns(eval_turns(load_builtin('all')['test']), args.n)
    prompts = render_prompts(tok, turns)
    lengths = [len(tok(p, add_special_tokens=False)['input_ids']) for p in prompts]
    print(f'{args.model} on {model.device}, {torch.get_num_threads()} threads: {len(prompts)} prompts of '
          f'{min(lengths)}–{max(lengths)} tokens, max_new_tokens={args.max_new_tokens}')

    generate_batch(model, tok, prompts[:1], max_new_tokens=4)  # warm-up
    timed = {}
    for name, bs in [('one at a time', 1), (f'batched ({len(prompts)})', len(prompts))]:
        t = time.perf_counter()
        gens = generate_batch(model, tok, prompts, max_new_tokens=args.max_new_tokens, batch_size=bs)
        timed[name] = (time.perf_counter() - t, gens)
        new = sum(g.new_tokens for g in gens)
        print(f'{name:>16}: {timed[name][0]:7.1f} s, {new} new tokens, {new / timed[name][0]:6.1f} tokens/s')

    (t1, single), (tb, batched) = timed.values()
    differ = [i for i, (a, b) in enumerate(zip(single, batched)) if a.text != b.text]
    print(f'speed-up: {t1 / tb:.2f}x; identical outputs: {len(prompts) - len(differ)}/{len(prompts)}')
    for i in differ:
        a, b = single[i].text, batched[i].text
        k = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f'  prompt {i} ({lengths[i]} tokens) diverges at char {k}: {a[k:k + 40]!r} vs {b[k:k + 40]!r}')


if __name__ == '__main__':
    main()
