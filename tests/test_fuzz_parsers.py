"The tool-call parsers and `call_tool` under hostile input: no exception, linear time, recovery after garbage, no invented calls, no silently dropped arguments."
import datetime, gc, json, math, os, time

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from toolcall_lab.formats import FORMATS, JsonFormat, Parsed, get_format, make_call, parse_tool_calls
from toolcall_lab.inference import call_tool, tool_loop
from toolcall_lab.models import load_tokenizer

NAMES = list(FORMATS)  # hermes, function_tag, json, compact
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 50)), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def get_weather(city: str, unit: str = 'celsius'):
    """Get the current weather for a city.

    Args:
        city: City name
        unit: Temperature unit
    """
    return {'city': city, 'temperature': 3, 'unit': unit}


def now(city: str):
    """The local time in a city.

    Args:
        city: City name
    """
    return {'city': city, 'at': datetime.datetime(2024, 5, 1, 12, 30)}


# --- strategies -------------------------------------------------------------------------------------------------------
VALID = ['{"name": "f", "arguments": {"x": 1}}', '[{"name": "g", "arguments": {}}]', '<tool_call>{"name": "f", "arguments": {}}</tool_call>',
         '<function=f>{"x": [1, "}"]}</function>']
# numbers json reads but a tool cannot take (over 4,300 digits, overflowing floats, NaN), and text no UTF-8 codec writes (a lone surrogate)
HOSTILE_NUMBERS = ['9' * 4301, '-' + '9' * 4400, '1' + '0' * 5000, '1e999', '-1e999', '1.5e308', 'NaN', 'Infinity', '-Infinity', '9' * 4300, '1e-400', '5e-324']
FRAGMENTS = ['<tool_call>', '</tool_call>', '<function=', '<function=f>', '</function>', '{', '}', '[', ']', '"', '\\', ':', ',', ' ', '\n',
             '"name"', '"arguments"', '"name": "f"', '"arguments": "{', 'null', '1', '[' * 300, '{"a":' * 200, *VALID, *HOSTILE_NUMBERS, '\ud800', '"\\udfff"']
names = st.from_regex(r'[A-Za-z_][A-Za-z0-9_]{0,12}', fullmatch=True)
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) | st.sampled_from(FRAGMENTS[:9])
           | st.sampled_from([10**4299, -10**400, 1.7976931348623157e308, 5e-324]))  # the largest numbers JSON can write back
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
calls = st.lists(st.builds(make_call, names, st.dictionaries(st.text(max_size=8), values, max_size=4)), max_size=3)
garbage = st.lists(st.text(max_size=8) | st.sampled_from(FRAGMENTS), max_size=14).map(''.join)
texts = st.text(max_size=200) | garbage


def assert_clean(p):
    "A well-formed `Parsed`: str content, canonical calls with JSON-object arguments, str errors."
    assert isinstance(p, Parsed) and isinstance(p.content, str) and isinstance(p.calls, list) and isinstance(p.errors, list)
    for c in p.calls:
        assert set(c) == {'type', 'function'} and c['type'] == 'function' and set(c['function']) == {'name', 'arguments'}
        assert isinstance(c['function']['name'], str) and isinstance(c['function']['arguments'], dict)
        json.dumps(c['function']['arguments'])  # writable back as JSON
    assert all(isinstance(e, str) for e in p.errors)


# --- properties -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fmt', NAMES)
@FUZZ
@given(text=texts, tools=st.none() | st.lists(st.sampled_from(['f', 'g', 'get_weather']), max_size=2))
def test_parse_never_raises(fmt, text, tools):
    p = parse_tool_calls(text, fmt, tools)
    assert_clean(p)
    if fmt == 'json' and tools is not None: assert {c['function']['name'] for c in p.calls} <= set(tools)
    if fmt != 'json': assert p == get_format(fmt).parse(text)  # tags mark intent: `tools` never drops a tagged call


@pytest.mark.parametrize('fmt', NAMES)
@FUZZ
@given(cs=calls)
def test_rendered_calls_parse_back(fmt, cs):
    f = get_format(fmt)
    p = f.parse(f.render_calls(cs))
    assert (p.calls, p.errors) == (cs, [])
    if cs: assert p.content == ''  # (bare JSON writes no calls as `[]`, which stays text)
    assert f.parse(f.render_calls(cs), tools=[c['function']['name'] for c in cs]).calls == cs


@pytest.mark.parametrize('fmt', NAMES)
@FUZZ
@given(cs=calls.filter(bool), before=garbage, after=garbage)
def test_calls_survive_garbage_around_them(fmt, cs, before, after):
    "Calls on their own lines survive any garbage before and after (for bare JSON: after-garbage that closes no bracket, which could make them data)."
    if fmt == 'json': after = after.replace(']', '').replace('}', '')
    p = get_format(fmt).parse(f'{before}\n{get_format(fmt).render_calls(cs)}\n{after}')
    assert_clean(p)
    found = iter(p.calls)
    assert all(c in found for c in cs), (cs, p)  # in order, possibly among calls the garbage itself holds


@st.composite
def hostile_number_calls(draw):
    "(format, text of one call whose argument is a hostile number literal, the literal)."
    fmt, literal = draw(st.sampled_from(NAMES)), draw(st.sampled_from(HOSTILE_NUMBERS) | st.integers(4290, 4400).map(lambda n: '9' * n))
    f, as_string = get_format(fmt), draw(st.booleans())  # arguments as an object, or (OpenAI's wire form) a string holding one
    text = f.render_calls([make_call('f', {'n': 7})]).replace('{"n": 7}', json.dumps(f'{{"n": {literal}}}') if as_string and fmt != 'function_tag' else f'{{"n": {literal}}}')
    return fmt, f'{draw(garbage)}\n{text}\n', literal


@FUZZ
@given(case=hostile_number_calls())
def test_hostile_numbers_are_errors_or_exact_values(case):
    "A number the decoder can hold comes through exactly; any other is one error for its call, never an exception."
    fmt, text, literal = case
    p = parse_tool_calls(text, fmt, tools=['f'])
    assert_clean(p)
    try: value = json.loads(literal)
    except ValueError: value = None  # over 4,300 digits
    mine = [c for c in p.calls if c['function']['name'] == 'f']
    if value is not None and not (isinstance(value, float) and not math.isfinite(value)): assert {'n': value} in [c['function']['arguments'] for c in mine], (literal[:20], p)
    else: assert not any(c['function']['arguments'] == {'n': value} for c in mine) and p.errors, (literal[:20], p)


# --- linear time ------------------------------------------------------------------------------------------------------
MB = 1_000_000
HOSTILE = ['{', '[', '<tool_call>', '<function=a>', '<function=', '{"name":', '[{"', '<tool_call>[', '<function=a>{"',
           '<tool_call>{"name": "f", "arguments": {"s": "</tool_call>"}}</tool_call>']


def cpu_seconds(fmt, piece, size):
    "CPU seconds (not wall: the machine is shared) to parse `piece` repeated to `size` characters, the garbage collector paused."
    text = piece * (size // len(piece))
    gc.disable()
    try:
        t = time.process_time()
        p = get_format(fmt).parse(text)
        seconds = time.process_time() - t
    finally: gc.enable()
    assert_clean(p)
    return seconds


def test_compact_parses_as_hermes(): assert type(get_format('compact')).parse is type(get_format('hermes')).parse  # so it is timed once


@pytest.mark.parametrize('fmt', ['hermes', 'function_tag', 'json'])
@pytest.mark.parametrize('piece', HOSTILE)
def test_parse_is_linear(fmt, piece):
    one = cpu_seconds(fmt, piece, MB)
    assert one < 1.0, f'{fmt} took {one:.2f} s on 1 MB of {piece!r}'
    two = cpu_seconds(fmt, piece, 2 * MB)
    assert two < 3 * max(one, 0.05), f'{fmt}: 1 MB of {piece!r} in {one:.2f} s but 2 MB in {two:.2f} s'


# --- regressions, one per reproduction -------------------------------------------------------------------------------
@pytest.mark.parametrize('fmt', NAMES)
def test_deep_nesting_is_an_error_not_a_recursion_error(fmt):
    deep = '[' * 1000 + ']' * 1000
    with pytest.raises(RecursionError): json.loads(deep)
    call = make_call('f', {'a': 1})
    text = get_format(fmt).render_calls([call]).replace('1', deep)
    for t in (text, text.replace(']', ''), '[' * 1000):
        p = parse_tool_calls(t, fmt)
        assert_clean(p)
        if t != '[' * 1000: assert p.calls == [] and len(p.errors) == 1


def test_json_on_a_megabyte_of_braces_is_fast():  # was 335 s: re.match on text[i:] and a JSONDecodeError at every `{`
    assert cpu_seconds('json', '{', MB) < 1.0


def test_function_tag_on_repeated_tags_is_fast():  # was 30 s on 160 kB: the name pattern ran to the end of the text from every tag
    assert cpu_seconds('function_tag', '<function=', MB) < 1.0


@pytest.mark.parametrize('fmt', ['hermes', 'compact', 'function_tag'])
def test_tagged_formats_recover_after_a_stray_brace(fmt):
    f = get_format(fmt)
    f_call, g_call = make_call('f', {}), make_call('g', {'x': 1})
    text = f.render_calls([f_call]).replace('{}', '{}}') + ' then ' + f.render_calls([g_call])  # a stray `}` after the first call's JSON
    p = f.parse(text)
    assert p.calls == [f_call, g_call] and len(p.errors) == 1 and p.content == 'then'


def test_json_does_not_invent_calls_from_records_when_given_tools():
    text = 'The record is {"name": "Seoul", "population": 9.7}. [{"name": "get_weather", "arguments": {"city": "Seoul"}}]'
    assert [c['function']['name'] for c in JsonFormat().parse(text).calls] == ['Seoul', 'get_weather']  # the old behaviour, kept without tools
    for tools in (['get_weather'], [get_weather], [{'type': 'function', 'function': {'name': 'get_weather'}}]):
        p = parse_tool_calls(text, 'json', tools)
        assert p.calls == [make_call('get_weather', {'city': 'Seoul'})] and p.errors == []
        assert p.content == 'The record is {"name": "Seoul", "population": 9.7}.'


@pytest.mark.parametrize('fmt', NAMES)
@pytest.mark.parametrize('args', ['"not json"', '[1, 2]', 'null', '"[1]"', '7'])
def test_malformed_arguments_are_reported(fmt, args):
    f = get_format(fmt)
    text = f.render_calls([make_call('f', {'x': 1})]).replace('{"x": 1}', args)
    assert args in text
    p = f.parse(text, tools=['f'])
    assert p.calls == [] and len(p.errors) == 1 and "arguments of 'f'" in p.errors[0], p


def test_call_tool_writes_results_json_cannot_hold():
    out = call_tool(make_call('now', {'city': 'Seoul'}), [now])
    assert json.loads(out['content']) == {'city': 'Seoul', 'at': '2024-05-01 12:30:00'}
    loop = []; loop.append(loop)

    def circular(city: str):
        """A result that refers to itself.

        Args:
            city: City name
        """
        return loop
    out = call_tool(make_call('circular', {'city': 'x'}), [circular])
    assert out['content'].startswith('Error: the result of circular cannot be written as JSON')


def test_call_tool_takes_a_dict_of_functions():
    assert json.loads(call_tool(make_call('weather', {'city': 'Seoul'}), {'weather': get_weather})['content'])['city'] == 'Seoul'
    bad = call_tool(make_call('get_weather', {'city': 'Seoul'}), {'weather': get_weather})['content']
    assert bad == "Error: invalid call to get_weather: unknown tool 'get_weather'; available: weather. Fix the call and try again."
    assert call_tool(make_call('nope', {}), [get_weather])['content'].startswith("Error: invalid call to nope: unknown tool 'nope'")


class ScriptedModel:
    "Stands in for a model: each `generate` appends the tokens of the next scripted reply."
    device = torch.device('cpu')

    def __init__(self, tok, replies): self.tok, self.replies = tok, list(replies)

    def generate(self, input_ids, **kwargs):
        new = self.tok(self.replies.pop(0), return_tensors='pt', add_special_tokens=False)['input_ids']
        return torch.cat([input_ids, new], dim=1)


def test_tool_loop_passes_offered_tools_to_the_parser():
    tok = load_tokenizer()
    reply = 'The record is {"name": "Seoul"}. [{"name": "weather", "arguments": {"city": "Seoul"}}]'
    msgs = tool_loop(ScriptedModel(tok, [reply, 'It is 3°C.']), tok, [{'role': 'user', 'content': 'Weather in Seoul?'}],
                     {'weather': get_weather}, fmt='json', verbose=False, max_new_tokens=8)
    assert [m['role'] for m in msgs] == ['user', 'assistant', 'tool', 'assistant']
    assert msgs[1]['tool_calls'] == [make_call('weather', {'city': 'Seoul'})] and msgs[1]['content'] == 'The record is {"name": "Seoul"}.'
    assert json.loads(msgs[2]['content'])['temperature'] == 3


@pytest.mark.parametrize('fmt', NAMES)
@pytest.mark.parametrize('literal', ['9' * 4301, '1e999', '-1e999'])
def test_long_and_overflowing_numbers_are_errors(fmt, literal):  # was AttributeError: 'ValueError' object has no attribute 'pos'
    text = get_format(fmt).render_calls([make_call('f', {'c': 7})]).replace('7', literal)
    p = parse_tool_calls(text, fmt)
    assert_clean(p)
    assert p.calls == [] and len(p.errors) == 1, p
    assert parse_tool_calls(text, fmt, tools=['f']).errors, 'with the tool offered, the broken call is reported'


def test_the_reported_reproductions():
    p = parse_tool_calls('<tool_call>{"name":"f","arguments":{"c":' + '9' * 4301 + '}}</tool_call>', 'hermes')
    assert p.calls == [] and p.errors == [p.errors[0]] and 'a number has 4301 digits (at most 4300)' in p.errors[0]
    assert 'a number has 4301 digits' in parse_tool_calls('<function=f>{"c": ' + '9' * 4301 + '}</function>', 'function_tag').errors[0]
    assert 'NaN is not a JSON value' in parse_tool_calls('<tool_call>{"name": "f", "arguments": "{\\"c\\": NaN}"}</tool_call>').errors[0]


@pytest.mark.parametrize('tools', [[{'function': 'f'}], [{'function': {'name': 5}}], [{'name': None}], [5]])
def test_malformed_tools_are_a_value_error(tools):  # [{'function': 'f'}] was AttributeError
    for fmt in NAMES:
        with pytest.raises(ValueError, match='tools must be tool schemas, functions or names'): parse_tool_calls('{"name": "f", "arguments": {}}', fmt, tools)


@pytest.mark.parametrize('before', ['{"a":' * 200, '{"a": [', '[', ''])
def test_a_call_inside_unclosed_data_is_still_an_error(before):
    "Found by the fuzz suite: a malformed call after unclosed JSON data was left open by the data's failed walk and dropped without an error."
    p = parse_tool_calls(f'{before}\n[{{"name": "f", "arguments": {{"n": NaN}}}}]\n', 'json', tools=['f'])
    assert p.calls == [] and len(p.errors) == 1 and "unexpected 'N'" in p.errors[0], p.errors
