"""The server keeps what `tool_choice` and `response_format` promise, because a grammar holds the reply (module `grammar_api`).

The tiny model has random weights: left alone it writes word salad and never a call, so every valid reply here is the
grammar's doing. Through HTTP (FastAPI's test client, and the official `openai` client against a live server), for many
seeds and temperatures and the built-in datasets' tools (enums, integers, numbers, arrays, nested objects, maps):
`tool_choice` "required" or a named function always returns a call to an offered (or the named) tool whose arguments
validate; `response_format` json_schema always returns content valid against the schema, json_object an object; a budget
too small for the reply still ends it whole; a schema keyword the grammar cannot enforce is a 400 naming it and where it is."""
import json

import jsonschema
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

import toolcall_lab.grammar_api as grammar_api
from toolcall_lab.builtin import BUILTINS
from toolcall_lab.formats import as_tools
from toolcall_lab.inference import check_arguments
from toolcall_lab.models import load_model
from toolcall_lab.serve import BackgroundServer, make_app

MODEL, TOK = load_model('tiny')
APP = make_app(MODEL, TOK, 'tiny', max_new_tokens=24)
CLIENT = TestClient(APP)
URL = '/v1/chat/completions'
HI = [{'role': 'user', 'content': 'hi'}]
ALL_TOOLS = {t['function']['name']: t for b in BUILTINS.values() for t in as_tools(b.tools)}
# tools whose arguments cover enums, integers, numbers, arrays, nested objects and id maps (propertyNames)
PICKED = ['cancel_order', 'create_ticket', 'request_refund', 'create_node', 'delete_nodes', 'create_section', 'set_supports', 'add_nodal_loads',
          'add_beam_load', 'capture_view', 'set_units', 'list_load_cases']
GROUPS = [PICKED[i:i + 3] for i in range(0, len(PICKED), 3)]
SAMPLING = [{}, {'temperature': 1.0, 'seed': 1}, {'temperature': 1.5, 'seed': 2}, {'temperature': 2.0, 'seed': 3, 'top_p': 0.9}]


def post(**fields):
    r = CLIENT.post(URL, json={'model': 'tiny', 'messages': HI} | fields)
    assert r.status_code == 200, r.text
    return r.json()['choices'][0]


def calls_of(choice) -> list:
    return [(c['function']['name'], json.loads(c['function']['arguments'])) for c in choice['message'].get('tool_calls') or []]


def assert_valid_calls(choice, offered:list, n=None):
    "A reply that is a call (or `n` calls) to offered tools, each with arguments valid against its tool's schema (no keys beyond its properties)."
    calls = calls_of(choice)
    assert choice['finish_reason'] == 'tool_calls' and calls and (n is None or len(calls) == n), choice
    for name, args in calls:
        assert name in offered, (name, offered)
        assert check_arguments({'function': {'name': name, 'arguments': args}}, [ALL_TOOLS[name]]) == [], (name, args)
    assert not choice['message']['content'], choice


def test_the_picked_tools_are_real_and_cover_the_shapes():
    shapes = json.dumps([ALL_TOOLS[n]['function']['parameters'] for n in PICKED])
    assert all(k in shapes for k in ['"enum"', '"integer"', '"number"', '"array"', '"propertyNames"', '"required"'])
    assert all(grammar_api.unenforced(t['function'].get('parameters') or {}) is None for t in ALL_TOOLS.values()), 'a built-in tool uses a keyword the grammar cannot enforce'


# --- tool_choice -----------------------------------------------------------------------------------------
@pytest.mark.parametrize('sampling', SAMPLING, ids=lambda s: f"t{s.get('temperature', 0)}")
@pytest.mark.parametrize('group', GROUPS, ids=lambda g: g[0])
def test_required_is_always_a_valid_call(group, sampling):
    assert_valid_calls(post(tools=[ALL_TOOLS[n] for n in group], tool_choice='required', max_tokens=16, **sampling), group)


@pytest.mark.parametrize('name', PICKED)
def test_named_is_always_a_valid_call_to_it(name):
    tools = [ALL_TOOLS[n] for n in dict.fromkeys(GROUPS[0] + [name])]
    choice = post(tools=tools, tool_choice={'type': 'function', 'function': {'name': name}}, temperature=1.2, seed=PICKED.index(name))
    assert_valid_calls(choice, [name])


@pytest.mark.parametrize('seed', range(3))
def test_parallel_tool_calls_false_is_exactly_one_call(seed):
    assert_valid_calls(post(tools=[ALL_TOOLS[n] for n in GROUPS[1]], tool_choice='required', parallel_tool_calls=False, temperature=1.0, seed=seed), GROUPS[1], n=1)


def test_parallel_calls_are_allowed_and_each_valid():
    "With parallel calls allowed the grammar accepts several calls (one after another, nothing else); each one validates."
    plan = grammar_api.grammar_plan({'tools': [ALL_TOOLS['get_order']]}, [ALL_TOOLS['get_order']], True, 'hermes')
    one = '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "A1"}}\n</tool_call>'
    g = grammar_api.compile_reply(TOK, plan, MODEL)
    from toolcall_lab.constrain import accepts
    assert accepts(g, one) and accepts(g, one + '\n' + one) and not accepts(g, one + ' ok')
    assert not accepts(grammar_api.compile_reply(TOK, plan | {'parallel': False}, MODEL), one + '\n' + one)


@pytest.mark.parametrize('max_tokens', [1, 3])
def test_a_budget_too_small_for_the_call_still_closes_it(max_tokens):
    "The reserve past max_tokens closes the call: a whole, valid call, and usage counts the reserve's tokens."
    r = CLIENT.post(URL, json={'model': 'tiny', 'messages': HI, 'tools': [ALL_TOOLS['set_supports']], 'tool_choice': 'required', 'max_tokens': max_tokens})
    assert_valid_calls(r.json()['choices'][0], ['set_supports'])
    assert r.json()['usage']['completion_tokens'] > max_tokens


@pytest.mark.parametrize('fmt', ['hermes', 'function_tag', 'json', 'compact'])
@pytest.mark.parametrize('max_tokens', [1, 2, 8])
def test_a_small_budget_closes_parallel_calls_in_every_format(fmt, max_tokens):
    "Calls may follow each other (parallel allowed): past the budget the reply still ends after a whole call, not in a run of calls the reserve cuts (`CloseCalls` looks one token ahead)."
    c = TestClient(make_app(MODEL, TOK, 'tiny', fmt=fmt, max_new_tokens=8))
    r = c.post(URL, json={'model': 'tiny', 'messages': HI, 'tools': [ALL_TOOLS['get_order'], ALL_TOOLS['cancel_order']], 'tool_choice': 'required', 'max_tokens': max_tokens})
    assert r.status_code == 200, r.text
    assert_valid_calls(r.json()['choices'][0], ['get_order', 'cancel_order'])


@pytest.mark.parametrize('fmt', ['function_tag', 'json', 'compact'])
def test_required_in_other_formats(fmt):
    c = TestClient(make_app(MODEL, TOK, 'tiny', fmt=fmt, max_new_tokens=16))
    r = c.post(URL, json={'model': 'tiny', 'messages': HI, 'tools': [ALL_TOOLS[n] for n in GROUPS[0]], 'tool_choice': 'required', 'temperature': 1.0, 'seed': 5})
    assert_valid_calls(r.json()['choices'][0], GROUPS[0])


# --- response_format ---------------------------------------------------------------------------------------
SCHEMAS = {
    'enums and integers': {'type': 'object', 'properties': {'unit': {'enum': ['c', 'f']}, 'n': {'type': 'integer', 'minimum': -3, 'maximum': 40}}, 'required': ['unit', 'n']},
    'nested and arrays': {'type': 'object', 'properties': {'city': {'type': 'string', 'maxLength': 8}, 'days': {'type': 'array', 'minItems': 1, 'maxItems': 3,
                          'items': {'type': 'object', 'properties': {'t': {'type': 'number'}, 'rain': {'type': 'boolean'}}, 'required': ['t', 'rain']}}},
                          'required': ['city', 'days'], 'additionalProperties': False},
    'refs and anyOf': {'$defs': {'id': {'type': 'string', 'pattern': '^[A-Z]{2}[0-9]{2}$'}}, 'type': 'object', 'title': 'Order', 'description': 'an order',
                       'properties': {'id': {'$ref': '#/$defs/id'}, 'note': {'anyOf': [{'type': 'null'}, {'type': 'string', 'maxLength': 5}]}}, 'required': ['id', 'note']},
    'a list, not an object': {'type': 'array', 'items': {'type': 'integer', 'multipleOf': 3}, 'minItems': 2, 'maxItems': 4},
}


def json_schema(schema, strict=True, name='reply'):
    return {'type': 'json_schema', 'json_schema': {'name': name, 'schema': schema, **({'strict': strict} if strict is not None else {})}}


@pytest.mark.parametrize('sampling', SAMPLING[:3], ids=lambda s: f"t{s.get('temperature', 0)}")
@pytest.mark.parametrize('what', SCHEMAS)
def test_json_schema_content_is_always_valid(what, sampling):
    choice = post(response_format=json_schema(SCHEMAS[what]), max_tokens=16, **sampling)
    jsonschema.validate(json.loads(choice['message']['content']), SCHEMAS[what])
    assert choice['finish_reason'] in ('stop', 'length') and 'tool_calls' not in choice['message']


@pytest.mark.parametrize('strict', [False, None], ids=['false', 'absent'])
def test_json_schema_not_strict_is_enforced_too(strict):
    choice = post(response_format=json_schema(SCHEMAS['enums and integers'], strict), temperature=1.0, seed=4)
    jsonschema.validate(json.loads(choice['message']['content']), SCHEMAS['enums and integers'])


@pytest.mark.parametrize('seed', range(3))
def test_json_object_content_is_an_object(seed):
    assert isinstance(json.loads(post(response_format={'type': 'json_object'}, temperature=1.5, seed=seed)['message']['content']), dict)


def test_json_with_tools_under_auto_is_json_or_valid_calls():
    for seed in range(3):
        choice = post(tools=[ALL_TOOLS['cancel_order']], response_format=json_schema(SCHEMAS['enums and integers']), temperature=1.5, seed=seed)
        if choice['message'].get('tool_calls'): assert_valid_calls(choice, ['cancel_order'])
        else: jsonschema.validate(json.loads(choice['message']['content']), SCHEMAS['enums and integers'])


# --- refusals --------------------------------------------------------------------------------------------------
def assert_400(fields, param, *words):
    r = CLIENT.post(URL, json={'model': 'tiny', 'messages': HI} | fields)
    assert r.status_code == 400, r.text
    err = r.json()['error']
    assert err['param'] == param and all(w in err['message'] for w in words), err
    return err


UNENFORCEABLE = {'not': {'not': {'type': 'null'}}, 'if': {'if': {'const': 1}, 'then': {'type': 'integer'}}, 'oneOf': {'oneOf': [{'type': 'integer'}, {'type': 'number'}]},
                 'uniqueItems': {'type': 'array', 'uniqueItems': True}, 'contains': {'type': 'array', 'contains': {'const': 1}},
                 'dependentRequired': {'type': 'object', 'dependentRequired': {'a': ['b']}}, 'dependentSchemas': {'type': 'object', 'dependentSchemas': {'a': {}}},
                 'patternProperties': {'type': 'object', 'patternProperties': {'^x': {}}}, 'multipleOf': {'type': 'number', 'multipleOf': 0.5},
                 '$ref': {'$ref': 'https://example.com/schema.json'}, 'allOf': {'allOf': [{'type': 'integer'}, {'minimum': 1}]}, 'pattern': {'type': 'string', 'pattern': '^(?=a).+$'}}


@pytest.mark.parametrize('keyword', UNENFORCEABLE)
def test_an_unenforceable_keyword_is_a_400_naming_it(keyword):
    schema = {'type': 'object', 'properties': {'x': UNENFORCEABLE[keyword]}}
    err = assert_400({'response_format': json_schema(schema)}, 'response_format.json_schema.schema', f'response_format.json_schema.schema.properties.x: {keyword} is not supported')
    assert err['code'] == 'unsupported_schema_keyword'
    tool = {'type': 'function', 'function': {'name': 'f', 'parameters': schema}}
    assert_400({'tools': [ALL_TOOLS['get_order'], tool], 'tool_choice': 'required'}, 'tools[1].function.parameters', f'tools[1].function.parameters.properties.x: {keyword} is not supported')


def test_an_unenforceable_keyword_matters_only_where_the_grammar_goes():
    "Under `auto` the model is free (no grammar, nothing refused); a named call checks only the named tool."
    tool = {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {'x': {'not': {'type': 'null'}}}}}}
    post(tools=[tool, ALL_TOOLS['get_order']], max_tokens=2)
    assert_valid_calls(post(tools=[tool, ALL_TOOLS['get_order']], tool_choice={'type': 'function', 'function': {'name': 'get_order'}}), ['get_order'])


def test_a_schema_xgrammar_cannot_compile_is_a_400_with_its_reason():
    err = assert_400({'response_format': json_schema({'type': 'string', 'pattern': '^(a)\\1$'})}, 'response_format.json_schema.schema', 'cannot compile', 'Backreference')
    assert '.cc' not in err['message'] and err['code'] == 'unsupported_schema'
    assert_400({'response_format': json_schema({'type': 'integer', 'minimum': 5, 'maximum': 1})}, 'response_format.json_schema.schema', 'minimum greater than maximum')


@pytest.mark.parametrize('rf, param, words', [
    ({'type': 'xml'}, 'response_format.type', ["'text', 'json_object' or 'json_schema'"]),
    ({'type': 'json_schema'}, 'response_format', ['needs "json_schema"']),
    ({'type': 'json_schema', 'json_schema': {'name': 'n'}}, 'response_format.json_schema.schema', ['required']),
    ({'type': 'json_schema', 'json_schema': {'schema': {'type': 'object'}}}, 'response_format.json_schema.name', ['required']),
    ({'type': 'json_schema', 'json_schema': {'name': 'a b', 'schema': {}}}, 'response_format.json_schema.name', ['1-64 letters, digits, _ or -']),
    ({'type': 'json_schema', 'json_schema': {'name': 'n' * 65, 'schema': {}}}, 'response_format.json_schema.name', ['1-64']),
    ({'type': 'json_schema', 'json_schema': {'name': 'n', 'schema': []}}, 'response_format.json_schema.schema', ['must be a JSON schema']),
    ({'type': 'json_schema', 'json_schema': {'name': 'n', 'schema': {'type': 'wat'}}}, 'response_format.json_schema.schema', ['not a valid JSON schema']),
    ({'type': 'json_schema', 'json_schema': {'name': 'n', 'schema': {}, 'strict': 'yes'}}, 'response_format.json_schema.strict', ['valid boolean']),
    ('json', 'response_format', ['valid dictionary']),
], ids=['type', 'no json_schema', 'no schema', 'no name', 'name with a space', 'name of 65', 'schema a list', 'schema invalid', 'strict a string', 'a string'])
def test_a_bad_response_format_is_a_400_naming_the_field(rf, param, words):
    assert_400({'response_format': rf}, param, param, *words)


def test_response_format_with_a_required_call_is_a_400():
    for choice in ['required', {'type': 'function', 'function': {'name': 'get_order'}}]:
        assert_400({'tools': [ALL_TOOLS['get_order']], 'tool_choice': choice, 'response_format': {'type': 'json_object'}}, 'response_format', 'has no content to format')
    c = TestClient(make_app(MODEL, TOK, 'tiny', fmt='json', max_new_tokens=8))
    r = c.post(URL, json={'model': 'tiny', 'messages': HI, 'tools': [ALL_TOOLS['get_order']], 'response_format': {'type': 'json_object'}})
    assert r.status_code == 400 and r.json()['error']['param'] == 'response_format'
    assert post(response_format={'type': 'text'}, max_tokens=2)['finish_reason'] == 'length'  # text: no grammar, as before


def test_without_xgrammar_a_grammar_request_is_a_400_that_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(grammar_api, 'xgr', None)
    assert_400({'response_format': {'type': 'json_object'}}, 'response_format', "pip install 'toolcall_lab[constrain]'")
    assert_400({'tools': [ALL_TOOLS['get_order']], 'tool_choice': 'required'}, 'tools[0].function.parameters', 'without xgrammar')


# --- streaming ---------------------------------------------------------------------------------------------------
def events(**fields) -> list:
    r = CLIENT.post(URL, json={'model': 'tiny', 'messages': HI, 'stream': True} | fields)
    assert r.status_code == 200, r.text
    data = [line[len('data: '):] for line in r.text.splitlines() if line.startswith('data: ')]
    assert data[-1] == '[DONE]'
    return [json.loads(d) for d in data[:-1]]


@pytest.mark.parametrize('seed', range(2))
def test_streamed_required_call_is_valid(seed):
    deltas = [c['choices'][0]['delta'] for c in events(tools=[ALL_TOOLS[n] for n in GROUPS[2]], tool_choice='required', temperature=1.0, seed=seed)]
    parts = [d['tool_calls'][0] for d in deltas if d.get('tool_calls')]
    name, args = parts[0]['function']['name'], json.loads(''.join(p['function']['arguments'] for p in parts if p['index'] == 0))
    assert name in GROUPS[2] and check_arguments({'function': {'name': name, 'arguments': args}}, [ALL_TOOLS[name]]) == []


@pytest.mark.parametrize('rf, schema', [(json_schema(SCHEMAS['nested and arrays']), SCHEMAS['nested and arrays']), ({'type': 'json_object'}, {'type': 'object'})], ids=['json_schema', 'json_object'])
def test_streamed_json_content_is_valid_and_comes_in_pieces(rf, schema):
    chunks = events(response_format=rf, temperature=1.0, seed=7, stream_options={'include_usage': True})
    pieces = [c['choices'][0]['delta'].get('content') for c in chunks if c['choices'] and c['choices'][0]['delta'].get('content')]
    jsonschema.validate(json.loads(''.join(pieces)), schema)
    assert len(pieces) > 1 and chunks[-1]['usage']['completion_tokens'] > 0


# --- the official client, against a live server --------------------------------------------------------------------
def test_through_the_openai_client():
    with BackgroundServer(APP) as srv:
        client = OpenAI(base_url=f'{srv.url}/v1', api_key='unused', timeout=60, max_retries=0)
        tools = [ALL_TOOLS[n] for n in GROUPS[0]]
        required = client.chat.completions.create(model='tiny', messages=HI, tools=tools, tool_choice='required', temperature=1.0, seed=1)
        with client.chat.completions.stream(model='tiny', messages=HI, tools=tools, tool_choice={'type': 'function', 'function': {'name': 'create_ticket'}}) as s: s.until_done()
        named = s.get_final_completion()
        structured = client.chat.completions.create(model='tiny', messages=HI, response_format=json_schema(SCHEMAS['refs and anyOf']), temperature=1.0, seed=2)
        streamed_object = ''.join(c.choices[0].delta.content or '' for c in client.chat.completions.create(model='tiny', messages=HI, response_format={'type': 'json_object'}, stream=True) if c.choices)
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model='tiny', messages=HI, response_format=json_schema({'type': 'array', 'uniqueItems': True}))
    for r, offered in [(required, GROUPS[0]), (named, ['create_ticket'])]:
        c = r.choices[0].message.tool_calls[0].function
        assert r.choices[0].finish_reason == 'tool_calls' and c.name in offered
        assert check_arguments({'function': {'name': c.name, 'arguments': json.loads(c.arguments)}}, [ALL_TOOLS[c.name]]) == []
    jsonschema.validate(json.loads(structured.choices[0].message.content), SCHEMAS['refs and anyOf'])
    assert isinstance(json.loads(streamed_object), dict)
    assert e.value.body['param'] == 'response_format.json_schema.schema' and 'uniqueItems is not supported' in e.value.body['message']
