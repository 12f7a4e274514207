"""The life of an emulated async import job: queued, then running, then done after ``delay``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

JobPhase = Literal["queued", "running", "done"]


@dataclass
class EmulatedJob:
    """An import job. Its results are decided when it is created and shown once it is done.

    :param fails: the job ends failed (injected by a ``fail_job`` fault).
    """

    id: str
    account: str
    delay: float
    fails: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.monotonic)

    def phase(self) -> JobPhase:
        elapsed = time.monotonic() - self.created_at
        if elapsed >= self.delay:
            return "done"
        if elapsed >= self.delay / 2:
            return "running"
        return "queued"
