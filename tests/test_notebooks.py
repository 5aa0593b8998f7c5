"Every lesson runs top to bottom under nbdev's own runner, skipping cells flagged with `tst_flags` (slow, cuda) as `nbdev_test` does."
import os
from pathlib import Path

import pytest
from nbdev import test as nbdev_test
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
# The flags settings.ini declares are skipped, unless forced, e.g. TOOLCALL_LAB_TEST_FLAGS="slow" for a long run or "cuda" on a GPU.
SKIP = get_config(path=ROOT).tst_flags.split()
FORCE = os.environ.get('TOOLCALL_LAB_TEST_FLAGS', '').split()


def test_slow_and_cuda_cells_are_skipped():
    assert {'slow', 'cuda'} <= set(SKIP), f'settings.ini tst_flags must name slow and cuda, has {SKIP}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(nb):
    ok, seconds = nbdev_test.test_nb(nb, skip_flags=SKIP, force_flags=FORCE, basepath=ROOT)
    print(f'{nb.name}: {seconds:.0f} s')
    assert ok, f'{nb.name} failed under nbdev_test (the cell and traceback are printed above)'
