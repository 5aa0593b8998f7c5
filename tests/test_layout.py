"""The shape of the code base: modules small and layered one way, lessons that read as documentation, imports linted.

- No module of `toolcall_lab/` (the generated `_modidx.py` aside) is over 500 lines.
- Imports between our modules point one way: a module imports only modules exported by its own lesson or an earlier one
  (lessons in file-name order), and the import graph has no cycle.
- No exported cell is over 40 lines, and no more than two exported cells follow each other without a shown cell (a call
  or an assert a reader sees) between them.
- `ruff check` finds no unused or duplicate imports or names (F401, F811, F841) in `toolcall_lab/`, `tools/` and `bench/`.
"""
import ast, json, re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from nbdirectives import directives  # noqa: E402

LIB = ROOT/'toolcall_lab'
LESSONS = sorted((ROOT/'nbs').glob('*.ipynb'))
MODULES = sorted(p for p in LIB.glob('*.py') if p.name not in ('_modidx.py', '__init__.py'))
EXPORT = {'export', 'exports', 'exporti'}


def code_cells(nb: Path):
    "`(index, directives, source)` of each code cell of a lesson."
    cells = json.loads(nb.read_text())['cells']
    for i, c in enumerate(cells):
        if c['cell_type'] == 'code':
            src = ''.join(c['source'])
            yield i, directives(src), src


def export_target(d: dict, default: str | None) -> str | None:
    "The module an exported cell writes to (`#| export name` or the lesson's `default_exp`), else None."
    for kind in EXPORT & d.keys(): return d[kind].split()[0] if d[kind] else default
    return None


def lesson_of_module() -> dict:
    "`{module: index of the first lesson that exports to it}`."
    out = {}
    for n, nb in enumerate(LESSONS):
        default = None
        for _, d, _ in code_cells(nb):
            if 'default_exp' in d: default = d['default_exp'].split()[0]
            if (m := export_target(d, default)): out.setdefault(m, n)
    return out


def imported_modules(path: Path) -> set:
    "Our modules that `path` imports (`from .x import`, `from toolcall_lab.x import`, `import toolcall_lab.x`)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: out.add(node.module.split('.')[0])
            elif node.level == 1: out.update(a.name for a in node.names)
            elif node.module and node.module.startswith('toolcall_lab.'): out.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split('.')[1] for a in node.names if a.name.startswith('toolcall_lab.'))
    return out - {'_modidx'}


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_no_module_is_over_500_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= 500, f'{path.name} has {n} lines: split it by concept'


def test_imports_point_one_way():
    order = lesson_of_module()
    graph = {p.stem: imported_modules(p) for p in MODULES}
    assert set(graph) <= set(order), f'modules no lesson exports: {set(graph) - set(order)}'
    later = [(m, d) for m, ds in graph.items() for d in ds if order[d] > order[m]]
    assert not later, f'a module imports one a later lesson exports: {later}'
    seen, done = set(), set()
    def visit(m, path):
        assert m not in seen or m in done, f'import cycle: {" -> ".join(path)}'
        if m in done: return
        seen.add(m)
        for d in sorted(graph.get(m, ())): visit(d, [*path, d])
        done.add(m)
    for m in sorted(graph): visit(m, [m])


def test_the_one_way_check_sees_imports():
    "The checks above would fail on a later import: the CLI imports from modules of earlier lessons."
    order = lesson_of_module()
    assert imported_modules(LIB/'cli.py') and all(order[d] <= order['cli'] for d in imported_modules(LIB/'cli.py'))


def exported_cells(nb: Path):
    "`(index, lines, exported)` for each code cell a reader meets: hidden cells are left out."
    default = None
    for i, d, src in code_cells(nb):
        if 'default_exp' in d: default = d['default_exp'].split()[0]; continue
        exported = export_target(d, default) is not None
        if 'hide' in d and not exported: continue
        yield i, len(src.strip().splitlines()), exported


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_no_exported_cell_is_over_40_lines(nb):
    long = [(i, n) for i, n, exported in exported_cells(nb) if exported and n > 40]
    assert not long, f'{nb.name}: exported cells over 40 lines (cell index, lines): {long}'


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_at_most_two_exported_cells_in_a_row(nb):
    runs, run = [], []
    for i, _, exported in exported_cells(nb):
        if exported: run.append(i)
        else: run = []
        if len(run) == 3: runs.append(run[0])
    assert not runs, f'{nb.name}: three or more exported cells in a row, with no shown call or assert between them, from cells {runs}'


def test_ruff_finds_no_unused_or_duplicate_names():
    ruff = shutil.which('ruff', path=str(Path(sys.executable).parent)) or shutil.which('ruff')
    assert ruff, 'ruff is not installed: it is in the dev extras (pip install -e ".[dev]")'
    p = subprocess.run([ruff, 'check', '--no-cache', '--select', 'F401,F811,F841', '--output-format', 'concise', 'toolcall_lab', 'tools', 'bench'],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_make_help_lists_every_target():
    text = (ROOT/'Makefile').read_text()
    targets = {m for m in re.findall(r'^([a-z][\w-]*):', text, re.M)}
    helped = set(re.findall(r'@echo "make ([\w-]+)', text))
    assert targets - {'help'} <= helped, f'make help does not list: {sorted(targets - {"help"} - helped)}'


def modules_of_lesson(nb: Path) -> list:
    "The modules a lesson exports to, in the order its cells first write to them."
    out, default = [], None
    for _, d, _ in code_cells(nb):
        if 'default_exp' in d: default = d['default_exp'].split()[0]
        if (m := export_target(d, default)) and m not in out: out.append(m)
    return out


def test_the_lesson_table_names_each_lessons_modules():
    "The index's (and README's) lesson table: one row per lesson, its module column the modules the lesson exports to."
    cells = json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells']
    table = next(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown' and '| notebook | module' in ''.join(c['source']))
    rows = dict(re.findall(r'^\| `(\w+)` \| ([^|]*) \|', table, re.M))
    lessons = [nb for nb in LESSONS if nb.stem != 'index']
    assert list(rows) == [nb.stem for nb in lessons]
    for nb in lessons: assert re.findall(r'`(\w+)`', rows[nb.stem]) == modules_of_lesson(nb), nb.stem
