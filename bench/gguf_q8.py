"""Q8_0 against f16 GGUF of a trained run's merged model in llama.cpp: file size, tokens/s and the headline metrics on
the run's test split, both files in one run.

    .venv/bin/python bench/gguf_q8.py EXPERIMENT [--limit N] [--max-new-tokens 96] [--threads 2]

Needs llama-cpp-python (`make gguf-check` builds it). The experiment's `final_model/` adapter is merged into its base
(`export.merge_adapter`) and exported twice with `export.export_gguf`: f16, and Q8_0 (blocks of 32 weights as int8
with one f16 scale, the `gguf` package's quantizer). Each file answers the run's test turns (`sample_turns` of the
demo's split, as the demo's evaluation picks them; `--limit` for fewer), prompts rendered with the run's tool template
(`render_prompts`), greedy through llama.cpp's own sampler, one turn at a time, stopped at the end of the turn or
`--max-new-tokens`. The texts are parsed and scored by `evaluate.turn_row` and `scoring.summarize`, exactly as
`evaluate_model` scores transformers' generations; the demo's own transformers evaluation (`eval_lora.json`) is
printed alongside when it scored the same turns. tokens/s is generated tokens over the wall time of the generation
(prompt processing included), on `--threads` CPU threads, after an untimed warm-up of each file."""
import argparse, json, tempfile, time
from pathlib import Path

import pandas as pd

from toolcall_lab.config import Experiment
from toolcall_lab.evaluate import load_eval, render_prompts, sample_turns, turn_row
from toolcall_lab.export import export_gguf, merge_adapter
from toolcall_lab.formats import get_format
from toolcall_lab.inference import Generation
from toolcall_lab.models import end_of_turn_ids, load_tokenizer
from toolcall_lab.scoring import HEADLINE, eval_turns, summarize
from toolcall_lab.train import load_data


def run_llama(path:Path, tok, turns:list, prompts:list, fmt:str, args) -> tuple:
    "Greedy generations of one GGUF in llama.cpp for every prompt: the per-turn rows and the generation seconds."
    from llama_cpp import Llama
    llm = Llama(str(path), n_ctx=4096, n_threads=args.threads, n_batch=512, verbose=False)
    stop, parse, rows, total = set(end_of_turn_ids(tok)), get_format(fmt), [], 0.0
    for _, _ in zip(llm.generate(tok(prompts[0], add_special_tokens=False)['input_ids'], temp=0.0, top_k=1), range(4)): pass  # warm-up, untimed
    for turn, prompt in zip(turns, prompts):
        ids = tok(prompt, add_special_tokens=False)['input_ids']
        t, new = time.perf_counter(), []
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            new.append(token)
            if token in stop or len(new) >= args.max_new_tokens: break
        seconds = time.perf_counter() - t
        total += seconds
        text = tok.decode(new, skip_special_tokens=True)
        rows.append(turn_row(turn, Generation(text, parse.parse(text, turn['tools']), len(ids), len(new), seconds), fmt))
    return pd.DataFrame(rows), total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('experiment', help='experiment folder of a `toolcall-lab train` run (with final_model/)')
    ap.add_argument('--limit', type=int, default=None, help='test turns, spread over decisions (default: all)')
    ap.add_argument('--max-new-tokens', type=int, default=96)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    exp = Path(args.experiment)
    cfg = Experiment(exp).read_config()['config']
    turns = sample_turns(eval_turns(load_data(cfg['data'], langs=cfg.get('langs'))['test']), args.limit)
    print(f"{exp.name}: {len(turns)} test turns, fmt {cfg['fmt']}, max_new_tokens {args.max_new_tokens}, {args.threads} threads", flush=True)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        merged = merge_adapter(exp/'final_model', Path(tmp)/'merged')
        print(f'merged in {time.perf_counter() - t:.0f} s', flush=True)
        tok = load_tokenizer(str(merged))
        prompts = render_prompts(tok, turns, cfg['fmt'])
        for dtype in ('f16', 'q8_0'):
            t = time.perf_counter()
            path = export_gguf(merged, Path(tmp)/dtype, dtype, fmt=cfg['fmt'])
            export_s = time.perf_counter() - t
            df, seconds = run_llama(path, tok, turns, prompts, cfg['fmt'], args)
            m = summarize(df, n_boot=200)
            out[dtype] = dict(mib=path.stat().st_size / 2**20, export_s=export_s, seconds=seconds, new_tokens=int(df['new_tokens'].sum()),
                              metrics={k: m[k]['value'] for k in HEADLINE}, texts=list(df['prediction']))
            o = out[dtype]
            print(f"{dtype}: {o['mib']:.1f} MiB (exported in {export_s:.0f} s), {o['new_tokens']} tokens in {seconds:.1f} s = "
                  f"{o['new_tokens'] / seconds:.1f} tokens/s", flush=True)
    ref = exp/'eval_lora.json'
    demo = load_eval(exp, 'lora') if ref.exists() else None
    same_turns = demo is not None and demo.meta.get('n_turns') == len(turns) and demo.meta.get('max_new_tokens') == args.max_new_tokens
    f16, q8 = out['f16'], out['q8_0']
    print(f"\nidentical texts Q8_0 vs f16: {sum(a == b for a, b in zip(f16['texts'], q8['texts']))}/{len(turns)}")
    print('\n| | f16 | Q8_0 | Q8_0 / f16 |' + (' transformers fp32 (eval_lora.json) |' if same_turns else '') + '\n|---|---|---|---|' + ('---|' if same_turns else ''))
    print(f"| file MiB | {f16['mib']:.1f} | {q8['mib']:.1f} | {q8['mib'] / f16['mib']:.2f} |" + (' |' if same_turns else ''))
    tps = {d: o['new_tokens'] / o['seconds'] for d, o in out.items()}
    print(f"| tokens/s | {tps['f16']:.1f} | {tps['q8_0']:.1f} | {tps['q8_0'] / tps['f16']:.2f} |" + (' |' if same_turns else ''))
    for k in HEADLINE:
        a, b = f16['metrics'][k], q8['metrics'][k]
        print(f"| {k} | {a:.3f} | {b:.3f} | {b / a if a else float('nan'):.2f} |" + (f" {demo.metrics[k]['value']:.3f} |" if same_turns else ''))
    print(json.dumps({d: {k: v for k, v in o.items() if k != 'texts'} | {'tokens_per_s': tps[d]} for d, o in out.items()}))


if __name__ == '__main__':
    main()
