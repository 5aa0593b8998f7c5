"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing Quarto).

Markdown cells are copied; shown code cells become ```python blocks followed by their text output;
`#| hide` cells are left out and `#|` directive lines are dropped."""
import argparse, sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
from nbdirectives import ANSI, directives, strip_directives  # noqa: E402


def output_text(out) -> str:
    "Plain text of one output: markdown as is, else text/plain or stream text."
    if out.output_type == 'stream': return out.text
    data = out.get('data', {})
    if 'text/markdown' in data: return '\n' + data['text/markdown'] + '\n'
    return data.get('text/plain', '')


def cell_md(cell) -> str:
    "The README text of one cell ('' for hidden cells)."
    if cell.cell_type == 'markdown': return cell.source
    d = directives(cell.source)
    if cell.cell_type != 'code' or {'hide', 'default_exp'} & d.keys(): return ''
    code = strip_directives(cell.source).strip()
    parts = [f'```python\n{code}\n```'] if code and 'echo' not in d else []
    for out in cell.get('outputs', []):
        text = ANSI.sub('', output_text(out)).strip('\n')
        if not text: continue
        parts.append(text if out.get('data', {}).get('text/markdown') else f'```\n{text}\n```')
    return '\n\n'.join(parts)


def make_readme(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    body = '\n\n'.join(t for t in map(cell_md, nb.cells) if t.strip())
    return '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme`. -->\n\n' + body + '\n'


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('-o', '--out', default=ROOT / 'README.md')
    args = ap.parse_args()
    Path(args.out).write_text(make_readme(ROOT / 'nbs' / 'index.ipynb'))
    print(f'wrote {args.out}')
