"""OptionPicker: the sync options, with two date pickers for "Between two dates"."""

from __future__ import annotations

from datetime import date

import ipywidgets as w

from primsync.errors import ConfigurationError
from primsync.options import SyncOption

__all__ = ["OptionPicker"]


class OptionPicker(w.VBox):
    """``option``, ``since`` and ``until`` are what the review needs."""

    def __init__(self, option: SyncOption | str = SyncOption.SINCE_LAST):
        self.dropdown = w.Dropdown(
            options=[(o.label, o.value) for o in SyncOption],
            value=SyncOption(option).value,
            description="Option",
        )
        self.since_picker = w.DatePicker(description="From")
        self.until_picker = w.DatePicker(description="To")
        self.dates = w.HBox([self.since_picker, self.until_picker])
        super().__init__([self.dropdown, self.dates])
        self.dropdown.observe(self._toggle_dates, names="value")
        self._toggle_dates()

    def _toggle_dates(self, _change: object = None) -> None:
        self.dates.layout.display = "" if self.dropdown.value == SyncOption.RANGE else "none"

    def check(self) -> None:
        """Say, in the words of this screen, what is missing for "Between two dates"."""
        if self.option is not SyncOption.RANGE:
            return
        if self.since is None:
            raise ConfigurationError('Choose the first day ("From") for "Between two dates".')
        if self.until is not None and self.until < self.since:
            raise ConfigurationError(
                f'The last day ("To", {self.until}) comes before the first ("From", {self.since}).'
            )

    @property
    def option(self) -> SyncOption:
        return SyncOption(self.dropdown.value)

    @property
    def since(self) -> date | None:
        return self.since_picker.value

    @property
    def until(self) -> date | None:
        return self.until_picker.value
