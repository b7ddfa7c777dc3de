"""Did trading help? Each run against its market-off baseline: the same homes, profiles, seeds
and intervals with every home at the utility's tariffs (`baseline`), the key figures of both
defined once (`figures`), and the subscriber that computes them as a run's events arrive
(`observer`)."""
