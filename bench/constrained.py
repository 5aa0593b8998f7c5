"""Constrained decoding (`constrain.processor_for`) on the demo's test split: the base model and the fine-tuned run,
each evaluated with its reply grammar-constrained, written as eval_base_constrained.json / eval_lora_constrained.json.

    .venv/bin/python bench/constrained.py EXPERIMENT [--which base lora] [--limit N] [--out nbs/runs/constrained]

The turns, format, data, languages and max_new_tokens are the run's (as `toolcall-lab demo` evaluated it, so the rows
compare with its stored eval_base.json / eval_lora.json); `--limit` takes `sample_turns` of them, the same for both.
Run one model at a time on a shared machine (`--which base`, then `--which lora`)."""
import argparse
from pathlib import Path

from toolcall_lab.config import Experiment, config_from_dict
from toolcall_lab.constrain import processor_for
from toolcall_lab.evaluate import evaluate_model
from toolcall_lab.models import load_model
from toolcall_lab.templates import with_tool_template
from toolcall_lab.train import load_data


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('experiment'); p.add_argument('--which', nargs='+', default=['base', 'lora'], choices=['base', 'lora'])
    p.add_argument('--limit', type=int); p.add_argument('--max-new-tokens', type=int, default=96)
    p.add_argument('--out', default='nbs/runs/constrained')
    args = p.parse_args()
    exp = Experiment(Path(args.experiment))
    cfg = config_from_dict(exp.read_config()['config'])
    test = load_data(cfg.data, langs=cfg.langs)['test']
    for which in args.which:
        model, tok = load_model(cfg.model, adapter=exp.final_model if which == 'lora' else None, merge=which == 'lora')
        if which == 'base': with_tool_template(tok, cfg.fmt)
        res = evaluate_model(model, tok, test, cfg.fmt, f'{which}_constrained', args.out, args.max_new_tokens, limit=args.limit,
                             progress=True, logits_processor_for=processor_for(model, tok, cfg.fmt, args.max_new_tokens))
        print(which, res.meta, {k: round(v['value'], 3) for k, v in res.metrics.items()})


if __name__ == '__main__': main()
