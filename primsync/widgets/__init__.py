"""The notebook's widgets: wiring only, the logic lives in plain functions elsewhere."""

from primsync.widgets.app import SyncApp
from primsync.widgets.folders import FolderPicker
from primsync.widgets.grid import ReviewGrid
from primsync.widgets.options import OptionPicker

__all__ = ["FolderPicker", "OptionPicker", "ReviewGrid", "SyncApp"]
