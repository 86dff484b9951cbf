"""The home page's chart of takings and orders by day, as geometry for an inline SVG: a bar per
day's takings on the left axis, a line through each day's orders on the right axis.

Drawn on the server, so the page needs no chart script; the template writes these numbers into
SVG presentation attributes (the CSP allows no inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bookshop.orders.takings import Takings

WIDTH, HEIGHT = 720, 260
# Room around the plot for the axes' labels: money on the left, order counts on the right.
LEFT, RIGHT, TOP, BOTTOM = 96, 44, 28, 32
# An axis has at most this many steps, each a round number (1, 2 or 5 times a power of ten).
STEPS = 4
BAR_SHARE = 0.7  # of each day's slot; the rest is the gap between bars
# A date under the bars every this many days, counted back from the last (today).
LABEL_EVERY = 7


@dataclass(frozen=True)
class Tick:
    """A value on an axis and the height it is drawn at."""

    value: int
    y: float


@dataclass(frozen=True)
class Axis:
    """A vertical axis from 0 up to `top`, with its ticks from the bottom up."""

    top: int
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class Bar:
    """One day's takings as a bar standing on the plot's floor."""

    day: date
    amount: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Point:
    """One day's orders as a point of the line, over the middle of the day's bar."""

    day: date
    orders: int
    x: float
    y: float


@dataclass(frozen=True)
class Label:
    """A date written under the plot, centred on its day."""

    text: str
    x: float


@dataclass(frozen=True)
class Chart:
    """Everything the template draws, in the SVG's own units (its viewBox)."""

    bars: tuple[Bar, ...]
    points: tuple[Point, ...]
    amounts: Axis
    orders: Axis
    labels: tuple[Label, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def line(self) -> str:
        """The orders line as a polyline's `points`."""
        return " ".join(f"{point.x},{point.y}" for point in self.points)


def chart(days: Sequence[tuple[date, Takings]]) -> Chart:
    """The chart of these days' takings and orders, oldest on the left."""
    amounts = axis(max((takings.amount for _, takings in days), default=0))
    orders = axis(max((takings.orders for _, takings in days), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    width = slot * BAR_SHARE
    bars, points, labels = [], [], []
    for n, (day, takings) in enumerate(days):
        start = LEFT + n * slot
        middle = _round(start + slot / 2)
        height = _round(scaled(takings.amount, amounts.top))
        bars.append(
            Bar(
                day,
                takings.amount,
                _round(start + (slot - width) / 2),
                _round(HEIGHT - BOTTOM - height),
                _round(width),
                height,
            )
        )
        points.append(
            Point(
                day,
                takings.orders,
                middle,
                _round(HEIGHT - BOTTOM - scaled(takings.orders, orders.top)),
            )
        )
        if (len(days) - 1 - n) % LABEL_EVERY == 0:
            labels.append(Label(f"{day.day} {day:%b}", middle))
    return Chart(tuple(bars), tuple(points), amounts, orders, tuple(labels))


def axis(highest: int) -> Axis:
    """An axis from 0 to the first round step at or above `highest` (1 when all is 0)."""
    step = round_step(highest / STEPS)
    top = max(step, -(-highest // step) * step)
    ticks = tuple(
        Tick(value, _round(HEIGHT - BOTTOM - scaled(value, top)))
        for value in range(0, top + 1, step)
    )
    return Axis(top, ticks)


def round_step(at_least: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `at_least`."""
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            if step >= at_least:
                return step
        power *= 10


def scaled(value: int, top: int) -> float:
    """How tall `value` stands on an axis up to `top`, in the plot's units."""
    return (HEIGHT - TOP - BOTTOM) * value / top


def _round(value: float) -> float:
    # Tenths of a unit are finer than any screen shows, and keep the SVG short.
    return round(value, 1)


def busiest(days: Sequence[tuple[date, Takings]]) -> tuple[date, Takings] | None:
    """The day that took the most (the latest of equals), None when none took anything."""
    best = max(reversed(days), key=lambda day: day[1].amount, default=None)
    return best if best is not None and best[1].amount > 0 else None
