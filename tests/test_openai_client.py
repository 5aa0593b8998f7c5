"""The server through the official `openai` client: chat with and without tools, streamed and not (streamed tool calls joined by
the client's own helpers), `tool_choice`, every client error as the client's typed exception carrying our message, the API key,
and a fault or a departing client in the middle of a stream.

The tiny model has random weights, so where a test needs a free turn with a tool call the model "writes" a given text: `generate` and
`generate_stream` are replaced, and everything after them — parsing, `settled_content`, the chunks, the SSE framing — is real.
Under `tool_choice` "required" or a named function the real tiny model writes the call, held to a grammar (tests/test_server_grammar.py)."""
import json, logging, threading, time

import openai
import pytest
from openai import OpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState

import toolcall_lab.serve as serve
from chat_tools import TOOLS
from toolcall_lab.formats import get_format
from toolcall_lab.inference import Generation
from toolcall_lab.models import load_model
from toolcall_lab.serve import BackgroundServer, make_app

MODEL, TOK = load_model('tiny')
HI = [{'role': 'user', 'content': 'hi'}]


NAMED = {'type': 'function', 'function': {'name': 'get_weather'}}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul", "note": "a longer value, so the arguments come in several pieces"}}\n</tool_call>'
SECOND = '<tool_call>\n{"name": "get_time", "arguments": {"zone": "Asia/Seoul"}}\n</tool_call>'
WITH_TEXT = 'Let me look that up for you.\n' + CALL


@pytest.fixture(scope='module')
def server():
    with BackgroundServer(make_app(MODEL, TOK, 'tiny', max_new_tokens=8)) as srv: yield srv


@pytest.fixture(scope='module')
def client(server):
    return OpenAI(base_url=f'{server.url}/v1', api_key='unused', timeout=60, max_retries=0)


@pytest.fixture
def model_writes(monkeypatch):
    "Call with a text: the model then writes it (a free turn: `tool_choice` auto or none), streamed in 3-character pieces."
    said = {}
    def turn():
        return Generation(said['text'], get_format('hermes').parse(said['text']), 10, 7, 0.01)
    def fake_generate(model, tok, messages, tools=None, fmt='hermes', max_new_tokens=256, **kw): return turn()
    def fake_stream(model, tok, messages, tools=None, fmt='hermes', max_new_tokens=256, lock=None, **kw):
        g = turn()
        yield from (g.text[i:i + 3] for i in range(0, len(g.text), 3))
        yield g
    monkeypatch.setattr(serve, 'generate', fake_generate)
    monkeypatch.setattr(serve, 'generate_stream', fake_stream)
    return lambda text: said.update(text=text)


def calls_of(message) -> list:
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]


# --- chat without tools -----------------------------------------------------------------------------------
def test_chat_without_tools_streamed_and_not(client):
    "The real tiny model, greedy: the streamed reply joins into the whole one, with the usage chunk last."
    whole = client.chat.completions.create(model='tiny', messages=HI)
    chunks = list(client.chat.completions.create(model='tiny', messages=HI, stream=True, stream_options={'include_usage': True}))
    state = ChatCompletionStreamState()
    for c in chunks: state.handle_chunk(c)
    joined = state.current_completion_snapshot
    assert {c.object for c in chunks} == {'chat.completion.chunk'} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == 'assistant'
    assert (joined.choices[0].message.content or '') == (whole.choices[0].message.content or '')
    assert joined.choices[0].finish_reason == whole.choices[0].finish_reason == 'length'
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])


def test_content_streams_as_it_is_written(client, model_writes):
    model_writes('The weather in Seoul is mild today, about 3 degrees.')
    chunks = list(client.chat.completions.create(model='tiny', messages=HI, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 5 and ''.join(pieces) == 'The weather in Seoul is mild today, about 3 degrees.'
    assert chunks[-1].choices[0].finish_reason == 'stop'
    assert 'usage' not in chunks[-1].model_dump(exclude_none=True)


# --- tools ----------------------------------------------------------------------------------------------
def test_tool_call_not_streamed(client, model_writes):
    model_writes(WITH_TEXT)
    r = client.chat.completions.create(model='tiny', messages=HI, tools=TOOLS)
    assert r.choices[0].finish_reason == 'tool_calls'
    assert r.choices[0].message.content == 'Let me look that up for you.'
    assert calls_of(r.choices[0].message)[0][0] == 'get_weather' and r.choices[0].message.tool_calls[0].id.startswith('call_')


def test_tool_call_streamed_through_the_stream_helper(client, model_writes):
    "`client.chat.completions.stream` joins the deltas into the same message a whole reply has; content before the call streams first."
    model_writes(WITH_TEXT)
    whole = client.chat.completions.create(model='tiny', messages=HI, tools=TOOLS)
    with client.chat.completions.stream(model='tiny', messages=HI, tools=TOOLS) as stream:
        events = list(stream)
    final = stream.get_final_completion()
    assert final.choices[0].finish_reason == 'tool_calls'
    assert final.choices[0].message.content == whole.choices[0].message.content
    assert calls_of(final.choices[0].message) == calls_of(whole.choices[0].message)
    kinds = [e.type for e in events]
    assert kinds.count('content.delta') > 3 and kinds.index('content.delta') < kinds.index('tool_calls.function.arguments.delta')
    done = [e for e in events if e.type == 'tool_calls.function.arguments.done']
    assert [(e.name, json.loads(e.arguments)) for e in done] == calls_of(whole.choices[0].message)


def test_streamed_tool_calls_follow_the_spec_and_join_with_the_stream_state(client, model_writes):
    "Two calls: each first delta has index, id, type and name with empty arguments; then only index and argument pieces; then the finish and usage chunks."
    model_writes(CALL + '\n' + SECOND)
    chunks = list(client.chat.completions.create(model='tiny', messages=HI, tools=TOOLS, stream=True, stream_options={'include_usage': True}))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    firsts = [d for d in deltas if d.id]
    assert [(d.index, d.type, d.function.name, d.function.arguments) for d in firsts] == [(0, 'function', 'get_weather', ''), (1, 'function', 'get_time', '')]
    pieces = [d for d in deltas if not d.id]
    assert all(d.function.name is None and d.function.arguments for d in pieces) and len([d for d in pieces if d.index == 0]) > 1
    assert chunks[-2].choices[0].finish_reason == 'tool_calls' and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    state = ChatCompletionStreamState(input_tools=TOOLS)
    for c in chunks: state.handle_chunk(c)
    message = state.get_final_completion().choices[0].message
    assert calls_of(message) == [('get_weather', {'city': 'Seoul', 'note': 'a longer value, so the arguments come in several pieces'}), ('get_time', {'zone': 'Asia/Seoul'})]
    assert message.content is None


def test_parallel_tool_calls_false_streams_one_call(client, model_writes):
    model_writes(CALL + '\n' + SECOND)
    with client.chat.completions.stream(model='tiny', messages=HI, tools=TOOLS, parallel_tool_calls=False) as stream: stream.until_done()
    assert [name for name, _ in calls_of(stream.get_final_completion().choices[0].message)] == ['get_weather']


@pytest.mark.parametrize('stream', [False, True], ids=['whole', 'streamed'])
@pytest.mark.parametrize('choice', ['required', 'named'])
def test_tool_choice_forces_a_valid_call(client, choice, stream):
    "The real tiny model (random weights), held to the grammar: a whole call with valid arguments even in 4 tokens (the reserve closes it), streamed or not."
    kw = dict(model='tiny', messages=HI, tools=TOOLS, tool_choice=NAMED if choice == 'named' else 'required', max_tokens=4)
    if stream:
        with client.chat.completions.stream(**kw) as s: s.until_done()
        r = s.get_final_completion()
    else: r = client.chat.completions.create(**kw)
    assert r.choices[0].finish_reason == 'tool_calls'
    (name, args), = calls_of(r.choices[0].message)
    assert name in (['get_weather'] if choice == 'named' else ['get_weather', 'get_time'])
    assert list(args) == [{'get_weather': 'city', 'get_time': 'zone'}[name]] and isinstance(next(iter(args.values())), str)


# --- client errors ----------------------------------------------------------------------------------------
ERRORS = {
    'max_tokens -5': (dict(max_tokens=-5), openai.BadRequestError, 'max_tokens', 'max_tokens: Input should be greater than or equal to 1'),
    'max_tokens over the cap': (dict(max_tokens=9), openai.BadRequestError, 'max_tokens', 'max_tokens: this server generates at most 8 tokens'),
    'n 2': (dict(n=2), openai.BadRequestError, 'n', 'n: this server returns one choice; send 1 or leave n out'),
    'stop': (dict(stop=['\n']), openai.BadRequestError, 'stop', 'stop: not supported by this server; leave it out'),
    'tool schema': (dict(tools=[{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'string'}}}]), openai.BadRequestError,
                    'tools[0].function.parameters', 'tools[0].function.parameters: must be a JSON schema with "type": "object"'),
    'tool_choice not offered': (dict(tools=TOOLS, tool_choice={'type': 'function', 'function': {'name': 'nope'}}), openai.BadRequestError,
                                'tool_choice', "tool_choice: function 'nope' is not among `tools`"),
    'call without arguments object': (dict(messages=HI + [{'role': 'assistant', 'tool_calls': [{'id': 'c', 'type': 'function', 'function': {'name': 'f', 'arguments': '[1]'}}]}]),
                                      openai.BadRequestError, 'messages[1].tool_calls[0].function.arguments', 'messages[1].tool_calls[0].function.arguments: must be a JSON object'),
    'unknown model': (dict(model='gpt-4o'), openai.NotFoundError, 'model', "model 'gpt-4o' does not exist; this server serves 'tiny'"),
}


@pytest.mark.parametrize('stream', [False, True], ids=['whole', 'streamed'])
@pytest.mark.parametrize('what', ERRORS)
def test_client_errors_are_typed_exceptions_with_our_message(client, what, stream):
    fields, kind, param, message = ERRORS[what]
    with pytest.raises(kind) as e:
        r = client.chat.completions.create(**({'model': 'tiny', 'messages': HI} | fields), stream=stream)
        list(r) if stream else r
    assert e.value.body['param'] == param and e.value.body['message'].startswith(message), e.value.body
    assert message in str(e.value)


def test_stream_options_without_stream_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as e: client.chat.completions.create(model='tiny', messages=HI, stream_options={'include_usage': True})
    assert e.value.body['message'] == 'stream_options: only allowed when "stream" is true'


def test_the_api_key():
    with BackgroundServer(make_app(MODEL, TOK, 'tiny', max_new_tokens=4, api_key='s3cret')) as srv:
        wrong = OpenAI(base_url=f'{srv.url}/v1', api_key='guess', max_retries=0, timeout=30)
        for call in [wrong.models.list, lambda: wrong.chat.completions.create(model='tiny', messages=HI),
                     lambda: list(wrong.chat.completions.create(model='tiny', messages=HI, stream=True))]:
            with pytest.raises(openai.AuthenticationError) as e: call()
            assert e.value.body['code'] == 'invalid_api_key'
        right = OpenAI(base_url=f'{srv.url}/v1', api_key='s3cret', max_retries=0, timeout=30)
        assert [m.id for m in right.models.list()] == ['tiny']
        assert list(right.chat.completions.create(model='tiny', messages=HI, stream=True))[-1].choices[0].finish_reason == 'length'


# --- faults and departures inside a stream ------------------------------------------------------------------
def test_a_fault_inside_a_stream_ends_it_with_an_error_event_and_is_logged(client, monkeypatch, caplog):
    def failing(*args, **kw):
        yield 'Hello '
        yield 'there '
        raise RuntimeError('secret detail in /srv/app/weights.py')
    monkeypatch.setattr(serve, 'generate_stream', failing)
    got = []
    with caplog.at_level(logging.ERROR, logger='toolcall_lab.serve'), pytest.raises(openai.APIError) as e:
        for c in client.chat.completions.create(model='tiny', messages=HI, stream=True): got.append(c.choices[0].delta.content)
    assert ''.join(filter(None, got)) == 'Hello there'
    assert str(e.value) == 'internal server error; the details are in the server log' and 'secret' not in json.dumps(e.value.body)
    assert any(r.exc_info and 'secret detail' in str(r.exc_info[1]) for r in caplog.records), 'the fault was not logged'
    monkeypatch.undo()
    assert client.chat.completions.create(model='tiny', messages=HI).choices[0].finish_reason == 'length'


def test_a_client_that_leaves_stops_the_generation(client, monkeypatch):
    closed = threading.Event()
    def endless(*args, **kw):
        try:
            while True:
                time.sleep(0.02)
                yield 'word '
        finally: closed.set()
    monkeypatch.setattr(serve, 'generate_stream', endless)
    stream = client.chat.completions.create(model='tiny', messages=HI, stream=True)
    for _, c in zip(range(5), stream): assert c.choices
    stream.close()
    assert closed.wait(15), 'the server kept generating for a client that had left'
    monkeypatch.undo()
    assert client.chat.completions.create(model='tiny', messages=HI).choices[0].finish_reason == 'length'
