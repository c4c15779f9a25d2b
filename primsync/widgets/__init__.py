"""The notebook's widgets: wiring only, the logic lives in plain functions elsewhere."""

from primsync.widgets.app import SyncApp
from primsync.widgets.contacts import ContactsView
from primsync.widgets.coverage import CoverageView
from primsync.widgets.folders import FolderPicker
from primsync.widgets.options import OptionPicker
from primsync.widgets.report import HealthView, RunsView, SchedulesView
from primsync.widgets.review_grid import ReviewGrid

__all__ = [
    "ContactsView",
    "CoverageView",
    "FolderPicker",
    "HealthView",
    "OptionPicker",
    "ReviewGrid",
    "RunsView",
    "SchedulesView",
    "SyncApp",
]
