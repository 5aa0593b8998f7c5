"""Render every built docs page in headless Chromium: a PNG screenshot each, and the DOM checked for the page title.

    python tools/check_docs_chromium.py [--docs _docs] [--shots DIR] [--width 1280 --height 1600]

Run `make docs` first. Exits 0 with a message where Chromium is not installed (`apt-get install chromium`);
it is a visual check for people, never a dependency of the tests."""
import argparse, html, re, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars']

def chromium() -> str:
    "Path of the Chromium binary, or ''."
    return next((p for p in ['/usr/bin/chromium', shutil.which('chromium') or '', shutil.which('chromium-browser') or ''] if p and Path(p).exists()), '')

def run(binary: str, *args, timeout: int = 60) -> str:
    "Run Chromium headless with a throw-away profile; return its stdout."
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([binary, *FLAGS, f'--user-data-dir={profile}', *args],
                           capture_output=True, text=True, timeout=timeout)
    if r.returncode: raise RuntimeError(f'chromium failed ({r.returncode}): {r.stderr[-2000:]}')
    return r.stdout

def page_title(page: Path) -> str:
    "The H1 title the builder wrote into a page."
    m = re.search(r'<h1 class="title">(.*?)</h1>', page.read_text(), re.S)
    return html.unescape(re.sub(r'<[^>]+>', '', m.group(1))) if m else ''

def check(binary: str, page: Path, shot: Path, width: int, height: int) -> str:
    "Screenshot one page and check its rendered DOM holds its title; return a problem or ''."
    url = page.resolve().as_uri()
    shot.parent.mkdir(parents=True, exist_ok=True)
    run(binary, f'--screenshot={shot}', f'--window-size={width},{height}', url)
    dom = run(binary, '--dump-dom', url)
    title = page_title(page)
    if not shot.exists() or shot.stat().st_size < 1000: return f'{page}: no screenshot'
    if not title or html.escape(title, quote=False) not in dom and title not in dom: return f'{page}: title {title!r} not in DOM'
    if 'styles.css' not in dom: return f'{page}: stylesheet link missing'
    return ''

def main(argv=None):
    "Command line: screenshot every page, report problems, exit 1 on any."
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--docs', type=Path, default=ROOT/'_docs', help='built site (default: %(default)s)')
    ap.add_argument('--shots', type=Path, default=Path(tempfile.gettempdir())/'toolcall_lab_docs_shots',
                    help='where screenshots go (default: %(default)s)')
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--height', type=int, default=1600)
    args = ap.parse_args(argv)
    binary = chromium()
    if not binary: return print('chromium not installed (apt-get install chromium): nothing checked')
    pages = sorted(args.docs.rglob('*.html'))
    if not pages: sys.exit(f'no pages under {args.docs}: run `make docs` first')
    problems = []
    for page in pages:
        shot = args.shots/page.relative_to(args.docs).with_suffix('.png')
        problem = check(binary, page, shot, args.width, args.height)
        print(problem or f'ok {page.relative_to(args.docs)} -> {shot}')
        if problem: problems.append(problem)
    if problems: sys.exit(f'{len(problems)} page(s) failed the browser check')

if __name__ == '__main__': main()
