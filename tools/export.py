"""`nbdev_export` for lessons that export to more than one module: every module is written fresh from its lesson.

nbdev 2 writes a lesson's `#| default_exp` module fresh, but a cell marked `#| export name` is *appended* to an existing
`name.py` (nbdev issue #742): a second export duplicates it, and a new module must exist first. Here each module a lesson
exports to is written the way nbdev writes a default module (the lesson's `> description` as docstring, future imports,
`__all__`, cells); then `__init__.py` and `_modidx.py` are updated as `nbdev_export` does. A module belongs to one
lesson (tests/test_layout.py), so nothing else writes to it."""
from nbdev.config import get_config
from nbdev.doclinks import _build_modidx, add_init, nbglob
from nbdev.export import ExportModuleProc, black_format
from nbdev.maker import ModuleMaker
from nbdev.process import NBProcessor


def export_all():
    lib = get_config().lib_path
    for nb in nbglob(as_path=True).sorted('name'):
        exp = ExportModuleProc()
        NBProcessor(nb, [exp, black_format]).process()
        title = [c for c in exp.modules['#'] if c.cell_type == 'markdown']  # the lesson's `# Title` and `> description`
        for mod, cells in exp.modules.items():
            if not any(c.cell_type == 'code' for c in cells): continue
            name, cells = (exp.default_exp, cells) if mod == '#' else (mod, title + list(cells))
            ModuleMaker(dest=lib, name=name, nb_path=nb, is_new=True).make(cells, exp.in_all[mod], lib_path=lib)
    add_init(lib)
    _build_modidx()


if __name__ == '__main__': export_all()
