"""Execute lessons top to bottom and store their outputs (the outputs readers and the docs see).

    python tools/run_nbs.py nbs/01_inference_basics.ipynb [...]   # default: every nbs/[0-9]*.ipynb and index
    python tools/run_nbs.py --keep-slow nbs/07_compare.ipynb        # `#| slow` cells keep their stored outputs, unrun

Runs offline (HF_HUB_OFFLINE=1), drops ipywidgets progress-bar views (their stored text is only "0%")
and the widget state, then leaves the rest to `nbdev_clean`."""
import os, sys, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbdirectives import WIDGET, directives  # noqa: E402

def strip_widgets(nb):
    "Drop widget views and widget state from an executed notebook."
    nb.metadata.pop('widgets', None)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get('data', {})]
    return nb


def _flagged(cell, flag): return flag in directives(cell.source)

def run(path: Path, timeout: int = 1800, keep_slow: bool = False):
    nb = nbformat.read(path, as_version=4)
    import torch
    # `#| cuda` cells need a GPU: without one they are left as they are (not run, outputs kept), as nbdev_test skips them;
    # with keep_slow, so are `#| slow` cells (a real run stored once, when only the cells around it changed)
    # and `#| eval: false` cells (an example that needs a login or a server) are never run, as nbdev_test does not run them
    skipped = [c for c in nb.cells if c.cell_type == 'code' and ((_flagged(c, 'cuda') and not torch.cuda.is_available()) or (keep_slow and _flagged(c, 'slow'))
                                                              or directives(c.source).get('eval', '').lower() == 'false')]
    for c in skipped: c.cell_type = 'raw'
    t = time.perf_counter()
    starts = {}
    def started(cell, cell_index, **kw): starts[cell_index] = time.perf_counter()
    def finished(cell, cell_index, **kw):
        dt = time.perf_counter() - starts.get(cell_index, time.perf_counter())
        if dt > 5: print(f'  cell {cell_index}: {dt:.0f} s  {cell.source.splitlines()[0][:70] if cell.source else ""}')
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}},
                   on_cell_execute=started, on_cell_executed=finished).execute()
    for c in skipped: c.cell_type = 'code'
    nbformat.write(strip_widgets(nb), path)
    print(f'{path}: {time.perf_counter() - t:.0f} s')

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    keep_slow = '--keep-slow' in sys.argv[1:]
    paths = [Path(p) for p in sys.argv[1:] if p != '--keep-slow'] or sorted((root / 'nbs').glob('[0-9]*.ipynb')) + [root / 'nbs' / 'index.ipynb']
    for p in paths: run(p, keep_slow=keep_slow)
