"Fuzz and regression tests: malformed rows and files give `Problem`s for their own row (or a `DataError`), never a crash."
import copy, json, math, os, re, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from toolcall_lab.checks import Report, validate
from toolcall_lab.data import DataError, Problem, to_canonical, to_dataset
from toolcall_lab.formats import make_call
from toolcall_lab.loading import convert, load_checked, load_records, load_rows, normalize_record, split_records

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --- good rows, one per supported shape; every one converts and validates cleanly ---------------------------------
WEATHER = {'type': 'function', 'function': {'name': 'get_weather', 'description': 'Current weather for a city',
           'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}, 'unit': {'type': 'string', 'enum': ['celsius', 'fahrenheit']}},
                          'required': ['city']}}}
RECORD = {'messages': [{'role': 'user', 'content': 'Is it cold in Seoul?'},
                       {'role': 'assistant', 'content': '', 'tool_calls': [make_call('get_weather', {'city': 'Seoul'})]},
                       {'role': 'tool', 'name': 'get_weather', 'content': '{"temp_c": 3}'},
                       {'role': 'assistant', 'content': 'Yes: 3°C in Seoul.'}], 'tools': [WEATHER]}
OPENAI = {'id': 'oa-1', 'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': [{'type': 'text', 'text': 'Seoul?'}]},
                                     {'role': 'assistant', 'content': None, 'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{"city": "Seoul"}'}}]},
                                     {'role': 'tool', 'tool_call_id': 'c1', 'content': {'temp_c': 3}}, {'role': 'assistant', 'content': '3°C.'}],
          'tools': json.dumps([WEATHER])}
INSTRUCTKR = {'messages': [{'role': 'user', 'content': '서울과 부산 날씨 알려줘'},
                           {'role': 'assistant', 'content': '<function=get_weather>{"city": "서울"}</function><function=get_weather>{"city": "부산"}</function>'},
                           {'role': 'ipython', 'content': '{"temp_c": 3}'}, {'role': 'ipython', 'content': '{"temp_c": 9}'},
                           {'role': 'assistant', 'content': '서울 3°C, 부산 9°C.'}], 'tools': [json.dumps(WEATHER, ensure_ascii=False)]}
HERMES = {'messages': [{'role': 'user', 'content': 'Weather in Paris?'},
                       {'role': 'assistant', 'content': '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'}], 'tools': [WEATHER]}
SHAREGPT = {'system': 'You are a weather bot.', 'tools': json.dumps([WEATHER['function']]),
            'conversations': [{'from': 'human', 'value': 'Tokyo weather?'}, {'from': 'function_call', 'value': '{"name": "get_weather", "arguments": {"city": "Tokyo"}}'},
                              {'from': 'observation', 'value': '{"temp_c": 14}'}, {'from': 'gpt', 'value': 'It is 14°C in Tokyo.'}]}
NODE = {'type': 'function', 'function': {'name': 'POST /db/node', 'description': 'Create nodes',
        'parameters': {'type': 'object', 'properties': {'Assign': {'type': 'object'}}, 'required': ['Assign']}}}
ROUTES = {'messages': [{'role': 'user', 'content': 'Create node 1.'},
                       {'role': 'assistant', 'content': '', 'tool_calls': [{'type': 'function', 'function': {'name': 'POST /db/node', 'arguments': '{"Assign": {"1": {}}}'}}]}],
          'tools': [NODE]}
_FIXTURES = Path(__file__).parent/'fixtures'
GLAIVE = json.loads((_FIXTURES/'glaive_v2.jsonl').read_text().splitlines()[2])  # published shapes (test_public_data.py): parallel calls and results
XLAM = json.loads((_FIXTURES/'xlam_60k.jsonl').read_text().splitlines()[1])  # parallel calls, Python-style parameter types
VALID_NAMES = [RECORD, OPENAI, INSTRUCTKR, HERMES, SHAREGPT, GLAIVE, XLAM]  # rename changes nothing in these
GOODS = VALID_NAMES + [ROUTES]

def test_goods_are_clean():
    records, report, _ = convert(GOODS)
    assert report.problems == [] and len(records) == len(GOODS)
    assert validate(records, mode='report').problems == []

# --- strategies ---------------------------------------------------------------------------------------------------
KEYS = ['role', 'content', 'name', 'type', 'function', 'arguments', 'parameters', 'tools', 'messages', 'tool_calls', 'id',
        'tool_call_id', 'text', 'from', 'value', 'conversations', 'system', 'properties', 'pattern', 'reasoning', 'x', 'chat', 'query', 'answers']
WORDS = ['', 'user', 'assistant', 'tool', 'system', 'function', 'ipython', 'object', 'string', 'get_weather', 'POST /db/node',
         '{"a": 1}', '[1, 2]', '{', '[', '<tool_call>', '<function=f>{"a": 1', 'text', 'image_url', 'null', '^(a+)+$',
         'USER: hi\nASSISTANT: <functioncall> {"name": "f", "arguments": \'{"a": 1}\'}', 'FUNCTION RESPONSE: {}', '<functioncall>', 'SYSTEM: -\n{"name": "f"}',
         'str, optional', 'List[int]', 'Callable[[int], int]']
# values JSON, Arrow or a tokenizer cannot hold, or that overflow float arithmetic: integers of 400 and of over 4,300 digits, NaN, infinities,
# the largest and smallest floats, lone surrogates (what `json` makes of "\ud800")
HOSTILE_SCALARS = [10**400, -10**400, float('inf'), float('-inf'), float('nan'), 1.7976931348623157e308, 5e-324, 2**63, '\ud800', 'ok \udfff', '9' * 5000]
scalars = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-1e3, 1e3, allow_nan=False) | st.sampled_from(WORDS) | st.text(max_size=6)
           | st.sampled_from(HOSTILE_SCALARS) | st.integers(4301, 4400).map(lambda n: -(10**n)))  # (hypothesis cannot show these in a strategy's repr)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3),
                           max_leaves=10)

def _spots(x, out):
    "Every (container, key) pair at any depth of `x`."
    for k in (range(len(x)) if isinstance(x, list) else list(x) if isinstance(x, dict) else []):
        out.append((x, k)); _spots(x[k], out)
    return out

@st.composite
def mutated(draw, bases=GOODS):
    "A good row with 1-3 random edits at any depth: a value replaced by random JSON, a key deleted, or a key added."
    row = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        spots = _spots(row, [])
        if not spots: break
        parent, k = draw(st.sampled_from(spots))
        op = draw(st.sampled_from(['replace', 'replace', 'delete', 'add']))
        if op == 'delete' and isinstance(parent, dict): del parent[k]
        elif op == 'add' and isinstance(parent[k], dict): parent[k][draw(st.sampled_from(KEYS))] = draw(json_values)
        else: parent[k] = draw(json_values)
    return row

def _check_problems(report:Report):
    for p in report.problems:
        assert isinstance(p, Problem) and isinstance(p.index, int) and isinstance(p.path, str), p
        assert isinstance(p.hint, str) and p.hint.strip(), p
        assert p.kind != 'unexpected', f'the safety net caught what a check should have named: {p}'
        str(p).encode('utf-8')  # printable: a lone surrogate in the data is quoted as \ud800
    report._repr_markdown_().encode('utf-8')  # renders

# --- convert: bad rows never cost the good ones ---------------------------------------------------------------------
@FUZZ
@given(bads=st.lists(mutated(), min_size=1, max_size=3), rename=st.booleans(), data=st.data())
def test_convert_keeps_good_rows_around_bad_ones(bads, rename, data):
    goods = data.draw(st.lists(st.sampled_from(VALID_NAMES if rename else GOODS), min_size=len(bads) + 1, max_size=len(bads) + 1))
    rows = [goods[0]]
    for bad, good in zip(bads, goods[1:]): rows += [bad, good]
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # convert collects its notes into the report; it never warns
        records, report, _ = convert(rows, rename=rename)
    _check_problems(report)
    kept = [i for i in range(len(rows)) if i not in set(report.bad)]
    assert len(kept) == len(records)
    out = dict(zip(kept, records))
    for i in range(0, len(rows), 2):  # the good rows
        assert [p for p in report.problems if p.index == i] == []
        assert out[i] == convert([rows[i]], rename=rename)[0][0]
    _check_problems(validate(records, mode='report'))

@FUZZ
@given(row=mutated())
def test_convert_one_mutated_row(row):
    records, report, _ = convert([row])
    _check_problems(report)
    assert len(records) + len(report.bad) == 1
    _check_problems(validate(records, mode='report'))

# --- validate: never raises on anything ---------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_validate_any_json(value):
    for x in (value, [value], {'messages': value, 'tools': value}):
        _check_problems(validate(x, mode='report'))
        try: validate(x)
        except DataError: pass

CANONICAL = [to_canonical(r) for r in VALID_NAMES]

@FUZZ
@given(rec=mutated(CANONICAL))
def test_validate_mutated_canonical(rec):
    _check_problems(validate([rec], mode='report'))

schema_words = st.sampled_from(['type', 'pattern', 'enum', 'minimum', 'maximum', 'multipleOf', 'items', 'properties', 'required', '$ref',
                                'format', 'patternProperties', 'additionalProperties', 'minLength', 'const', 'anyOf', 'not', 'propertyNames',
                                '$schema', 'uniqueItems'])

def nested_objects(n):
    "A parameters schema nested `n` object levels deep."
    schema = {'type': 'object'}
    for _ in range(n): schema = {'type': 'object', 'properties': {'a': schema}}
    return schema

# patterns that are costly to compile: counted repeats (nested, open, empty groups), groups nested thousands deep, long literals
costly_patterns = st.one_of(
    st.integers(0, 2**31).map(lambda n: f'a{{{n}}}'), st.integers(0, 2**31).map(lambda n: f'[a-z]{{{n},}}'),
    st.tuples(st.integers(1, 10**5), st.integers(1, 10**5)).map(lambda t: '(a{%d}){%d}' % t),
    st.integers(1, 10**6).map(lambda n: '(){%d}' % n), st.integers(1, 5000).map(lambda n: '(' * n + ')' * n),
    st.integers(1, 60_000).map(lambda n: 'x' * n),
    st.sampled_from(['^(a+)+$', '^(a|a)+$', 'a{99999999999}', '[a-z]{1,1000000}', '(?:ab|cd){50000}', '\\d{3}-\\d{4}', '(unclosed']))
costly_schemas = st.one_of(
    costly_patterns.map(lambda p: {'type': 'string', 'pattern': p}), costly_patterns.map(lambda p: {'type': 'object', 'patternProperties': {p: {}}}),
    st.integers(30, 150).map(nested_objects), st.sampled_from([5, True, 1.5, None, [], {}, 'http://[']).map(lambda s: {'$schema': s}),
    st.sampled_from([0.5, 0.3, 1e-300, 1e308, 10**400, 3, float('inf')]).map(lambda m: {'multipleOf': m}),
    st.just({'uniqueItems': True}), st.just({'items': {'anyOf': [{'const': i} for i in range(300)]}}))
schema_values = st.recursive(scalars | st.sampled_from(['^(a|a)+$', 'a{2,}', '#', '#/properties', 'integer', 'array', 'email', 1e-300, 10**20]) | costly_schemas,
                             lambda inner: st.lists(inner, max_size=3) | st.dictionaries(schema_words | st.sampled_from(['a', 'b']), inner, max_size=3), max_leaves=8)

@FUZZ
@given(prop=schema_values, extra=st.dictionaries(schema_words, schema_values, max_size=2), arg=json_values)
def test_validate_random_tool_schemas(prop, extra, arg):
    params = {'type': 'object', 'properties': {'a': prop}, **extra}
    rec = {'messages': [{'role': 'user', 'content': 'x'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call('f', {'a': arg})]}],
           'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': params}}]}
    _check_problems(validate([rec], mode='report'))

# --- files ----------------------------------------------------------------------------------------------------------
BAD_JSON = ['{"messages": [', 'not json', "{'messages': []}", '{"a": 1,}', '[1, 2', 'NaN NaN', '{"messages": [{"role": "user"}]]']
bad_lines = st.sampled_from(BAD_JSON) | st.text(min_size=1, max_size=12).filter(lambda s: '\n' not in s and s.strip() and not _is_json(s))
line_kinds = st.one_of(
    st.tuples(st.just('good'), st.sampled_from(GOODS).map(lambda r: json.dumps(r, ensure_ascii=False))),
    st.tuples(st.just('bad_json'), bad_lines),
    st.tuples(st.just('array'), st.lists(st.sampled_from(GOODS), max_size=2).map(json.dumps)),
    st.tuples(st.just('scalar'), st.sampled_from(['5', '"row"', 'null', 'true', '-1.5'])),
    st.tuples(st.just('empty'), st.sampled_from(['', '   ', '\t'])),
    st.tuples(st.just('not_utf8'), st.sampled_from([RECORD, OPENAI, HERMES, SHAREGPT]).map(lambda r: json.dumps(r, ensure_ascii=False).replace('Seoul', 'Seo\udce9l').replace('Paris', 'Par\udcffs').replace('Tokyo', 'T\udcc3kyo'))),
    st.tuples(st.just('long_int'), st.integers(4301, 4500).map(lambda n: '{"messages": [], "n": ' + '9' * n + '}')),
    st.tuples(st.just('surrogate'), st.sampled_from(['\ud800', 'a\udfff']).map(lambda c: json.dumps({**RECORD, 'messages': [{'role': 'user', 'content': c}, *RECORD['messages'][1:]]}))),
    st.tuples(st.just('non_finite'), st.sampled_from(['NaN', '1e999', '-Infinity']).map(lambda x: json.dumps(RECORD).replace('"city": "Seoul"', f'"city": {x}'))))
ROW_KINDS = {'bad_json': {'json'}, 'long_int': {'json'}, 'not_utf8': {'encoding'}, 'surrogate': {'value'}, 'non_finite': {'value'}}

def _is_json(s):
    try: json.loads(s); return True
    except (ValueError, RecursionError): return False

def _rows(lines):
    "The kind of each row: blank lines are not rows."
    return [k for k, _ in lines if k != 'empty']

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(lines=st.lists(line_kinds, max_size=8))
def test_load_checked_files(lines):
    rows = _rows(lines)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)/'data.jsonl'
        path.write_bytes('\n'.join(text for _, text in lines).encode('utf-8', 'surrogateescape'))  # a lone \udce9 is written as byte 0xe9
        try: kept, report, _ = load_checked(path, skip_invalid=True, verbose=False)
        except DataError as e:
            assert not rows and 'data.jsonl' in str(e) and 'empty' in str(e)
            return
        assert rows, 'a file without rows must be refused'
        assert len(kept) == rows.count('good') and report.n == len(rows)
        assert report.bad == [i for i, k in enumerate(rows) if k != 'good']
        _check_problems(report)
        for i, k in enumerate(rows):
            kinds = {p.kind for p in report.problems if p.index == i}
            if k in ROW_KINDS: assert kinds == ROW_KINDS[k], (k, report.problems)
            if k in ('array', 'scalar'):
                assert [p.message.split(', got')[0] for p in report.problems if p.index == i] == ['a row must be a JSON object']
        if rows.count('good') == len(rows): assert load_checked(path, verbose=False)[0] == kept
        else:
            with pytest.raises(DataError, match=f'row {report.bad[0]} \\(data.jsonl:'): load_checked(path, verbose=False)

# --- regressions from the hostile-user study ------------------------------------------------------------------------
def _one(row, rename=True):
    "Convert `row` between two good rows; the good ones must come through, and the problems of the row are returned."
    records, report, _ = convert([RECORD, row, RECORD], rename=rename)
    assert records[0] == RECORD and records[-1] == RECORD
    assert all(p.index == 1 for p in report.problems)
    return records, report

@pytest.mark.parametrize('row, path, message', [
    ({**RECORD, 'tools': 5}, 'tools', '`tools` must be a list of tool schemas, got number'),
    ({**RECORD, 'tools': [{'type': 'function', 'function': {'parameters': {}}}]}, 'tools[0].function.name', '`name` is missing'),
    ({**RECORD, 'tools': [{'type': 'function', 'function': {'name': 7, 'parameters': {}}}]}, 'tools[0].function.name', '`name` must be a string, got number'),
    ({**RECORD, 'messages': [{'role': ['user'], 'content': 'x'}]}, 'messages[0].role', '`role` must be a string, got array'),
    ({**RECORD, 'messages': [RECORD['messages'][0], {'role': 'assistant', 'content': 'x', 'tool_calls': True}]}, 'messages[1].tool_calls', '`tool_calls` must be a list of calls, got boolean'),
    ({**RECORD, 'messages': [RECORD['messages'][0], {'role': 'assistant', 'content': '', 'tool_calls': [make_call(5, {})]}]}, 'messages[1].tool_calls[0].function.name', '`name` must be a string, got number'),
    ({**RECORD, 'messages': [{'role': 'user', 'content': 5}, *RECORD['messages'][1:]]}, 'messages[0].content', '`content` must be a string, got number'),
])
def test_malformed_row_is_a_problem_for_its_row(row, path, message):
    records, report = _one(row)
    assert len(records) == 2 and [(p.path, p.kind) for p in report.problems] == [(path, 'conversion')]
    assert message in report.problems[0].message

def test_content_number_hint():
    _, report = _one({**RECORD, 'messages': [{'role': 'user', 'content': 5}, *RECORD['messages'][1:]]})
    assert '"5"' in report.problems[0].hint

def test_id_and_tool_call_id_are_kept_end_to_end():
    records, report = _one(OPENAI)
    rec = records[1]
    assert rec['id'] == 'oa-1' and rec['messages'][3]['tool_call_id'] == 'c1' and rec['messages'][2]['tool_calls'][0]['id'] == 'c1'
    assert rec['messages'][3]['name'] == 'get_weather' and report.problems == []
    assert validate(records, mode='report').problems == []
    wrong = copy.deepcopy(rec); wrong['messages'][3]['tool_call_id'] = 'c9'
    assert [(p.path, p.kind) for p in validate(wrong, mode='report').problems] == [('messages[3].tool_call_id', 'tool_result')]
    wrong['messages'][3]['tool_call_id'] = 3
    assert [(p.path, p.kind) for p in validate(wrong, mode='report').problems] == [('messages[3].tool_call_id', 'shape')]

def test_reasoning_and_unknown_fields_are_reported_not_dropped_silently():
    row = copy.deepcopy(RECORD)
    row['messages'][3]['reasoning'] = 'It is 3°C, which is cold.'
    row['messages'][0]['name'] = 'alice'
    row['source'] = 'wiki'
    records, report = _one(row)
    assert len(records) == 3 and report.bad == [] and report.ok  # warnings keep the row
    assert sorted((p.path, p.kind) for p in report.problems) == [('messages[0].name', 'dropped_field'), ('messages[3].reasoning', 'dropped_field'), ('source', 'dropped_field')]
    with pytest.warns(UserWarning) as caught: to_canonical(row)  # called on its own, each note is a warning
    assert sorted(str(w.message).split(':')[0] for w in caught) == ['messages[0].name', 'messages[3].reasoning', 'source']

def test_image_parts_are_reported_not_dumped_into_text():
    row = {**RECORD, 'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'sky.png'}}, {'type': 'text', 'text': 'Cold?'}]}, *RECORD['messages'][1:]]}
    records, report = _one(row)
    assert records[1]['messages'][0]['content'] == 'Cold?'
    assert [(p.path, p.kind) for p in report.problems] == [('messages[0].content[0]', 'dropped_field')]
    assert 'image_url' in report.problems[0].message

def test_empty_jsonl(tmp_path):
    for text in ('', '\n  \n'):
        (tmp_path/'empty.jsonl').write_text(text)
        for load in (load_rows, load_records, load_checked):
            with pytest.raises(DataError, match='empty.jsonl: the file is empty — fix: write one JSON object per line'): load(tmp_path/'empty.jsonl')

def test_bad_json_line(tmp_path):
    f = tmp_path/'rows.jsonl'
    f.write_text('\n'.join([json.dumps(RECORD), '{"messages": [', json.dumps(RECORD)]))
    with pytest.raises(DataError, match=r'line 2 of rows.jsonl is not valid JSON .* fix: repair the line'): load_rows(f)
    records, report, _ = load_records(f)
    assert len(records) == 2 and [(p.index, p.kind) for p in report.problems] == [(1, 'json')]
    with pytest.raises(DataError, match=r'row 1 \(rows.jsonl:2\)'): load_checked(f)
    assert len(load_checked(f, skip_invalid=True, verbose=False)[0]) == 2

def test_array_and_scalar_lines(tmp_path):
    f = tmp_path/'rows.jsonl'
    f.write_text('\n'.join([json.dumps(RECORD), json.dumps([RECORD]), '', '7', json.dumps(RECORD)]))
    kept, report, _ = load_checked(f, skip_invalid=True, verbose=False)
    assert len(kept) == 2
    assert [(p.index, p.message) for p in report.problems] == [(1, 'a row must be a JSON object, got array'), (2, 'a row must be a JSON object, got number')]
    assert report.where[2] == 'rows.jsonl:4'

def test_json_file(tmp_path):
    (tmp_path/'rows.json').write_text(json.dumps([RECORD, HERMES]))
    assert load_checked(tmp_path/'rows.json', verbose=False)[0] == convert([RECORD, HERMES])[0]
    (tmp_path/'bad.json').write_text('[{"messages": ')
    with pytest.raises(DataError, match='bad.json: not valid JSON'): load_rows(tmp_path/'bad.json')
    (tmp_path/'scalar.json').write_text('5')
    with pytest.raises(DataError, match='scalar.json: holds number 5, not rows'): load_rows(tmp_path/'scalar.json')

def _with_pattern(pattern, value):
    tool = {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {'a': {'type': 'string', 'pattern': pattern}}}}}
    return {'messages': [{'role': 'user', 'content': 'x'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call('f', {'a': value})]}], 'tools': [tool]}

@pytest.mark.parametrize('pattern', ['^(a+)+$', '^(a|a)+$', '^(a|aa)+$'])
def test_catastrophic_pattern_is_fast(pattern):
    start = time.perf_counter()
    report = validate(_with_pattern(pattern, 'a' * 27 + '!'), mode='report')
    assert time.perf_counter() - start < 1
    assert len(report.problems) == 1 and report.problems[0].path == 'messages[1].tool_calls[0].function.arguments.a'
    assert report.problems[0].kind in ('arguments', 'tool_schema')  # no match, or cut off by the time limit
    if report.problems[0].kind == 'tool_schema': assert 'catastrophic backtracking' in report.problems[0].message and 'simplify' in report.problems[0].hint

def test_patterns_still_apply():
    assert validate(_with_pattern('^[a-z]+$', 'abc'), mode='report').ok
    assert [p.kind for p in validate(_with_pattern('^[a-z]+$', 'ABC'), mode='report').problems] == ['arguments']
    assert [p.kind for p in validate(_with_pattern('a{99999999999}', 'a'), mode='report').problems] == ['tool_schema']  # bad regex: reported, not raised

def test_load_checked_summary_line(tmp_path, capsys):
    f = tmp_path/'d.jsonl'
    bad_call = {**RECORD, 'messages': [RECORD['messages'][0], {'role': 'assistant', 'content': '', 'tool_calls': [make_call('nope', {})]}]}
    f.write_text('\n'.join([json.dumps({**RECORD, 'extra': 1}), 'oops', json.dumps(bad_call), json.dumps(RECORD)]))
    kept, report, _ = load_checked(f, skip_invalid=True)
    assert capsys.readouterr().out.strip() == f'{f}: 2 of 4 rows kept, 2 dropped (json 1, unknown_tool 1; warnings: dropped_field 1)'
    with pytest.raises(DataError) as e: load_checked(f)
    msg = str(e.value)
    assert msg.startswith(f'{f}: 2 of 4 rows kept, 2 dropped') and 'row 1 (d.jsonl:2)' in msg and 'row 2 (d.jsonl:3)' in msg
    assert 'skip_invalid=True' in msg and '--skip-invalid' in msg

def test_split_records():
    recs = [{**RECORD, 'id': i} for i in range(50)]
    s = split_records(recs, seed=3, validation=0.2, test=0.1)
    ids = {k: [r['id'] for r in v] for k, v in s.items()}
    assert (len(ids['train']), len(ids['validation']), len(ids['test'])) == (35, 10, 5)
    assert sorted(ids['train'] + ids['validation'] + ids['test']) == list(range(50))
    assert split_records(recs, seed=3, validation=0.2, test=0.1) == s and split_records(recs, seed=4, validation=0.2, test=0.1) != s
    for n in range(3, 8):
        assert all(split_records(recs[:n], seed=n).values())
    with pytest.raises(DataError, match='cannot be split'): split_records(recs[:2])
    with pytest.raises(ValueError, match='sum to less than 1'): split_records(recs, validation=0.6, test=0.5)


# --- regressions from the second hostile-user study (issue 23) --------------------------------------------------------
def with_param(schema, value, name='f'):
    "A record calling `f` with `{'a': value}`, its parameter `a` described by `schema`."
    tool = {'type': 'function', 'function': {'name': name, 'parameters': {'type': 'object', 'properties': {'a': schema}}}}
    return {'messages': [{'role': 'user', 'content': 'x'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call(name, {'a': value})]}], 'tools': [tool]}


def kinds(rec): return [p.kind for p in validate(rec, mode='report').problems]


@pytest.mark.parametrize('schema, value, expected', [
    ({'type': 'integer', 'multipleOf': 0.5}, 10**400, []),  # was OverflowError
    ({'type': 'integer', 'multipleOf': 1.5}, 10**400, ['arguments']),
    ({'multipleOf': 0.5}, 1e999, ['value']),  # json reads 1e999 as inf
    ({'multipleOf': 1e308}, 10**400, ['arguments']),
    ({'type': 'string', 'pattern': '(' * 3000 + ')' * 3000}, 'a', ['tool_schema']),  # was RecursionError
    (nested_objects(119), {}, ['value']),  # was RecursionError in the metaschema check
    ({'type': 'string', 'pattern': 'a{10000000}'}, 'a', ['tool_schema']),  # was 4.1 s and 2.7 GB
    ({'type': 'string', 'pattern': 'a{2147483647}'}, 'a', ['tool_schema']),  # was past 22 GB
    ({'type': 'string', 'pattern': '(){100000}'}, 'a', ['tool_schema']),  # quadratic in `regex`
    ({'type': 'object', 'patternProperties': {'x{10000000}': {}}}, {}, ['tool_schema']),
    ({'type': 'string', 'pattern': '^[a-z]{1,64}$'}, 'seoul', []),
])
def test_hostile_schemas_are_problems_not_exceptions(schema, value, expected):
    t = time.process_time()
    assert kinds(with_param(schema, value)) == expected
    assert time.process_time() - t < 1


def test_the_reported_overflow_reproductions(tmp_path):
    t = {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {'n': {'type': 'integer', 'multipleOf': 0.3}}}}}
    rec = {'messages': [{'role': 'user', 'content': 'x'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call('f', {'n': 10**400})]}], 'tools': [t]}
    assert kinds(rec) == ['arguments']
    with pytest.raises(DataError, match='is not a multiple of 0.3'): normalize_record(rec, strict=True)
    (tmp_path/'d.jsonl').write_text('\n'.join([json.dumps(RECORD)] * 50 + [json.dumps(rec), json.dumps(rec).replace('1' + '0' * 400, '1e999')] + [json.dumps(RECORD)] * 50))
    kept, report, _ = load_checked(tmp_path/'d.jsonl', skip_invalid=True, verbose=False)
    assert len(kept) == 100 and [(p.index, p.kind) for p in report.errors] == [(50, 'arguments'), (51, 'value')]


def test_lone_surrogate_is_a_problem_with_row_and_path(tmp_path):
    row = {**RECORD, 'messages': [{'role': 'user', 'content': '\ud800'}, *RECORD['messages'][1:]]}
    (tmp_path/'s.jsonl').write_text('\n'.join([json.dumps(RECORD), json.dumps(row)]))  # json writes it as the escape "\ud800"
    kept, report, _ = load_checked(tmp_path/'s.jsonl', skip_invalid=True, verbose=False)
    assert len(kept) == 1 and [(p.index, p.path, p.kind) for p in report.errors] == [(1, 'messages[0].content', 'value')]
    assert 'lone surrogate' in report.errors[0].message and 'valid pair' in report.errors[0].hint
    with pytest.raises(DataError, match=r'row 1 \(s.jsonl:2\): messages\[0\].content: holds a lone surrogate'): load_checked(tmp_path/'s.jsonl', verbose=False)
    with pytest.raises(DataError, match=r"record 1: messages\[0\].content: holds a lone surrogate '\\ud800'"): to_dataset([RECORD, row])  # was UnicodeEncodeError
    assert to_dataset(kept).num_rows == 1


def test_a_bad_byte_costs_its_line_not_the_file(tmp_path):
    f = tmp_path/'latin1.jsonl'
    f.write_bytes(b'\n'.join([json.dumps(RECORD).encode(), json.dumps(RECORD).replace('Seoul', 'S\u00e9oul').encode('latin-1', 'replace'), json.dumps(RECORD).encode()]))
    kept, report, _ = load_checked(f, skip_invalid=True, verbose=False)
    assert len(kept) == 2 and [(p.index, p.kind) for p in report.problems] == [(1, 'encoding')]
    assert report.problems[0].message.startswith('line 2 of latin1.jsonl is not UTF-8 text (byte 0xe9 at column ')
    with pytest.raises(DataError, match='line 2 of latin1.jsonl is not UTF-8'): load_rows(f)
    (tmp_path/'one.json').write_bytes(b'[' + json.dumps(RECORD).replace('Seoul', 'S\u00e9oul').encode('latin-1') + b']')
    with pytest.raises(DataError, match=r'one.json: not UTF-8 text \(byte 0xe9 at character'): load_rows(tmp_path/'one.json')


def test_long_integer_line_is_a_json_problem(tmp_path):
    (tmp_path/'n.jsonl').write_text('\n'.join([json.dumps(RECORD), '{"messages": [], "n": ' + '9' * 4301 + '}']))
    records, report, _ = load_records(tmp_path/'n.jsonl')
    assert len(records) == 1 and [(p.index, p.kind, p.message) for p in report.problems] == [(1, 'json', 'line 2 of n.jsonl is not valid JSON (a number has more than 4300 digits)')]


def test_a_folder_is_named_as_a_folder(tmp_path):
    (tmp_path/'data.jsonl').mkdir()
    for load in (load_rows, load_records, load_checked):
        with pytest.raises(DataError, match='data.jsonl: is a folder, not a file'): load(tmp_path/'data.jsonl')


def test_unique_items_on_4000_objects_is_fast():  # was 20 s
    rec = with_param({'type': 'array', 'uniqueItems': True}, [{'k': i} for i in range(4000)])
    t = time.process_time()
    assert kinds(rec) == []
    assert kinds(with_param({'type': 'array', 'uniqueItems': True}, [{'k': i} for i in range(4000)] + [{'k': 0.0}])) == ['arguments']  # 0 == 0.0
    assert kinds(with_param({'type': 'array', 'uniqueItems': True}, [1, True, [1], [True], {'a': 1}, {'a': True}])) == []  # true is not 1
    assert time.process_time() - t < 1


def test_each_record_has_a_time_budget():
    slow = with_param({'items': {'anyOf': [{'const': i} for i in range(300)]}}, [299] * 10_000)
    t = time.process_time()
    report = validate([slow, RECORD, slow], mode='report')
    assert [(p.index, p.kind) for p in report.problems] == [(0, 'too_slow'), (2, 'too_slow')] and report.bad == [0, 2]
    assert time.process_time() - t < 4 and 'fix:' in str(report.problems[0])


def test_rename_is_linear_in_the_number_of_names():  # was cubic: 4,000 names that all become `x`
    row = {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}],
           'tools': [{'type': 'function', 'function': {'name': 'x' + '!' * i, 'parameters': {'type': 'object'}}} for i in range(1, 4001)]}
    t = time.process_time()
    records, report, names = convert([row])
    assert time.process_time() - t < 2 and len(names) == 4000 and len({t['function']['name'] for t in records[0]['tools']}) == 4000


def test_tool_result_json_cannot_write_is_a_conversion_problem():
    row = {**RECORD, 'messages': [*RECORD['messages'][:2], {'role': 'tool', 'name': 'get_weather', 'content': {'n': 10**4301}}, RECORD['messages'][3]]}
    _, report = _one(row)
    assert [(p.path, p.kind) for p in report.problems] == [('messages[2].content', 'conversion')]


# --- no data function takes over 1 GB or 2 s on one row, shown under a memory cap ------------------------------------
CAP = 1 << 30  # bytes of address space the data functions may add
hostile_args = st.one_of(scalars, json_values, st.just('a' * 40 + '!'),
                         st.integers(1000, 6000).map(lambda n: [{'a': i % 3000} for i in range(n)]), st.integers(1000, 20_000).map(lambda n: list(range(n))),
                         st.integers(50, 900).map(lambda n: json.loads('[' * n + ']' * n)))


@st.composite
def hostile_rows(draw):
    "A row whose tool schema, arguments or other values come from the hostile families (as a dict, or as a line of a file would hold it)."
    row = with_param(draw(costly_schemas | schema_values), draw(hostile_args))
    if draw(st.booleans()): row['tools'][0]['function']['parameters']['$schema'] = draw(st.sampled_from([5, True, 1.5, 'http://[']))
    return draw(st.sampled_from([row, draw(mutated())]))


def cpu_seconds_each(row) -> dict:
    "CPU seconds of each data function on `row` (which must not raise anything but `DataError`)."
    out, t = {}, time.process_time()
    records, report, _ = convert([row]); out['convert'] = time.process_time() - t; t = time.process_time()
    checked = validate(records, mode='report'); out['validate'] = time.process_time() - t; t = time.process_time()
    try: normalize_record(row, strict=True)
    except DataError: pass
    out['normalize_record'] = time.process_time() - t; t = time.process_time()
    if records and checked.ok: to_dataset(records)
    out['to_dataset'] = time.process_time() - t
    _check_problems(report); _check_problems(checked)
    return out


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(row=hostile_rows())
def hostile_rows_cost_little(row):
    "Run in the capped child process (not collected by pytest: the parent test runs it)."
    slowest = max(cpu_seconds_each(row).items(), key=lambda kv: kv[1])
    assert slowest[1] < 2, f'{slowest[0]} took {slowest[1]:.1f} s on one row'


def capped_main():
    "In a child process: warm up, cap the address space at what is used plus `CAP`, show that the cap holds, then run the hostile rows."
    import resource
    cpu_seconds_each(RECORD)  # imports, Arrow's threads, caches
    used = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize:'))
    resource.setrlimit(resource.RLIMIT_AS, (used + CAP, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try: bytearray(CAP + (256 << 20)); sys.exit('the memory cap does not hold')
    except MemoryError: pass
    for schema, value in [({'type': 'string', 'pattern': 'a{2147483647}'}, 'a'), ({'type': 'string', 'pattern': '(a{99999}){99999}'}, 'a'),
                             ({'type': 'array', 'uniqueItems': True}, [{'k': i} for i in range(4000)]), ({'items': {'anyOf': [{'const': i} for i in range(300)]}}, [299] * 10_000)]:
        assert max(cpu_seconds_each(with_param(schema, value)).values()) < 2
    hostile_rows_cost_little()
    print('capped run passed')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc/self/status')
def test_hostile_rows_under_a_memory_cap():
    code = f'import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_fuzz_data; test_fuzz_data.capped_main()'
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0 and 'capped run passed' in p.stdout, (p.stdout[-2000:], p.stderr[-4000:])


def test_nested_schema_uri_that_does_not_parse_is_the_tool_schemas_fault():
    "Found by the fuzz suite: jsonschema parses a nested `$schema` while checking arguments and raises ValueError on 'http://['."
    params = {'type': 'object', 'properties': {'a': {'$schema': 'http://['}}}
    rec = {'messages': [{'role': 'user', 'content': 'x'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call('f', {'a': None})]}],
           'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': params}}]}
    problems = validate([rec], mode='report').problems
    assert [p.kind for p in problems] == ['tool_schema'] and '$schema' in problems[0].hint


def test_a_problem_of_the_whole_dataset_names_no_record():
    "Found by hand: the 'too few records to split' error read '(record): 2 record(s) cannot be split'."
    assert str(Problem(None, '', '2 record(s) cannot be split', 'give at least 3 records')) == '2 record(s) cannot be split — fix: give at least 3 records'
    assert str(Problem(4, '', 'is empty', 'drop it')) == 'record 4: (record): is empty — fix: drop it'
