"Robustness of the OpenAI-compatible server: every client error is a 4xx with a short OpenAI-style error body (a request uvicorn cannot parse too), a server fault is a generic 500 that keeps the connection, the body limit holds for chunked uploads, `tool_choice` is honoured (by a grammar), the optional API key is enforced, and a streamed reply is either a client error before it starts or events that end in `[DONE]`."
import http.client, json, logging, re, socket

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

import toolcall_lab.serve as serve
from chat_tools import TOOLS
from toolcall_lab.formats import get_format
from toolcall_lab.inference import Generation
from toolcall_lab.models import load_model
from toolcall_lab.serve import BackgroundServer, make_app, serve_http

MODEL, TOK = load_model('tiny')
MAX_BYTES = 100_000
APP = make_app(MODEL, TOK, 'tiny', max_new_tokens=4, max_bytes=MAX_BYTES)
CLIENT = TestClient(APP)
HI = [{'role': 'user', 'content': 'hi'}]
BASE = {'model': 'tiny', 'messages': HI, 'max_tokens': 2}
URL = '/v1/chat/completions'
JSON_TYPE = {'Content-Type': 'application/json'}  # raw bodies must say they are JSON (else 415)
INTERNAL = re.compile(r'Traceback|File "|\.py\b|\b[A-Z]\w*(Error|Exception)\b|site-packages|pydantic')




@pytest.fixture(scope='module')
def server():
    with BackgroundServer(APP) as srv: yield srv


def assert_client_error(r, status=None, param=None):
    "A 4xx (or `status`) with exactly OpenAI's error keys, a short message and no Python internals."
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status: assert r.status_code == status, r.text
    err = r.json()['error']
    assert set(err) == {'message', 'type', 'param', 'code'}
    assert isinstance(err['message'], str) and 0 < len(err['message']) <= 300
    assert not INTERNAL.search(r.text), r.text
    if param: assert err['param'] == param, err
    return err


# --- the reported reproductions, one each ---------------------------------------------------------------
NAMELESS = {'role': 'assistant', 'tool_calls': [{'type': 'function', 'function': {'arguments': '{}'}}]}
REPRODUCTIONS = {
    'max_tokens -5': ({'max_tokens': -5}, 'max_tokens'),
    'max_tokens "abc"': ({'max_tokens': 'abc'}, 'max_tokens'),
    'max_tokens 0.5': ({'max_tokens': 0.5}, 'max_tokens'),
    'temperature "hot"': ({'temperature': 'hot'}, 'temperature'),
    'seed 2**80': ({'seed': 2**80}, 'seed'),
    'tool_calls 5': ({'messages': HI + [{'role': 'assistant', 'tool_calls': 5}]}, 'messages[1].tool_calls'),
    'call without a name': ({'messages': HI + [NAMELESS]}, 'messages[1].tool_calls[0].function.name'),
    'parameters true': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': True}}]}, 'tools[0].function.parameters'),
    'top_p "x"': ({'top_p': 'x'}, 'top_p'),
    'content 5': ({'messages': [{'role': 'user', 'content': 5}]}, 'messages[0].content'),
    'arguments not an object': ({'messages': HI + [{'role': 'assistant', 'tool_calls': [{'function': {'name': 'f', 'arguments': '[1]'}}]}]},
                                'messages[1].tool_calls[0].function.arguments'),
    'tools an object': ({'tools': {'name': 'f'}}, 'tools'),
    'n 2': ({'n': 2}, 'n'),
    'stream "yes"': ({'stream': 'yes'}, 'stream'),
    'stream_options without stream': ({'stream_options': {'include_usage': True}}, 'stream_options'),
    'stream_options.include_usage 1': ({'stream': True, 'stream_options': {'include_usage': 1}}, 'stream_options.include_usage'),
    'max_tokens over the cap': ({'max_tokens': 5}, 'max_tokens'),
    'tool_choice unknown': ({'tool_choice': 'always'}, 'tool_choice'),
    'tool_choice names a function not offered': ({'tools': TOOLS, 'tool_choice': {'type': 'function', 'function': {'name': 'nope'}}}, 'tool_choice'),
    'tool_choice required without tools': ({'tool_choice': 'required'}, 'tool_choice'),
    'stop (not implemented)': ({'stop': ['\n']}, 'stop'),
    # the second study (issue 23): each was a 500
    '$schema 5': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', '$schema': 5}}}]}, 'tools[0].function.parameters'),
    '$schema true': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', '$schema': True}}}]}, 'tools[0].function.parameters'),
    '$schema 1.5': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', '$schema': 1.5}}}]}, 'tools[0].function.parameters'),
    '$schema not a URI': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', '$schema': 'http://['}}}]}, 'tools[0].function.parameters'),
    'pattern nested 3000 deep': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {
        'type': 'object', 'properties': {'a': {'type': 'string', 'pattern': '(' * 3000 + ')' * 3000}}}}}]}, 'tools[0].function.parameters'),
    'pattern repeated 10**11 times': ({'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {
        'type': 'object', 'properties': {'a': {'type': 'string', 'pattern': 'a{99999999999}'}}}}}]}, 'tools[0].function.parameters'),
    'n true': ({'n': True}, 'n'),
}


@pytest.mark.parametrize('what', REPRODUCTIONS)
def test_reproduction_is_a_400_naming_the_field(what):
    fields, param = REPRODUCTIONS[what]
    err = assert_client_error(CLIENT.post(URL, json=BASE | fields), 400, param)
    assert err['message'].startswith(f'{param}: ')


@pytest.mark.parametrize('raw', [b'[' * 45_000 + b']' * 45_000, b'{"a":' * 5_000 + b'1' + b'}' * 5_000, b'[' * 40 + b']' * 40],
                         ids=['lists-45k', 'objects-5k', 'lists-40'])
def test_deep_nesting_is_a_400(raw):
    assert 'deeper than' in assert_client_error(CLIENT.post(URL, content=raw, headers=JSON_TYPE), 400)['message']


def test_deep_nesting_inside_arguments_is_a_400():
    args = '[' * 40_000 + ']' * 40_000
    body = BASE | {'messages': HI + [{'role': 'assistant', 'tool_calls': [{'function': {'name': 'f', 'arguments': args}}]}]}
    assert_client_error(CLIENT.post(URL, json=body), 400, 'messages[1].tool_calls[0].function.arguments')


@pytest.mark.parametrize('raw', [b'{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}]}', b'{"model": "tiny", "temperature": NaN}', b'\xff\xfe\xfd',
                                 b'{"model": "tiny", "max_tokens": ' + b'9' * 4301 + b'}'])
def test_unencodable_json_is_a_400(raw):
    assert_client_error(CLIENT.post(URL, content=raw, headers=JSON_TYPE), 400)


def test_unknown_route_and_method_speak_openai_errors():
    assert_client_error(CLIENT.get('/v1/nope'), 404)
    r = CLIENT.get(URL)
    assert_client_error(r, 405)
    assert r.headers['allow'] == 'POST'


@pytest.mark.parametrize('temperature', [1e-300, 5e-324, 1e-45, 1e-100, 1e-6])
def test_a_tiny_temperature_decodes_greedily(temperature):  # was a 500: "probability tensor contains inf/nan"
    r = CLIENT.post(URL, json=BASE | {'temperature': temperature, 'top_p': 0.5, 'seed': 3})
    assert r.status_code == 200, r.text
    assert r.json()['choices'][0]['message'] == CLIENT.post(URL, json=BASE).json()['choices'][0]['message']


@pytest.mark.parametrize('content_type', ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', None])
def test_a_body_not_declared_as_json_is_a_415(content_type):
    "A web page can send text/plain (and the other two) cross-origin without asking first; no header at all is refused too."
    r = CLIENT.post(URL, content=json.dumps(BASE), headers={'Content-Type': content_type} if content_type else {})
    err = assert_client_error(r, 415)
    assert err['code'] == 'unsupported_media_type' and err['message'].startswith('Content-Type must be application/json')
    assert CLIENT.post(URL, content=json.dumps(BASE), headers={'Content-Type': 'application/json; charset=utf-8'}).status_code == 200


def test_good_request_still_works():
    r = CLIENT.post(URL, json=BASE | {'temperature': 0.5, 'seed': 2**63 - 1, 'top_p': 0.9, 'user': 'someone'})
    assert r.status_code == 200, r.text
    assert r.json()['usage']['completion_tokens'] <= 2


# --- connections survive errors -------------------------------------------------------------------------
def exchange(conn, body):
    "POST `body` on an open `http.client` connection; (status, JSON, local port) so reuse of the socket is visible."
    conn.request('POST', URL, body=json.dumps(body), headers={'Content-Type': 'application/json'})
    r = conn.getresponse()
    return r.status, json.loads(r.read()), conn.sock.getsockname()[1]


def test_keep_alive_survives_client_and_server_errors(server, monkeypatch, caplog):
    real = serve.generate
    def flaky(model, tok, messages, *args, **kwargs):
        if messages[-1]['content'] == 'explode': raise RuntimeError('secret detail in /srv/app/weights.py')
        return real(model, tok, messages, *args, **kwargs)
    monkeypatch.setattr(serve, 'generate', flaky)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    with caplog.at_level(logging.ERROR, logger='toolcall_lab.serve'):
        s1, _, port = exchange(conn, BASE | {'max_tokens': -5})
        s2, fault, port2 = exchange(conn, BASE | {'messages': [{'role': 'user', 'content': 'explode'}]})
        s3, ok, port3 = exchange(conn, BASE)
    conn.close()
    assert (s1, s2, s3) == (400, 500, 200)
    assert port == port2 == port3, 'the server dropped the keep-alive connection'
    assert fault['error']['type'] == 'server_error' and 'secret' not in json.dumps(fault) and 'RuntimeError' not in json.dumps(fault)
    assert ok['choices'][0]['finish_reason'] in ('length', 'stop')
    assert any(r.exc_info and 'secret detail' in str(r.exc_info[1]) for r in caplog.records), 'traceback not logged server-side'


def test_httpx_client_reuses_connection_after_errors(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for fields, _ in list(REPRODUCTIONS.values())[:8]: assert_client_error(c.post(URL, json=BASE | fields), 400)
        assert c.post(URL, json=BASE).status_code == 200


# --- the body limit holds for chunked uploads ------------------------------------------------------------
def test_chunked_200mb_upload_is_refused_early(server):
    sent = 0
    def body():
        nonlocal sent
        chunk = b' ' * 65536
        for _ in range(200 * 2**20 // len(chunk)):
            sent += len(chunk)
            yield chunk
    r = httpx.post(f'{server.url}{URL}', content=body(), headers=JSON_TYPE, timeout=60)
    assert_client_error(r, 413)
    assert sent < 20 * 2**20, f'server read {sent/2**20:.0f} MiB of a 200 MiB chunked upload before refusing'
    assert r.headers['connection'] == 'close'


@pytest.mark.parametrize('raw', [b'GARBAGE\r\n\r\n', b'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
                         ids=['request line', 'header', 'TLS hello'])
def test_a_request_uvicorn_cannot_parse_gets_a_json_400(server, raw):
    "uvicorn answers these itself, before the app sees them; its answer is a JSON body in the OpenAI error shape, not plain text."
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(raw)
        reply = b''.join(iter(lambda: s.recv(65536), b'')).decode()
    head, body = reply.split('\r\n\r\n', 1)
    assert head.startswith('HTTP/1.1 400 '), head
    assert 'content-type: application/json' in head.lower().splitlines() and 'connection: close' in head.lower().splitlines()
    err = json.loads(body)['error']
    assert set(err) == {'message', 'type', 'param', 'code'} and err['code'] == 'invalid_http_request'
    assert CLIENT.post(URL, json=BASE).status_code == 200


def test_declared_length_is_refused_before_the_body_is_sent(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(f'POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {200 * 2**20}\r\n\r\n'.encode())
        head = s.recv(65536).decode()
    assert head.startswith('HTTP/1.1 413'), head[:200]


# --- tool_choice ---------------------------------------------------------------------------------------
@pytest.fixture
def fake_generate(monkeypatch):
    "Replace `generate` (a free turn) with one that records its arguments and writes plain text."
    seen = {}
    def fake(model, tok, messages, tools=None, fmt='hermes', max_new_tokens=256, **kw):
        seen.update(tools=tools, fmt=fmt)
        return Generation('Just text.', get_format(fmt).parse('Just text.'), 10, 3, 0.01)
    monkeypatch.setattr(serve, 'generate', fake)
    return seen


NAMED = {'type': 'function', 'function': {'name': 'get_weather'}}


@pytest.mark.parametrize('fmt', ['hermes', 'function_tag', 'json'])
@pytest.mark.parametrize('choice', ['required', 'named'])
def test_tool_choice_forces_a_call(fmt, choice):
    "The tiny model's random weights never write a call; held to the grammar they always do, with valid arguments (tests/test_server_grammar.py has more)."
    app = TestClient(make_app(MODEL, TOK, 'tiny', fmt=fmt, max_new_tokens=4))
    r = app.post(URL, json=BASE | {'tools': TOOLS, 'tool_choice': NAMED if choice == 'named' else 'required'})
    assert r.status_code == 200, r.text
    choice0 = r.json()['choices'][0]
    assert choice0['finish_reason'] == 'tool_calls'
    call = choice0['message']['tool_calls'][0]['function']
    assert call['name'] in (['get_weather'] if choice == 'named' else ['get_weather', 'get_time'])
    args = json.loads(call['arguments'])
    assert list(args) == [{'get_weather': 'city', 'get_time': 'zone'}[call['name']]] and isinstance(next(iter(args.values())), str)


def test_required_call_to_a_tool_not_offered_is_a_422(monkeypatch):
    "The safety net behind the grammar: a turn that somehow calls no offered tool is refused, not passed on."
    text = '<tool_call>\n{"name": "launch_rockets", "arguments": {}}\n</tool_call>'
    def fake_stream(*a, **kw):
        yield text
        yield Generation(text, get_format('hermes').parse(text), 10, 3, 0.01)
    monkeypatch.setattr(serve, 'generate_stream', fake_stream)
    monkeypatch.setattr(serve, 'generate', lambda *a, **kw: Generation(text, get_format('hermes').parse(text), 10, 3, 0.01))
    assert_client_error(CLIENT.post(URL, json=BASE | {'tools': TOOLS, 'tool_choice': 'required'}), 422, 'tool_choice')
    r = CLIENT.post(URL, json=BASE | {'tools': TOOLS})  # under "auto" the call is passed on; the client validates it
    assert r.json()['choices'][0]['message']['tool_calls'][0]['function']['name'] == 'launch_rockets'


def test_tool_choice_none_and_auto(fake_generate):
    r = CLIENT.post(URL, json=BASE | {'tools': TOOLS, 'tool_choice': 'none'})
    assert r.status_code == 200 and fake_generate == {'tools': None, 'fmt': 'hermes'}
    assert 'tool_calls' not in r.json()['choices'][0]['message']
    assert CLIENT.post(URL, json=BASE | {'tools': TOOLS}).status_code == 200
    assert fake_generate['tools'] == TOOLS


# --- API key ---------------------------------------------------------------------------------------------
def test_api_key():
    c = TestClient(make_app(MODEL, TOK, 'tiny', max_new_tokens=4, api_key='s3cret'))
    assert_client_error(c.get('/v1/models'), 401)
    assert_client_error(c.get('/v1/models', headers={'Authorization': 'Bearer guess'}), 401)
    assert_client_error(c.get('/v1/models', headers={'Authorization': 's3cret'}), 401)
    assert_client_error(c.post(URL, json=BASE), 401)
    assert c.get('/v1/models', headers={'Authorization': 'Bearer s3cret'}).status_code == 200
    assert c.post(URL, json=BASE, headers={'Authorization': 'bearer s3cret'}).status_code == 200
    with pytest.raises(ValueError, match='api_key is empty'): make_app(MODEL, TOK, api_key=' ')


def test_serve_http_reads_the_key_from_the_environment_and_warns(monkeypatch, capsys):
    apps = []
    monkeypatch.setattr(serve.uvicorn, 'run', lambda app, **kw: apps.append(app))
    monkeypatch.setenv('TOOLCALL_LAB_API_KEY', 'from-env')
    serve_http(MODEL, TOK, 'tiny', host='0.0.0.0')
    assert 'warning' not in capsys.readouterr().err
    c = TestClient(apps[-1])
    assert c.get('/v1/models').status_code == 401
    assert c.get('/v1/models', headers={'Authorization': 'Bearer from-env'}).status_code == 200
    monkeypatch.delenv('TOOLCALL_LAB_API_KEY')
    serve_http(MODEL, TOK, 'tiny', host='0.0.0.0')
    assert 'warning' in capsys.readouterr().err
    assert TestClient(apps[-1]).get('/v1/models').status_code == 200
    serve_http(MODEL, TOK, 'tiny', host='127.0.0.1')
    assert 'warning' not in capsys.readouterr().err


# --- fuzzing ---------------------------------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=8)
CALL = {'role': 'assistant', 'content': None, 'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{"city": "Seoul"}'}}]}
VALID = BASE | {'tools': TOOLS, 'messages': HI + [CALL, {'role': 'tool', 'tool_call_id': 'c1', 'content': '{"t": 3}'}]}
# where a fuzzed value goes: a path of keys into VALID
PLACES = [(k,) for k in ['model', 'messages', 'tools', 'tool_choice', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed', 'stream', 'n',
                         'parallel_tool_calls', 'stop', 'response_format', 'stream_options']] + [
          ('messages', 0), ('messages', 0, 'role'), ('messages', 0, 'content'), ('messages', 1, 'tool_calls'), ('messages', 1, 'tool_calls', 0),
          ('messages', 1, 'tool_calls', 0, 'function'), ('messages', 1, 'tool_calls', 0, 'function', 'name'), ('messages', 1, 'tool_calls', 0, 'function', 'arguments'),
          ('messages', 2, 'tool_call_id'), ('tools', 0), ('tools', 0, 'type'), ('tools', 0, 'function'), ('tools', 0, 'function', 'name'), ('tools', 0, 'function', 'parameters'),
          ('tools', 0, 'function', 'parameters', 'properties'), ('tools', 0, 'function', 'parameters', 'properties', 'city')]


def put(body, place, value):
    "A deep copy of `body` with `value` at `place`."
    body = json.loads(json.dumps(body))
    here = body
    for k in place[:-1]: here = here[k]
    here[place[-1]] = value
    return body


def assert_answered(r):
    "200 for a request that happens to be valid, else a clean client error."
    assert r.status_code != 500, r.text
    if r.status_code != 200: assert_client_error(r)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PLACES), JSON)
def test_fuzzed_field_values(place, value):
    assert_answered(CLIENT.post(URL, json=put(VALID, place, value)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PLACES), JSON)
def test_fuzzed_field_values_streamed(place, value):
    "With `stream: true`: a clean client error before the stream starts, or a 200 event stream of chunks that ends in `[DONE]`."
    r = CLIENT.post(URL, json=put(VALID | {'stream': True}, place, value))
    assert_answered(r)
    if r.status_code == 200 and r.headers['content-type'].startswith('text/event-stream'):
        events = [line[len('data: '):] for line in r.text.splitlines() if line.startswith('data: ')]
        assert events[-1] == '[DONE]' and all(json.loads(e)['object'] == 'chat.completion.chunk' for e in events[:-1]), r.text


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([JSON_TYPE, {'Content-Type': 'text/plain'}, {}]))
def test_fuzzed_bytes(raw, headers):
    assert_client_error(CLIENT.post(URL, content=raw, headers=headers), 400 if headers == JSON_TYPE else 415)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=33, max_value=10_000), st.sampled_from([('[', ']'), ('{"a":', '}'), ('[{"x":', '}]')]), st.sampled_from(PLACES[:5]))
def test_fuzzed_deep_nesting(depth, brackets, place):
    nested = brackets[0] * depth + '1' + brackets[1] * depth
    raw = json.dumps(put(VALID, place, '<deep>')).replace('"<deep>"', nested).encode()
    assert_client_error(CLIENT.post(URL, content=raw, headers=JSON_TYPE), 400)


# numbers and text JSON reads but no model or tokenizer should get, written into the body as raw JSON text
HOSTILE_LITERALS = ['9' * 4301, '-' + '9' * 5000, '1e999', '-1e999', 'NaN', 'Infinity', '1e-400', '5e-324', '1.7976931348623157e308', '"\\ud800"', '"a\\udfffb"',
                    '18446744073709551616', '-1', '0.0', '1e-300', 'true', '[]', '{}']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PLACES), st.sampled_from(HOSTILE_LITERALS) | st.integers(4290, 4400).map(lambda n: '9' * n))
def test_fuzzed_hostile_literals(place, literal):
    raw = json.dumps(put(VALID, place, '<hostile>')).replace('"<hostile>"', literal).encode()
    assert_answered(CLIENT.post(URL, content=raw, headers=JSON_TYPE))


# extreme sampling values: subnormal and tiny temperatures, top_p next to 0, the largest seeds
SAMPLING = {'temperature': st.floats(0, 2) | st.sampled_from([5e-324, 1e-300, 1e-45, 1e-5, 9.99e-6, 2.0, 2.0000001, -0.0]),
            'top_p': st.floats(0, 1) | st.sampled_from([5e-324, 1e-300, 1.0, 1.0000001]),
            'seed': st.integers(-1, 2**64) | st.sampled_from([0, 2**63 - 1, 2**63]), 'max_tokens': st.integers(-1, 10) | st.sampled_from([2**63, 10**30]),
            'n': st.sampled_from([1, 0, 2, True, False, 1.0, '1'])}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=SAMPLING))
def test_fuzzed_sampling_values(fields):
    assert_answered(CLIENT.post(URL, json=BASE | fields))


# tool schemas jsonschema or `re` may trip over: non-string $schema, patterns nested or repeated without bound, deep nesting, huge multipleOf
def nested(n):
    schema = {'type': 'object'}
    for _ in range(n): schema = {'type': 'object', 'properties': {'a': schema}}
    return schema


HOSTILE_PATTERNS = (st.integers(0, 2**40).map(lambda n: f'a{{{n}}}') | st.integers(1, 5000).map(lambda n: '(' * n + ')' * n)
                    | st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)).map(lambda t: '(a{%d}){%d}' % t) | st.sampled_from(['(unclosed', '^(a+)+$', '[z-a]']))
HOSTILE_PARAMETERS = st.one_of(
    st.sampled_from([5, True, 1.5, None, [], {}, 'http://[', 'http://json-schema.org/draft-04/schema#', 'nonsense']).map(lambda s: {'type': 'object', '$schema': s}),
    HOSTILE_PATTERNS.map(lambda p: {'type': 'object', 'properties': {'a': {'type': 'string', 'pattern': p}}}),
    HOSTILE_PATTERNS.map(lambda p: {'type': 'object', 'patternProperties': {p: {}}}),
    st.integers(1, 20).map(nested), st.sampled_from([0.5, 1e-300, 1e308, 0, -1]).map(lambda m: {'type': 'object', 'properties': {'a': {'multipleOf': m}}}),
    st.just({'type': 'object', 'required': [{} for _ in range(4000)]}), st.just({'type': 'object', 'required': ['a'] * 4000}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE_PARAMETERS)
def test_fuzzed_tool_schemas(parameters):
    r = CLIENT.post(URL, json=BASE | {'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': parameters}}]})
    assert_answered(r)
    if r.status_code != 200: assert r.json()['error']['param'] == 'tools[0].function.parameters' or r.json()['error']['code'] == 'invalid_json', r.text  # (nested over 32 deep)
