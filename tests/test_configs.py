"configs/*.yaml: every example run config passes the strict checks (types and ranges always; model, data, device and packages as on the device it is for), `sft_args` builds a TrainConfig-valid SFTConfig from it on a CPU, and cpu-demo.yaml is the demo's recipe."
import dataclasses, importlib.util
from pathlib import Path

import pytest, yaml

from toolcall_lab import config as C
from toolcall_lab.config import ConfigError, TrainConfig, check_value, load_config, preflight
from toolcall_lab.train import sft_args

ROOT = Path(__file__).resolve().parent.parent
RUN_CONFIGS = sorted(p for p in (ROOT/'configs').glob('*.yaml') if not p.name.startswith(('accelerate', 'grpo')))  # grpo-*.yaml: tests/test_grpo.py
ACCELERATE_CONFIGS = sorted((ROOT/'configs').glob('accelerate*.yaml'))


def _device(path): return 'cpu' if path.stem.startswith('cpu') else 'cuda'


@pytest.fixture
def packages_installed(monkeypatch):
    "As on a GPU machine with the optional packages (bitsandbytes, tensorboard) installed."
    monkeypatch.setattr(C, '_installed', lambda module: True)
    monkeypatch.setattr(C, 'get_available_reporting_integrations', lambda: list(C._REPORTERS))


def test_the_examples_exist():
    assert {p.stem for p in RUN_CONFIGS} == {'cpu-demo', 'cpu-course', 'colab-t4-qlora', 'gpu-24gb'}


@pytest.mark.parametrize('path', RUN_CONFIGS, ids=lambda p: p.stem)
def test_every_key_and_value_is_checked(path):
    d = yaml.safe_load(path.read_text())
    for key, value in d.items(): check_value(key, value, str(path))  # types and ranges, key by key, never skipped
    cfg = TrainConfig(**d)
    assert {k: getattr(cfg, k) for k in d} == {k: check_value(k, v) for k, v in d.items()}  # nothing read differently


@pytest.mark.parametrize('path', RUN_CONFIGS, ids=lambda p: p.stem)
def test_passes_preflight_on_its_device(path, packages_installed):
    cfg = load_config(path, device=_device(path))  # model name, data, output folder, precision for the device, packages
    assert isinstance(cfg, TrainConfig)


@pytest.mark.parametrize('path', RUN_CONFIGS, ids=lambda p: p.stem)
def test_missing_packages_are_named(path):
    cfg = TrainConfig(**yaml.safe_load(path.read_text()))
    missing = C.missing_packages(cfg, _device(path))
    if not missing:
        load_config(path, device=_device(path))
        return
    key, pip = missing[0]
    with pytest.raises(ConfigError, match=rf"config key '{key}': .* needs the package {pip}, which is not installed .*; fix: pip install {pip}"):
        load_config(path, device=_device(path))


def test_gpu_configs_fail_on_a_cpu_with_the_reason(packages_installed):
    with pytest.raises(ConfigError, match="'fp16': float16 mixed precision needs a CUDA GPU"):
        load_config(ROOT/'configs'/'colab-t4-qlora.yaml', device='cpu')


def _cpu_copy(cfg):
    "The config as it could run on this CPU: precision picked by device, a CPU optimizer, no 4-bit, no tracker."
    cpu_optim = cfg.optim if C._device_problem(dataclasses.replace(cfg, bf16=None, fp16=None), 'cpu') is None and not C.missing_packages(cfg, 'cpu') else 'adamw_torch'
    return dataclasses.replace(cfg, bf16=None, fp16=None, load_in_4bit=False, optim=cpu_optim, report_to=['none'])


@pytest.mark.parametrize('path', RUN_CONFIGS, ids=lambda p: p.stem)
def test_sft_args_builds(path, tmp_path):
    cfg = TrainConfig(**yaml.safe_load(path.read_text()))
    on_cpu = cfg if _device(path) == 'cpu' else _cpu_copy(cfg)
    preflight(on_cpu, device='cpu')
    a = sft_args(on_cpu, tmp_path, 'cpu')
    assert (a.per_device_train_batch_size, a.gradient_accumulation_steps, a.learning_rate) == (cfg.batch_size, cfg.grad_accum, cfg.lr)
    assert a.use_cpu and not a.fp16
    assert a.activation_checkpointing == bool(cfg.gradient_checkpointing)  # unset: off on a CPU
    if _device(path) == 'cuda' and not cfg.bf16:  # fp16 trainer settings build without a GPU (bf16 ones are refused by transformers)
        g = sft_args(cfg, tmp_path, 'cuda')
        assert (g.fp16, g.bf16, g.optim, g.activation_checkpointing_kwargs) == (cfg.fp16, False, cfg.optim, {'use_reentrant': False})


def test_cpu_demo_is_the_demo():
    from toolcall_lab.cli import DEMO
    assert load_config(ROOT/'configs'/'cpu-demo.yaml', device='cpu') == TrainConfig(**DEMO)


def test_cpu_course_is_the_demo_recipe_for_longer():
    "The course run changes only how long it trains and what it keeps, never the recipe (data, languages, LoRA, optimizer)."
    from dataclasses import asdict
    from toolcall_lab.cli import DEMO
    course, demo = asdict(load_config(ROOT/'configs'/'cpu-course.yaml', device='cpu')), asdict(TrainConfig(**DEMO))
    length = {'max_steps', 'n_train', 'eval_steps', 'save_steps', 'keep_checkpoints', 'output_dir'}
    assert {k for k in course if course[k] != demo[k]} <= length
    assert course['n_train'] > demo['n_train'] and course['max_steps'] * course['batch_size'] == course['n_train']


def test_colab_config_fits_a_t4():
    cfg = TrainConfig(**yaml.safe_load((ROOT/'configs'/'colab-t4-qlora.yaml').read_text()))
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == 'nf4' and cfg.fp16 and not cfg.bf16  # the T4 has no bf16
    assert cfg.bnb_4bit_compute_dtype == 'float16' and cfg.optim == 'paged_adamw_8bit' and cfg.gradient_checkpointing


@pytest.mark.parametrize('path', ACCELERATE_CONFIGS, ids=lambda p: p.stem)
def test_accelerate_config_is_valid(path):
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.commands.launch import launch_command_parser
    cfg = ClusterConfig.from_yaml_file(str(path))  # unknown top-level keys are an error there
    launch_flags = {a.dest for a in launch_command_parser()._actions}
    assert set(cfg.fsdp_config) <= launch_flags, set(cfg.fsdp_config) - launch_flags  # each FSDP key is one `accelerate launch` knows
    assert cfg.distributed_type == 'FSDP' and cfg.mixed_precision == 'bf16'
