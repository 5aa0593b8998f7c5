"""The one reader of nbdev's `#| name: value` cell directives, and the notebook-output constants, shared by the tools in this folder."""
import re

WIDGET = 'application/vnd.jupyter.widget-view+json'  # an ipywidgets view (a progress bar): its stored text is only "0%"
ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07')  # terminal colour and title codes in stored outputs

DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')


def directives(src: str) -> dict:
    "The `#| name: value` directives at the top of a cell, as `{name: value}` (value '' for a bare flag)."
    out = {}
    for line in src.splitlines():
        if not line.strip(): continue
        m = DIRECTIVE.match(line)
        if not m: break
        out[m.group(1).lower()] = m.group(2)
    return out


def strip_directives(src: str) -> str:
    "Cell source without its `#|` lines."
    return '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith('#|')).strip('\n')
