"Fuzz and regression tests: malformed rows and files give `Problem`s for their own row (or a `DataError`), never a crash."
import copy, json, re, tempfile, time, warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from toolcall_lab.data import (DataError, Problem, Report, convert, load_checked, load_records, load_rows, split_records,
                               to_canonical, validate)
from toolcall_lab.inference import make_call

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
VALID_NAMES = [RECORD, OPENAI, INSTRUCTKR, HERMES, SHAREGPT]  # rename changes nothing in these
GOODS = VALID_NAMES + [ROUTES]

def test_goods_are_clean():
    records, report, _ = convert(GOODS)
    assert report.problems == [] and len(records) == len(GOODS)
    assert validate(records, mode='report').problems == []

# --- strategies ---------------------------------------------------------------------------------------------------
KEYS = ['role', 'content', 'name', 'type', 'function', 'arguments', 'parameters', 'tools', 'messages', 'tool_calls', 'id',
        'tool_call_id', 'text', 'from', 'value', 'conversations', 'system', 'properties', 'pattern', 'reasoning', 'x']
WORDS = ['', 'user', 'assistant', 'tool', 'system', 'function', 'ipython', 'object', 'string', 'get_weather', 'POST /db/node',
         '{"a": 1}', '[1, 2]', '{', '[', '<tool_call>', '<function=f>{"a": 1', 'text', 'image_url', 'null', '^(a+)+$']
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-1e3, 1e3, allow_nan=False) | st.sampled_from(WORDS) | st.text(max_size=6)
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
    report._repr_markdown_()  # renders

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
                                'format', 'patternProperties', 'additionalProperties', 'minLength', 'const', 'anyOf', 'not', 'propertyNames'])
schema_values = st.recursive(scalars | st.sampled_from(['^(a|a)+$', 'a{2,}', '#', '#/properties', 'integer', 'array', 'email', 1e-300, 10**20]),
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
    st.tuples(st.just('empty'), st.sampled_from(['', '   ', '\t'])))

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
        path.write_text('\n'.join(text for _, text in lines), encoding='utf-8')
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
            if k == 'bad_json': assert kinds == {'json'}
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
