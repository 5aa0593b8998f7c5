"Every lesson runs top to bottom under nbdev's own runner (cells flagged `slow` or `cuda` skipped, as `tst_flags` says)."
import os
from pathlib import Path

import pytest
from nbdev import test as nbdev_test

NBS = Path(__file__).resolve().parent.parent / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
# Flags to run in addition to the default path, e.g. TOOLCALL_LAB_TEST_FLAGS="slow" on a long CI job or "cuda" on a GPU.
FLAGS = os.environ.get('TOOLCALL_LAB_TEST_FLAGS', '').split() or None


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(nb):
    ok, seconds = nbdev_test.test_nb(nb, force_flags=FLAGS, basepath=NBS.parent)
    print(f'{nb.name}: {seconds:.0f} s')
    assert ok, f'{nb.name} failed under nbdev_test (the cell and traceback are printed above)'
