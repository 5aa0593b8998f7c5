"""The GPU path end to end, in about 10 minutes on a CUDA machine, ending in one JSON summary on the last line of stdout.

    python bench/gpu_check.py [--out summary.json] [--limit 64] [--keep DIR]
    python bench/gpu_check.py --dry            # (or DRY=1) the same stages on a CPU with the tiny model, in seconds

On CUDA (picked by `torch.cuda.is_available()` unless --dry): Qwen2.5-Coder-0.5B (`make model-qwen`) with QLoRA — 4-bit NF4
weights with double quantisation, `paged_adamw_8bit`, bf16 (fp16 on GPUs without it) and gradient checkpointing — on the
demo's data and recipe. Stages, each timed, with its peak memory (GPU memory allocated on CUDA, the process's peak RSS
on a CPU) and its error in the JSON instead of stopping the check; a stage whose input failed is skipped, saying why:

  load         the base model, 4-bit on CUDA
  eval_before  the demo's evaluation of the base model on `--limit` test turns
  train        `toolcall_lab.train.train`: steps, train tokens/s, final loss
  eval_after   the adapter merged into the base (`load_model(adapter=..., merge=True)`), the same turns
  merge        `serve.merge_adapter`: a plain fp32 model folder
  gguf_export  `serve.export_gguf` (f32, so the reload can be compared exactly)
  gguf_parity  the GGUF loaded back with transformers vs the merged folder (`serve.compare_models`)

--dry: the tiny random model, fp32, adamw_torch, no 4-bit, a few steps and turns: CI runs it (tests/test_gpu_check.py) so
the script keeps working where no GPU is."""
import argparse, json, os, shutil, sys, tempfile, time, traceback
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

DRY = '--dry' in sys.argv[1:] or os.environ.get('DRY', '') not in ('', '0')
if DRY: os.environ['CUDA_VISIBLE_DEVICES'] = ''  # hide any GPU before torch looks: --dry runs on the CPU everywhere

import torch

import yaml
from toolcall_lab.evaluate import evaluate_model, render_prompts, sample_turns
from toolcall_lab.scoring import HEADLINE, eval_turns
from toolcall_lab.models import load_model
from toolcall_lab.export import compare_models, export_gguf, merge_adapter
from toolcall_lab.config import Experiment, TrainConfig
from toolcall_lab.train import load_base, load_data, peak_memory_gb, train

QWEN = 'qwen2.5-coder-0.5b'  # the offline alias `make model-qwen` installs
DEMO = yaml.safe_load((Path(__file__).resolve().parent.parent/'configs'/'cpu-demo.yaml').read_text())  # the demo's recipe (= cli.DEMO, tested)


def load_tuned(base: str, adapter: Path):
    "The fine-tuned model with its adapter merged, through the one loader."
    return load_model(base, adapter=adapter, merge=True)


def settings(dry: bool, out: Path) -> tuple:
    "The run config and the check's own knobs: QLoRA on CUDA, a few tiny-model steps in fp32 for --dry."
    if dry:
        cfg = TrainConfig(**{**DEMO, 'model': 'tiny', 'data': ['structural'], 'rank': 4, 'max_steps': 2, 'batch_size': 2, 'n_train': 4,
                             'n_eval': 2, 'eval_steps': 2, 'save_steps': 2, 'optim': 'adamw_torch', 'bf16': False, 'fp16': False,
                             'gradient_checkpointing': False, 'output_dir': str(out/'experiments')})
        return cfg, dict(limit=4, max_new_tokens=8, parity_prompts=2)
    bf16 = torch.cuda.is_bf16_supported()
    cfg = TrainConfig(**{**DEMO, 'model': QWEN, 'fmt': 'hermes', 'load_in_4bit': True, 'bnb_4bit_quant_type': 'nf4',
                         'bnb_4bit_use_double_quant': True, 'bnb_4bit_compute_dtype': 'bfloat16' if bf16 else 'float16',
                         'optim': 'paged_adamw_8bit', 'bf16': bf16, 'fp16': not bf16, 'gradient_checkpointing': True,
                         'output_dir': str(out/'experiments')})
    return cfg, dict(limit=64, max_new_tokens=96, parity_prompts=4)


class Check:
    "Runs the stages, records each one's time, memory, result or error, and skips those whose inputs failed."
    def __init__(self, device: str): self.device, self.stages = device, {}

    @contextmanager
    def stage(self, name: str, needs: tuple = ()):
        failed = [n for n in needs if not self.stages.get(n, {}).get('ok')]
        rec = self.stages[name] = dict(ok=False)
        if failed:
            rec['skipped'] = f"needs {', '.join(failed)}"
            print(f'[gpu_check] {name}: skipped ({rec["skipped"]})', file=sys.stderr, flush=True)
            yield None
            return
        if self.device == 'cuda': torch.cuda.reset_peak_memory_stats()
        print(f'[gpu_check] {name} ...', file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            yield rec
            rec['ok'] = True
        except Exception as e:  # recorded, not raised: the later stages that do not need this one still run
            rec['error'] = f'{type(e).__name__}: {" ".join(str(e).split())[:800]}'
            rec['traceback_tail'] = traceback.format_exc().strip().splitlines()[-6:]
        finally:
            rec['seconds'] = round(time.perf_counter() - t, 2)
            rec['peak_memory_gb'] = round(peak_memory_gb(self.device), 3)
            print(f"[gpu_check] {name}: {'ok' if rec['ok'] else rec.get('error')} ({rec['seconds']} s)", file=sys.stderr, flush=True)

    def run(self, name: str, fn, needs: tuple = ()):
        "`fn(rec)` as stage `name`; its return value, or None when it failed or was skipped."
        with self.stage(name, needs) as rec:
            if rec is None: return None
            return fn(rec)
        return None


def _number(x):
    "A metric for strict JSON: `None` where it applied to no turn (NaN)."
    return None if x is None or x != x else x


def _eval(rec: dict, model, tok, data, cfg, knobs: dict, tag: str, out: Path):
    res = evaluate_model(model, tok, data, cfg.fmt, tag, out, knobs['max_new_tokens'], limit=knobs['limit'])
    rec.update(turns=len(res.turns), tokens_per_s=_number(res.metrics.get('tokens_per_s', {}).get('value')),
               metrics={k: _number(res.metrics.get(k, {}).get('value')) for k in HEADLINE})
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dry', action='store_true', help='CPU, tiny model (also DRY=1)')
    ap.add_argument('--limit', type=int, help='test turns evaluated before and after (default: 64; 4 with --dry)')
    ap.add_argument('--out', help='also write the JSON summary to this file')
    ap.add_argument('--keep', help='work in this folder and keep it (default: a temporary folder, removed)')
    args = ap.parse_args(argv)
    dry, t0 = args.dry or DRY or not torch.cuda.is_available(), time.perf_counter()
    device = 'cpu' if dry else 'cuda'
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix='gpu_check_'))
    work.mkdir(parents=True, exist_ok=True)
    cfg, knobs = settings(dry, work)
    if args.limit: knobs['limit'] = args.limit
    check, box = Check(device), {}
    test = load_data(cfg.data)['test']

    def load(rec):
        box['model'], box['tok'] = load_base(cfg, device)
        rec['parameters_m'] = round(sum(p.numel() for p in box['model'].parameters()) / 1e6, 1)
    check.run('load', load)
    check.run('eval_before', lambda rec: _eval(rec, box['model'], box['tok'], test, cfg, knobs, 'base', work), needs=('load',))

    def fine_tune(rec):
        box['run'] = train(cfg, box.pop('model'), box['tok'])
        s = Experiment(box['run']).read_config()
        rec.update({k: s[k] for k in ('steps', 'train_tokens', 'tokens_per_s', 'final_train_loss', 'min_eval_loss')}, folder=str(box['run']))
    check.run('train', fine_tune, needs=('load',))
    if device == 'cuda': torch.cuda.empty_cache()

    def eval_after(rec):
        model, tok = load_tuned(cfg.model, Experiment(box['run']).final_model)
        _eval(rec, model, tok, test, cfg, knobs, 'lora', box['run'])
        del model
    check.run('eval_after', eval_after, needs=('train',))

    def merge(rec): box['merged'] = merge_adapter(Experiment(box['run']).final_model, work/'merged', base=cfg.model)
    check.run('merge', merge, needs=('train',))

    def gguf(rec):
        box['gguf'] = export_gguf(box['merged'], work/'gguf', 'f32', fmt=cfg.fmt)
        rec['size_mb'] = round(box['gguf'].stat().st_size / 1e6, 1)
    check.run('gguf_export', gguf, needs=('merge',))

    def parity(rec):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        merged = AutoModelForCausalLM.from_pretrained(box['merged'], dtype=torch.float32).to(device).eval()
        back = AutoModelForCausalLM.from_pretrained(box['gguf'].parent, gguf_file=box['gguf'].name, dtype=torch.float32).to(device).eval()
        tok = AutoTokenizer.from_pretrained(box['merged'])
        prompts = render_prompts(tok, sample_turns(eval_turns(test), knobs['parity_prompts']), cfg.fmt)
        p = compare_models(merged, back, tok, prompts)
        rec.update(asdict(p), parity_ok=p.ok(1e-3))
    check.run('gguf_parity', parity, needs=('gguf_export',))

    summary = dict(ok=all(s['ok'] for s in check.stages.values()), dry=dry, device=device,
                   gpu=torch.cuda.get_device_name() if device == 'cuda' else None, model=cfg.model,
                   settings={k: v for k, v in asdict(cfg).items() if k in ('load_in_4bit', 'bnb_4bit_quant_type', 'bnb_4bit_compute_dtype', 'optim',
                             'bf16', 'fp16', 'gradient_checkpointing', 'max_steps', 'batch_size', 'rank', 'fmt')} | knobs,
                   stages=check.stages, total_seconds=round(time.perf_counter() - t0, 1), work=str(work) if args.keep else None,
                   versions={m: __import__(m).__version__ for m in ('torch', 'transformers', 'trl', 'peft')})
    if not args.keep: shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(summary, default=str)
    if args.out: Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    print(text, flush=True)
    return summary


if __name__ == '__main__':
    sys.exit(0 if main()['ok'] else 1)
