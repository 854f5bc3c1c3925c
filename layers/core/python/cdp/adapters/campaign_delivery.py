"""Campaign plumbing in AWS: the send queue (SQS SendMessageBatch), the schedules (EventBridge Scheduler) and the
SES account's send rate (GetSendQuota)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import count

from botocore.exceptions import ClientError

from cdp.adapters.clients import client
from cdp.campaigns.ports import Campaign
from cdp.errors import Unavailable

SQS_BATCH = 10
BATCH_ATTEMPTS = 3


class SqsSendQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def enqueue(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """SendMessageBatch in tens; the entries a batch reports failed are sent again, twice at most."""
        ids = count()
        for start in range(0, len(bodies), SQS_BATCH):
            entries = [{"Id": str(next(ids)), "MessageBody": body, "DelaySeconds": delay_seconds}
                       for body in bodies[start : start + SQS_BATCH]]  # fmt: skip
            for _attempt in range(BATCH_ATTEMPTS):
                failed = client("sqs").send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", [])
                refused = {failure["Id"] for failure in failed}
                entries = [entry for entry in entries if entry["Id"] in refused]
                if not entries:
                    break
            else:
                raise Unavailable(f"SQS refused {len(entries)} campaign sends: {failed[0].get('Code')}")


class SchedulerSchedules:
    """One EventBridge Scheduler schedule per campaign (named as the campaign) in the stack's schedule group; its
    target is the start function, given the campaign and the firing time (`<aws.scheduler.scheduled-time>`)."""

    def __init__(self, group: str, target_arn: str, role_arn: str, dead_letter_arn: str) -> None:
        self.group, self.target_arn, self.role_arn, self.dead_letter_arn = group, target_arn, role_arn, dead_letter_arn

    def put(self, campaign: Campaign, shop_zone: str, enabled: bool) -> None:
        schedule = {
            "Name": campaign.name,
            "GroupName": self.group,
            "ScheduleExpression": campaign.schedule.expression(),
            "ScheduleExpressionTimezone": campaign.schedule.timezone or shop_zone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if enabled else "DISABLED",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps({"campaign": campaign.name, "scheduled_at": "<aws.scheduler.scheduled-time>"}),
                "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": self.dead_letter_arn},
            },
            "Description": f"campaign {campaign.name}",
        }
        if campaign.schedule.at is not None:
            schedule["ActionAfterCompletion"] = "NONE"  # kept: its state and runs stay readable
        scheduler = client("scheduler")
        try:
            scheduler.update_schedule(**schedule)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            scheduler.create_schedule(**schedule)

    def delete(self, name: str) -> None:
        try:
            client("scheduler").delete_schedule(Name=name, GroupName=self.group)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


class SesSendQuota:
    def max_send_rate(self) -> float:
        return float(client("ses").get_send_quota()["MaxSendRate"])
