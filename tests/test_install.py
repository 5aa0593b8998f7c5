"The core install is light: fastapi, uvicorn, sse-starlette and gradio come with the `[serve]` extra, and only serving imports them."
import configparser, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE_ONLY = ('fastapi', 'uvicorn', 'gradio', 'sse_starlette')  # import names (the distribution of the last is sse-starlette)


def run(code: str) -> str:
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_serve_packages_are_an_extra():
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    core, serve = cfg['DEFAULT']['requirements'].split(), cfg['DEFAULT']['serve_requirements'].split()
    assert not [r for r in core if r.split('>')[0].split('=')[0] in SERVE_ONLY], core
    assert {r.split('>')[0].replace('-', '_') for r in serve} == set(SERVE_ONLY)
    assert '".[dev,serve,constrain]"' in (ROOT / 'Makefile').read_text(), 'make demo / make test must install the serve and constrain extras'


def test_core_modules_do_not_import_the_serve_packages():
    mods = 'models inference data templates builtin masking train evaluate compare export openai_api share cli'.split()
    code = f"import sys\nfor m in {mods!r}: __import__('toolcall_lab.' + m)\nprint(sorted(m for m in {SERVE_ONLY!r} if m in sys.modules))"
    assert run(code) == '[]', 'imported without serving anything'


def test_without_the_extra_serve_still_merges_and_says_what_to_install():
    "With fastapi, uvicorn, sse-starlette and gradio missing, `export` and `serve` import (merge and GGUF export work) and the HTTP server names the extra."
    code = f'''import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {SERVE_ONLY!r}: raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Missing())
from toolcall_lab import export, serve
assert callable(export.merge_adapter) and callable(export.export_gguf)
try: serve.make_app(None, None)
except Exception as e: print(type(e).__name__, e)'''
    out = run(code)
    assert out.startswith('UserError') and "toolcall_lab[serve]" in out, out


def test_make_lab_starts_as_root():
    "As root JupyterLab refuses to start without --allow-root: `make lab` passes it then, and says so (`make -n` prints the commands, runs none)."
    import os, subprocess
    out = subprocess.run(['make', '-n', 'lab'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lab = [l for l in out.splitlines() if 'jupyter lab' in l]
    assert len(lab) == 1 and ('--allow-root' in lab[0]) == (os.geteuid() == 0), out
    assert ('running as root' in out) == (os.geteuid() == 0), out
