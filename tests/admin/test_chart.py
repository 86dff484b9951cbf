"""The home page chart's geometry: bars as tall as each day's takings, a point per day's orders,
round axes, and a month without orders drawn flat."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bookshop.admin.chart import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    axis,
    busiest,
    chart,
    round_step,
)
from bookshop.orders.takings import Takings

FLOOR = HEIGHT - BOTTOM  # where every bar stands
PLOT = HEIGHT - TOP - BOTTOM
LAST = date(2026, 3, 14)


def month(*takings: Takings) -> list[tuple[date, Takings]]:
    """Days up to LAST, one per takings given."""
    first = LAST - timedelta(days=len(takings) - 1)
    return [(first + timedelta(days=n), each) for n, each in enumerate(takings)]


def test_bars_are_as_tall_as_each_days_takings_and_stand_on_the_floor() -> None:
    drawn = chart(month(Takings(1, 1000), Takings(3, 3000), Takings(), Takings(2, 2000)))
    heights = [bar.height for bar in drawn.bars]
    assert heights[2] == 0  # a day without orders has no bar
    assert heights[1] == pytest.approx(3 * heights[0], abs=0.2)
    assert heights[3] == pytest.approx(2 * heights[0], abs=0.2)
    assert all(bar.y + bar.height == pytest.approx(FLOOR, abs=0.1) for bar in drawn.bars)
    # The top of the axis is the first round number at or above the most taken.
    assert drawn.amounts.top >= 3000
    assert heights[1] == pytest.approx(PLOT * 3000 / drawn.amounts.top, abs=0.1)


def test_bars_sit_side_by_side_inside_the_plot_oldest_first() -> None:
    drawn = chart(month(*[Takings(1, 500)] * 30))
    xs = [bar.x for bar in drawn.bars]
    assert xs == sorted(xs) and len(set(xs)) == 30
    assert xs[0] >= LEFT and xs[-1] + drawn.bars[-1].width <= WIDTH - RIGHT
    assert [bar.day for bar in drawn.bars][-1] == LAST


def test_the_orders_line_passes_over_the_middle_of_each_days_bar() -> None:
    drawn = chart(month(Takings(2, 100), Takings(0, 0), Takings(4, 300)))
    for bar, point in zip(drawn.bars, drawn.points, strict=True):
        assert point.x == pytest.approx(bar.x + bar.width / 2, abs=0.1)
    assert [point.y for point in drawn.points] == [
        pytest.approx(FLOOR - PLOT * n / drawn.orders.top, abs=0.1) for n in (2, 0, 4)
    ]
    first = drawn.points[0]
    assert drawn.line.startswith(f"{first.x},{first.y} ")
    assert drawn.line.count(",") == 3


def test_a_month_without_orders_is_drawn_flat_on_axes_from_0_to_1() -> None:
    drawn = chart(month(*[Takings()] * 30))
    assert {bar.height for bar in drawn.bars} == {0}
    assert {point.y for point in drawn.points} == {FLOOR}
    assert [tick.value for tick in drawn.amounts.ticks] == [0, 1]
    assert [tick.value for tick in drawn.orders.ticks] == [0, 1]
    assert busiest(month(*[Takings()] * 30)) is None


def test_nothing_to_draw_draws_empty_axes() -> None:
    drawn = chart([])
    assert drawn.bars == () and drawn.points == () and drawn.labels == ()
    assert drawn.amounts.top == 1


def test_every_seventh_day_is_labelled_back_from_the_last() -> None:
    drawn = chart(month(*[Takings()] * 30))
    assert [label.text for label in drawn.labels] == [
        "14 Feb",
        "21 Feb",
        "28 Feb",
        "7 Mar",
        "14 Mar",
    ]
    assert drawn.labels[-1].x == drawn.points[-1].x


@pytest.mark.parametrize(
    ("at_least", "step"),
    [(0, 1), (0.25, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (11, 20), (2600, 5000)],
)
def test_an_axis_steps_by_round_numbers(at_least: float, step: int) -> None:
    assert round_step(at_least) == step


def test_an_axis_reaches_just_past_the_highest_value_in_at_most_four_steps() -> None:
    drawn = axis(12_345)
    assert drawn.top == 15_000
    assert [tick.value for tick in drawn.ticks] == [0, 5000, 10_000, 15_000]
    assert drawn.ticks[0].y == FLOOR and drawn.ticks[-1].y == TOP
    assert [tick.value for tick in axis(3).ticks] == [0, 1, 2, 3]


def test_the_busiest_day_is_the_one_that_took_most_the_latest_of_equals() -> None:
    days = month(Takings(1, 900), Takings(5, 400), Takings(2, 900))
    assert busiest(days) == days[2]
