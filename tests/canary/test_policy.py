"""The promotion policy and start preconditions, as pure decisions (commands/canary.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commands.canary import (
    CanaryRun,
    GateVerdict,
    ManifestError,
    PodCount,
    SloProblemKind,
    SloSample,
    Stage,
    check_promotion,
    review_slos,
    start_refusals,
    substitute_image,
)
from commands.slo import SloState

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
REPO = "ghcr.io/bizra/node0"
IMAGE = f"{REPO}@sha256:" + "c" * 64
GAP = timedelta(minutes=5)
STAGES = [
    Stage(index=0, name="stage1-10pct", manifest="s1.yaml", weight=10, bake=timedelta(minutes=60)),
    Stage(index=1, name="stage2-50pct", manifest="s2.yaml", weight=50, bake=timedelta(minutes=120)),
    Stage(index=2, name="stage3-100pct", manifest="s3.yaml", weight=100, bake=timedelta(minutes=180)),
]


def run(stage: int = 0) -> CanaryRun:
    return CanaryRun(id="r1", image=IMAGE, stage=stage, stage_started_at=T0, started_at=T0, started_by="U1")


def every_minute(minutes: int, state: SloState = SloState.OK, **overrides: SloState) -> list[SloSample]:
    """One evaluation a minute from T0+1m; `m17=BREACH` overrides the state at minute 17."""
    return [SloSample(at=T0 + timedelta(minutes=m), state=overrides.get(f"m{m}", state),
                      detail="cb_error_rate BREACH" if overrides.get(f"m{m}") is SloState.BREACHING else "")
            for m in range(1, minutes + 1)]


READY = PodCount(ready=1, desired=1)


def test_a_clean_baked_stage_is_promotable() -> None:
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=every_minute(60),
                            gap_limit=GAP, pods=READY, require_ready=True)
    assert check.allowed, check.blockers
    assert check.next_stage is not None and check.next_stage.weight == 50


def test_refused_before_bake_says_when() -> None:
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=12), samples=every_minute(12),
                            gap_limit=GAP, pods=READY, require_ready=True)
    assert not check.allowed
    assert check.possible_at == T0 + timedelta(minutes=60)
    assert "48m left" in check.blockers[0].reason and "11:00:00 UTC" in check.blockers[0].reason


def test_a_breach_during_the_stage_blocks_even_after_bake() -> None:
    samples = every_minute(60, m17=SloState.BREACHING, m18=SloState.BREACHING)
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=samples, gap_limit=GAP,
                            pods=READY, require_ready=True)
    assert not check.allowed
    assert check.possible_at is None  # waiting does not clean the stage's record
    assert len(check.slo.problems) == 1 and check.slo.problems[0].kind is SloProblemKind.BREACH
    assert "10:17:00 UTC–10:18:00 UTC" in check.blockers[0].reason


def test_unknown_longer_than_the_window_blocks_shorter_does_not() -> None:
    unknown = {f"m{m}": SloState.UNKNOWN for m in range(20, 27)}  # 10:20 .. 10:26, OK again at 10:27 -> 7 min
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60),
                            samples=every_minute(60, **unknown), gap_limit=GAP, pods=READY, require_ready=True)
    assert [p.kind for p in check.slo.problems] == [SloProblemKind.UNKNOWN_GAP]
    assert check.slo.problems[0].length == timedelta(minutes=7)
    short = {f"m{m}": SloState.UNKNOWN for m in range(20, 23)}
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60),
                            samples=every_minute(60, **short), gap_limit=GAP, pods=READY, require_ready=True)
    assert check.allowed, check.blockers


def test_missing_evaluations_count_as_unknown() -> None:
    samples = [s for s in every_minute(60) if not 30 <= s.at.minute <= 40]
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=samples, gap_limit=GAP,
                            pods=READY, require_ready=True)
    assert not check.allowed and check.slo.problems[0].kind is SloProblemKind.UNKNOWN_GAP
    no_history = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=[], gap_limit=GAP,
                                 pods=READY, require_ready=True)
    assert not no_history.allowed and no_history.slo.state_now is SloState.UNKNOWN


def test_unknown_right_now_blocks_promotion() -> None:
    samples = every_minute(60, m59=SloState.UNKNOWN, m60=SloState.UNKNOWN)
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=samples, gap_limit=GAP,
                            pods=READY, require_ready=True)
    assert not check.allowed
    assert any("UNKNOWN" in b.reason for b in check.blockers)


def test_pods_not_ready_block() -> None:
    check = check_promotion(run=run(), stages=STAGES, now=T0 + timedelta(minutes=60), samples=every_minute(60),
                            gap_limit=GAP, pods=PodCount(ready=0, desired=1), require_ready=True)
    assert [b.reason for b in check.blockers] == ["Canary pods ready 0/1; every pod must be ready."]


def test_last_stage_promotes_to_completion() -> None:
    check = check_promotion(run=run(2), stages=STAGES, now=T0 + timedelta(minutes=180), samples=every_minute(180),
                            gap_limit=GAP, pods=READY, require_ready=True)
    assert check.allowed and check.next_stage is None


def test_review_edges() -> None:
    review = review_slos(every_minute(10), start=T0, end=T0 + timedelta(minutes=10), gap_limit=GAP)
    assert review.clean and review.evaluations == 10
    late = review_slos(every_minute(10), start=T0, end=T0 + timedelta(minutes=20), gap_limit=GAP)
    assert late.state_now is SloState.UNKNOWN and late.problems[-1].end == T0 + timedelta(minutes=20)


def test_start_refusals() -> None:
    passing = GateVerdict(passed=True)
    assert start_refusals(image=IMAGE, repository=REPO, gates=passing, active=None) == []
    reasons = start_refusals(image=f"{REPO}:v2.1.0", repository=REPO,
                             gates=GateVerdict(passed=False, failing=["cb_p99 (FAIL)"]), active=run())
    assert len(reasons) == 3
    assert "already active" in reasons[0] and "pinned by digest" in reasons[1] and "`cb_p99 (FAIL)`" in reasons[2]
    other = start_refusals(image="ghcr.io/evil/node0@sha256:" + "c" * 64, repository=REPO, gates=passing, active=None)
    assert "not from the release repository" in other[0]
    broken = start_refusals(image=IMAGE, repository=REPO, gates=GateVerdict(passed=False, error="no artifacts"),
                            active=None)
    assert "could not be evaluated: no artifacts" in broken[0]


def test_substitute_image_needs_the_placeholder() -> None:
    doc: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "node0", "image": "${CANARY_IMAGE}"}]}}}}
    out = substitute_image([doc], placeholder="${CANARY_IMAGE}", image=IMAGE, source="s1.yaml")
    assert out[0]["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "${CANARY_IMAGE}"  # input untouched
    with pytest.raises(ManifestError, match=r"s1\.yaml has no container"):
        substitute_image(out, placeholder="${CANARY_IMAGE}", image=IMAGE, source="s1.yaml")
