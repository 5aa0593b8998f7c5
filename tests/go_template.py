"""Test helpers for Ollama's Go templates: a small interpreter of Go's text/template (the subset Ollama's templates use),
Ollama's template data built from a canonical record, and records that exercise every part of the templates."""
import json, re

from toolcall_lab.formats import make_call
from toolcall_lab.templates import example_records


# --- A small interpreter of Go's text/template: the subset Ollama's templates use -------------------------------------------
_ACTION = re.compile(r'{{(- )?(.*?)( -)?}}', re.S)
_TERM = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\$\w*(?:\.\w+)*|(?:\.\w+)+|\.|-?\d+|\w+)')
_WS = ' \t\r\n'


class Struct:
    "A Go struct value; `json` is what Ollama's String method prints for it."
    def __init__(self, json_=None, **fields): self.__dict__.update(fields); self._json = json_
    def __str__(self):
        if self._json is None: raise ValueError('Go would print a struct here')
        return json.dumps(self._json, ensure_ascii=False)


class Seq2(list):
    "An `iter.Seq2`: `range $k, $v := ...` yields its pairs."


def _lex(src):
    out, pos, trim = [], 0, False
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        text = text.lstrip(_WS) if trim else text
        out += [('text', text.rstrip(_WS) if m[1] else text), ('act', m[2].strip())]
        pos, trim = m.end(), bool(m[3])
    return out + [('text', src[pos:].lstrip(_WS) if trim else src[pos:])]


def _parse(toks, i=0):
    "Nodes up to the next `else`/`end`, and that token's index."
    nodes = []
    while i < len(toks):
        kind, s = toks[i]
        word = s.split(None, 1)[0] if kind == 'act' and s else ''
        if kind == 'text': nodes.append(('text', s))
        elif word in ('else', 'end'): return nodes, i
        elif word in ('if', 'range', 'with'):
            branches, head = [], s
            while head != 'end':
                body, i = _parse(toks, i + 1)
                branches.append((head, body)); head = toks[i][1]
            nodes.append(('block', branches))
        elif not s.startswith('/*'): nodes.append(('act', s))
        i += 1
    return nodes, i


def _truth(v): return v is not None and (bool(v) if isinstance(v, (bool, int, float, str, list, dict)) else True)


def _text(v):
    if v is None or isinstance(v, (list, dict)): raise ValueError(f'Go would print {v!r} as <no value> or a Go value')
    return ('true' if v else 'false') if isinstance(v, bool) else str(v)


def _field(v, name):
    if isinstance(v, dict): return v.get(name)  # Ollama parses with missingkey=zero
    if v is None: raise ValueError(f'nil pointer evaluating .{name}')
    return getattr(v, name)


def _terms(s):
    stack, pos, s = [[]], 0, s.strip()
    while pos < len(s):
        m = _TERM.match(s, pos)
        if not m: raise ValueError(f'cannot parse {s[pos:]!r}')
        t, pos = m[1], m.end()
        if t == '(': stack.append([])
        elif t == ')': inner = stack.pop(); stack[-1].append(inner)
        else: stack[-1].append(t)
    return stack[0]


class GoTemplate:
    def __init__(self, src): self.nodes = _parse(_lex(src))[0]

    def render(self, data):
        out = []; self.run(self.nodes, data, [{'$': data}], out)
        return ''.join(out)

    def run(self, nodes, dot, scopes, out):
        for kind, x in nodes:
            if kind == 'text': out.append(x)
            elif kind == 'block': self.block(x, dot, scopes, out)
            elif m := re.match(r'(\$\w+)\s*(:?=)\s*(.*)$', x, re.S):
                v = self.cmd(_terms(m[3]), dot, scopes)
                (scopes[-1] if m[2] == ':=' else next(sc for sc in reversed(scopes) if m[1] in sc))[m[1]] = v
            else: out.append(_text(self.cmd(_terms(x), dot, scopes)))

    def block(self, branches, dot, scopes, out):
        kind, rest = branches[0][0].split(None, 1)
        if kind == 'range': return self.range(rest, branches, dot, scopes, out)
        for head, body in branches:
            if head == 'else': return self.run(body, dot, scopes + [{}], out)
            words = head.split(None, 2) if head.startswith('else ') else [''] + head.split(None, 1)
            v = self.cmd(_terms(words[2]), dot, scopes)
            if _truth(v): return self.run(body, v if words[1] == 'with' else dot, scopes + [{}], out)

    def range(self, rest, branches, dot, scopes, out):
        m = re.match(r'(?:(\$\w*)\s*(?:,\s*(\$\w*))?\s*:=\s*)?(.*)$', rest, re.S)
        items = self.cmd(_terms(m[3]), dot, scopes)
        pairs = list(items) if isinstance(items, Seq2) else sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        if not pairs and len(branches) > 1: self.run(branches[1][1], dot, scopes + [{}], out)
        for k, v in pairs:
            scope = {m[1]: k, m[2]: v} if m[2] else {m[1]: v} if m[1] else {}
            self.run(branches[0][1], v, scopes + [scope], out)

    def cmd(self, terms, dot, scopes):
        head = terms[0]
        if isinstance(head, str) and head in ('and', 'or'):
            for t in terms[1:]:
                v = self.term(t, dot, scopes)
                if _truth(v) != (head == 'and'): return v
            return v
        if isinstance(head, str) and head in _FUNCS: return _FUNCS[head](*[self.term(t, dot, scopes) for t in terms[1:]])
        if len(terms) != 1: raise ValueError(f'{head!r} is not a function')
        return self.term(head, dot, scopes)

    def term(self, t, dot, scopes):
        if isinstance(t, list): return self.cmd(t, dot, scopes)
        if t.startswith('"'): return json.loads(t)
        if t.lstrip('-').isdigit(): return int(t)
        if t in ('true', 'false', 'nil'): return {'true': True, 'false': False, 'nil': None}[t]
        if t == '.': return dot
        if t.startswith('$'):
            name, *path = t.split('.')
            v = next(sc[name] for sc in reversed(scopes) if name in sc)
        else: v, path = dot, t.split('.')[1:]
        for f in path: v = _field(v, f)
        return v


def _index(v, *keys):
    for k in keys: v = v[k]
    return v


_FUNCS = {'not': lambda v: not _truth(v), 'eq': lambda a, *bs: any(a == b for b in bs), 'ne': lambda a, b: a != b, 'len': len,
          'index': _index, 'slice': lambda v, i=0, j=None: v[i:j], 'json': lambda v: json.dumps(v, separators=(',', ':'))}


# --- Ollama's template data, built from a canonical record as Ollama builds it from a chat request -----------------------
def _go_tool(t):
    f = t['function']; p = f.get('parameters') or {}
    kind = lambda v: [v['type']] if isinstance(v.get('type'), str) else list(v.get('type') or [])
    props = Seq2((k, Struct(Type=kind(v), Enum=v.get('enum'), Items=v.get('items'), Description=v.get('description', '')))
                 for k, v in (p.get('properties') or {}).items())
    params = Struct(Type=p.get('type', 'object'), Required=p.get('required') or [], Properties=Struct(All=props))
    return Struct(t, Type='function', Function=Struct(f, Name=f['name'], Description=f.get('description', ''), Parameters=params))


def _go_message(m):
    calls = [Struct(Function=Struct(Name=c['function']['name'], Arguments=Struct(c['function']['arguments']))) for c in m.get('tool_calls') or []]
    return Struct(Role=m['role'], Content=m.get('content') or '', ToolCalls=calls)


def ollama_values(messages, tools):
    return {'System': '\n\n'.join(m['content'] for m in messages if m['role'] == 'system'),
            'Messages': [_go_message(m) for m in messages], 'Tools': [_go_tool(t) for t in tools or []]}


def template_records():
    "lesson 02's records, plus one with a system prompt and a tool with optional, enum, integer, array, union and untyped parameters."
    forecast = {'type': 'function', 'function': {'name': 'forecast', 'description': 'Daily forecast.', 'parameters': {'type': 'object', 'properties': {
        'city': {'type': 'string', 'description': 'City'}, 'unit': {'type': 'string', 'enum': ['c', 'f']}, 'days': {'type': 'integer'},
        'hours': {'type': 'array', 'items': {'type': 'number'}}, 'tags': {'type': 'array'}, 'flag': {'type': ['boolean', 'null']}, 'extra': {}},
        'required': ['city', 'days']}}}
    ping = {'type': 'function', 'function': {'name': 'ping', 'parameters': {'type': 'object', 'properties': {}}}}
    rich = {'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Forecast for Jeju, 2 days?'},
                         {'role': 'assistant', 'content': '', 'tool_calls': [make_call('forecast', {'city': 'Jeju', 'days': 2, 'hours': [9, 12.5]})]},
                         {'role': 'tool', 'name': 'forecast', 'content': '{"days": ["sun", "rain"]}'},
                         {'role': 'assistant', 'content': 'Sun, then rain.'}], 'tools': [forecast, ping]}
    return list(example_records().values()) + [rich]
