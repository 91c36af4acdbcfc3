"""The wizards and a counter with a short history (``history_limit=2``), for the backtracking browser tests."""

from __future__ import annotations

import stube
from demos import TEMPLATES
from demos.counter import Counter
from demos.durable_wizard import durable_wizard
from demos.wizard import Wizard

app = stube.Stube(secret_key="backtrack-tests", templates=[TEMPLATES], history_limit=2)
app.mount("/wizard", Wizard)
app.mount("/durable-wizard", durable_wizard)
app.mount("/counter", Counter)
