"Every lesson opens in Colab: its first code cell after the title installs the package there, and does nothing anywhere else."
import json, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
import colab_cell  # noqa: E402

LESSONS = colab_cell.lessons()


def cells(path: Path) -> list:
    "The sources of a notebook's code cells."
    return [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']


@pytest.mark.parametrize('nb', LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_starts_with_the_colab_cell(nb):
    srcs = cells(nb)
    found = [i for i, s in enumerate(srcs) if colab_cell.MARKER in s]
    assert len(found) == 1, f'{nb.name}: expected one Colab install cell, found {len(found)}; fix: python tools/colab_cell.py'
    assert srcs[found[0]] == colab_cell.cell_source(), f'{nb.name}: the Colab cell is out of date; fix: python tools/colab_cell.py'
    first_import = next((i for i, s in enumerate(srcs) if 'toolcall_lab' in s and 'import' in s and i != found[0]), len(srcs))
    assert found[0] < first_import, f'{nb.name}: the Colab cell must run before the lesson imports toolcall_lab'


def run_cell(in_colab: bool) -> dict:
    "Run the cell in a fresh interpreter with `subprocess.run` recorded (never executed); what it ran and printed."
    prelude = f'''
import json, subprocess, sys, types
calls = []
subprocess.run = lambda cmd, **kw: calls.append(cmd)
if {in_colab}: sys.modules['google.colab'] = types.ModuleType('google.colab')
'''
    code = prelude + colab_cell.cell_source() + "\nprint('CALLS=' + json.dumps(calls))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    calls = json.loads(next(l for l in out.stdout.splitlines() if l.startswith('CALLS='))[6:])
    return dict(calls=calls, stdout=out.stdout)


def test_the_cell_does_nothing_outside_colab():
    r = run_cell(in_colab=False)
    assert r['calls'] == [] and r['stdout'].strip().startswith('CALLS=')


def test_in_colab_it_installs_the_package_and_the_model():
    r = run_cell(in_colab=True)
    (pkg,), (model,) = [c[-1:] for c in r['calls']]
    assert pkg.startswith('toolcall_lab[qlora') and pkg.endswith('@ git+' + colab_cell.settings()['git_url'])
    assert model == colab_cell.model_spec() and '--no-deps' in r['calls'][1]
    assert 'GPU:' in r['stdout']
