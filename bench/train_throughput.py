"""Training throughput: the naive way vs the project's way, same model, data and steps, in one run.

    .venv/bin/python bench/train_throughput.py [--steps 3] [--batch-size 4] [--max-length 768] [--model smollm2-135m]
                                               [--fmt compact] [--variants naive project padded top10]

(a) naive:   TRL SFTTrainer with every sequence padded to max_length (`pad_to_multiple_of=max_length`), no
             length grouping (random order);
(b) project: padding-free batches (sequences concatenated, position ids restart; the collator masks the seams)
             in the prepared order (shuffled, decision-balanced), as `toolcall_lab.train.sft_args` configures.
Optional variants, each measured against (a) in the same run:
(c) padded:  length-grouped batches padded only to their longest sequence (no padding-free packing). On a CPU there is
             no variable-length attention kernel, so a packed batch attends over one long sequence with a block mask:
             attention costs (sum of lengths)^2 instead of the sum of squares.
(d) topK:    (b) with LoRA only in the top K decoder layers (`TrainConfig.lora_layers`), so the backward pass stops
             early. Fewer FLOPs per token; whether it learns as well is the recipe study's question (lesson 07).
(e) bf16:    (b) in bfloat16 (base weights loaded in bf16, autocast; LoRA weights and optimizer in fp32), which
             `sft_args` picks on a CPU with native bf16 (AVX-512 BF16 or AMX). Without those instructions it is emulated
             and far slower: run this variant only where `toolcall_lab.models.cpu_has_bf16()` is true.
(f) bf16-nodrop: (e) with LoRA dropout 0 (the demo's setting): PEFT then skips the dropout copy of every LoRA input.
(a)-(d) use fp32 and no activation checkpointing (TRL's own defaults, bf16 + checkpointing, are ~12x slower on an
AVX2-only CPU and would make the ratio meaningless), the same LoRA config, the same masked labels, and TRL's
fused LM head (log-probs computed only at trained positions) which TRL applies in both cases.
Prints tokens/s of each (real tokens, padding excluded), their ratio, the loss of one identical batch computed
both ways with the SAME weights (the project side's trained model, through each side's collator; they must agree
to 1e-4, asserted: padding-free must not change the loss), the machine's fp32 matmul peak and each side's
model-FLOPs utilisation against that fp32 peak (so a bf16 variant can show more than fp32 could reach) (4·N·T per trained token: forward 2NT + input-gradient backward 2NT; LoRA's own weight
gradients are negligible).
Each side's own trained model is not a fair check: the runs see the sequences in a different order (random vs
prepared) and draw different LoRA-dropout masks, so their weights drift apart (up to ~1e-2 in loss after a
few steps), which is training noise, not an effect of padding-free batching."""
import argparse, os, tempfile, time
from dataclasses import replace
from pathlib import Path

import torch
from trl import SFTTrainer

from toolcall_lab.models import load_model
from toolcall_lab.templates import with_tool_template
from toolcall_lab.config import TrainConfig
from toolcall_lab.train import load_base, lora_config, prepare_datasets, sft_args


def matmul_peak_gflops(n=2048, reps=10) -> float:
    "fp32 matmul GFLOP/s this machine sustains with torch's threads."
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def run(cfg, model_name, train_ds, tok, variant: str, out: Path) -> dict:
    "Train `cfg.max_steps` steps one way (`naive`, `project`, `padded`, `topK`, `bf16` or `bf16-nodrop`); return tokens, seconds, trainer."
    if variant.startswith('top'): cfg = replace(cfg, lora_layers=int(variant[3:]))
    if variant.startswith('bf16'): cfg = replace(cfg, bf16=True, dropout=0.0 if variant == 'bf16-nodrop' else cfg.dropout)
    model, _ = load_base(cfg, 'cpu')  # in bf16 for the bf16 variants
    args = sft_args(cfg, out, 'cpu')
    if variant == 'naive': args = replace(args, padding_free=False, pad_to_multiple_of=cfg.max_length, train_sampling_strategy='random')
    if variant == 'padded': args = replace(args, padding_free=False, train_sampling_strategy='group_by_length')
    args.eval_strategy, args.save_strategy = 'no', 'no'
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, processing_class=tok,
                         peft_config=lora_config(cfg, model.config.num_hidden_layers))
    t = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t
    tokens = max(l.get('num_tokens', 0) for l in trainer.state.log_history)
    return dict(tokens=tokens, seconds=seconds, tokens_per_s=tokens / seconds, trainer=trainer,
                params=sum(p.numel() for p in model.parameters()))


def batch_loss(trainer, model, rows) -> float:
    "Loss of a fixed list of rows through `trainer`'s collator and loss, on `model` (eval mode: no LoRA dropout)."
    batch = trainer.data_collator([{k: r[k] for k in ('input_ids', 'labels')} for r in rows])
    trainer.model.eval(); model.eval()
    with torch.no_grad():
        return trainer.compute_loss(model, {k: v for k, v in batch.items()}).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='smollm2-135m')
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--max-length', type=int, default=768)
    ap.add_argument('--fmt', default='compact')
    ap.add_argument('--langs', nargs='+', default=None, help='e.g. en: the demo trains on English records')
    ap.add_argument('--distractors', type=int, nargs=2, default=None, help='fewest and most unneeded tools per training prompt (demo: 0 1)')
    ap.add_argument('--variants', nargs='+', default=['naive', 'project'], help='naive and project always run; add padded, top10, ...')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
    cfg = TrainConfig(model=a.model, data=['structural', 'when2call', 'helpdesk'], max_steps=a.steps, batch_size=a.batch_size,
                      max_length=a.max_length, n_train=a.steps * a.batch_size, n_eval=1, logging_steps=1, fmt=a.fmt,
                      langs=a.langs, train_distractors=a.distractors, bf16=False)  # fp32 unless a bf16 variant says otherwise
    _, tok = load_model('tiny')  # tokenizer only; each side loads its own fresh model
    with_tool_template(tok, cfg.fmt)
    train_ds, _ = prepare_datasets(cfg, tok, verbose=False)
    lengths = [len(x) for x in train_ds['input_ids']]
    print(f'{a.model}, LoRA r{cfg.rank} all-linear, fp32 (bf16 variants: bf16), {torch.get_num_threads()} threads; {a.steps} steps x {a.batch_size} '
          f'sequences; lengths mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)} (max_length {a.max_length})')
    peak = matmul_peak_gflops()
    tmp = Path(tempfile.mkdtemp())
    variants = list(dict.fromkeys(['naive', 'project', *a.variants]))
    res = {name: run(cfg, a.model, train_ds, tok, name, tmp / name) for name in variants}
    rows = [train_ds[i] for i in range(min(a.batch_size, len(train_ds)))]
    model = res['project']['trainer'].model  # one set of weights for both: only the batching differs
    losses = {k: batch_loss(v['trainer'], model, rows) for k, v in res.items() if not k.startswith(('top', 'bf16'))}
    print(f'fp32 matmul peak: {peak:.1f} GFLOP/s')
    for k, v in res.items():
        mfu = 4 * v['params'] * v['tokens_per_s'] / (peak * 1e9)
        same = f'loss of the same batch {losses[k]:.5f}' if k in losses else 'other adapter layout or precision: loss not compared'
        print(f'{k:>8}: {v["tokens"]:.0f} tokens in {v["seconds"]:.1f} s = {v["tokens_per_s"]:.1f} tokens/s, MFU {mfu:.1%}, '
              f'{v["tokens_per_s"] / res["naive"]["tokens_per_s"]:.2f}x naive, {v["tokens_per_s"] / res["project"]["tokens_per_s"]:.2f}x project; {same}')
    for k in losses:
        assert abs(losses[k] - losses['naive']) <= 1e-4, f'{k} changed the loss of the same batch: {losses}'
    print(f'loss agreement with naive (same weights): ' + ', '.join(f'{k} {abs(losses[k] - losses["naive"]):.2e}' for k in losses if k != 'naive'))


if __name__ == '__main__':
    main()
