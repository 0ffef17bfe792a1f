"""Issue 13: a fresh gateway (``make run``'s default settings) left alone for an hour fires nothing.

Run in a fresh interpreter (``quiet_hour_run.py``), as ``make run`` is, with the state directory
in a temporary folder; the hour is simulated with an injected clock (no sleeping).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glowops.alerting.routing import HEARTBEAT_ALERT

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow


def test_a_fresh_gateway_left_alone_for_an_hour_fires_nothing(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GLOWOPS_STATE_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, str(HERE / "quiet_hour_run.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["simulated_seconds"] == 3600
    # make run configures its SQLite backup: the backup rules are evaluated, and the leader's
    # schedule took the first backup and drill at start, so none of them has reason to fire
    assert report["backups_configured"] is True
    assert {"BackupStale", "BackupDrillOverdue", "BackupRetentionViolated"} <= set(report["rules"])
    assert {"HighErrorRate", "ApprovalsOverdue"} <= set(report["rules"])  # glowops' and the pack's
    first_pass = " ".join(report["schedule_passes"][0])
    assert "backup" in first_pass, report["schedule_passes"]
    # only the Watchdog, the dead man's switch that always fires (proof the engine evaluated)
    assert report["alerts_seen"] == [f"{HEARTBEAT_ALERT} (firing)"]
