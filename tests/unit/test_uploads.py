"""The upload policy (pure parts): which job a file belongs to, names that never leave the folder, the quota."""

from __future__ import annotations

import uuid
from pathlib import Path

from services.api.uploads import UploadPolicy, job_of

POLICY = UploadPolicy(Path("/state/uploads"), grace_s=0, quota_bytes=1000)


def test_files_of_uploads_and_ib_fetches_name_their_job() -> None:
    job = uuid.uuid4()
    assert job_of(POLICY.file_name(job)) == job
    assert job_of(f"ibkr-{job}.csv") == job
    assert job_of("notes.txt") is None
    assert job_of(f"{job}.csv.part") is None


def test_a_stored_name_never_leads_out_of_the_folder() -> None:
    assert POLICY.path("../../etc/passwd") == Path("/state/uploads/passwd")


def test_the_quota_leaves_room_until_it_is_used_up_and_says_so() -> None:
    assert POLICY.room(400) == 600
    assert POLICY.room(1500) == 0
    problem = POLICY.over_quota(1500).problem
    assert problem.status == 413
    assert problem.detail is not None
    assert "BTS_UPLOAD_QUOTA_BYTES" in problem.detail
    assert "1,000 bytes" in problem.detail
