"The docs site builds offline from `_quarto.yml`: every lesson and module gets a page, nbdev's directives hold, nothing remote."
import base64, html, importlib.util, re, subprocess, sys
from pathlib import Path

import nbformat, pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
BUILDER = ROOT/'tools'/'build_docs.py'
REMOTE = [r'<script[^>]+src=["\']https?:', r'<link[^>]+href=["\']https?:', r'url\(["\']?https?:']

spec = importlib.util.spec_from_file_location('build_docs', BUILDER)
bd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bd)


def build(out: Path, *args, cwd=ROOT):
    return subprocess.run([sys.executable, BUILDER, '--out', out, *args], cwd=cwd, capture_output=True, text=True)


def text_of(page: Path) -> str:
    "What a reader sees of a page: tags dropped, entities decoded."
    return html.unescape(re.sub(r'<[^>]+>', '', page.read_text()))


@pytest.fixture(scope='module')
def site(tmp_path_factory, notebooks):
    out = tmp_path_factory.mktemp('docs')
    r = build(out)
    assert r.returncode == 0, f'make docs failed:\n{r.stdout}\n{r.stderr}'
    return out


@pytest.fixture(scope='module')
def notebooks():
    s = bd.load_site(ROOT/'_quarto.yml')
    return [(p, nbformat.read(p, as_version=4)) for p in bd.notebook_paths(s)]


def test_every_lesson_has_a_page_with_its_title(site, notebooks):
    assert notebooks
    for path, nb in notebooks:
        page = site/bd.page_href(path)
        assert page.exists(), f'{page.name} was not built'
        title = bd.title_of(nb)[0]
        assert title, f'{path.name} has no H1 title'
        assert f'<h1 class="title">{bd.md_inline(title)}</h1>' in page.read_text()


def test_every_lesson_page_opens_in_colab(site, notebooks):
    "Each lesson page links to the same notebook on GitHub through Colab."
    for path, _ in notebooks:
        url = bd.colab_url(bd.load_site(ROOT/'_quarto.yml'), path)
        assert url.startswith('https://colab.research.google.com/github/') and url.endswith(f'/nbs/{path.name}'), url
        assert f'href="{url}"' in (site/bd.page_href(path)).read_text(), f'{path.name}: no Open in Colab link'


def test_hidden_cells_are_not_shown(site, notebooks):
    checked = 0
    for path, nb in notebooks:
        shown = '\n'.join(c.source for c in nb.cells if '#| hide' not in c.source)
        text = text_of(site/bd.page_href(path))
        for c in nb.cells:
            src = bd.strip_directives(c.source).strip()
            if c.cell_type != 'code' or 'hide' not in bd.directives(c.source) or not src or src in shown: continue
            assert src not in text, f'hidden cell of {path.name} is in the page: {src[:80]!r}'
            checked += 1
    assert checked, 'no `#| hide` cell found to check'


def test_shown_source_is_in_the_page(site, notebooks):
    path, nb = notebooks[-1]
    srcs = [bd.strip_directives(c.source) for c in nb.cells
            if c.cell_type == 'code' and bd.shows(bd.directives(c.source))[0] and bd.strip_directives(c.source).strip()]
    text = text_of(site/bd.page_href(path))
    assert srcs and all(s in text for s in srcs)


def test_exported_names_get_a_doc_block(site, notebooks):
    names = 0
    for path, nb in notebooks:
        page, _ = bd.plan_notebook(path)
        body = (site/page.href).read_text()
        for name in page.names:
            assert f'<section class="doc" id="{name}">' in body, f'{name} has no doc block in {page.href}'
            names += 1
    assert names, 'no exported function found'


def test_a_doc_block_shows_signature_docstring_and_docments(site):
    body = (site/'00_models.html').read_text()
    block = body.split('<section class="doc" id="package_file">')[1].split('</section>')[0]
    assert 'package_file' in block and 'class="params"' in block
    assert 'Path of a data file inside an installed package' in block
    assert 'top-level package name' in block  # a docment


def test_every_module_has_an_api_page(site):
    mods = [p for p in sorted((ROOT/'toolcall_lab').glob('*.py')) if p.name not in ('__init__.py', '_modidx.py')]
    assert mods
    for mod in mods:
        page = site/'api'/f'{mod.stem}.html'
        assert page.exists(), f'no API page for {mod.stem}'
        body = page.read_text()
        for name in bd.source_all(mod)[0]:
            assert f'id="{name}"' in body, f'{name} of {mod.stem} missing from its API page'


def test_nothing_is_loaded_from_the_network(site):
    files = list(site.rglob('*.html')) + list(site.rglob('*.css'))
    assert (site/'styles.css').exists()
    for f in files:
        text = f.read_text()
        for pat in REMOTE: assert not re.search(pat, text, re.I), f'{f.name} loads {pat}'


def test_a_missing_notebook_fails_clearly(tmp_path):
    (tmp_path/'settings.ini').write_text('[DEFAULT]\nlib_name = nolib\nlib_path = nolib\n')
    (tmp_path/'_quarto.yml').write_text('website:\n  sidebar:\n    contents:\n      - nbs/00_nothing.ipynb\n')
    r = build(tmp_path/'_docs', '--config', tmp_path/'_quarto.yml')
    assert r.returncode != 0 and 'nbs/00_nothing.ipynb' in r.stderr


PNG = base64.b64encode(bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000'
                                     '1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4a00000000049454e44ae426082')).decode()


def _cell(src, *outputs): return new_code_cell(src, outputs=list(outputs))


def demo_project(root: Path) -> Path:
    "A one-lesson nbdev project whose cells try every directive and output kind."
    (root/'demo_lib').mkdir(parents=True)
    (root/'demo_lib'/'__init__.py').write_text('')
    (root/'demo_lib'/'demo.py').write_text("__all__ = ['add', 'LIMIT']\nLIMIT = 3\n"
        "def add(a:int, # first number\n        b:int=2 # second number\n       )->int:\n    \"Add two numbers.\"\n    return a+b\n")
    (root/'settings.ini').write_text('[DEFAULT]\nlib_name = demo_lib\nlib_path = demo_lib\n')
    (root/'_quarto.yml').write_text('project:\n  output-dir: _docs\nwebsite:\n  title: "Demo site"\n'
                                   '  sidebar:\n    contents:\n      - section: "Lessons"\n        contents:\n          - nbs/00_demo.ipynb\n')
    out = lambda text, name='stdout': new_output('stream', name=name, text=text)
    nb = new_notebook(cells=[
        _cell('#| default_exp demo'),
        new_markdown_cell('# Demo title\n\n> A `demo` subtitle\n\nSee `add` and [next](01_next.ipynb).\n\n## Adding'),
        _cell('#| export\nLIMIT = 3\ndef add(a:int, # first number\n        b:int=2 # second number\n       )->int:\n'
              '    "Add two numbers."\n    return a+b'),
        _cell('#| hide\nhidden_source_marker = 1', out('hidden-output-marker')),
        _cell('#| echo: false\necho_source_marker = 2', out('echo-output-marker')),
        _cell('#| output: false\noutput_source_marker = 3', out('output-output-marker')),
        _cell('#| eval: false\neval_source_marker = 4', out('eval-output-marker')),
        _cell('shown_marker = 5', out('\x1b[31mred-marker\x1b[0m\n', 'stderr'), out('0%\r50%\r100% done-marker\n'),
              new_output('display_data', data={'image/png': PNG, 'text/plain': '<Figure>'}),
              new_output('display_data', data={'application/vnd.jupyter.widget-view+json': {'model_id': 'x'},
                                               'text/plain': 'widget-marker'}),
              new_output('error', ename='ValueError', evalue='boom', traceback=['\x1b[0;31mValueError\x1b[0m: boom-marker'])),
    ])
    (root/'nbs').mkdir()
    nbformat.write(nb, root/'nbs'/'00_demo.ipynb')
    nbformat.write(new_notebook(cells=[new_markdown_cell('# Next lesson')]), root/'nbs'/'01_next.ipynb')
    nbformat.write(new_notebook(cells=[new_markdown_cell('# Scratch')]), root/'nbs'/'_scratch.ipynb')
    return root


def test_directives_and_outputs_on_a_demo_project(tmp_path):
    root = demo_project(tmp_path)
    r = build(root/'_docs', '--config', root/'_quarto.yml', cwd=root)
    assert r.returncode == 0, r.stderr
    page = root/'_docs'/'00_demo.html'
    body, text = page.read_text(), text_of(page)
    assert '<h1 class="title">Demo title</h1>' in body and 'A <code>demo</code> subtitle' in body
    assert '#|' not in text and 'default_exp' not in text
    for gone in ['hidden_source_marker', 'hidden-output-marker', 'echo_source_marker', 'output-output-marker',
                 'eval-output-marker', 'widget-marker', '\x1b']:
        assert gone not in text, gone
    for shown in ['echo-output-marker', 'output_source_marker', 'eval_source_marker', 'shown_marker', 'red-marker',
                  '100% done-marker', 'boom-marker', 'data:image/png;base64,']:
        assert shown in body or shown in text, shown
    assert '50%' not in text  # a carriage return overwrites the line, as in a terminal
    block = body.split('<section class="doc" id="add">')[1].split('</section>')[0]
    assert 'Add two numbers.' in block and 'first number' in block and 'second number' in block
    assert 'id="LIMIT"' not in body  # show_doc is for functions and classes
    assert '<a class="xref" href="#add"><code>add</code></a>' in body and 'href="01_next.html"' in body
    assert (root/'_docs'/'01_next.html').exists() and not (root/'_docs'/'_scratch.html').exists()
    api = (root/'_docs'/'api'/'demo.html').read_text()
    assert 'id="add"' in api and 'id="LIMIT"' in api and 'href="../00_demo.html#add"' in api
    assert 'Taught in <a href="../00_demo.html">' in api


def test_source_fallback_reads_like_the_import(tmp_path):
    src = ('def add(a:int, # first number\n        *nums:int, # more numbers\n        scale:float=1.0, # applied last\n'
           '        **opts # ignored\n       )->float: # the scaled sum\n    "Add numbers."\n    return a\n')
    (tmp_path/'mod_add.py').write_text(src)
    spec = importlib.util.spec_from_file_location('mod_add', tmp_path/'mod_add.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from_import = bd.doc_from_obj('add', mod.add)
    from_source = bd.doc_from_ast('add', bd.ast.parse(src).body[0], src)
    assert bd.format_sig(from_import) == bd.format_sig(from_source) == 'add(a:int, *nums:int, scale:float=1.0, **opts) -> float'
    assert [p.doc for p in from_import.params] == [p.doc for p in from_source.params] == [
        'first number', 'more numbers', 'applied last', 'ignored']
    assert from_import.ret_doc == from_source.ret_doc == 'the scaled sum'
    assert from_import.doc == from_source.doc == 'Add numbers.'
