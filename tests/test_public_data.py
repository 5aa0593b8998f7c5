"Glaive function-calling v2 and xLAM / APIGen rows: fixtures in the published shapes convert to valid canonical records; bad rows are problems of their own row."
import json, warnings
from pathlib import Path

import pytest

from toolcall_lab.checks import validate
from toolcall_lab.data import DataError, ROW_SHAPES, row_shape, to_canonical
from toolcall_lab.formats import make_call
from toolcall_lab.loading import convert, load_checked, load_records, normalize_record
from toolcall_lab.public_data import from_glaive, from_xlam, xlam_type

FIXTURES = Path(__file__).parent/'fixtures'
GLAIVE, XLAM = FIXTURES/'glaive_v2.jsonl', FIXTURES/'xlam_60k.jsonl'
def rows(path): return [json.loads(line) for line in path.read_text().splitlines()]

GLAIVE_GOOD, XLAM_GOOD = [0, 1, 2, 3], [0, 1, 2]
# (file, row, path, kind, words of the message, words of the fix): rows that cannot be converted, then rows that convert but break a rule
BAD = [(GLAIVE, 4, 'chat[1].content', 'conversion', 'call 0 after <functioncall> cannot be read', 'write the call as <functioncall>'),
       (GLAIVE, 5, 'system[1]', 'conversion', 'function definition 1 is not valid JSON', 'repair the JSON'),
       (GLAIVE, 6, 'messages[1].tool_calls[0].function.name', 'unknown_tool', "calls 'calculate_bmi', which is not offered", 'offer the tool'),
       (XLAM, 3, 'tools[0].parameters.func.type', 'conversion', "unknown type 'Callable[[float], float]'", 'List[X]'),
       (XLAM, 4, 'answers', 'conversion', '`answers` is empty', 'leave the row out'),
       (XLAM, 5, 'answers', 'conversion', 'not valid JSON', 'repair the JSON'),
       (XLAM, 6, 'messages[1].tool_calls[0].function.arguments.limit', 'arguments', "'ten' is not of type 'integer'", 'integer')]


# --- detection ------------------------------------------------------------------------------------------------------
def test_shapes_are_detected():
    assert [row_shape(r) for r in rows(GLAIVE)] == ['glaive'] * 7 and [row_shape(r) for r in rows(XLAM)] == ['xlam'] * 7
    assert row_shape({'messages': []}) == 'messages' and row_shape({'conversations': []}) == 'sharegpt'
    assert {'glaive', 'xlam'} <= set(ROW_SHAPES)

def test_a_row_without_a_marker_says_which_keys_are_read():
    with pytest.raises(DataError, match='`messages` list .*glaive `chat`, xlam `answers`'): to_canonical({'query': 'hi', 'tools': '[]'})


# --- good rows ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('path, good', [(GLAIVE, GLAIVE_GOOD), (XLAM, XLAM_GOOD)], ids=['glaive', 'xlam'])
def test_good_rows_convert_and_validate(path, good):
    src = [rows(path)[i] for i in good]
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # nothing is dropped from these rows
        records, report, names = convert(src)
    assert report.problems == [] and names == {} and len(records) == len(src)
    assert validate(records, mode='report').problems == []
    assert [to_canonical(r) for r in records] == records  # canonical in, canonical out

def test_glaive_records():
    recs = [to_canonical(rows(GLAIVE)[i]) for i in GLAIVE_GOOD]
    news, chat, bmi, movie = recs
    assert [t['function']['name'] for t in news['tools']] == ['get_news_headlines', 'calculate_bmi']
    assert [m['role'] for m in news['messages']] == ['user', 'assistant', 'tool', 'assistant']  # no system turn: the stock sentence goes
    assert news['messages'][1] == {'role': 'assistant', 'content': '', 'tool_calls': [make_call('get_news_headlines', {'country': 'United States'})]}
    assert news['messages'][2]['name'] == 'get_news_headlines' and news['messages'][3]['content'].endswith('Stocks rise')  # <|endoftext|> removed
    assert chat['tools'] == [] and [m['role'] for m in chat['messages']] == ['user', 'assistant'] * 2
    assert bmi['messages'][1]['tool_calls'] == [make_call('calculate_bmi', {'weight': 70, 'height': 1.75}), make_call('calculate_bmi', {'weight': 90, 'height': 1.8})]
    assert [m.get('name') for m in bmi['messages'][2:4]] == ['calculate_bmi'] * 2
    assert movie['messages'][3]['tool_calls'][0]['function']['arguments'] == {'title': "Ocean's Eleven", 'year': 2001}

def test_glaive_system_text_besides_the_stock_sentence_is_kept():
    row = {**rows(GLAIVE)[0], 'system': 'SYSTEM: You are a news bot. ' + rows(GLAIVE)[0]['system'].removeprefix('SYSTEM: ')}
    assert from_glaive(row)['messages'][0] == {'role': 'system', 'content': 'You are a news bot.'}

def test_xlam_records():
    giveaways, shop, stats = [to_canonical(rows(XLAM)[i]) for i in XLAM_GOOD]
    assert giveaways['id'] == 0 and [m['role'] for m in giveaways['messages']] == ['user', 'assistant']
    assert [c['function']['arguments'] for c in giveaways['messages'][1]['tool_calls']] == [{'type': 'beta'}, {'type': 'game'}]
    search = shop['tools'][0]['function']['parameters']
    assert search['required'] == ['query', 'tags'] and search['properties']['tags'] == {'type': 'array', 'items': {'type': 'string'}, 'description': 'Tags to filter by.'}
    assert 'required' not in shop['tools'][1]['function']['parameters']  # a default or ", optional" makes a parameter optional
    props = stats['tools'][0]['function']['parameters']['properties']
    assert props['precision']['type'] == 'integer' and props['weights'] == {'type': 'object', 'additionalProperties': {'type': 'number'}, 'description': 'Weight of each label.', 'default': None}

@pytest.mark.parametrize('t, schema, optional', [
    ('str', {'type': 'string'}, False), ('int', {'type': 'integer'}, False), ('float', {'type': 'number'}, False), ('bool', {'type': 'boolean'}, False),
    ('String', {'type': 'string'}, False), ('list', {'type': 'array'}, False), ('dict', {'type': 'object'}, False), ('Any', {}, False),
    ('str, optional', {'type': 'string'}, True), ('List[int], optional', {'type': 'array', 'items': {'type': 'integer'}}, True),
    ('Optional[float]', {'type': 'number'}, True), ('List[str]', {'type': 'array', 'items': {'type': 'string'}}, False),
    ('Dict[str, Any]', {'type': 'object'}, False), ('Tuple[int, int]', {'type': 'array'}, False),
    ('Union[int, str]', {'anyOf': [{'type': 'integer'}, {'type': 'string'}]}, False), ('Union[int, None]', {'anyOf': [{'type': 'integer'}, {'type': 'null'}]}, True),
    ('List[Dict[str, Union[int, str]]]', {'type': 'array', 'items': {'type': 'object', 'additionalProperties': {'anyOf': [{'type': 'integer'}, {'type': 'string'}]}}}, False),
    ('Callable[[float], float]', None, False), ('list of str', None, False), ('', None, False), ('List[' * 150 + 'int' + ']' * 150, None, False)])
def test_xlam_type_mapping(t, schema, optional):
    assert xlam_type(t) == (schema, optional if schema is not None else False)


# --- bad rows: a problem naming the row, the path and a fix; never an exception, never dropped silently --------------
@pytest.mark.parametrize('path, i, at, kind, words, fix', BAD, ids=[f'{p.stem}-{i}' for p, i, *_ in BAD])
def test_bad_rows_are_problems_of_their_row(path, i, at, kind, words, fix):
    _, report, _ = load_checked(path, skip_invalid=True, verbose=False)
    ps = [p for p in report.errors if p.index == i]
    assert [(p.path, p.kind) for p in ps] == [(at, kind)], ps
    assert words in ps[0].message and fix in ps[0].hint
    assert report.label(i) == f'{i} ({path.name}:{i + 1})'

@pytest.mark.parametrize('path, good', [(GLAIVE, GLAIVE_GOOD), (XLAM, XLAM_GOOD)], ids=['glaive', 'xlam'])
def test_load_checked(path, good):
    with pytest.raises(DataError, match=rf'row {min(set(range(7)) - set(good))} \({path.name}:'): load_checked(path, verbose=False)
    kept, report, _ = load_checked(path, skip_invalid=True, verbose=False)
    assert kept == [to_canonical(rows(path)[i]) for i in good]
    assert report.n == 7 and report.bad == [i for i in range(7) if i not in good]
    records, conv, _ = load_records(path)  # conversion alone skips only the rows it cannot read
    assert len(records) == 7 - len([b for b in BAD if b[0] == path and b[3] == 'conversion'])

def test_mixed_shapes_in_one_list():
    mixed = [rows(GLAIVE)[0], rows(XLAM)[1], {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}], 'tools': []}]
    records, report, _ = convert(mixed)
    assert report.problems == [] and validate(records, mode='report').problems == []

def test_malformed_values_anywhere_are_conversion_problems():
    g, x = rows(GLAIVE)[0], rows(XLAM)[1]
    cases = [({**g, 'chat': 5}, 'chat'), ({**g, 'system': ['x']}, 'system'), ({**g, 'chat': 'no turns here'}, 'chat'),
             ({**g, 'system': g['system'] + 'trailing words'}, 'system[2]'), ({**g, 'system': 'SYSTEM: -\n{"name": 5}'}, 'system[0].name'),
             ({**x, 'query': None}, 'query'), ({**x, 'tools': '{"name": "f"}'}, 'tools'), ({**x, 'tools': '[5]'}, 'tools[0]'),
             ({**x, 'tools': json.dumps([{'name': 'f', 'parameters': {'a': 'str'}}])}, 'tools[0].parameters.a'),
             ({**x, 'tools': json.dumps([{'name': 'f', 'parameters': {'a': {'description': 'x'}}}])}, 'tools[0].parameters.a.type'),
             ({**x, 'tools': json.dumps([{'name': 'f', 'parameters': [1]}])}, 'tools[0].parameters'),
             ({**x, 'answers': '[{"name": 3}]'}, 'answers[0].name'), ({**x, 'answers': '[{"name": "f", "arguments": "{"}]'}, 'answers[0].arguments')]
    records, report, _ = convert([row for row, _ in cases])
    assert records == [] and [(p.index, p.path, p.kind) for p in report.problems] == [(i, at, 'conversion') for i, (_, at) in enumerate(cases)]
    assert all(p.hint.strip() for p in report.problems)

def test_unknown_fields_are_reported():
    _, report, _ = convert([{**rows(GLAIVE)[0], 'source': 'glaive'}, {**rows(XLAM)[0], 'category': 'games'}])
    assert [(p.index, p.path, p.kind) for p in report.problems] == [(0, 'source', 'dropped_field'), (1, 'category', 'dropped_field')]

def test_normalize_record_reads_both_shapes():
    assert normalize_record(rows(GLAIVE)[0]) == to_canonical(rows(GLAIVE)[0])
    assert normalize_record({**rows(XLAM)[0], 'note': 'kept'})['note'] == 'kept'
    assert normalize_record(rows(XLAM)[0], strict=True) == to_canonical(rows(XLAM)[0])
    assert from_xlam(rows(XLAM)[0]) == to_canonical(rows(XLAM)[0])
