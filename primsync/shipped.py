"""What ships with primsync besides its code: the notebooks (sync, explore).

In an installed wheel they are package data (``primsync/notebooks/``, read with
:mod:`importlib.resources`); in a source checkout or an editable install, the repository's
``notebooks/`` folder, which the wheel is built from.

>>> sorted(n.name for n in notebook_files())
['01_sync.ipynb', '02_explore.ipynb']
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from primsync.errors import ConfigurationError

__all__ = ["NOTEBOOK_ONLY", "app_notebook", "copy_notebooks", "notebook_files"]

NOTEBOOK_ONLY = "notebook-only"  # the tag of cells for analysts: left out of the app (Voila)

_SOURCE = Path(__file__).resolve().parent.parent / "notebooks"  # a checkout's notebooks/


def notebook_files() -> list[Traversable]:
    """The shipped notebooks, sync first."""
    for place in (files("primsync") / "notebooks", _SOURCE):
        if place.is_dir():
            found = sorted(
                (n for n in place.iterdir() if n.name.endswith(".ipynb")), key=lambda n: n.name
            )
            if found:
                return found
    raise ConfigurationError(
        "this installation of primsync has no notebooks (neither primsync/notebooks/ in the "
        f"package nor {_SOURCE}): reinstall it from a wheel or a checkout"
    )


def copy_notebooks(dest: Path, *, replace: bool = False) -> list[Path]:
    """Copy the shipped notebooks into ``dest`` (made if needed); a notebook already there is
    kept unless ``replace`` (an analyst's edits are never overwritten by surprise). Returns the
    notebooks written."""
    wanted = notebook_files()
    there = [dest / n.name for n in wanted if (dest / n.name).exists()]
    if there and not replace:
        names = ", ".join(str(p) for p in there)
        raise ConfigurationError(f"{names} already exist: keep them, or give --force to replace")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for notebook in wanted:
        target = dest / notebook.name
        target.write_bytes(notebook.read_bytes())
        written.append(target)
    return written


def app_notebook(path: Path) -> Path:
    """Rewrite the notebook at ``path`` for the app: the cells tagged ``notebook-only`` (the
    analysts' prose, papermill's headless run, the session printed) taken out, so that the
    recruiters' screen shows the widgets and their headings only."""
    import json

    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook["cells"] = [
        cell
        for cell in notebook["cells"]
        if NOTEBOOK_ONLY not in cell.get("metadata", {}).get("tags", [])
    ]
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
