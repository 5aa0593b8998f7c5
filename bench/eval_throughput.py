"""Evaluation speed: transformers' `generate` (every row of a batch runs until the last one stops) against the
shrinking loop (`generate_batch(shrink=True)`: each row leaves the batch and its KV cache when it stops), on the demo's
test split, in one run. Proves the speed-up changes no score: the texts must be identical, and so must every metric.

    .venv/bin/python bench/eval_throughput.py [--langs en] [--adapter EXPERIMENT/final_model] [--limit N] [--batch-size 16]

Without `--adapter` it times the base model (which writes up to `--max-new-tokens` on most turns); with it, the
fine-tuned model too (which stops early on most turns, so more of a batch finishes before its last row)."""
import argparse, json, time

import pandas as pd
import torch

from toolcall_lab.evaluate import generate_batch, render_prompts, sample_turns, turn_row
from toolcall_lab.scoring import HEADLINE, eval_turns, summarize
from toolcall_lab.models import DEFAULT_MODEL, load_model
from toolcall_lab.templates import with_tool_template
from toolcall_lab.train import load_data


def timed(model, tok, turns, prompts, fmt, args, shrink: bool) -> tuple:
    "Generations, metrics and seconds of one way of generating."
    t = time.perf_counter()
    gens = generate_batch(model, tok, prompts, fmt, args.max_new_tokens, args.batch_size, tools=[u['tools'] for u in turns], shrink=shrink)
    seconds = time.perf_counter() - t
    df = pd.DataFrame([turn_row(u, g, fmt) for u, g in zip(turns, gens)])
    return gens, summarize(df, n_boot=200), seconds


def compare(name, model, tok, turns, fmt, args):
    "Both ways on the same prompts: seconds, ratio, identical texts and metrics (asserted)."
    prompts = render_prompts(tok, turns, fmt)
    generate_batch(model, tok, prompts[:2], fmt, 4, 2)  # warm-up
    (g0, m0, s0), (g1, m1, s1) = [timed(model, tok, turns, prompts, fmt, args, shrink) for shrink in (False, True)]
    same = sum(a.text == b.text for a, b in zip(g0, g1))
    new = sum(g.new_tokens for g in g0)
    print(f'{name}: {len(turns)} turns, {new} new tokens; generate {s0:.1f} s, shrinking {s1:.1f} s: {s0 / s1:.2f}x; '
          f'identical texts {same}/{len(turns)}')
    assert same == len(turns), 'the shrinking loop changed a generation'
    for k in HEADLINE: assert json.dumps(m0[k]) == json.dumps(m1[k]), f'{k} changed: {m0[k]} vs {m1[k]}'
    print(f'{name}: every headline metric identical: ' + ', '.join(f"{k} {m1[k]['value']:.3f}" for k in HEADLINE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', nargs='+', default=['structural', 'when2call', 'helpdesk'])
    ap.add_argument('--langs', nargs='+', default=['en'])
    ap.add_argument('--model', default=DEFAULT_MODEL)
    ap.add_argument('--adapter', help='also time a fine-tuned model (an experiment\'s final_model/)')
    ap.add_argument('--fmt', default='compact')
    ap.add_argument('--limit', type=int, default=None, help='turns (spread over decisions); default all')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    turns = sample_turns(eval_turns(load_data(args.data, langs=args.langs)['test']), args.limit)
    model, tok = load_model(args.model)
    with_tool_template(tok, args.fmt)
    compare('base', model, tok, turns, args.fmt, args)
    if args.adapter:
        model, tok = load_model(args.model, adapter=args.adapter, merge=True)
        compare('fine-tuned', model, tok, turns, args.fmt, args)


if __name__ == '__main__':
    main()
