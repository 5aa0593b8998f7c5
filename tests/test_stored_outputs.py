"""Stored outputs show the package as it is now.

A lesson's stored outputs are what readers and the docs see. When a dataclass gains, loses or renames a field and the
lesson is not re-run, its stored repr (`TrainConfig(model=..., ...)`) shows an object that no longer exists. These tests
find every repr of a package dataclass in every notebook's stored outputs and compare its fields with the class's."""
import dataclasses, importlib, inspect, json, pkgutil, re, subprocess, sys
from pathlib import Path

import pytest

import toolcall_lab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT/'nbs').glob('*.ipynb'))


# ---------------------------------------------------------------- the package's dataclasses

def generated_repr(cls) -> bool:
    "Whether `cls` shows itself with the `__repr__` dataclasses writes (`Name(field=value, ...)`), not one of its own."
    fn = inspect.unwrap(cls.__repr__)
    code = getattr(fn, '__code__', None)  # dataclasses compiles its methods from text, so their code has no file
    return dataclasses.is_dataclass(cls) and code is not None and code.co_filename.startswith('<')

def repr_field_names(cls) -> list:
    "The fields a dataclass repr lists, in order."
    return [f.name for f in dataclasses.fields(cls) if f.repr]

def package_dataclasses():
    "({qualname: [repr fields of each class of that name]}, [modules that do not import]) for the dataclasses the package defines."
    found, broken = {}, []
    for m in pkgutil.iter_modules(toolcall_lab.__path__):
        if m.name.startswith('_'): continue
        name = f'{toolcall_lab.__name__}.{m.name}'
        try: mod = importlib.import_module(name)
        except Exception as e:
            broken.append(f'{name}: {type(e).__name__}: {e}')
            continue
        for obj in vars(mod).values():
            if inspect.isclass(obj) and obj.__module__ == name and generated_repr(obj):
                found.setdefault(obj.__qualname__, []).append(repr_field_names(obj))
    return found, broken


# ---------------------------------------------------------------- reading reprs out of text

_ARG_NAME = re.compile(r'[ \t\r\n]*([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*=(?!=)')
_CLOSER = {'(': ')', '[': ']', '{': '}'}

def repr_fields(text:str, i:int):
    """The top-level `name=` argument names of the repr whose `(` ends just before `text[i]`, and whether the repr is complete.

    Brackets are matched and quoted strings skipped, so `name=` inside a value (a nested repr, a dict, a string) does not
    count. A repr cut off (by the end of the text, an unclosed string or a bracket that does not match) is incomplete."""
    stack, names, arg_start = ['('], [], True
    while i < len(text):
        if arg_start and len(stack) == 1 and (m := _ARG_NAME.match(text, i)):
            names.append(m[1]); i = m.end()
        arg_start = False
        c = text[i]
        if c in '\'"':
            end = _string_end(text, i)
            if end is None: return names, False
            i = end; continue
        if c in _CLOSER: stack.append(c)
        elif c in ')]}':
            if _CLOSER[stack.pop()] != c: return names, False
            if not stack: return names, True
        elif c == ',' and len(stack) == 1: arg_start = True
        i += 1
    return names, False

def _string_end(text:str, i:int):
    "Where the Python string literal opening at `text[i]` ends (just after its closing quote), or None when it is cut off."
    q, j = text[i], i + 1
    while j < len(text):
        c = text[j]
        if c == '\\': j += 2; continue
        if c == q: return j + 1
        if c == '\n': return None  # a repr writes a string on one line
        j += 1
    return None

def stale_fields(seen:list, complete:bool, expected:list):
    "(missing, extra, reordered) of a repr's fields against the class's; a cut-off repr is judged only as far as it goes."
    extra = [f for f in seen if f not in expected]
    known = [f for f in seen if f in expected]
    upto = len(expected) if complete else (expected.index(known[-1]) + 1 if known else 0)
    missing = [f for f in expected[:upto] if f not in seen]
    reordered = not missing and not extra and known != expected[:upto]
    return missing, extra, reordered

def output_texts(cell:dict) -> list:
    "The text a code cell's stored outputs show: its printed streams (joined, as a reader sees them) and each `text/plain` result."
    streams, texts = {}, []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': streams[o.get('name', 'stdout')] = streams.get(o.get('name', 'stdout'), '') + _text(o.get('text', ''))
        elif 'text/plain' in o.get('data', {}): texts.append(_text(o['data']['text/plain']))
    return list(streams.values()) + texts

def _text(t) -> str: return ''.join(t) if isinstance(t, list) else t

def stale_reprs(nb:dict, nb_name:str, classes:dict) -> list:
    "One readable problem for each repr of a class in `classes` ({qualname: [field lists]}) whose fields differ, in the stored outputs of `nb`."
    if not classes: return []
    pat = re.compile(r'(?<![\w.])(' + '|'.join(map(re.escape, sorted(classes, key=len, reverse=True))) + r')\(')
    problems = []
    for idx, cell in enumerate(nb.get('cells', [])):
        if cell.get('cell_type') != 'code': continue
        for text in output_texts(cell):
            for m in pat.finditer(text):
                seen, complete = repr_fields(text, m.end())
                if not seen: continue  # `Name()` or a positional call: nothing to compare
                verdicts = [stale_fields(seen, complete, exp) for exp in classes[m[1]]]
                if any(v == ([], [], False) for v in verdicts): continue
                missing, extra, reordered = verdicts[0]
                what = '; '.join(s for s in [missing and f"missing {', '.join(missing)}", extra and f"has {', '.join(extra)}, which the class no longer has",
                                             reordered and 'fields in an old order'] if s)
                problems.append(f"{nb_name} cell {idx} (id {cell.get('id', '?')}): a stored {m[1]} repr is stale ({what}). "
                                f"Re-run the lesson to refresh its outputs: make nbs NB=nbs/{nb_name}")
    return problems


# ---------------------------------------------------------------- tests

def test_stored_reprs_match_the_dataclasses():
    classes, broken = package_dataclasses()
    assert not broken, 'these modules do not import, so their dataclasses cannot be checked:\n' + '\n'.join(broken)
    assert 'Parsed' in classes and 'TrainConfig' in classes, sorted(classes)  # the scan sees the package's dataclasses
    problems = [p for nb in NOTEBOOKS for p in stale_reprs(json.loads(nb.read_text()), nb.name, classes)]
    assert not problems, '\n'.join(problems)

def _nb(*outputs) -> dict:
    "A notebook with one code cell holding `outputs`."
    return {'cells': [{'cell_type': 'markdown', 'source': 'TrainConfig(a=1)'}, {'cell_type': 'code', 'id': 'c0ffee', 'source': '', 'outputs': list(outputs)}]}

def _result(text): return {'output_type': 'execute_result', 'data': {'text/plain': text.splitlines(keepends=True)}}

def test_a_stale_trainconfig_repr_is_caught():
    from toolcall_lab.config import TrainConfig
    classes = {'TrainConfig': [repr_field_names(TrainConfig)]}
    now = repr(TrainConfig())
    assert 'keep_checkpoints=' in now
    stale = re.sub(r', keep_checkpoints=[^,]*', '', now)
    problems = stale_reprs(_nb(_result(stale)), '09_cli.ipynb', classes)
    assert len(problems) == 1, problems
    for part in ['09_cli.ipynb cell 1 (id c0ffee)', 'TrainConfig', 'missing keep_checkpoints', 'make nbs NB=nbs/09_cli.ipynb']: assert part in problems[0]
    assert stale_reprs(_nb(_result(now)), '09_cli.ipynb', classes) == []  # the current repr passes; markdown cells are not outputs

def test_extra_missing_and_reordered_fields():
    classes = {'Parsed': [['content', 'calls', 'errors']]}
    check = lambda text: stale_reprs(_nb({'output_type': 'stream', 'name': 'stdout', 'text': text}), 'x.ipynb', classes)
    assert check("Parsed(content='a', calls=[], errors=[])\n") == []
    assert 'has mood, which the class no longer has' in check("Parsed(content='a', calls=[], errors=[], mood=1)")[0]
    assert 'missing errors' in check("Parsed(content='a', calls=[])")[0]
    assert 'old order' in check("Parsed(calls=[], content='a', errors=[])")[0]
    assert check("MyParsed(x=1) and my.Parsed(x=1) and Parsed('positional')") == []  # other names and calls are not reprs

def test_a_repr_split_over_stream_outputs_is_read_whole():
    classes = {'Parsed': [['content', 'calls', 'errors']]}
    nb = _nb({'output_type': 'stream', 'name': 'stdout', 'text': "Parsed(content='a',"}, {'output_type': 'stream', 'name': 'stdout', 'text': " calls=[])\n"})
    assert 'missing errors' in stale_reprs(nb, 'x.ipynb', classes)[0]

@pytest.mark.parametrize('text, fields, complete', [
    ("Generation(text='a, b=c', parsed=Parsed(content='', calls=[{'x': (1, 2)}], errors=[]), n=1) tail", ['text', 'parsed', 'n'], True),
    ("P(content='it\\'s (', calls=[\"]\"], errors=[])", ['content', 'calls', 'errors'], True),
    ("P(a=1,\n  b={'k': [1, 2]},\n  c='x'\n )", ['a', 'b', 'c'], True),  # pretty-printed over lines
    ("P(a=1 == 1, b=f(x=2))", ['a', 'b'], True),  # `==` and keywords of nested calls are not fields
    ("P(a=1, b='cut off", ['a', 'b'], False),
    ("P(a=[1, 2), b=3)", ['a'], False),  # brackets that do not match: the repr is broken there
    ("P(a=1, b=2", ['a', 'b'], False),
])
def test_repr_fields(text, fields, complete):
    assert repr_fields(text, text.index('(') + 1) == (fields, complete)

def test_a_cut_off_repr_is_judged_as_far_as_it_goes():
    exp = ['a', 'b', 'c', 'd']
    assert stale_fields(['a', 'b'], False, exp) == ([], [], False)
    assert stale_fields(['a', 'c'], False, exp) == (['b'], [], False)
    assert stale_fields(['a', 'b'], True, exp) == (['c', 'd'], [], False)

def test_only_reprs_dataclasses_write_are_checked():
    @dataclasses.dataclass
    class Plain: x: int = 1
    @dataclasses.dataclass
    class Own:
        x: int = 1
        def __repr__(self): return 'Own!'
    @dataclasses.dataclass(repr=False)
    class NoRepr: x: int = 1
    assert [generated_repr(c) for c in (Plain, Own, NoRepr, str)] == [True, False, False, False]
    @dataclasses.dataclass
    class Hidden:
        x: int = 1
        secret: str = dataclasses.field(default='', repr=False)
    assert repr_field_names(Hidden) == ['x']


# ---------------------------------------------------------------- the text formats need no torch

def test_inference_imports_without_torch():
    "The tool-call formats and parsers are pure text: importing `toolcall_lab.formats` and `toolcall_lab.inference` and using them loads no torch."
    code = ('import sys, toolcall_lab.formats as fmt, toolcall_lab.inference as inf\n'
            'p = fmt.parse_tool_calls(\'<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>\')\n'
            'assert p.calls == [fmt.make_call("f", {"x": 1})], p\n'
            'assert inf.check_arguments(p.calls[0], [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}]) == []\n'
            'print(sorted(m for m in ("torch", "transformers.generation", "transformers.modeling_utils") if m in sys.modules))')
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '[]', f'importing toolcall_lab.inference loaded {r.stdout.strip()}: import them inside the functions that need them'
