"""Hook from the lab pipeline to the reminder/notification system (issue #5).

`schedules.services.evaluate_result` calls `on_alerts_raised` inside its transaction with the ids
of the alerts it has just created; implementations must defer any sending until after commit
(`transaction.on_commit`) and be idempotent.
"""

from __future__ import annotations


def on_alerts_raised(alert_ids: list[int]) -> None:
    """Queue what must go out at once for new alerts (critical ones: an immediate e-mail)."""
    return None
