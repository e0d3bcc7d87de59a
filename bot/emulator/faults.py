"""Injectable faults: what goes wrong between newsbot and WeChat, on demand.

A :class:`Fault` matches calls by endpoint (the path after ``/cgi-bin/``; ``None`` = every
endpoint), fires on at most ``count`` calls (``None`` = unlimited) with ``probability``.

* ``latency``: wait ``seconds`` and then answer normally (every matching latency applies);
* ``error``: answer ``{"errcode": errcode}`` (default -1, "system busy");
* ``timeout``: hold the connection for ``seconds`` (default 30) and answer -1;
* ``drop``: cut the connection in the middle of the answer.

``timeout`` and ``drop`` take ``after=True`` to mean "the call took effect, only its answer is
lost" (the nastiest case for exactly-once delivery); by default the call is lost before it acts.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("latency", "error", "timeout", "drop")


@dataclass
class Fault:
    kind: str
    endpoint: str | None = None
    count: int | None = None
    probability: float = 1.0
    errcode: int = -1
    seconds: float | None = None
    after: bool = False
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if self.seconds is None:
            self.seconds = 30.0 if self.kind == "timeout" else 0.0
        self.endpoint = self.endpoint.strip("/") if self.endpoint else None

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in
                ("kind", "endpoint", "count", "probability", "errcode", "seconds", "after",
                 "fired")}


@dataclass
class Plan:
    """What faults apply to one call."""

    delay: float = 0.0
    fault: Fault | None = None


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def plan(self, endpoint: str) -> Plan:
        plan = Plan()
        with self._lock:
            for f in self.faults:
                if f.endpoint is not None and f.endpoint != endpoint:
                    continue
                if f.count is not None and f.fired >= f.count:
                    continue
                if f.kind != "latency" and plan.fault is not None:
                    continue
                if f.probability < 1.0 and self.rng.random() >= f.probability:
                    continue
                f.fired += 1
                if f.kind == "latency":
                    plan.delay += f.seconds or 0.0
                else:
                    plan.fault = f
        return plan
