"""Every gold argument of the built-in data can be derived by a reader, and every decision turn is clear.

A value is derivable when it is said in a user or tool message before its call, when it is the English word for what the
user said (or its Korean), when a `CONVENTIONS` phrase in the offered tool's description gives it, or (evenly spaced nodes)
when it follows from the rule the request states. An ask asks for a value the request lacks (or confirms where the tool
says "confirm first"); a decline that comes close to an offered tool meets a description that rules the tool out; an
answer replies to a question or a pleasantry; a ticket is HIGH priority exactly when the customer says it is urgent.
"""
import copy, random, re

import pytest

from toolcall_lab.builtin import BUILTINS, CONVENTIONS, _leaves, _said, explain_gold
from toolcall_lab.generator import Draw, _make_row, _num

PER_SPLIT = 100  # records per dataset, scenario, language and split: 300 per scenario and language


def _rows():
    rows = []
    for name, spec in BUILTINS.items():
        for kind, (_, scenario) in spec.scenarios.items():
            for lang in spec.langs:
                for split in ('train', 'validation', 'test'):
                    rng = random.Random(f'conventions/{name}/{kind}/{lang}/{split}')
                    rows += [{'dataset': name, **_make_row(spec, Draw(rng, split, lang), kind, scenario)} for _ in range(PER_SPLIT)]
    return rows


@pytest.fixture(scope='module')
def rows(): return _rows()


def _users(msgs): return '\n'.join(m['content'] for m in msgs if m['role'] == 'user')
def _calls(msgs): return [c['function'] for m in msgs for c in m.get('tool_calls') or []]
def _describe(rec, tool): return next(t['function']['description'] for t in rec['tools'] if t['function']['name'] == tool)


def _evenly_spaced(r) -> bool:
    "Consecutive ids from the first, x from 0 to L in equal steps, and the request states the first id, the count and L."
    calls = [f['arguments'] for f in _calls(r['messages'])]
    id0, n, L, text = calls[0]['id'], len(calls), calls[-1]['x'], _users(r['messages'])
    return ([(c['id'], c['x']) for c in calls] == [(id0 + k, _num(k * L / (n - 1))) for k in range(n)]
            and all(_said(v, text) for v in (id0, n, L)) and re.search(r'(?<![A-Za-z])x(?![A-Za-z])', text, re.I) and (_said(0, text) or '원점' in text))


def test_every_gold_value_is_derivable(rows):
    assert len(rows) >= 300 * sum(len(s.scenarios) * len(s.langs) for s in BUILTINS.values())
    problems = []
    for r in rows:
        if r['kind'] == 'nodes_line':
            if not _evenly_spaced(r): problems.append((r['kind'], r['lang'], _users(r['messages'])))
            continue
        problems += [(r['dataset'], r['kind'], r['lang'], tool, arg, v, _users(r['messages']))
                     for tool, arg, v, source in explain_gold(r) if source is None]
    assert not problems, f'{len(problems)} gold values a reader cannot derive, e.g. {problems[:3]}'


def test_conventions_stand_in_their_tools_descriptions():
    tools = {t['function']['name']: t['function'] for s in BUILTINS.values() for t in s.tools}
    for (tool, arg), phrase in CONVENTIONS.items():
        assert phrase in tools[tool]['description'], (tool, phrase)
        assert f'{arg!r}'.replace("'", '"') in str(tools[tool]['parameters']).replace("'", '"'), (tool, arg)


def test_removing_a_convention_phrase_fails_the_audit(rows):
    "For every convention some gold value relies on: strip its phrase from the description and that value has no source."
    used = {}
    for r in rows:
        for tool, arg, v, source in explain_gold(r):
            if source not in (None, 'said', 'word'): used.setdefault((tool, source), (r, arg))
    assert {t for t, _ in used} >= {'create_material', 'create_section', 'set_self_weight', 'add_nodal_loads', 'add_beam_load',
                                    'capture_view', 'cancel_order', 'create_ticket', 'translate'}, used.keys()
    for (tool, phrase), (r, arg) in used.items():
        bare = copy.deepcopy(r)
        for t in bare['tools']:
            if t['function']['name'] == tool: t['function']['description'] = t['function']['description'].replace(phrase, '')
        assert (tool, arg, None) in {(t, a, s) for t, a, _, s in explain_gold(bare)}, (tool, phrase)
        assert not any(s is None for *_, s in explain_gold(r))


ASKED = ('city', 'amount', 'time', 'symbol', 'id', 'address')  # slots an ask may be about


def test_ask_turns_ask_for_a_missing_value_or_a_confirmation(rows):
    n = 0
    for r in rows:
        msgs = r['messages']
        asks = [i for i, d in zip([i for i, m in enumerate(msgs) if m['role'] == 'assistant'], r['decisions']) if d == 'ask']
        for i in asks:
            n += 1; before, after = _users(msgs[:i]), msgs[i + 1:]
            calls, reply = _calls(after), _users(after[:1])
            confirms = [t['function']['name'] for t in r['tools'] if 'confirm first' in t['function']['description']]
            if calls:
                values = [v for k, w in calls[0]['arguments'].items() for _, v in _leaves(w, (k,))]
                new = [v for v in values if not _said(v, before) and _said(v, reply)]
                assert new or calls[0]['name'] in confirms, (r['kind'], before)  # the reply gives a missing value, or the ask confirmed
            else:  # the record stops at the ask, or the user said no to a confirmation
                missing = [v for s in r['slots'] for k, v in [s.split('=', 1)] if k in ASKED and not _said(v, before)]
                assert missing or (confirms and re.search(r'\bno\b|아니', reply, re.I)), (r['kind'], before, reply)
    assert n > 1000


NEAR_MISSES = [  # (a decline request that comes close to a tool, the tool, the words of its name or description that rule it out)
    (r'last month|지난달', 'get_weather', 'Current'), (r'shares|주식 팔|\d+주 사', 'get_stock_price', 'price'),
    (r'to my friend|송금', 'convert_currency', 'Convert'), (r'password of|비밀번호 그냥', 'reset_password', 'reset link'),
    (r'phone number for order|기사님 전화번호', 'get_order', 'status and items'), (r'delete the account|탈퇴', 'get_account', 'get_'),
    (r'fire safety|화재 안전', 'run_analysis', 'linear static'), (r'print the drawings|출력', 'capture_view', 'Save a picture')]


def test_declines_close_to_a_tool_are_ruled_out_by_its_description(rows):
    hit = set()
    for r in rows:
        if r['decision'] != 'decline': continue
        text = _users(r['messages'])
        assert not _calls(r['messages'])
        for pattern, tool, words in NEAR_MISSES:
            if re.search(pattern, text, re.I):
                hit.add(pattern)
                if tool in {t['function']['name'] for t in r['tools']}: assert words in tool + ' ' + _describe(r, tool), (text, tool)
    assert hit == {p for p, _, _ in NEAR_MISSES}


def test_answers_reply_to_questions_or_pleasantries(rows):
    pleasantry = re.compile(r'thank|hello|good morning|감사|고마|안녕|좋은 아침', re.I)
    for r in rows:
        if r['decision'] != 'answer': continue
        q = _users(r['messages'][:2]).strip()
        assert q.endswith('?') or pleasantry.search(q), q
        assert not any(m['role'] == 'tool' for m in r['messages'])


def test_tickets_are_high_priority_exactly_when_urgent(rows):
    urgent = {'en': re.compile(r'urgent|asap|right away', re.I), 'ko': re.compile('급|빨리')}
    tickets = [r for r in rows if r['kind'] == 'ticket']
    for r in tickets:
        args = _calls(r['messages'])[0]['arguments']
        assert (args.get('priority') == 'HIGH') == bool(urgent[r['lang']].search(_users(r['messages']))), (_users(r['messages']), args)
    assert 0.2 < sum('priority' in _calls(r['messages'])[0]['arguments'] for r in tickets) / len(tickets) < 0.6
