"""Build the docs site offline: one page per lesson notebook and one API page per module, into `_docs/`.

    python tools/build_docs.py [--out DIR] [--config _quarto.yml]

`_quarto.yml` is the one config of the site (title, sidebar order, output folder); Quarto reads the same file
where it is installed. Pages are rendered from the outputs stored in the notebooks (nothing is executed),
keeping nbdev's directives (`#| hide`, `#| echo: false`, `#| export`, ...) and adding a `show_doc`-style block
under every exported function and class. The site has no remote dependency: one local `styles.css`, no script."""
import argparse, ast, configparser, html, importlib, inspect, io, re, sys, tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat, yaml
from fastcore.docments import docments
from jinja2 import Environment
from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbdirectives import ANSI, WIDGET, directives, strip_directives  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REMOTE_TAG = re.compile(r'<script[^>]+src=["\']https?:[^>]*>.*?</script>|<link[^>]+href=["\']https?:[^>]*>', re.I | re.S)
FALSE = {'false', 'no', '0'}

# ---------------------------------------------------------------- site config

@dataclass
class Site:
    "What `_quarto.yml` and settings.ini say about the site."
    root: Path
    title: str
    description: str
    sidebar: list  # raw `website.sidebar.contents`
    out: Path
    lib_name: str
    lib_path: Path
    wrap: bool = True
    git_url: str = ''  # the repository on GitHub, for "Open in Colab" links
    branch: str = 'main'

def load_site(config: Path, out=None) -> Site:
    "Read `_quarto.yml` and settings.ini next to it."
    cfg = yaml.safe_load(config.read_text()) or {}
    root = config.resolve().parent
    ini = configparser.ConfigParser()
    ini.read(root/'settings.ini')
    s = ini['DEFAULT']
    web, proj = cfg.get('website', {}), cfg.get('project', {})
    wrap = cfg.get('format', {}).get('html', {}).get('code-overflow', 'wrap') == 'wrap'
    return Site(root, web.get('title', s.get('title', 'docs')), web.get('description', s.get('description', '')),
                (web.get('sidebar') or {}).get('contents', []), Path(out or root/proj.get('output-dir', '_docs')),
                s.get('lib_name', 'lib'), root/s.get('lib_path', s.get('lib_name', 'lib')), wrap, s.get('git_url', ''), s.get('branch', 'main'))

def colab_url(site: Site, nb: Path) -> str:
    "The Open-in-Colab address of a lesson: Colab opens notebooks straight from GitHub ('' without a GitHub `git_url`)."
    if not site.git_url.startswith('https://github.com/'): return ''
    repo = site.git_url.removeprefix('https://github.com/').removesuffix('.git').strip('/')
    return f'https://colab.research.google.com/github/{repo}/blob/{site.branch}/{nb.resolve().relative_to(site.root).as_posix()}'

def sidebar_notebooks(entries) -> list:
    "Notebook paths named in the sidebar, in order."
    paths = []
    for e in entries:
        if isinstance(e, str): paths.append(e)
        elif isinstance(e, dict) and 'contents' in e: paths += sidebar_notebooks(e['contents'])
        elif isinstance(e, dict) and 'href' in e: paths.append(e['href'])
    return [p for p in paths if p.endswith('.ipynb')]

def notebook_paths(site: Site, allow_missing: bool = False) -> list:
    "Sidebar notebooks in order, then every other public `nbs/*.ipynb`; exit when a listed one is missing."
    listed = [site.root/p for p in sidebar_notebooks(site.sidebar)]
    missing = [str(p.relative_to(site.root)) for p in listed if not p.exists()]
    if missing and not allow_missing:
        sys.exit(f"build_docs: listed in _quarto.yml but missing: {', '.join(missing)} "
                 "(add the notebook, fix the sidebar, or pass --allow-missing)")
    if missing: print(f"warning: left out, missing: {', '.join(missing)}")
    listed = [p for p in listed if p.exists()]
    others = [p for p in sorted((site.root/'nbs').glob('*.ipynb')) if not p.name.startswith('_') and p not in listed]
    return list(dict.fromkeys(listed + others))

def page_href(nb: Path) -> str:
    "Site-relative page of a notebook: `nbs/00_models.ipynb` -> `00_models.html`."
    return f'{nb.stem}.html'

# ---------------------------------------------------------------- markdown and code

def code_html(code: str, lang: str = 'python') -> str:
    "Pygments-highlighted `<pre>` block."
    try: lexer = get_lexer_by_name(lang or 'text')
    except ClassNotFound: lexer = TextLexer()
    body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code>{body}</code></pre>'

MD = MarkdownIt('commonmark', {'html': True, 'highlight': lambda code, lang, _: code_html(code, lang or 'text')})
MD.enable(['table', 'strikethrough'])

def md_html(text: str) -> str:
    "Markdown to HTML, with links to notebooks pointing at their pages."
    return re.sub(r'href="(?![a-z]+:)([^"#]*/)?([^"/#]+)\.ipynb(#[^"]*)?"', r'href="\2.html\3"', MD.render(text))

def md_inline(text: str) -> str:
    "One line of markdown to inline HTML."
    return MD.renderInline(text or '')

def strip_tags(s: str) -> str:
    "Plain text of a bit of HTML."
    return html.unescape(re.sub(r'<[^>]+>', '', s))

# ---------------------------------------------------------------- directives

def is_off(d: dict, key: str) -> bool:
    "Whether a Quarto option such as `echo` is set to false."
    return key in d and d[key].lower() in FALSE

def shows(d: dict) -> tuple:
    "(show source, show outputs) for a cell with directives `d`."
    if {'hide', 'default_exp'} & d.keys() or is_off(d, 'include'): return False, False
    return not is_off(d, 'echo'), not (is_off(d, 'output') or is_off(d, 'eval'))

def export_module(d: dict, default: str):
    "Module an `#| export` cell goes to, or None for a cell that is not exported."
    for key in ('export', 'exports'):
        if key in d: return d[key].split()[0] if d[key] else default
    return None

# ---------------------------------------------------------------- show_doc

@dataclass
class Param:
    "One parameter of a documented callable."
    name: str
    anno: str = ''
    default: str = ''
    doc: str = ''
    star: str = ''  # '', '*' or '**'
    kwonly: bool = False

    def text(self):
        "How the parameter reads in a signature."
        return self.star + self.name + (f':{self.anno}' if self.anno else '') + (f'={self.default}' if self.default else '')

@dataclass
class Doc:
    "What a show_doc block shows for one name."
    name: str
    kind: str  # function, class or value
    params: list = field(default_factory=list)
    ret: str = ''
    ret_doc: str = ''
    doc: str = ''
    value: str = ''
    source: str = ''  # 'import' or 'source' (parsed)

def anno_str(a) -> str:
    "An annotation as the author wrote it."
    if a is inspect.Parameter.empty or a is None: return ''
    if isinstance(a, str): return a
    if isinstance(a, type): return a.__qualname__
    return str(a).replace('typing.', '')

def short_repr(v, n: int = 70) -> str:
    "`repr` cut to `n` characters."
    r = repr(v)
    return r if len(r) <= n else r[:n-1] + '…'

def own_doc(obj) -> str:
    "The docstring an object declares itself (not a dataclass's generated one)."
    d = inspect.cleandoc(getattr(obj, '__doc__', None) or '')
    name = getattr(obj, '__name__', '')
    return '' if inspect.isclass(obj) and d.startswith(f'{name}(') else d

def doc_from_obj(name: str, obj) -> Doc:
    "A Doc from an imported object, with parameters documented by docments."
    if not callable(obj): return Doc(name, 'value', value=short_repr(obj, 300), source='import')
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return Doc(name, 'function', doc=own_doc(obj), source='import')
    try: dm = docments(obj, full=True, args_kwargs=True)
    except Exception: dm = {}
    stars = {inspect.Parameter.VAR_POSITIONAL: '*', inspect.Parameter.VAR_KEYWORD: '**'}
    params = [Param(p.name, anno_str(p.annotation), '' if p.default is p.empty else short_repr(p.default),
                    (dm.get(p.name) or {}).get('docment') or '', stars.get(p.kind, ''), p.kind == p.KEYWORD_ONLY)
              for p in sig.parameters.values() if p.name not in ('self', 'cls')]
    ret = (dm.get('return') or {}).get('docment') or ''
    kind = 'class' if inspect.isclass(obj) else 'function'
    return Doc(name, kind, params, '' if kind == 'class' else anno_str(sig.return_annotation), ret, own_doc(obj), source='import')

def line_comments(src: str) -> dict:
    "`{line number: comment text}` of a piece of Python source."
    try: toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError): return {}
    return {t.start[0]: t.string.lstrip('#').strip() for t in toks if t.type == tokenize.COMMENT}

def params_from_ast(a: ast.arguments, comments: dict) -> list:
    "Params of a parsed `def`, without self/cls, documented by their trailing comments."
    def mk(arg, default=None, star='', kwonly=False):
        return Param(arg.arg, ast.unparse(arg.annotation) if arg.annotation else '',
                     ast.unparse(default) if default is not None else '', comments.get(arg.lineno, ''), star, kwonly)
    pos = a.posonlyargs + a.args
    defaults = [None]*(len(pos)-len(a.defaults)) + a.defaults
    ps = [mk(x, d) for x, d in zip(pos, defaults)]
    if a.vararg: ps.append(mk(a.vararg, star='*'))
    ps += [mk(x, d, kwonly=True) for x, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg: ps.append(mk(a.kwarg, star='**'))
    return [p for p in ps if p.name not in ('self', 'cls')]

def is_dataclass_node(node: ast.ClassDef) -> bool:
    "Whether a parsed class is decorated with `dataclass`."
    return any('dataclass' in ast.unparse(d) for d in node.decorator_list)

def doc_from_ast(name: str, node, src: str) -> Doc:
    "A Doc read from source alone, for when the module cannot be imported."
    comments, doc = line_comments(src), ast.get_docstring(node) or ''
    if isinstance(node, ast.ClassDef):
        if is_dataclass_node(node):
            ps = [Param(f.target.id, ast.unparse(f.annotation), ast.unparse(f.value) if f.value else '',
                        comments.get(f.lineno, '')) for f in node.body if isinstance(f, ast.AnnAssign)]
        else:
            init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == '__init__'), None)
            ps = params_from_ast(init.args, comments) if init else []
        return Doc(name, 'class', ps, doc=doc, source='source')
    ret = ast.unparse(node.returns) if node.returns else ''
    ret_doc = comments.get(node.returns.lineno, '') if node.returns else ''
    return Doc(name, 'function', params_from_ast(node.args, comments), ret, ret_doc, doc, source='source')

def format_sig(d: Doc) -> str:
    "The signature of a Doc, one line when short, one parameter per line when long."
    parts, starred = [], False
    for p in d.params:
        if p.kwonly and not starred and not any(q.star == '*' for q in d.params): parts.append('*')
        starred = starred or p.kwonly or p.star == '*'
        parts.append(p.text())
    ret = f' -> {d.ret}' if d.ret else ''
    one = f"{d.name}({', '.join(parts)}){ret}"
    if len(one) <= 90: return one
    return d.name + '(\n' + ',\n'.join('    ' + p for p in parts) + '\n)' + ret

def params_table(d: Doc) -> str:
    "The docments table (Type, Default, Details) of a Doc, or '' when nothing is documented."
    if not (any(p.doc for p in d.params) or d.ret_doc): return ''
    cell = lambda s: f'<code>{html.escape(s)}</code>' if s else ''
    rows = [f'<tr><td><code>{p.star}{html.escape(p.name)}</code></td><td>{cell(p.anno)}</td><td>{cell(p.default)}</td>'
            f'<td>{md_inline(p.doc)}</td></tr>' for p in d.params]
    if d.ret or d.ret_doc:
        rows.append(f'<tr class="returns"><td><strong>Returns</strong></td><td>{cell(d.ret)}</td><td></td>'
                    f'<td>{md_inline(d.ret_doc)}</td></tr>')
    head = '<thead><tr><th></th><th>Type</th><th>Default</th><th>Details</th></tr></thead>'
    return f'<table class="params">{head}<tbody>{"".join(rows)}</tbody></table>'

def docstring_html(doc: str) -> str:
    "A docstring: its summary as a paragraph, any further text as markdown below it."
    summary, _, rest = inspect.cleandoc(doc or '').partition('\n\n')
    if not summary: return ''
    indented = any(l[:1].isspace() for l in rest.splitlines())  # Google/numpy style sections read best as typed
    body = f'<pre>{html.escape(rest)}</pre>' if indented else md_html(rest)
    more = f'<div class="doc-more">{body}</div>' if rest.strip() else ''
    return f'<p class="doc-doc">{md_inline(" ".join(summary.split()))}</p>{more}'

def doc_html(d: Doc, anchor: str = '', link: str = '') -> str:
    "The show_doc block of a Doc: name, signature, docstring, parameter table."
    anchor = anchor or d.name
    code = f'{d.name} = {d.value}' if d.kind == 'value' else format_sig(d)
    sig = highlight(code, PythonLexer(), HtmlFormatter(nowrap=True))
    more = f' <a class="doc-link" href="{link}">in the lesson</a>' if link else ''
    return (f'<section class="doc" id="{anchor}"><div class="doc-head"><a class="doc-name" href="#{anchor}">'
            f'{html.escape(d.name)}</a> <span class="doc-kind">{d.kind}</span>{more}</div>'
            f'<pre class="highlight sig"><code>{sig}</code></pre>'
            + docstring_html(d.doc) + params_table(d) + '</section>')

# ---------------------------------------------------------------- modules and exported names

class Modules:
    "The library's modules, imported once; import failures are remembered and reported."
    def __init__(self, site: Site):
        self.site, self.cache, self.errors = site, {}, {}
        if str(site.root) not in sys.path: sys.path.insert(0, str(site.root))

    def get(self, mod: str):
        "The imported module `lib_name.mod`, or None when it does not import."
        if mod not in self.cache:
            try: self.cache[mod] = importlib.import_module(f'{self.site.lib_name}.{mod}')
            except Exception as e:
                self.cache[mod], self.errors[mod] = None, f'{type(e).__name__}: {e}'
        return self.cache[mod]

    def lookup(self, mod: str, dotted: str):
        "The object `dotted` (e.g. `Cls.meth`) in module `mod`, or None."
        obj = self.get(mod)
        for part in dotted.split('.'):
            obj = getattr(obj, part, None)
        return obj

def parseable(src: str) -> str:
    "Cell source with IPython magics and shell lines blanked, keeping line numbers."
    return '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in src.splitlines())

def patched_name(node) -> str:
    "`Cls.meth` for a fastcore `@patch` function, else its own name."
    if any(ast.unparse(d).split('(')[0] in ('patch', 'patch_to') for d in node.decorator_list):
        args = node.args.posonlyargs + node.args.args
        if args and args[0].annotation is not None: return f'{ast.unparse(args[0].annotation)}.{node.name}'
    return node.name

def defined_names(src: str) -> list:
    "Public top-level functions and classes a cell defines, as (name, ast node)."
    try: tree = ast.parse(parseable(src))
    except SyntaxError: return []
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    out = [(patched_name(n) if not isinstance(n, ast.ClassDef) else n.name, n) for n in tree.body if isinstance(n, defs)]
    return [(name, n) for name, n in out if not name.split('.')[-1].startswith('_')]

def module_doc(mods: Modules, mod: str, name: str, node, src: str) -> Doc:
    "A Doc for `name` from the imported module when possible, else from its source."
    obj = mods.lookup(mod, name) if mods.get(mod) is not None else None
    return doc_from_obj(name, obj) if obj is not None else doc_from_ast(name, node, src)

# ---------------------------------------------------------------- notebook pages

@dataclass
class Page:
    "One built page."
    href: str  # relative to the site root
    title: str
    subtitle: str = ''
    body: str = ''
    toc: list = field(default_factory=list)  # (level, id, text)
    nb: Path = None
    module: str = ''
    names: list = field(default_factory=list)  # exported names documented on the page

def title_of(nb) -> tuple:
    "(H1 title, `>` subtitle, index of the cell holding them) of a notebook."
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'markdown': continue
        lines = c.source.splitlines()
        for j, l in enumerate(lines):
            if l.startswith('# '):
                rest = [x for x in lines[j+1:] if x.strip()]
                sub = rest[0][1:].strip() if rest and rest[0].startswith('>') else ''
                return l[2:].strip(), sub, i
    return '', '', None

def drop_title(src: str) -> str:
    "A markdown cell without its H1 line and the `>` subtitle right after it."
    lines, out, state = src.splitlines(), [], 'before'
    for l in lines:
        if state == 'before' and l.startswith('# '): state = 'after-h1'; continue
        if state == 'after-h1' and not l.strip(): continue
        if state == 'after-h1' and l.startswith('>'): state = 'done'; continue
        if state == 'after-h1': state = 'done'
        out.append(l)
    return '\n'.join(out)

def default_exp(nb) -> str:
    "The module a notebook exports to (`#| default_exp`), or ''."
    for c in nb.cells:
        if c.cell_type == 'code' and 'default_exp' in (d := directives(c.source)): return d['default_exp'].split()[0]
    return ''

def with_attachments(cell) -> str:
    "Markdown source with `attachment:` images inlined as data URIs."
    src = cell.source
    for name, data in (cell.get('attachments') or {}).items():
        mime, b64 = next(iter(data.items()))
        src = src.replace(f'attachment:{name}', f'data:{mime};base64,{"".join(b64) if isinstance(b64, list) else b64}')
    return src

def collapse_cr(text: str) -> str:
    "Terminal text as it would finally read: a carriage return overwrites its line (progress bars)."
    return '\n'.join(l.rstrip('\r').rsplit('\r', 1)[-1] for l in text.split('\n'))

def pre(text: str, cls: str) -> str:
    "A `<pre>` of plain text, ANSI codes removed."
    return f'<pre class="{cls}">{html.escape(collapse_cr(ANSI.sub("", text)))}</pre>'

def image_html(mime: str, data, meta: dict) -> str:
    "An embedded image output."
    data = ''.join(data) if isinstance(data, list) else data
    if mime == 'image/svg+xml': return f'<div class="svg">{data}</div>'
    size = ''.join(f' {k}="{int(v)}"' for k, v in (meta.get(mime) or {}).items() if k in ('width', 'height'))
    return f'<img src="data:{mime};base64,{data.strip()}" alt="output"{size}>'

def data_html(o) -> str:
    "HTML of a display_data / execute_result output, richest format first."
    data, meta = o.get('data', {}), o.get('metadata', {})
    if WIDGET in data: return ''
    if 'text/markdown' in data: return f'<div class="md-output">{md_html(data["text/markdown"])}</div>'
    if 'text/html' in data: return f'<div class="html-output">{REMOTE_TAG.sub("", data["text/html"])}</div>'
    for mime in ('image/svg+xml', 'image/png', 'image/jpeg', 'image/gif'):
        if mime in data: return image_html(mime, data[mime], meta)
    if 'text/plain' in data: return pre(data['text/plain'], 'plain')
    return ''

def output_html(o) -> str:
    "HTML of any one output."
    if o.output_type == 'stream': return pre(o.text, f'stream {o.name}')
    if o.output_type == 'error': return pre('\n'.join(o.traceback) or f'{o.ename}: {o.evalue}', 'error')
    return data_html(o)

def merge_streams(outputs) -> list:
    "Outputs with consecutive writes to the same stream joined into one."
    out = []
    for o in outputs:
        if o.output_type == 'stream' and out and out[-1].output_type == 'stream' and out[-1].name == o.name:
            out[-1] = nbformat.from_dict({**out[-1], 'text': out[-1].text + o.text})
        else: out.append(o)
    return out

def outputs_html(outputs) -> str:
    "HTML of a cell's outputs."
    parts = [h for h in map(output_html, merge_streams(outputs)) if h]
    return f'<div class="cell-output">{"".join(parts)}</div>' if parts else ''

def code_cell_html(cell, d: dict) -> str:
    "A code cell as shown in the docs: its source and outputs, as its directives allow."
    show_src, show_out = shows(d)
    src = strip_directives(cell.source) if show_src else ''
    out = outputs_html(cell.get('outputs', [])) if show_out else ''
    if not (src.strip() or out): return ''
    src_html = code_html(src, 'ipython3') if src.strip() else ''
    if src_html and d.get('code-fold', '').lower() in ('true', 'show'):
        opn = ' open' if d['code-fold'].lower() == 'show' else ''
        src_html = f'<details class="fold"{opn}><summary>Code</summary>{src_html}</details>'
    return f'<div class="cell">{src_html}{out}</div>'

def slug(text: str) -> str:
    "An id for a heading."
    return re.sub(r'[^\w]+', '-', strip_tags(text).lower()).strip('-') or 'section'

def add_heading_ids(body: str, used: set, toc: list) -> str:
    "Give h2/h3 headings unique ids and a self link, collecting them for the page's table of contents."
    def sub(m):
        level, inner = int(m.group(1)), m.group(2)
        base = hid = slug(inner)
        n = 1
        while hid in used: hid, n = f'{base}-{n}', n + 1
        used.add(hid)
        toc.append((level, hid, strip_tags(inner)))
        return f'<h{level} id="{hid}">{inner}<a class="anchor" href="#{hid}" aria-hidden="true">#</a></h{level}>'
    return re.sub(r'<h([23])>(.*?)</h\1>', sub, body, flags=re.S)

def autolink(body: str, index: dict, rel: str, here: str) -> str:
    "Link `name` in inline code to the doc block of a documented name, as nbdev does."
    def sub(m):
        name = m.group('name')
        if not name or name not in index: return m.group(0)
        page, _, anchor = index[name].partition('#')
        href = f'#{anchor}' if page == here else rel + index[name]
        return f'<a class="xref" href="{href}">{m.group(0)}</a>'
    pat = r'<a\b.*?</a>|<pre\b.*?</pre>|<h[1-6]\b.*?</h[1-6]>|<code>(?P<name>[A-Za-z_][\w.]*)(?:\(\))?</code>'
    return re.sub(pat, sub, body, flags=re.S)

def render_notebook(page: Page, nb, mods: Modules, index: dict) -> Page:
    "Fill in the body and table of contents of a lesson page."
    _, _, title_cell = title_of(nb)
    used, toc, parts = set(page.names), [], []
    explicit = '\n'.join(c.source for c in nb.cells if c.cell_type == 'code')
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'markdown':
            src = with_attachments(c)
            h = md_html(drop_title(src) if i == title_cell else src)
            parts.append(autolink(add_heading_ids(h, used, toc), index, '', page.href))
        elif c.cell_type == 'code':
            d = directives(c.source)
            parts.append(autolink(code_cell_html(c, d), index, '', page.href))
            mod = export_module(d, page.module)
            if mod is None: continue
            for name, node in defined_names(c.source):
                if f'show_doc({name}' in explicit: continue
                doc = doc_html(module_doc(mods, mod, name, node, parseable(c.source)), anchor=name)
                parts.append(autolink(doc, index, '', page.href))
    page.body, page.toc = '\n'.join(p for p in parts if p), toc
    return page

def plan_notebook(nb_path: Path):
    "A lesson page with its title and documented names, before rendering; and the notebook."
    nb = nbformat.read(nb_path, as_version=4)
    title, sub, _ = title_of(nb)
    page = Page(page_href(nb_path), title or nb_path.stem, sub, nb=nb_path, module=default_exp(nb))
    for c in nb.cells:
        if c.cell_type == 'code' and export_module(directives(c.source), page.module) is not None:
            page.names += [n for n, _ in defined_names(c.source)]
    return page, nb

# ---------------------------------------------------------------- API pages

def module_files(site: Site) -> list:
    "Module names of the library, from `lib_path/*.py`."
    return sorted(p.stem for p in site.lib_path.glob('*.py') if p.name not in ('__init__.py', '_modidx.py'))

def source_all(path: Path) -> tuple:
    "(`__all__`, {name: ast node}) read from a module's source."
    tree = ast.parse(path.read_text())
    names, nodes = [], {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(getattr(t, 'id', '') == '__all__' for t in n.targets):
            names = ast.literal_eval(n.value)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): nodes[n.name] = n
    return names, nodes

def api_docs(mods: Modules, mod: str, path: Path) -> list:
    "Docs of every name in a module's `__all__`, from the module, else from its source."
    m, src = mods.get(mod), path.read_text()
    names, nodes = source_all(path)
    if m is not None:
        return [doc_from_obj(n, getattr(m, n)) for n in getattr(m, '__all__', names) if hasattr(m, n)]
    return [doc_from_ast(n, nodes[n], src) if n in nodes else Doc(n, 'value', value='…', source='source') for n in names]

def lesson_of(path: Path, lessons: dict) -> str:
    "Page of the lesson a module is written from: the first lesson (a notebook right in nbs/) with a cell in it, else the notebook it names."
    src = path.read_text()  # a module a lesson writes besides its own is started by a notebook in nbs/modules/, which has no page
    m = re.search(r'^# %% \.\./nbs/([^/\s]+)\.ipynb', src, re.M) or re.search(r'File to edit: \.\./(?:nbs/)?([^\s]+?)\.ipynb', src[:2000])
    return f'{Path(m.group(1)).name}.html' if m else ''

def render_api(mods: Modules, mod: str, site: Site, lessons: dict, index: dict) -> Page:
    "The API reference page of one module."
    path = site.lib_path/f'{mod}.py'
    lesson = lessons.get(mod) or lesson_of(path, lessons)
    docs = api_docs(mods, mod, path)
    head = ast.get_docstring(ast.parse(path.read_text())) or ''
    intro = f'<p class="lesson-link">Taught in <a href="../{lesson}">the lesson</a>.</p>' if lesson else ''
    warn = (f'<p class="warn">Read from source: <code>{html.escape(mods.errors[mod])}</code></p>'
            if mod in mods.errors else '')
    local = {**index, **{d.name: f'api/{mod}.html#{d.name}' for d in docs}}
    blocks = []
    for d in docs:
        target = index.get(d.name, '')
        link = '../' + target if lesson and target.startswith(lesson + '#') else ''
        blocks.append(autolink(doc_html(d, link=link), local, '../', f'api/{mod}.html'))
    toc = [(3, d.name, d.name) for d in docs]
    body = intro + warn + '\n'.join(blocks)
    return Page(f'api/{mod}.html', f'{site.lib_name}.{mod}', head, body, toc, module=mod)

# ---------------------------------------------------------------- layout

CSS = """
:root { --primary:#2780e3; --primary-dark:#1a5fae; --text:#212529; --muted:#6c757d; --border:#dee2e6;
  --side-bg:#f8f9fa; --code-bg:#f6f8fa; --out-bg:#ffffff; --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; }
* { box-sizing:border-box; }
html { font-size:16px; }
body { margin:0; color:var(--text); background:#fff; line-height:1.6;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif; }
a { color:var(--primary); text-decoration:none; } a:hover { text-decoration:underline; }
.site-header { position:sticky; top:0; z-index:10; display:flex; align-items:baseline; gap:1rem; padding:.7rem 1.5rem;
  background:var(--primary); color:#fff; box-shadow:0 1px 3px rgba(0,0,0,.15); }
.site-header .brand { color:#fff; font-weight:600; font-size:1.2rem; }
.site-header .tagline { color:rgba(255,255,255,.85); font-size:.9rem; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.layout { display:grid; grid-template-columns:260px minmax(0,1fr) 220px; max-width:1440px; margin:0 auto; }
.sidebar { position:sticky; top:3.2rem; align-self:start; max-height:calc(100vh - 3.2rem); overflow-y:auto;
  padding:1.5rem 1rem; border-right:1px solid var(--border); background:var(--side-bg); min-height:calc(100vh - 3.2rem); }
.sidebar ul { list-style:none; margin:0; padding:0; }
.sidebar li a { display:block; padding:.25rem .6rem; border-radius:4px; color:var(--text); font-size:.93rem; }
.sidebar li a:hover { background:#e9ecef; text-decoration:none; }
.sidebar li a.active { color:var(--primary); font-weight:600; background:#e7f1fc; }
.sidebar .section { margin-top:1rem; }
.sidebar .section-title { display:block; padding:.25rem .6rem; font-size:.75rem; font-weight:700; letter-spacing:.06em;
  text-transform:uppercase; color:var(--muted); }
.content { padding:2rem 2.5rem 4rem; min-width:0; max-width:900px; }
.title-block { margin-bottom:2rem; padding-bottom:1rem; border-bottom:1px solid var(--border); }
.title-block h1 { margin:0 0 .4rem; font-size:2.2rem; line-height:1.2; overflow-wrap:anywhere; }
.title-block .subtitle { margin:0; color:var(--muted); font-size:1.1rem; }
.colab-badge { display:inline-block; margin-top:.6rem; padding:.15rem .6rem; border-radius:4px; background:#f9ab00; color:#1f1f1f; font-size:.85rem; font-weight:600; text-decoration:none; }
h2 { margin-top:2.5rem; padding-bottom:.3rem; border-bottom:1px solid var(--border); font-size:1.6rem; }
h3 { margin-top:2rem; font-size:1.25rem; } h4 { margin-top:1.5rem; }
h2 .anchor, h3 .anchor { margin-left:.4rem; color:var(--border); font-weight:400; visibility:hidden; }
h2:hover .anchor, h3:hover .anchor { visibility:visible; }
code { font-family:var(--mono); font-size:.875em; background:var(--code-bg); padding:.1em .3em; border-radius:3px; }
a.xref code { color:var(--primary); }
h1 code, h2 code, h3 code, .sidebar code, .toc code { background:transparent; padding:0; font-size:.95em; }
pre { font-family:var(--mono); font-size:.85rem; line-height:1.45; margin:0; padding:.8rem 1rem; overflow-x:auto; }
pre code { background:none; padding:0; font-size:inherit; }
body.code-wrap pre { white-space:pre-wrap; word-break:break-word; }
.content > pre.highlight, .md-output pre.highlight { background:var(--code-bg); border:1px solid var(--border); border-radius:6px; margin:1rem 0; }
.cell { margin:1.2rem 0; border:1px solid var(--border); border-radius:6px; overflow:hidden; }
.cell > pre.highlight, .cell > details > pre.highlight { background:var(--code-bg); }
.cell details.fold summary { cursor:pointer; padding:.3rem 1rem; color:var(--muted); font-size:.85rem; background:var(--code-bg); }
.cell-output { border-top:1px solid var(--border); background:var(--out-bg); }
.cell > .cell-output:first-child { border-top:none; }
.cell-output > * { margin:0; }
.cell-output > * + * { border-top:1px dashed var(--border); }
.cell-output pre.plain, .cell-output pre.stdout { color:#333; }
.cell-output pre.stderr { background:#fff8e5; color:#6b4e00; }
.cell-output pre.error { background:#fdecea; color:#8a1c1c; }
.cell-output img { display:block; max-width:100%; height:auto; margin:.5rem auto; }
.cell-output .md-output, .cell-output .html-output { padding:.5rem 1rem; overflow-x:auto; }
.cell-output .svg svg { max-width:100%; height:auto; }
table { border-collapse:collapse; margin:1rem 0; font-size:.92rem; display:block; overflow-x:auto; max-width:100%; }
th, td { border:1px solid var(--border); padding:.4rem .7rem; text-align:left; vertical-align:top; }
thead th { background:var(--side-bg); font-weight:600; }
tbody tr:nth-child(even) { background:#fcfcfd; }
blockquote { margin:1rem 0; padding:.3rem 1rem; border-left:4px solid var(--primary); background:#f3f8fe; color:#444; }
.doc { margin:1rem 0 2rem; padding:1rem 1.2rem; border:1px solid var(--border); border-left:4px solid var(--primary);
  border-radius:6px; background:#fff; }
.doc-head { display:flex; align-items:baseline; gap:.6rem; flex-wrap:wrap; }
.doc-name { font-family:var(--mono); font-weight:700; font-size:1.05rem; color:var(--text); }
.doc-kind { font-size:.72rem; text-transform:uppercase; letter-spacing:.05em; color:#fff; background:var(--muted);
  border-radius:3px; padding:.05rem .4rem; }
.doc-link { font-size:.85rem; margin-left:auto; }
.doc pre.sig { background:var(--code-bg); border-radius:4px; margin:.6rem 0; }
.doc-doc { margin:.4rem 0; }
.doc-more { color:#444; font-size:.95rem; }
.doc-more pre { background:var(--code-bg); border-radius:4px; }
table.params { width:100%; display:table; }
table.params td:first-child { white-space:nowrap; }
table.params tr.returns td { border-top:2px solid var(--border); }
.lesson-link { color:var(--muted); }
.warn { background:#fff8e5; border:1px solid #f0d68a; padding:.5rem 1rem; border-radius:4px; font-size:.9rem; }
.toc { position:sticky; top:3.2rem; align-self:start; padding:2rem 1rem; font-size:.85rem; max-height:calc(100vh - 3.2rem); overflow-y:auto; }
.toc h2 { font-size:.75rem; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); border:none; margin:0 0 .5rem; padding:0; }
.toc ul { list-style:none; margin:0; padding:0; border-left:1px solid var(--border); }
.toc li a { display:block; padding:.15rem .7rem; color:var(--muted); }
.toc li.l3 a { padding-left:1.5rem; }
.toc li a:hover { color:var(--primary); text-decoration:none; }
.page-nav { display:flex; justify-content:space-between; gap:1rem; margin-top:3rem; padding-top:1rem; border-top:1px solid var(--border); }
.page-nav a { display:block; padding:.6rem 1rem; border:1px solid var(--border); border-radius:6px; max-width:48%; }
.page-nav a span { display:block; font-size:.75rem; color:var(--muted); }
.page-nav .next { margin-left:auto; text-align:right; }
.site-footer { padding:1.5rem; text-align:center; color:var(--muted); font-size:.85rem; border-top:1px solid var(--border); }
@media (max-width:1200px) { .layout { grid-template-columns:240px minmax(0,1fr); } .toc { display:none; } }
.nav-toggle, .nav-button { display:none; }
@media (max-width:800px) {
  .layout { display:block; }
  .nav-button { display:block; margin-left:auto; padding:.15rem .7rem; border:1px solid rgba(255,255,255,.6);
    border-radius:4px; font-size:.9rem; cursor:pointer; }
  .sidebar { display:none; }
  .nav-toggle:checked ~ .layout .sidebar { display:block; }
  .sidebar { position:static; max-height:none; min-height:0; border-right:none; border-bottom:1px solid var(--border); padding:1rem; }
  .content { padding:1.2rem 1rem 3rem; }
  .site-header .tagline { display:none; }
}
@media print { .sidebar, .toc, .site-header, .page-nav { display:none; } .layout { display:block; } }
"""

PYGMENTS_CSS_FIXES = ".highlight { background:transparent; }\n.highlight .err { border:none; }\n"

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page_title }} – {{ site.title }}</title>
<meta name="description" content="{{ page_desc }}">
<link rel="stylesheet" href="{{ rel }}styles.css">
</head>
<body{% if site.wrap %} class="code-wrap"{% endif %}>
<header class="site-header"><a class="brand" href="{{ rel }}{{ home }}">{{ site.title }}</a>
<span class="tagline">{{ site.description }}</span>
<label class="nav-button" for="nav-toggle">Contents</label></header>
<input type="checkbox" id="nav-toggle" class="nav-toggle" aria-hidden="true">
<div class="layout">
<nav class="sidebar" aria-label="Contents">
{%- macro items(entries) %}<ul>
{%- for e in entries %}
{%- if e.section %}<li class="section"><span class="section-title">{{ e.section }}</span>{{ items(e.contents) }}</li>
{%- else %}<li><a href="{{ e.href if e.external else rel ~ e.href }}"{% if e.href == page.href %} class="active" aria-current="page"{% endif %}>{{ e.text }}</a></li>
{%- endif %}
{%- endfor %}</ul>{% endmacro %}
{{ items(nav) }}
</nav>
<main class="content">
<header class="title-block"><h1 class="title">{{ title }}</h1>
{%- if subtitle %}<p class="subtitle">{{ subtitle }}</p>{% endif %}
{%- if colab %}<p class="badges"><a class="colab-badge" href="{{ colab }}">Open in Colab</a></p>{% endif %}</header>
{{ body }}
{%- if prev or next %}
<nav class="page-nav">
{%- if prev %}<a class="prev" href="{{ rel }}{{ prev.href }}"><span>Previous</span>{{ prev.text }}</a>{% endif %}
{%- if next %}<a class="next" href="{{ rel }}{{ next.href }}"><span>Next</span>{{ next.text }}</a>{% endif %}
</nav>
{%- endif %}
</main>
{%- if toc %}
<aside class="toc"><h2>On this page</h2><ul>
{%- for level, id, text in toc %}<li class="l{{ level }}"><a href="#{{ id }}">{{ text }}</a></li>{% endfor %}
</ul></aside>
{%- endif %}
</div>
<footer class="site-footer">{{ site.title }} · built offline from the notebooks with <code>make docs</code></footer>
</body>
</html>
"""

def nav_entries(entries, pages: dict) -> list:
    "The sidebar of `_quarto.yml` as {text, href} / {section, contents} dicts pointing at built pages."
    out = []
    for e in entries:
        if isinstance(e, str): e = {'href': e}
        if 'contents' in e:
            out.append({'section': e.get('section') or e.get('text', ''), 'contents': nav_entries(e['contents'], pages)})
            continue
        href = e.get('href', '')
        external = bool(re.match(r'[a-z]+:', href))
        page = pages.get(Path(href).name) if href.endswith('.ipynb') else None
        if href.endswith('.ipynb') and not page: continue  # missing, left out with --allow-missing
        target = page.href if page else href if external else re.sub(r'\.(qmd|md|ipynb)$', '.html', Path(href).name)
        text = Markup(md_inline(e.get('text') or (page.title if page else href)))
        out.append({'text': text, 'href': target, 'external': external})
    return out

def full_nav(site: Site, lessons: list, api: list) -> list:
    "Sidebar in `_quarto.yml` order, then unlisted notebooks, then the API reference."
    pages = {p.nb.name: p for p in lessons}
    nav = nav_entries(site.sidebar, pages)
    listed = {Path(p).name for p in sidebar_notebooks(site.sidebar)}
    extra = [{'text': Markup(md_inline(p.title)), 'href': p.href} for p in lessons if p.nb.name not in listed]
    if extra: nav.append({'section': 'More', 'contents': extra})
    nav.append({'section': 'API reference', 'contents': [{'text': p.module, 'href': p.href} for p in api]})
    return nav

def flat_links(nav: list) -> list:
    "The sidebar's page links in reading order."
    out = []
    for e in nav:
        if 'section' in e: out += flat_links(e['contents'])
        elif not e.get('external'): out.append(e)
    return out

def write_page(env, site: Site, page: Page, nav: list, order: list, home: str):
    "Render one page into the output folder."
    rel = '../' * page.href.count('/')
    hrefs = [e['href'] for e in order]
    i = hrefs.index(page.href) if page.href in hrefs else None
    prev = order[i-1] if i else None
    nxt = order[i+1] if i is not None and i + 1 < len(order) else None
    title, sub = md_inline(page.title), md_inline(page.subtitle)
    text = env.from_string(TEMPLATE).render(
        site=site, page=page, nav=nav, rel=rel, home=home, title=Markup(title), subtitle=Markup(sub),
        page_title=strip_tags(title), page_desc=strip_tags(sub) or site.description,
        body=Markup(page.body), toc=page.toc, prev=prev, next=nxt, colab=colab_url(site, page.nb) if page.nb else '')
    dest = site.out/page.href
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)

def write_css(out: Path):
    "Write the site's one stylesheet: layout plus pygments colours."
    pyg = HtmlFormatter(style='default').get_style_defs('.highlight')
    (out/'styles.css').write_text(CSS.lstrip() + '\n/* syntax highlighting (pygments "default") */\n' + pyg + '\n' + PYGMENTS_CSS_FIXES)

def clean_out(out: Path):
    "Remove pages a previous build left in the output folder."
    for p in list(out.glob('*.html')) + list(out.glob('api/*.html')): p.unlink()

# ---------------------------------------------------------------- main

def build(site: Site, allow_missing: bool = False) -> list:
    "Build every page of the site; return the paths written."
    nb_paths = notebook_paths(site, allow_missing)
    plans = [plan_notebook(p) for p in nb_paths]
    lessons = {p.module: p.href for p, _ in plans if p.module}
    index = {n: f'{p.href}#{n}' for p, _ in plans for n in p.names}
    mods = Modules(site)
    pages = [render_notebook(p, nb, mods, index) for p, nb in plans]
    api = [render_api(mods, m, site, lessons, index) for m in module_files(site)]
    nav = full_nav(site, pages, api)
    order = flat_links(nav)
    home = 'index.html' if any(p.href == 'index.html' for p in pages) else (order[0]['href'] if order else 'index.html')
    site.out.mkdir(parents=True, exist_ok=True)
    clean_out(site.out)
    env = Environment(autoescape=True)
    for p in pages + api: write_page(env, site, p, nav, order, home)
    write_css(site.out)
    for mod, err in mods.errors.items(): print(f'warning: {site.lib_name}.{mod} did not import ({err}); documented from source')
    return [site.out/p.href for p in pages + api] + [site.out/'styles.css']

def main(argv=None):
    "Command line: build the site and list what was built."
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', type=Path, help='output folder (default: project.output-dir of _quarto.yml)')
    ap.add_argument('--config', type=Path, default=ROOT/'_quarto.yml', help='the site config (default: %(default)s)')
    ap.add_argument('--allow-missing', action='store_true', help='leave out sidebar notebooks that do not exist yet')
    args = ap.parse_args(argv)
    if not args.config.exists(): sys.exit(f'build_docs: no config at {args.config}')
    site = load_site(args.config, args.out)
    written = build(site, args.allow_missing)
    for p in written: print(f'built {p}')
    print(f'{len(written) - 1} pages in {site.out}')

if __name__ == '__main__': main()
