"""CopyRates: which way the receiver takes for the next request of a source."""

from webhooks_app.receivers.copy_rate import CHECK_FIRST_ABOVE, CopyRates


def test_a_source_without_history_goes_straight_to_the_upsert():
    assert not CopyRates().check_first("stripe")


def test_a_run_of_copies_turns_the_check_on_and_new_events_turn_it_off():
    rates = CopyRates()
    for _ in range(8):
        rates.observe("stripe", copy=True)
    assert rates.check_first("stripe")
    for _ in range(12):
        rates.observe("stripe", copy=False)
    assert not rates.check_first("stripe")


def test_half_copies_keep_the_check_on_and_a_few_leave_it_off():
    half, few = CopyRates(), CopyRates()
    for n in range(64):
        half.observe("s", copy=n % 2 == 0)
        few.observe("s", copy=n % 5 == 0)
    assert half.check_first("s")
    assert not few.check_first("s")


def test_sources_are_counted_apart_and_reset_forgets_them():
    rates = CopyRates()
    for _ in range(16):
        rates.observe("github", copy=True)
    assert rates.check_first("github") and not rates.check_first("stripe")
    rates.reset()
    assert not rates.check_first("github")


def test_the_threshold_is_where_both_ways_cost_the_same():
    assert 0.25 < CHECK_FIRST_ABOVE < 0.5
