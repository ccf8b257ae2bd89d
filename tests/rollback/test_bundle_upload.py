"""The incident bundle as a `.tar.gz` (with summary.md) uploaded into the rollback's thread, beside the summary."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.rollback.conftest import ANNOTATION, GOOD, RESPONDER, confirmation, controller, make_config, seed
from tests.rollback.test_rollback_slack import _click, _request_confirmation
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder


def test_the_bundle_upload_arrives_in_the_thread(api: KubeApiServer, tmp_path: Path,
                                                 slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder, user=RESPONDER)
        message_ts = confirmation(slack_recorder, plan_id).ts
        with controller(api) as ctl:
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda _: bool(slack_recorder.files_in_thread("C123", message_ts)), timeout=20,
                                    what="the incident bundle in the confirmation's thread")

    assert not slack_recorder.calls("files.upload"), "the retired files.upload is not used"
    [shared] = slack_recorder.files_in_thread("C123", message_ts)
    [bundle] = [p for p in (tmp_path / "incidents").iterdir() if p.is_dir()]
    assert shared.filename == f"incident-{bundle.name}.tar.gz"
    assert shared.title == f"Incident bundle {bundle.name}"
    assert shared.data is not None
    with tarfile.open(fileobj=io.BytesIO(shared.data), mode="r:gz") as tar:
        names = set(tar.getnames())
        summary_member = tar.extractfile(f"incident-{bundle.name}/summary.md")
        assert summary_member is not None
        summary = summary_member.read().decode()
    assert {f"incident-{bundle.name}/{name}" for name in ("summary.md", "deployment-before.json", "audit.json",
                                                          "pods.json", "slo-snapshot.json")} <= names
    assert "Time to recovery" in summary and summary == (bundle / "summary.md").read_text()
    assert (bundle / shared.filename).read_bytes() == shared.data, "the archive stays on disk beside the files"

    # Beside the summary: the summary is the thread's last message, the archive uploaded after it.
    thread = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("thread_ts") == message_ts]
    assert "Incident bundle:" in json.dumps(thread[-1].body.get("blocks"), ensure_ascii=False)
    requests = slack_recorder.calls()
    summary_at = requests.index(thread[-1])
    completed_at = next(i for i, r in enumerate(requests) if r.api_method == "files.completeUploadExternal")
    assert completed_at > summary_at


def test_the_recorder_checks_uploads_as_slack_does(slack_recorder: SlackRecorder) -> None:
    """files_upload_v2 (slack_sdk) against the recorder: a complete upload lands in its thread; an id that was
    never issued, or whose bytes never arrived, is refused with file_not_found."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token="xoxb-test", base_url=slack_recorder.api_url)
    client.files_upload_v2(content=b"abc", filename="a.tar.gz", title="A", channel="C9", thread_ts="1.000001")
    [shared] = slack_recorder.files_in_thread("C9", "1.000001")
    assert (shared.filename, shared.title, shared.data) == ("a.tar.gz", "A", b"abc")

    issued = client.files_getUploadURLExternal(filename="b.txt", length=3)
    for file_id in ("F999999", issued["file_id"]):  # unknown; issued but nothing uploaded
        try:
            client.files_completeUploadExternal(files=[{"id": file_id}], channel_id="C9")
        except SlackApiError as exc:
            assert exc.response["error"] == "file_not_found"
        else:
            raise AssertionError(f"{file_id} was accepted")
