"""The schedule file: the sample parses; a malformed file gives one line with its line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaincrm.automation.schedule import SECONDS_PER_DAY, load_schedule, parse_schedule
from chaincrm.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "automation.toml"
GOOD = """[smtp]
host = "127.0.0.1"
port = 2525
security = "none"
sender = "billing@crm.example"

[[level]]
name = "due-soon"
days_before_due = 3

[[level]]
name = "overdue"
days_after_due = 7
"""


def test_the_sample_schedule_parses_in_firing_order() -> None:
    schedule = load_schedule(SAMPLE)
    assert [level.name for level in schedule.levels] == ["due-soon", "due", "overdue", "final-notice"]
    assert [level.offset_seconds // SECONDS_PER_DAY for level in schedule.levels] == [-3, 0, 7, 14]
    assert schedule.smtp is not None and schedule.smtp.password_env == "CHAINCRM_SMTP_PASSWORD"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("port = 2525", "port = 2525 x"), "s.toml line 3: port: not valid TOML"),
        (GOOD.replace("days_before_due = 3", "days_before = 3"), "s.toml line 9: level[1].days_before: unknown key"),
        (GOOD.replace("days_after_due = 7", "days_after_due = -7"), "s.toml line 13: level[2].days_after_due: must be"),
        (GOOD.replace('security = "none"', 'security = "ssl"'), "s.toml line 4: smtp.security: must be one of"),
        (GOOD + 'password = "hunter2"\n', "s.toml line 14: level[2].password: unknown key"),
        (GOOD.replace("[smtp]", '[smtp]\npassword = "x"'), "s.toml line 2: smtp.password: never in the file"),
        (GOOD.replace('name = "overdue"', 'name = "due-soon"'), "s.toml line 12: level[2].name: the name"),
    ],
)
def test_a_malformed_schedule_gives_one_line_with_its_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_schedule(text, "s.toml")
    message = str(raised.value)
    assert message.startswith(expected), message
    assert "\n" not in message and "hunter2" not in message
