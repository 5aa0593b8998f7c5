"The library is generated from the notebooks: exporting and cleaning a copy of the repo must change nothing."
import filecmp, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}  # nbdev_test sets IN_TEST in this process, and nbdev_export does nothing under it


def _copy(tmp_path):
    dst = tmp_path / 'repo'
    for name in ['nbs', 'toolcall_lab', 'settings.ini', 'setup.py', 'pyproject.toml', 'README.md', '_quarto.yml']:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst / name) if src.exists() else None
    return dst


def _differences(a: Path, b: Path, pattern: str):
    names = sorted({p.relative_to(a) for p in a.rglob(pattern)} | {p.relative_to(b) for p in b.rglob(pattern)})
    return [str(n) for n in names if not ((a / n).exists() and (b / n).exists() and filecmp.cmp(a / n, b / n, shallow=False))]


def test_export_changes_nothing(tmp_path):
    "`nbdev_export` reproduces toolcall_lab/, and a second export changes nothing (a module a lesson writes besides its own is started by a notebook in nbs/modules/)."
    repo = _copy(tmp_path)
    for _ in range(2):
        subprocess.run([BIN / 'nbdev_export'], cwd=repo, check=True, env=ENV)
        assert _differences(ROOT / 'toolcall_lab', repo / 'toolcall_lab', '*.py') == [], 'run nbdev_export and commit toolcall_lab/'


def test_export_writes_a_lessons_other_modules_fresh(tmp_path):
    "A module a lesson writes with `#| export name` is created when missing (nbdev appends to it: its start is in nbs/modules/, nbdev #742)."
    repo = _copy(tmp_path)
    (repo / 'toolcall_lab' / 'checks.py').unlink()
    subprocess.run([BIN / 'nbdev_export'], cwd=repo, check=True, env=ENV)
    assert _differences(ROOT / 'toolcall_lab', repo / 'toolcall_lab', '*.py') == []


def test_clean_changes_nothing(tmp_path):
    repo = _copy(tmp_path)
    subprocess.run([BIN / 'nbdev_clean'], cwd=repo, check=True, env=ENV)
    assert _differences(ROOT / 'nbs', repo / 'nbs', '*.ipynb') == [], 'run nbdev_clean and commit nbs/'


def test_readme_is_generated_from_index(tmp_path):
    out = tmp_path / 'README.md'
    subprocess.run([sys.executable, ROOT / 'tools' / 'make_readme.py', '-o', out], cwd=ROOT, check=True)
    assert out.read_text() == (ROOT / 'README.md').read_text(), 'run `make readme` and commit README.md'
