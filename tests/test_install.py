"The core install is light: fastapi, uvicorn and gradio come with the `[serve]` extra, and only serving imports them."
import configparser, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_ONLY = ('fastapi', 'uvicorn', 'gradio')


def test_serve_packages_are_an_extra():
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    core, serve = cfg['DEFAULT']['requirements'].split(), cfg['DEFAULT']['serve_requirements'].split()
    assert not [r for r in core if r.split('>')[0].split('=')[0] in SERVE_ONLY], core
    assert {r.split('>')[0] for r in serve} == set(SERVE_ONLY)
    assert '".[dev,serve]"' in (ROOT / 'Makefile').read_text(), 'make demo / make test must install the serve extra'


def test_core_modules_do_not_import_the_serve_packages():
    code = ('import sys, toolcall_lab.cli, toolcall_lab.train, toolcall_lab.evaluate, toolcall_lab.serve; '
            f'print(sorted(m for m in {SERVE_ONLY!r} if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]', f'imported without serving anything: {out.stdout.strip()}'
