"""The held-out library domain (`toolcall_lab.unseen`) is really unseen: none of its tools occurs in the built-in training or
validation data, and no name, description or schema is shared with a built-in catalogue. Renamed records
(`rename_offered`, `with_renamed`) stay valid and consistent: calls name offered tools, arguments fit the renamed schemas."""
import json, random, re

import pytest
from datasets import Dataset

from toolcall_lab.builtin import BUILTINS, load_builtin
from toolcall_lab.checks import validate
from toolcall_lab.data import to_record
from toolcall_lab.inference import check_arguments
from toolcall_lab.unseen import LIBRARY_TOOLS, UNSEEN, load_unseen, rename_offered, with_renamed

NAMES = [t['function']['name'] for t in LIBRARY_TOOLS]
CATALOGUE = [t['function'] for spec in BUILTINS.values() for t in spec.tools]


def schema(x) -> str: return json.dumps(x, sort_keys=True, ensure_ascii=False)
def names(rec) -> list: return [t['function']['name'] for t in rec['tools']]
def calls(rec) -> list: return [c for m in rec['messages'] for c in m.get('tool_calls') or []]
def follow(text:str, renamed:dict) -> str:
    "`text` with the tool names it mentions (identifiers) renamed, as a description's mention of another tool follows the renaming."
    return re.sub(r'[A-Za-z_][A-Za-z0-9_]*', lambda m: renamed.get(m[0], m[0]), text)
def words(rec) -> list: return [m['content'] for m in rec['messages'] if m['role'] == 'assistant' and not m.get('tool_calls')]


@pytest.fixture(scope='module')
def seen():
    "The built-in data at the sizes training uses by default."
    return load_builtin('all')


@pytest.fixture(scope='module')
def originals():
    "Built-in test records of every dataset and the library domain's records, as canonical records."
    return [to_record(r) for r in load_builtin('all', 4, 2, 40)['test']] + [to_record(r) for r in load_unseen(64)]


def test_no_library_tool_name_in_builtin_train_or_validation(seen):
    pat = re.compile(r'(?<![A-Za-z0-9_])(' + '|'.join(NAMES) + r')(?![A-Za-z0-9_])')
    for split in ('train', 'validation'):
        for r in seen[split]:
            hit = pat.search(json.dumps(r['messages'], ensure_ascii=False) + json.dumps(r['tools'], ensure_ascii=False))
            assert hit is None, f"{r['id']} mentions the held-out tool {hit[0]!r}"


def test_no_library_tool_schema_offered_in_builtin_train_or_validation(seen):
    offered = {schema(t) for split in ('train', 'validation') for r in seen[split] for t in r['tools']}
    offered_params = {schema(t['function'].get('parameters')) for split in ('train', 'validation') for r in seen[split] for t in r['tools']}
    assert not {schema(t) for t in LIBRARY_TOOLS} & offered
    assert not {schema(t['function']['parameters']) for t in LIBRARY_TOOLS} & offered_params


def test_no_name_description_or_parameters_shared_with_a_catalogue():
    for part in ('name', 'description'):
        assert not {f[part] for f in CATALOGUE} & {t['function'][part] for t in LIBRARY_TOOLS}, part
    assert not {schema(f['parameters']) for f in CATALOGUE if 'parameters' in f} & {schema(t['function']['parameters']) for t in LIBRARY_TOOLS}
    assert UNSEEN not in BUILTINS.values() and 'unseen_tools' not in BUILTINS


def test_load_unseen_is_a_test_split_like_the_builtin_ones():
    ds = load_unseen(64)
    assert isinstance(ds, Dataset) and ds.num_rows == 64
    assert ds.column_names == load_builtin('when2call', 4, 2, 2)['test'].column_names
    assert set(ds['dataset']) == {'unseen_tools'} and len(set(ds['id'])) == 64
    assert validate(ds, mode='report').problems == []
    assert {k for ks in ds['kinds'] for k in ks} >= {'single', 'parallel', 'multi_turn', 'ask', 'answer', 'decline'}
    assert set(ds['kind']) == set(UNSEEN.scenarios) and set(ds['lang']) == {'en', 'ko'}
    assert {c['function']['name'] for r in ds for c in calls(to_record(r))} == set(NAMES)


def test_load_unseen_is_deterministic_and_picks_languages():
    assert load_unseen(16, seed=2)['messages'] == load_unseen(16, seed=2)['messages']
    assert load_unseen(16, seed=2)['messages'] != load_unseen(16, seed=3)['messages']
    assert set(load_unseen(8, langs=['ko'])['lang']) == {'ko'}
    with pytest.raises(ValueError, match='unknown language'): load_unseen(8, langs=['fr'])


@pytest.mark.parametrize('seed', range(4))
def test_renamed_records_are_valid_and_consistent(originals, seed):
    renamed = [rename_offered(r, random.Random(f'{seed}/{i}')) for i, r in enumerate(originals)]
    assert validate(renamed, mode='report').problems == []
    for old, new in zip(originals, renamed):
        assert len(set(names(new))) == len(names(old)) and not set(names(new)) & set(names(old))
        assert {c['function']['name'] for c in calls(new)} <= set(names(new))
        for c in calls(new): assert check_arguments(c, new['tools']) == []
        for a, b in zip(calls(old), calls(new)):
            assert sorted(map(schema, a['function']['arguments'].values())) == sorted(map(schema, b['function']['arguments'].values()))
        old_by_name = dict(zip(names(old), old['tools']))
        for m_old, m_new in zip(old['messages'], new['messages']):
            assert m_old['role'] == m_new['role'] and (m_old['role'] != 'user' or m_old['content'] == m_new['content'])
            if m_new['role'] == 'tool': assert m_new['name'] in names(new)
        renamed_ids = {o: n for o, n in zip(names(old), names(new)) if '_' in o}
        for t_old, t_new in zip(old_by_name.values(), new['tools']):  # the conventions a description states survive
            assert follow(t_old['function']['description'].partition(' ')[2], renamed_ids) in t_new['function']['description']


def test_declines_list_the_renamed_tools(originals):
    listing = [r for r in originals if any(', '.join(names(r)) in t for t in words(r))]
    assert len(listing) > 10
    for i, r in enumerate(listing):
        new = rename_offered(r, random.Random(i))
        assert any(', '.join(names(new)) in t for t in words(new))
        assert not any(n in t for t in words(new) for n in names(r) if '_' in n)


def test_with_renamed_share_zero_returns_the_records_unchanged(originals):
    assert with_renamed(originals, share=0) == originals
    ds = load_builtin('helpdesk', 10, 2, 2)['train']
    assert with_renamed(ds, share=0) is ds


def test_with_renamed_on_a_dataset_keeps_its_columns_and_metadata():
    ds = load_builtin('all', 30, 2, 2)['train']
    out = with_renamed(ds, share=.5, seed=3)
    assert isinstance(out, Dataset) and out.column_names == ds.column_names
    changed = [i for i in range(ds.num_rows) if ds[i]['tools'] != out[i]['tools']]
    assert len(changed) == 45
    for c in ('id', 'dataset', 'lang', 'kind', 'decision', 'decisions', 'kinds', 'template', 'parts', 'slots'): assert out[c] == ds[c]
    assert validate(out, mode='report').problems == []
    assert with_renamed(ds, share=.5, seed=3)['tools'] == out['tools']


def test_with_renamed_on_a_list(originals):
    out = with_renamed(originals, share=.25, seed=1)
    assert isinstance(out, list) and len(out) == len(originals)
    assert sum(a != b for a, b in zip(originals, out)) == round(.25 * len(originals))
    assert all(a != b for a, b in zip(originals, with_renamed(originals, share=1)))
    with pytest.raises(ValueError, match='between 0 and 1'): with_renamed(originals, share=-.1)


def test_a_single_word_tool_name_is_renamed_in_a_decline_but_not_in_prose():
    tool = {'type': 'function', 'function': {'name': 'translate', 'description': 'Translate text', 'parameters': {'type': 'object', 'properties': {}}}}
    user = {'role': 'user', 'content': 'hi'}
    for k in range(20):
        prose = rename_offered({'messages': [user, {'role': 'assistant', 'content': 'I can translate that for you.'}], 'tools': [tool]}, random.Random(k))
        assert prose['messages'][1]['content'] == 'I can translate that for you.'
        for text in ("Sorry, I can't do that here: my tools are {}.", '죄송하지만 그건 할 수 없어요. 쓸 수 있는 도구는 {}입니다.'):
            new = rename_offered({'messages': [user, {'role': 'assistant', 'content': text.format('translate')}], 'tools': [tool]}, random.Random(k))
            assert new['messages'][1]['content'] == text.format(names(new)[0]) != text.format('translate')
