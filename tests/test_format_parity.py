"""One owner for each tool-call format and each family's framing (`toolcall_lab.formats`): the prompt before every
assistant turn is the same text whether Python writes it (the format's own text in the family's `Framing`), the package's
Jinja chat template renders it (the training text; `build_prompt`) or Ollama's Go template renders it (the served model),
for every format and every family. And the prompt sentences of each format are written once in the package."""
import ast, re
from pathlib import Path

import pytest

from go_template import GoTemplate, ollama_values, template_records
from toolcall_lab.formats import _CALL_SHAPE, FAMILIES, FORMATS
from toolcall_lab.inference import build_prompt, tools_in_text
from toolcall_lab.models import load_tokenizer
from toolcall_lab.export import ollama_template
from toolcall_lab.templates import tool_template

LIB = Path(__file__).resolve().parent.parent/'toolcall_lab'
TOK = load_tokenizer()  # the real SmolLM2 tokenizer: only its Jinja engine is used, so any family's text renders


def python_prompt(messages:list, tools:list, fmt:str, family:str) -> str:
    "The prompt for the next assistant turn written by Python alone: the format's text (`tools_in_text`) in the family's framing."
    frame, fmt = FAMILIES[family], FORMATS[fmt]
    out = frame.bos
    for m in tools_in_text(messages, tools, fmt):
        role = (frame.tool_role or fmt.tool_role) if m['role'] in ('tool', 'ipython') else m['role']
        out += frame.header(role) + m['content'] + frame.eot + frame.after_eot
    return out + frame.header('assistant')


def _records():
    "The template records, plus one without tools (no tools block in the system turn)."
    plain = {'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi!'},
                          {'role': 'assistant', 'content': 'Hello.'}, {'role': 'user', 'content': 'Bye.'},
                          {'role': 'assistant', 'content': 'Bye!'}], 'tools': []}
    return template_records() + [plain]


@pytest.mark.parametrize('family', sorted(FAMILIES))
@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_python_jinja_and_go_write_the_same_prompt(fmt, family):
    go, jinja, turns = GoTemplate(ollama_template(fmt, family)), tool_template(fmt, family), 0
    for rec in _records():
        msgs, tools = rec['messages'], rec['tools']
        for i in (i for i, m in enumerate(msgs) if m['role'] == 'assistant'):
            by_python = python_prompt(msgs[:i], tools, fmt, family)
            assert build_prompt(TOK, msgs[:i], tools, fmt, jinja) == by_python, ('jinja', fmt, family, i)
            assert go.render(ollama_values(msgs[:i], tools)) == by_python, ('go', fmt, family, i)
            turns += 1
    assert turns == 11


def _string_constants() -> list:
    "Every string literal of the package's modules (implicitly joined literals as one), f-strings' literal parts included."
    return [n.value for p in sorted(LIB.glob('*.py')) if p.name != '_modidx.py'
            for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_each_prompt_sentence_is_written_once(fmt):
    "A format's prompt text (`intro`, `outro`) is defined once: the Jinja and Go fragments are written from it, not copied."
    strings, f = _string_constants(), FORMATS[fmt]
    pieces = [s for part in (f.intro, f.outro) for s in re.split(r'\n|\. |' + re.escape(_CALL_SHAPE), part) if len(s) > 24]  # the shown call is shared
    assert pieces
    for s in pieces + [_CALL_SHAPE]: assert sum(s in c for c in strings) == 1, (fmt, s)


def test_each_family_framing_is_written_once():
    "The header and end-of-turn tokens of each family are spelled in `formats.FAMILIES` only (as string literals of their own)."
    strings = _string_constants()
    for f in FAMILIES.values():
        for token in filter(None, (f.bos, f.open, f.head_end, f.eot)): assert strings.count(token) == 1, token
