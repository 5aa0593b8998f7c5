"A tool schema's remote `$ref` is a problem the checks name, never a download: neither the server's argument check (`inference.check_arguments`) nor the data checks open a connection."
import socket

import pytest

from toolcall_lab.checks import validate
from toolcall_lab.formats import make_call
from toolcall_lab.inference import check_arguments

REMOTE = {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {'a': {'$ref': 'http://127.0.0.1:9/a.json'}}}}}


@pytest.fixture
def no_network(monkeypatch):
    tried = []
    def refuse(address, *a, **k):
        tried.append(address)
        raise OSError('the network is off in this test')
    monkeypatch.setattr(socket, 'create_connection', refuse)
    return tried


def test_check_arguments_does_not_fetch(no_network):
    problems = check_arguments(make_call('f', {'a': 1}), [REMOTE])
    assert problems and 'nothing is fetched' in problems[0] and no_network == []


def test_data_checks_do_not_fetch(no_network):
    record = {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': '', 'tool_calls': [make_call('f', {'a': 1})]}], 'tools': [REMOTE]}
    report = validate([record], mode='report')
    assert any('$ref' in p.hint for p in report.problems) and no_network == []
