"""FolderPicker: the mailbox's folder tree as indented checkboxes (stock ipywidgets)."""

from __future__ import annotations

from collections.abc import Iterable

import ipywidgets as w

from primsync.errors import ConfigurationError
from primsync.imap import Folder, default_folders

__all__ = ["FolderPicker"]


class FolderPicker(w.VBox):
    """Tick one or more folders; ``selected`` lists the ticked folder names in tree order."""

    def __init__(self, folders: Iterable[Folder] = ()):
        super().__init__(layout=w.Layout(max_height="320px", overflow="auto", min_width="280px"))
        self.checkboxes: dict[str, w.Checkbox] = {}
        self.set_folders(folders)

    def set_folders(self, folders: Iterable[Folder]) -> None:
        """Show ``folders``; the inbox and the sent folder start ticked (never a folder of
        copies, trash or spam)."""
        folders = list(folders)
        ticked = set(default_folders(folders))
        self.checkboxes = {}
        children: list[w.Widget] = [w.HTML("<b>Folders</b>")]
        for folder in folders:
            box = w.Checkbox(
                value=folder.name in ticked,
                description=folder.label,
                disabled=not folder.selectable,
                indent=False,
                tooltip=folder.name,
                layout=w.Layout(margin=f"0 0 0 {24 * folder.depth}px", width="auto"),
            )
            box.add_class("primsync-folder")
            self.checkboxes[folder.name] = box
            children.append(box)
        self.children = tuple(children)

    @property
    def selected(self) -> list[str]:
        return [name for name, box in self.checkboxes.items() if box.value]

    def select(self, names: Iterable[str]) -> None:
        wanted = set(names)
        unknown = wanted - set(self.checkboxes)
        if unknown:
            raise ConfigurationError(f"no such folders: {sorted(unknown)}")
        for name, box in self.checkboxes.items():
            box.value = name in wanted and not box.disabled
