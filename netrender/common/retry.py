# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting after failures: exponential backoff with jitter, for slaves and clients.

A farm runs for days and its master restarts now and then. Whoever talks to it
must neither hammer a master that is down (every slave of the farm retrying
each second, all at once, as it comes back) nor give up on one that is
merely restarting. :class:`Backoff` is the policy, one small immutable object:
the wait grows by ``factor`` from ``base`` after each failure in a row, never
beyond ``max_delay``, and each wait is shortened by a random part of up to
``jitter`` of itself so that slaves which lost the master together do not come
back together. ``max_attempts`` or ``deadline`` bound how long a caller that
can give up (a client) keeps trying; a slave never gives up.

:class:`Attempts` counts one operation's failures in a row and answers each
with the wait it earned; :func:`call` retries a call under a policy. Time,
sleep and randomness are passed in, so tests assert exact waits without
sleeping.
"""

from __future__ import annotations

import math
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import ApiError, InvalidConfig, MasterUnreachable, NetrenderError, TLSFailed

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How long to wait after each failure in a row, and when to stop trying.

    The wait after the n-th failure is ``min(max_delay, base * factor**(n-1))``
    times ``1 - jitter * r`` with ``r`` uniform in [0, 1): the cap is a true
    ceiling, and jitter only ever shortens a wait. ``max_attempts`` counts
    every try, the first included; ``deadline`` is in seconds from the first
    failure. ``None`` means no limit.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.25
    max_attempts: int | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.factor >= 1 and self.max_delay >= self.base and 0 <= self.jitter <= 1):
            raise InvalidConfig("a backoff needs base > 0, factor >= 1, max_delay >= base and jitter in [0, 1]")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise InvalidConfig("a backoff's max_attempts must be at least 1")
        if self.deadline is not None and self.deadline < 0:
            raise InvalidConfig("a backoff's deadline cannot be negative")

    def delay(self, failures: int, rand: float = 0.0) -> float:
        """The wait after the ``failures``-th failure in a row (1 for the first), given a random ``rand``.

        Computed through logarithms so that a slave failing for days (thousands
        of failures) gets the cap instead of a float overflow.
        """
        exponent = max(failures - 1, 0)
        if math.log(self.base) + exponent * math.log(self.factor) >= math.log(self.max_delay):
            capped = self.max_delay
        else:
            capped = self.base * self.factor**exponent
        return capped * (1.0 - self.jitter * rand)

    def exhausted(self, failures: int, elapsed: float) -> bool:
        """Whether a caller that has failed ``failures`` times over ``elapsed`` seconds should give up."""
        if self.max_attempts is not None and failures >= self.max_attempts:
            return True
        return self.deadline is not None and elapsed >= self.deadline


#: A slave's loop while the master is unreachable: 1, 2, 4 … 60 s, for ever.
SLAVE_BACKOFF = Backoff(base=1.0, factor=2.0, max_delay=60.0, jitter=0.25)
#: A client following a job: the same waits, giving up after 10 minutes without an answer.
POLL_BACKOFF = Backoff(base=1.0, factor=2.0, max_delay=30.0, jitter=0.25, deadline=600.0)
#: A client's upload broken by a lost connection: sent again from the start, 5 tries in all.
#: A slave fetching a job file: a few tries, then the chunk fails with the reason (never a loop for ever).
FETCH_BACKOFF = Backoff(base=1.0, factor=2.0, max_delay=8.0, jitter=0.25, max_attempts=4)
UPLOAD_BACKOFF = Backoff(base=1.0, factor=2.0, max_delay=30.0, jitter=0.25, max_attempts=5)


class Attempts:
    """One operation's failures in a row under a :class:`Backoff`: each failure earns a wait."""

    def __init__(self, policy: Backoff, random: Callable[[], float] = _random.random) -> None:
        self.policy = policy
        self.random = random
        self.failures = 0
        self.since: float | None = None

    def failed(self, now: float) -> float | None:
        """Count a failure at ``now``; return the wait before the next try, or ``None`` to give up."""
        self.failures += 1
        if self.since is None:
            self.since = now
        if self.policy.exhausted(self.failures, now - self.since):
            return None
        return self.policy.delay(self.failures, self.random())

    def succeeded(self) -> None:
        """The operation worked: the next failure starts from ``base`` again."""
        self.failures = 0
        self.since = None


def transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed.

    A master that cannot be reached, or whose database is busy (503), may
    answer later; a certificate that is not trusted, or a refusal, will not change.
    """
    if isinstance(exc, TLSFailed):
        return False
    if isinstance(exc, MasterUnreachable):
        return True
    return isinstance(exc, ApiError) and exc.status == 503


def server_fault(exc: BaseException) -> bool:
    """:func:`transient`, or a 5xx: a master that failed once may serve the same file on the next try."""
    return transient(exc) or (isinstance(exc, ApiError) and exc.status >= 500)


def call(
    action: Callable[[], T],
    policy: Backoff,
    *,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    random: Callable[[], float] = _random.random,
    on_retry: Callable[[NetrenderError, float], object] = lambda exc, delay: None,
    retry_if: Callable[[NetrenderError], bool] = transient,
) -> T:
    """Run ``action``; after a failure ``retry_if`` accepts (:func:`transient` ones) wait as ``policy`` says, again.

    The last failure is raised once the policy gives up; any other exception at once.
    """
    attempts = Attempts(policy, random)
    while True:
        try:
            return action()
        except NetrenderError as exc:
            if not retry_if(exc):
                raise
            delay = attempts.failed(clock())
            if delay is None:
                raise
            on_retry(exc, delay)
            sleep(delay)
