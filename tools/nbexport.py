"""`nbdev_export` for lessons that write more than one module (`make export` runs it; do not run plain `nbdev_export`).

A cell marked `#| export name` goes to `toolcall_lab/name.py`. nbdev 2 writes a lesson's `default_exp` module fresh but
*appends* the cells of any other module to the file already there (nbdev issue #742), so a second plain export repeats
them and a new module must exist first. Here nbdev's own machinery writes every module the way it writes a lesson's
default module — fresh, by the first lesson (in file-name order) that exports to it, with that lesson's
`> description` as docstring and its future imports first — and a later lesson that also writes to it appends, as
nbdev does. Then `__init__.py` and `_modidx.py` are updated as `nbdev_export` does. Exporting twice changes nothing.

Usage: python tools/nbexport.py
"""
from nbdev.config import get_config
from nbdev.doclinks import _build_modidx, add_init, nbglob
from nbdev.export import ExportModuleProc, black_format
from nbdev.maker import ModuleMaker
from nbdev.process import NBProcessor


def export_all():
    lib, written = get_config().lib_path, set()
    for nb in nbglob(as_path=True).sorted('name'):
        exp = ExportModuleProc()
        NBProcessor(nb, [exp, black_format]).process()
        title = [c for c in exp.modules['#'] if c.cell_type == 'markdown']  # the lesson's `# Title` and `> description`
        for mod, cells in exp.modules.items():
            if not any(c.cell_type == 'code' for c in cells): continue
            name = exp.default_exp if mod == '#' else mod
            fresh = name not in written
            cells = list(cells) if mod == '#' or not fresh else title + list(cells)
            ModuleMaker(dest=lib, name=name, nb_path=nb, is_new=fresh).make(cells, exp.in_all[mod], lib_path=lib)
            written.add(name)
    add_init(lib)
    _build_modidx()


if __name__ == '__main__': export_all()
