"""Tests for steadfast_moto.py, against the launcher started as a subprocess.

Run from the repository root:
    .venv/bin/python -m unittest discover -s tests/sandbox/moto -v

One launcher (http + https on free 127.0.0.1 ports) serves every test but the process
tests; each test uses its own groups, volumes, buckets, hosted zones and CloudWatch
namespaces, and restores knobs and faults.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import threading
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from typing import Any, Callable

import boto3
import cbor2
from botocore.config import Config
from botocore.exceptions import ClientError

import steadfast_moto

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "steadfast_moto.py")
READY = re.compile(r"^steadfast-moto ready http=(\d+) https=(\d+|none)$")
REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
DEFAULT_KNOBS = {"shutting_down_secs": 0, "guest_shutdown_secs": 0, "keep_volumes_on_terminate": False,
                 "attach_delay_secs": 0, "replacement_delay_secs": 0, "ec2_vcpu_quota": 64}
_names = itertools.count()


class Launcher:
    """One launcher subprocess (stderr to a scratch file); https clients trust its certificate."""

    def __init__(self, https: bool) -> None:
        self.log = tempfile.TemporaryFile()
        self.cert = tempfile.NamedTemporaryFile(suffix=".pem", delete=False).name if https else None
        extra = ["--ssl-port", "0", "--cert-file", self.cert] if https else []
        self.proc = subprocess.Popen(
            [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        self.ready_line = self.proc.stdout.readline().rstrip("\n")
        match = READY.match(self.ready_line)
        if match is None:
            self.log.seek(0)
            stderr = self.log.read().decode(errors="replace")[-4000:]
            self.stop()
            raise RuntimeError(f"launcher did not start: {self.ready_line!r}\n{stderr}")
        self.http, self.https = match.group(1), match.group(2)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.log.close()
            if self.cert:
                os.unlink(self.cert)

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http}/_steadfast/{path}", data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def client(self, service: str, secure: bool = False, key: str = "testing") -> Any:
        endpoint = f"https://127.0.0.1:{self.https}" if secure else f"http://127.0.0.1:{self.http}"
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                            aws_access_key_id=key, aws_secret_access_key="testing",
                            verify=self.cert if secure else None, config=NO_RETRIES)


LAUNCHER_PROC: Launcher | None = None


def setUpModule() -> None:
    global LAUNCHER_PROC
    LAUNCHER_PROC = Launcher(https=True)


def tearDownModule() -> None:
    code = LAUNCHER_PROC.stop(signal.SIGINT)
    if code != 0:
        raise AssertionError(f"launcher exited {code} on SIGINT")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def error_of(call: Callable[[], Any]) -> ClientError:
    try:
        call()
    except ClientError as error:
        return error
    raise AssertionError("the call succeeded")


class MotoTestCase(unittest.TestCase):
    """Clients, a VPC + subnet + launch template, and helpers for groups and volumes."""

    subnet: str
    template = "steadfast-test"

    @classmethod
    def setUpClass(cls) -> None:
        cls.moto = LAUNCHER_PROC
        cls.ec2 = cls.moto.client("ec2")
        cls.asg = cls.moto.client("autoscaling")
        cls.subnet = cls._network()

    @classmethod
    def _network(cls) -> str:
        subnets = cls.ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["127.0.1.0/24"]}])["Subnets"]
        if subnets:
            return subnets[0]["SubnetId"]
        vpc = cls.ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
        cls.ec2.create_launch_template(
            LaunchTemplateName=cls.template,
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
        return cls.ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.1.0/24",
                                     AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def tearDown(self) -> None:
        self.assertEqual(self.moto.admin("POST", "config", DEFAULT_KNOBS)[0], 200)
        self.assertEqual(self.moto.admin("POST", "faults", {})[0], 200)

    def group(self, hooks: list[dict[str, Any]] | None = None, size: int = 1, max_size: int = 1) -> str:
        name = f"g{next(_names)}-{self._testMethodName[:40]}"
        extra = {"LifecycleHookSpecificationList": hooks} if hooks else {}
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=size, MaxSize=max_size, DesiredCapacity=size,
            VPCZoneIdentifier=self.subnet, LaunchTemplate={"LaunchTemplateName": self.template}, **extra)
        return name

    @staticmethod
    def hook(timeout: int, default: str = "ABANDON", name: str = "launch") -> dict[str, Any]:
        return {"LifecycleHookName": name, "LifecycleTransition": LAUNCHING,
                "HeartbeatTimeout": timeout, "DefaultResult": default}

    def instances(self, group: str) -> list[dict[str, Any]]:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]

    def only_instance(self, group: str) -> dict[str, Any]:
        instances = self.instances(group)
        self.assertEqual(len(instances), 1, instances)
        return instances[0]

    def ec2_state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def volume(self) -> str:
        return self.ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]

    def attachments(self, volume_id: str) -> list[dict[str, Any]]:
        return self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"]

    def held(self, instance_id: str) -> list[dict[str, Any]]:
        return [h for h in self.moto.admin("GET", "lifecycle")[1] if h["instance_id"] == instance_id]


class LifecycleHookTests(MotoTestCase):
    def test_new_instance_waits_in_pending_wait(self) -> None:
        group = self.group([self.hook(30)])
        instance = self.only_instance(group)
        self.assertEqual(instance["LifecycleState"], "Pending:Wait")
        described = self.asg.describe_auto_scaling_instances(InstanceIds=[instance["InstanceId"]])
        self.assertEqual(described["AutoScalingInstances"][0]["LifecycleState"], "Pending:Wait")
        hooks = self.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        self.assertEqual([(h["LifecycleHookName"], h["HeartbeatTimeout"], h["GlobalTimeout"]) for h in hooks],
                         [("launch", 30, 3000)])
        [held] = self.held(instance["InstanceId"])
        self.assertEqual((held["group"], held["hook"], held["default_result"]), (group, "launch", "ABANDON"))
        self.assertTrue(25 < held["seconds_left"] <= 30, held)
        self.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)
        # a waiting instance counts as capacity: the group launches nothing more
        self.assertEqual(self.only_instance(group)["InstanceId"], instance["InstanceId"])

    def test_continue_by_instance_id_puts_instance_in_service(self) -> None:
        group = self.group([self.hook(30)])
        instance_id = self.only_instance(group)["InstanceId"]
        self.asg.complete_lifecycle_action(LifecycleHookName="launch", AutoScalingGroupName=group,
                                           InstanceId=instance_id, LifecycleActionResult="CONTINUE")
        self.assertEqual(self.only_instance(group)["LifecycleState"], "InService")
        self.assertEqual(self.held(instance_id), [])

    def test_continue_by_token_puts_instance_in_service(self) -> None:
        group = self.group([self.hook(30)])
        instance_id = self.only_instance(group)["InstanceId"]
        [held] = self.held(instance_id)
        self.asg.complete_lifecycle_action(LifecycleHookName="launch", AutoScalingGroupName=group,
                                           LifecycleActionToken=held["token"], LifecycleActionResult="CONTINUE")
        self.assertEqual(self.only_instance(group)["LifecycleState"], "InService")

    def test_instance_waits_for_every_launch_hook(self) -> None:
        group = self.group([self.hook(30, name="first"), self.hook(30, name="second")])
        instance_id = self.only_instance(group)["InstanceId"]
        self.asg.complete_lifecycle_action(LifecycleHookName="first", AutoScalingGroupName=group,
                                           InstanceId=instance_id, LifecycleActionResult="CONTINUE")
        self.assertEqual(self.only_instance(group)["LifecycleState"], "Pending:Wait")
        self.asg.complete_lifecycle_action(LifecycleHookName="second", AutoScalingGroupName=group,
                                           InstanceId=instance_id, LifecycleActionResult="CONTINUE")
        self.assertEqual(self.only_instance(group)["LifecycleState"], "InService")

    def test_abandon_terminates_and_the_replacement_waits(self) -> None:
        group = self.group([self.hook(30)])
        old = self.only_instance(group)["InstanceId"]
        self.asg.complete_lifecycle_action(LifecycleHookName="launch", AutoScalingGroupName=group,
                                           InstanceId=old, LifecycleActionResult="ABANDON")
        self.assertEqual(self.ec2_state(old), "terminated")
        replacement = self.only_instance(group)
        self.assertNotEqual(replacement["InstanceId"], old)
        self.assertEqual(replacement["LifecycleState"], "Pending:Wait")
        self.assertEqual(len(self.held(replacement["InstanceId"])), 1)

    def test_heartbeat_timeout_with_abandon_replaces_the_instance(self) -> None:
        started = time.monotonic()
        group = self.group([self.hook(1, "ABANDON")])
        old = self.only_instance(group)["InstanceId"]
        replacement = wait_for(lambda: [i for i in self.instances(group) if i["InstanceId"] != old], 6,
                               "the abandoned instance's replacement")
        self.assertGreater(time.monotonic() - started, 0.9)
        self.assertEqual(self.ec2_state(old), "terminated")
        self.assertEqual(replacement[0]["LifecycleState"], "Pending:Wait")

    def test_heartbeat_timeout_with_continue_puts_instance_in_service(self) -> None:
        started = time.monotonic()
        group = self.group([self.hook(1, "CONTINUE")])
        instance_id = self.only_instance(group)["InstanceId"]
        wait_for(lambda: self.only_instance(group)["LifecycleState"] == "InService", 6, "InService")
        self.assertGreater(time.monotonic() - started, 0.9)
        self.assertEqual(self.only_instance(group)["InstanceId"], instance_id)

    def test_heartbeat_extends_the_deadline(self) -> None:
        started = time.monotonic()
        group = self.group([self.hook(3, "CONTINUE")])
        instance_id = self.only_instance(group)["InstanceId"]
        time.sleep(max(0.0, started + 1.5 - time.monotonic()))
        self.assertLess(self.held(instance_id)[0]["seconds_left"], 1.7)
        self.asg.record_lifecycle_action_heartbeat(LifecycleHookName="launch", AutoScalingGroupName=group,
                                                   InstanceId=instance_id)
        self.assertGreater(self.held(instance_id)[0]["seconds_left"], 2.5)
        time.sleep(max(0.0, started + 3.6 - time.monotonic()))  # past the first deadline
        self.assertEqual(self.only_instance(group)["LifecycleState"], "Pending:Wait")
        wait_for(lambda: self.only_instance(group)["LifecycleState"] == "InService", 5, "InService")

    def test_heartbeat_is_capped_at_100_heartbeat_timeouts(self) -> None:
        group = self.group([self.hook(2, "CONTINUE")])
        instance_id = self.only_instance(group)["InstanceId"]
        # Updating the hook keeps what is not given, and later heartbeats use the new timeout.
        self.asg.put_lifecycle_hook(LifecycleHookName="launch", AutoScalingGroupName=group, HeartbeatTimeout=1000)
        [hook] = self.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        self.assertEqual((hook["HeartbeatTimeout"], hook["DefaultResult"], hook["LifecycleTransition"]),
                         (1000, "CONTINUE", LAUNCHING))
        self.asg.record_lifecycle_action_heartbeat(LifecycleHookName="launch", AutoScalingGroupName=group,
                                                   InstanceId=instance_id)
        [held] = self.held(instance_id)
        self.assertTrue(190 < held["seconds_left"] <= 200, held)  # launch + 100 x 2 s, not now + 1000 s
        self.assertAlmostEqual(held["deadline"], held["global_deadline"], places=3)

    def test_updated_default_result_applies_to_a_waiting_instance(self) -> None:
        group = self.group([self.hook(2, "ABANDON")])
        instance_id = self.only_instance(group)["InstanceId"]
        self.assertEqual(self.only_instance(group)["LifecycleState"], "Pending:Wait")
        self.asg.put_lifecycle_hook(LifecycleHookName="launch", AutoScalingGroupName=group, DefaultResult="CONTINUE")
        wait_for(lambda: self.only_instance(group)["LifecycleState"] == "InService", 6, "InService")
        self.assertEqual(self.only_instance(group)["InstanceId"], instance_id)

    def test_completing_an_instance_that_is_not_waiting_is_a_validation_error(self) -> None:
        group = self.group()
        instance_id = self.only_instance(group)["InstanceId"]
        for call in (
            lambda: self.asg.complete_lifecycle_action(LifecycleHookName="launch", AutoScalingGroupName=group,
                                                       InstanceId=instance_id, LifecycleActionResult="CONTINUE"),
            lambda: self.asg.record_lifecycle_action_heartbeat(LifecycleHookName="launch",
                                                               AutoScalingGroupName=group, InstanceId=instance_id),
        ):
            error = error_of(call)
            self.assertEqual(error.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            self.assertEqual(error.response["Error"]["Code"], "ValidationError")
            self.assertEqual(error.response["Error"]["Message"],
                             f"No active Lifecycle Action found with instance ID {instance_id}")

    def test_completing_twice_or_with_an_unknown_token_is_a_validation_error(self) -> None:
        group = self.group([self.hook(30)])
        instance_id = self.only_instance(group)["InstanceId"]
        complete = dict(LifecycleHookName="launch", AutoScalingGroupName=group, LifecycleActionResult="CONTINUE")
        self.asg.complete_lifecycle_action(InstanceId=instance_id, **complete)
        self.assertEqual(error_of(lambda: self.asg.complete_lifecycle_action(InstanceId=instance_id, **complete))
                         .response["Error"]["Code"], "ValidationError")
        token = "00000000-0000-0000-0000-000000000000"
        error = error_of(lambda: self.asg.complete_lifecycle_action(LifecycleActionToken=token, **complete))
        self.assertEqual(error.response["Error"]["Message"], f"No active Lifecycle Action found with token {token}")

    def test_hook_added_after_launch_holds_nothing(self) -> None:
        group = self.group(max_size=2)
        first = self.only_instance(group)["InstanceId"]
        self.asg.put_lifecycle_hook(LifecycleHookName="late", AutoScalingGroupName=group,
                                    LifecycleTransition=LAUNCHING, HeartbeatTimeout=30)
        self.assertEqual(self.only_instance(group)["LifecycleState"], "InService")
        self.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
        states = {i["InstanceId"]: i["LifecycleState"] for i in self.instances(group)}
        self.assertEqual(states.pop(first), "InService")
        self.assertEqual(list(states.values()), ["Pending:Wait"])  # a later launch does wait

    def test_deleting_a_group_deletes_its_hooks(self) -> None:
        group = self.group()
        self.asg.put_lifecycle_hook(LifecycleHookName="launch", AutoScalingGroupName=group,
                                    LifecycleTransition=LAUNCHING, HeartbeatTimeout=30)
        self.assertEqual(len(self.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]), 1)
        self.asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
        self.assertEqual(self.asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"], [])
        self.asg.create_auto_scaling_group(  # a new group of that name starts without hooks
            AutoScalingGroupName=group, MinSize=1, MaxSize=1, DesiredCapacity=1,
            VPCZoneIdentifier=self.subnet, LaunchTemplate={"LaunchTemplateName": self.template})
        self.assertEqual(self.only_instance(group)["LifecycleState"], "InService")


class DeadlineArithmeticTests(unittest.TestCase):
    def test_global_timeout_is_100_heartbeats_at_most_48_hours(self) -> None:
        self.assertEqual(steadfast_moto.global_timeout(30), 3000)
        self.assertEqual(steadfast_moto.global_timeout(7200), 48 * 3600)

    def test_heartbeat_deadline_never_passes_the_global_deadline(self) -> None:
        self.assertEqual(steadfast_moto.next_deadline(now=10, heartbeat_timeout=30, global_deadline=100), 40)
        self.assertEqual(steadfast_moto.next_deadline(now=90, heartbeat_timeout=30, global_deadline=100), 100)


class TerminationKnobTests(MotoTestCase):
    def in_service_with_volume(self) -> tuple[str, str, str]:
        group = self.group()
        instance_id = self.only_instance(group)["InstanceId"]
        volume_id = self.volume()
        self.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
        return group, instance_id, volume_id

    def set_config(self, **knobs: Any) -> None:
        status, config = self.moto.admin("POST", "config", knobs)
        self.assertEqual(status, 200, config)
        self.assertEqual({k: config[k] for k in knobs}, knobs)

    def test_defaults_terminate_at_once_detach_and_replace(self) -> None:
        group, old, volume_id = self.in_service_with_volume()
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertEqual(self.ec2_state(old), "terminated")
        self.assertEqual(self.attachments(volume_id), [])
        self.assertNotEqual(self.only_instance(group)["InstanceId"], old)

    def test_shutting_down_secs(self) -> None:
        self.set_config(shutting_down_secs=1.5)
        group, old, volume_id = self.in_service_with_volume()
        started = time.monotonic()
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertEqual(self.ec2_state(old), "shutting-down")
        self.assertEqual([(a["InstanceId"], a["State"]) for a in self.attachments(volume_id)], [(old, "attached")])
        self.assertNotEqual(self.only_instance(group)["InstanceId"], old)  # replaced at once
        wait_for(lambda: self.ec2_state(old) == "terminated", 5, "terminated")
        self.assertGreater(time.monotonic() - started, 1.3)
        self.assertEqual(self.attachments(volume_id), [])

    def test_guest_shutdown_holds_the_volumes_until_the_guest_is_down(self) -> None:
        self.set_config(guest_shutdown_secs=30)
        group, old, volume_id = self.in_service_with_volume()
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertNotEqual(self.only_instance(group)["InstanceId"], old)  # replaced at once
        time.sleep(1.5)  # the ticker had its chances: only the guest ends it
        self.assertEqual(self.ec2_state(old), "shutting-down")
        self.assertEqual([(a["InstanceId"], a["State"]) for a in self.attachments(volume_id)], [(old, "attached")])
        self.assertEqual(self.moto.admin("POST", "guest-down", {"instance_id": "i-unknown"}),
                         (200, {"instance_id": "i-unknown", "pending": False}))
        self.assertEqual(self.moto.admin("POST", "guest-down", {"instance_id": old}),
                         (200, {"instance_id": old, "pending": True}))
        wait_for(lambda: self.ec2_state(old) == "terminated", 5, "terminated")
        self.assertEqual(self.attachments(volume_id), [])
        self.assertEqual(self.moto.admin("POST", "guest-down", {})[0], 400)

    def test_guest_shutdown_is_capped(self) -> None:
        self.set_config(guest_shutdown_secs=1.0)
        _, old, volume_id = self.in_service_with_volume()
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertEqual(self.ec2_state(old), "shutting-down")
        wait_for(lambda: self.ec2_state(old) == "terminated", 5, "terminated without a guest-down")
        self.assertEqual(self.attachments(volume_id), [])

    def test_keep_volumes_on_terminate(self) -> None:
        self.set_config(keep_volumes_on_terminate=True)
        group, old, volume_id = self.in_service_with_volume()
        root = [m["Ebs"]["VolumeId"] for m in self.ec2.describe_instances(InstanceIds=[old])["Reservations"][0]
                ["Instances"][0]["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sda1"]
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertEqual(self.ec2_state(old), "terminated")
        self.assertEqual([(a["InstanceId"], a["State"]) for a in self.attachments(volume_id)], [(old, "attached")])
        self.assertEqual(self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"], "in-use")
        self.assertEqual(self.ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": root}])["Volumes"], [])
        replacement = self.only_instance(group)["InstanceId"]
        error = error_of(lambda: self.ec2.attach_volume(VolumeId=volume_id, InstanceId=replacement, Device="/dev/sdf"))
        self.assertEqual(error.response["Error"]["Code"], "VolumeInUse")
        self.ec2.detach_volume(VolumeId=volume_id, InstanceId=old, Force=True)
        self.assertEqual(self.attachments(volume_id), [])
        self.ec2.attach_volume(VolumeId=volume_id, InstanceId=replacement, Device="/dev/sdf")
        self.assertEqual([a["InstanceId"] for a in self.attachments(volume_id)], [replacement])

    def test_attach_delay_secs(self) -> None:
        self.set_config(attach_delay_secs=1.0)
        group = self.group()
        instance_id = self.only_instance(group)["InstanceId"]
        volume_id = self.volume()
        started = time.monotonic()
        self.assertEqual(self.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id,
                                                Device="/dev/sdf")["State"], "attaching")
        self.assertEqual([a["State"] for a in self.attachments(volume_id)], ["attaching"])
        wait_for(lambda: [a["State"] for a in self.attachments(volume_id)] == ["attached"], 4, "attached")
        self.assertGreater(time.monotonic() - started, 0.9)

    def test_replacement_delay_secs(self) -> None:
        self.set_config(replacement_delay_secs=1.5)
        group = self.group()
        old = self.only_instance(group)["InstanceId"]
        started = time.monotonic()
        self.ec2.terminate_instances(InstanceIds=[old])
        self.assertEqual(self.instances(group), [])
        replacement = wait_for(lambda: self.instances(group), 5, "the replacement")
        self.assertGreater(time.monotonic() - started, 1.3)
        self.assertNotEqual(replacement[0]["InstanceId"], old)

    def test_replacement_delay_applies_to_terminate_in_auto_scaling_group(self) -> None:
        self.set_config(replacement_delay_secs=1.0)
        group = self.group()
        old = self.only_instance(group)["InstanceId"]
        self.asg.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
        self.assertEqual(self.instances(group), [])
        self.assertEqual(self.ec2_state(old), "terminated")
        wait_for(lambda: self.instances(group), 5, "the replacement")

    def test_attaching_a_volume_attached_elsewhere_is_volume_in_use(self) -> None:
        _, holder, volume_id = self.in_service_with_volume()
        other = self.only_instance(self.group())["InstanceId"]
        error = error_of(lambda: self.ec2.attach_volume(VolumeId=volume_id, InstanceId=other, Device="/dev/sdg"))
        self.assertEqual(error.response["Error"]["Code"], "VolumeInUse")
        self.assertEqual([a["InstanceId"] for a in self.attachments(volume_id)], [holder])

    def test_config_rejects_bad_input_and_changes_nothing(self) -> None:
        for bad in ({"bogus": 1}, {"attach_delay_secs": -1}, {"keep_volumes_on_terminate": "yes"},
                    {"shutting_down_secs": 2, "attach_delay_secs": "x"}):
            status, body = self.moto.admin("POST", "config", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", body)
        self.assertEqual(self.moto.admin("GET", "config"), (200, DEFAULT_KNOBS))


class ServiceQuotaTests(MotoTestCase):
    def test_the_ec2_vcpu_quota_is_the_knob(self) -> None:
        quotas = self.moto.client("service-quotas")
        got = quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
        self.assertEqual((got["QuotaCode"], got["Value"]), ("L-1216C47A", 64.0))
        self.assertEqual(self.moto.admin("POST", "config", {"ec2_vcpu_quota": 8})[0], 200)
        got = quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
        self.assertEqual(got["Value"], 8.0)
        default = quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
        self.assertEqual(default["Value"], 8.0)
        # Other quotas are moto's (it knows only the vpc ones).
        error = error_of(lambda: quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-0000"))
        self.assertEqual(error.response["Error"]["Code"], "NoSuchResourceException")


class FaultTests(MotoTestCase):
    def set_faults(self, spec: dict[str, Any]) -> None:
        status, body = self.moto.admin("POST", "faults", spec)
        self.assertEqual(status, 200, body)

    def test_throttling_errors_parse_as_each_service_sends_them(self) -> None:
        clients = {name: self.moto.client(name) for name in ("route53", "s3", "lambda", "sts", "ssm")}
        cases = [
            ("route53", lambda: clients["route53"].list_hosted_zones(), 400, "Throttling"),
            ("autoscaling", lambda: self.asg.describe_auto_scaling_groups(), 400, "Throttling"),
            ("ec2", lambda: self.ec2.describe_vpcs(), 503, "RequestLimitExceeded"),
            ("s3", lambda: clients["s3"].list_buckets(), 503, "SlowDown"),
            ("lambda", lambda: clients["lambda"].list_functions(), 429, "TooManyRequestsException"),
            ("sts", lambda: clients["sts"].get_caller_identity(), 400, "Throttling"),
            ("ssm", lambda: clients["ssm"].describe_parameters(), 400, "ThrottlingException"),
        ]
        self.set_faults({"throttle": {service: 1.0 for service, *_ in cases}, "seconds": 3})
        started = time.monotonic()
        for service, call, status, code in cases:
            with self.subTest(service=service):
                error = error_of(call)
                self.assertEqual((error.response["ResponseMetadata"]["HTTPStatusCode"],
                                  error.response["Error"]["Code"]), (status, code))
        self.assertLess(time.monotonic() - started, 3, "the window closed before every call was made")
        throttled = self.moto.admin("GET", "faults")[1]["throttled"]
        self.assertEqual(throttled["route53:ListHostedZones"], 1)
        time.sleep(max(0.0, started + 3.2 - time.monotonic()))
        for service, call, *_ in cases:
            with self.subTest(service=service, window="closed"):
                call()

    def test_calls_signed_with_an_exempt_key_are_never_throttled(self) -> None:
        self.set_faults({"throttle": {"ec2": 1.0}, "exempt_access_keys": ["sandbox-supervisor"]})
        self.assertEqual(error_of(self.ec2.describe_vpcs).response["Error"]["Code"], "RequestLimitExceeded")
        exempt = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{self.moto.http}", region_name=REGION,
                              aws_access_key_id="sandbox-supervisor", aws_secret_access_key="x",
                              config=NO_RETRIES)
        exempt.describe_vpcs()
        status, _ = self.moto.admin("POST", "faults", {"exempt_access_keys": "sandbox-supervisor"})
        self.assertEqual(status, 400, "a list is required")

    def test_empty_faults_clear_the_window(self) -> None:
        self.set_faults({"throttle": {"ec2": 1.0}})
        self.assertEqual(error_of(self.ec2.describe_vpcs).response["Error"]["Code"], "RequestLimitExceeded")
        self.set_faults({})
        self.ec2.describe_vpcs()

    def test_throttle_probability_throttles_some_calls(self) -> None:
        self.set_faults({"throttle": {"autoscaling": 0.5}, "seed": 7})
        outcomes = []
        for _ in range(40):
            try:
                self.asg.describe_auto_scaling_groups(MaxRecords=1)
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        self.assertTrue(5 <= outcomes.count("Throttling") <= 35, outcomes)
        self.assertEqual(outcomes.count("Throttling") + outcomes.count("ok"), 40)

    def test_latency(self) -> None:
        self.set_faults({"latency_ms": {"ec2": 400}, "seconds": 30})
        started = time.monotonic()
        self.ec2.describe_vpcs()
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        route53 = self.moto.client("route53")
        started = time.monotonic()
        route53.list_hosted_zones()
        self.assertLess(time.monotonic() - started, 0.4)

    def test_bad_fault_specs_are_refused(self) -> None:
        for bad in ({"throttle": {"ec2": 2}}, {"throttle": ["ec2"]}, {"seconds": 0}, {"nope": 1}):
            self.assertEqual(self.moto.admin("POST", "faults", bad)[0], 400, bad)
        self.ec2.describe_vpcs()  # nothing was set


class CallCounterTests(MotoTestCase):
    def test_counts_aws_calls_by_service_and_action(self) -> None:
        route53 = self.moto.client("route53")
        s3 = self.moto.client("s3")
        self.assertEqual(self.moto.admin("POST", "calls/reset"), (200, {}))
        self.ec2.describe_vpcs()
        self.ec2.describe_vpcs()
        self.asg.describe_auto_scaling_groups()
        zone = route53.create_hosted_zone(Name="example.internal", CallerReference=str(time.time()))
        zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": "peer-0.example.internal", "Type": "A", "TTL": 5,
                                                      "ResourceRecords": [{"Value": "127.0.1.9"}]}}]})
        route53.list_resource_record_sets(HostedZoneId=zone_id)
        s3.create_bucket(Bucket="counted")
        s3.put_object(Bucket="counted", Key="k", Body=b"x")
        self.moto.admin("GET", "config")
        self.assertEqual(self.moto.admin("GET", "calls")[1], {
            "ec2:DescribeVpcs": 2,
            "autoscaling:DescribeAutoScalingGroups": 1,
            "route53:CreateHostedZone": 1,
            "route53:ChangeResourceRecordSets": 1,
            "route53:ListResourceRecordSets": 1,
            "s3:CreateBucket": 1,
            "s3:PutObject": 1,
        })
        self.moto.admin("POST", "calls/reset")
        self.assertEqual(self.moto.admin("GET", "calls")[1], {})

    def test_rest_action_names(self) -> None:
        self.assertEqual(steadfast_moto.s3_action("GET", "/b", {"list-type": ["2"]}, False), "ListObjectsV2")
        self.assertEqual(steadfast_moto.s3_action("PUT", "/b", {"policy": [""]}, False), "PutBucketPolicy")
        self.assertEqual(steadfast_moto.s3_action("PUT", "/b/k", {}, True), "CopyObject")
        self.assertEqual(steadfast_moto.s3_action("POST", "/b/k", {"uploadId": ["1"]}, False),
                         "CompleteMultipartUpload")


class ReachTests(MotoTestCase):
    """POST /_steadfast/reach: a caller reaches only the services its allow-list names."""

    def tearDown(self) -> None:
        self.assertEqual(self.moto.admin("POST", "reach", {})[0], 200)
        super().tearDown()

    def test_a_service_off_the_list_never_answers_and_is_counted(self) -> None:
        status, _ = self.moto.admin("POST", "reach", {"allow": {"node-key": ["ec2"]}, "hold_secs": 0.2})
        self.assertEqual(status, 200)
        node_ec2 = self.moto.client("ec2", key="node-key")
        node_sm = self.moto.client("secretsmanager", key="node-key")
        node_ec2.describe_vpcs()
        started = time.monotonic()
        with self.assertRaises(Exception) as refused:
            node_sm.list_secrets()
        self.assertGreaterEqual(time.monotonic() - started, 0.2, "held, as a call without a route")
        self.assertIn("504", str(refused.exception))
        # Another caller, with no list, reaches everything.
        self.moto.client("secretsmanager").list_secrets()
        got = self.moto.admin("GET", "reach")[1]
        self.assertEqual(got["allow"], {"node-key": ["ec2"]})
        self.assertEqual(got["called"]["node-key"], {"ec2": 1, "secretsmanager": 1})
        self.assertEqual(got["refused"], {"node-key": {"secretsmanager": 1}})
        self.assertEqual(got["called"]["testing"], {"secretsmanager": 1})

    def test_bad_reach_specs_change_nothing(self) -> None:
        self.moto.admin("POST", "reach", {"allow": {"k": ["ec2"]}})
        for bad in ({"allow": {"k": "ec2"}}, {"allow": ["ec2"]}, {"hold_secs": -1}, {"nope": 1}):
            status, body = self.moto.admin("POST", "reach", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", body)
        self.assertEqual(self.moto.admin("GET", "reach")[1]["allow"], {"k": ["ec2"]})


class ChangesTests(MotoTestCase):
    """GET /_steadfast/changes: a read changes nothing, a write or a timer wakes a waiter."""

    def generation(self, after: int = -1, wait_ms: int = 0) -> int:
        status, body = self.moto.admin("GET", f"changes?after={after}&wait_ms={wait_ms}")
        self.assertEqual(set(body.get("counts", {})), set(steadfast_moto.Changes.TOPICS), body)
        self.assertEqual(status, 200, body)
        return body["generation"]

    def counts(self) -> dict[str, int]:
        status, body = self.moto.admin("GET", "changes")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["generation"], sum(body["counts"].values()), body)
        return body["counts"]

    def test_reads_are_not_changes_and_writes_are_by_service(self) -> None:
        volume = self.volume()
        before = self.counts()
        self.ec2.describe_volumes(VolumeIds=[volume])
        self.asg.describe_auto_scaling_groups()
        self.moto.client("cloudwatch").put_metric_data(
            Namespace="t", MetricData=[{"MetricName": "m", "Value": 1.0}])
        self.assertEqual(self.counts(), before, "a Describe or a metric counted as a change")
        self.ec2.create_tags(Resources=[volume], Tags=[{"Key": "k", "Value": "v"}])
        self.assertEqual(self.counts(), {**before, "tags": before["tags"] + 1})
        self.ec2.delete_volume(VolumeId=volume)
        self.assertEqual(self.counts(), {**before, "tags": before["tags"] + 1, "volumes": before["volumes"] + 1})

    def test_change_topics(self) -> None:
        topic = steadfast_moto.change_topic
        self.assertEqual(topic("ec2", "AttachVolume"), "volumes")
        self.assertEqual(topic("ec2", "DetachVolume"), "volumes")
        self.assertEqual(topic("ec2", "TerminateInstances"), "instances")
        self.assertEqual(topic("autoscaling", "CompleteLifecycleAction"), "instances")
        self.assertEqual(topic("autoscaling", "TerminateInstanceInAutoScalingGroup"), "instances")
        self.assertEqual(topic("route53", "ChangeResourceRecordSets"), "records")
        self.assertEqual(topic("ec2", "CreateTags"), "tags")
        self.assertIsNone(topic("ec2", "DescribeVolumes"))
        self.assertIsNone(topic("route53", "ListResourceRecordSets"))
        self.assertIsNone(topic("route53", "GET /2013-04-01"))
        self.assertIsNone(topic("monitoring", "PutMetricData"))
        self.assertIsNone(topic("s3", "PutObject"))

    def test_a_waiter_wakes_on_a_write_not_on_its_timeout(self) -> None:
        volume = self.volume()
        before = self.generation()
        writer = threading.Timer(0.3, lambda: self.ec2.create_tags(
            Resources=[volume], Tags=[{"Key": "k", "Value": "w"}]))
        started = time.monotonic()
        writer.start()
        try:
            after = self.generation(before, 5000)
        finally:
            writer.join()
        self.assertGreater(after, before)
        self.assertLess(time.monotonic() - started, 3.0, "the waiter slept out its 5 s")

    def test_a_timer_is_a_change(self) -> None:
        self.assertEqual(self.moto.admin("POST", "config", {"replacement_delay_secs": 0.5})[0], 200)
        group = self.group()
        old = self.only_instance(group)["InstanceId"]
        self.asg.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
        before = self.counts()
        wait_for(lambda: self.counts()["instances"] > before["instances"], 5, "the replacement timer, counted")
        wait_for(lambda: [i for i in self.instances(group) if i["InstanceId"] != old], 5, "the replacement")

    def test_a_quiet_wait_times_out_with_the_same_generation(self) -> None:
        # An earlier test's timer may still fire during one wait: three tries to see a quiet one.
        for _ in range(3):
            before = self.generation()
            started = time.monotonic()
            if self.generation(before, 200) == before:
                self.assertGreaterEqual(time.monotonic() - started, 0.18)
                return
        self.fail("every 200 ms wait saw a change, with nothing being written")

    def test_bad_wait_is_refused(self) -> None:
        status, body = self.moto.admin("GET", "changes?after=0&wait_ms=60000")
        self.assertEqual(status, 400)
        self.assertIn("wait_ms", body["error"])


class S3PolicyTests(MotoTestCase):
    def bucket_with_deny(self, condition: dict[str, Any]) -> str:
        name = f"policy-{next(_names)}"
        s3 = self.moto.client("s3")
        s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "deny", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"], "Condition": condition}]}))
        return name

    def put_status(self, bucket: str, secure: bool) -> int:
        try:
            response = self.moto.client("s3", secure=secure).put_object(Bucket=bucket, Key="k", Body=b"data")
            return response["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as error:
            return error.response["ResponseMetadata"]["HTTPStatusCode"]

    def test_deny_insecure_transport_allows_https_and_denies_http(self) -> None:
        bucket = self.bucket_with_deny({"Bool": {"aws:SecureTransport": "false"}})
        self.assertEqual(self.put_status(bucket, secure=True), 200)
        self.assertEqual(self.put_status(bucket, secure=False), 403)
        body = self.moto.client("s3", secure=True).get_object(Bucket=bucket, Key="k")["Body"].read()
        self.assertEqual(body, b"data")

    def test_deny_secure_transport_allows_http_and_denies_https(self) -> None:
        bucket = self.bucket_with_deny({"Bool": {"aws:SecureTransport": ["true"]}})
        self.assertEqual(self.put_status(bucket, secure=False), 200)
        self.assertEqual(self.put_status(bucket, secure=True), 403)

    def test_unknown_condition_makes_a_deny_apply(self) -> None:
        bucket = self.bucket_with_deny({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}})
        self.assertEqual(self.put_status(bucket, secure=True), 403)
        self.assertEqual(self.put_status(bucket, secure=False), 403)

    def test_unknown_condition_never_makes_an_allow_apply(self) -> None:
        allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
        self.assertFalse(steadfast_moto.conditions_apply(allow, secure=True))
        self.assertTrue(steadfast_moto.conditions_apply({**allow, "Effect": "Deny"}, secure=True))


DOMAIN = "main.etcd.internal."
CHANGE_ERROR_BODY = re.compile(
    r'^<\?xml version="1\.0"\?>\n<ErrorResponse xmlns="https://route53\.amazonaws\.com/doc/2013-04-01/">'
    r"<Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>(.*)</Message></Error>"
    r"<RequestId>([^<]+)</RequestId></ErrorResponse>$")


def rrset(name: str, *values: str, ttl: int = 30, kind: str = "A") -> dict[str, Any]:
    return {"Name": name, "Type": kind, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}


def create(record_set: dict[str, Any]) -> dict[str, Any]:
    return {"Action": "CREATE", "ResourceRecordSet": record_set}


def delete(record_set: dict[str, Any]) -> dict[str, Any]:
    return {"Action": "DELETE", "ResourceRecordSet": record_set}


def upsert(record_set: dict[str, Any]) -> dict[str, Any]:
    return {"Action": "UPSERT", "ResourceRecordSet": record_set}


def already_exists(name: str, kind: str = "A") -> str:
    return f"Tried to create resource record set [name='{name}', type='{kind}'] but it already exists"


def not_found(name: str, kind: str = "A") -> str:
    return f"Tried to delete resource record set [name='{name}', type='{kind}'] but it was not found"


def values_differ(name: str, kind: str = "A") -> str:
    return (f"Tried to delete resource record set [name='{name}', type='{kind}'] "
            "but the values provided do not match the current values")


class Route53Tests(unittest.TestCase):
    """Conditional change batches and Route 53's listing order, in a zone per test."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.route53 = LAUNCHER_PROC.client("route53")
        cls.raw: dict[str, Any] = {}

        def keep_raw(response_dict: dict[str, Any], **_: Any) -> None:
            cls.raw.update(status=response_dict["status_code"], headers=response_dict["headers"],
                           body=response_dict["body"].decode())

        cls.route53.meta.events.register("before-parse.route53.ChangeResourceRecordSets", keep_raw)

    def setUp(self) -> None:
        self.zone = self.route53.create_hosted_zone(
            Name="etcd.internal", CallerReference=f"{self._testMethodName}-{next(_names)}",
            HostedZoneConfig={"PrivateZone": True}, VPC={"VPCRegion": REGION, "VPCId": "vpc-1"},
        )["HostedZone"]["Id"]
        # The cluster's records as peer-dns leaves them, and a neighbour peer-dns must not touch.
        self.change(*[create(rrset(f"peer-{n}.{DOMAIN}", f"127.0.1.{n + 10}")) for n in range(3)],
                    create(rrset(f"_etcd-server._tcp.{DOMAIN}", "0 0 2380 peer-0.main.etcd.internal.",
                                 kind="SRV")),
                    create(rrset(f"peer-1.{DOMAIN}", '"owner=peer-dns"', kind="TXT")))

    def change(self, *changes: dict[str, Any]) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch={"Changes": list(changes)})

    def rejected(self, *changes: dict[str, Any]) -> list[str]:
        """The reasons of an InvalidChangeBatch, after checking the error as clients see it."""
        error = error_of(lambda: self.change(*changes))
        self.assertEqual((error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"],
                          error.response["Error"]["Type"]), (400, "InvalidChangeBatch", "Sender"))
        message = error.response["Error"]["Message"]
        self.assertTrue(message.startswith("[") and message.endswith("]"), message)
        return re.split(r", (?=Tried |RRSet )", message[1:-1])

    def records(self, **start: Any) -> list[tuple[str, str, int, list[str]]]:
        listed = self.route53.list_resource_record_sets(HostedZoneId=self.zone, **start)
        return [(r["Name"], r["Type"], r["TTL"], sorted(v["Value"] for v in r["ResourceRecords"]))
                for r in listed["ResourceRecordSets"]]

    def a_values(self, name: str) -> list[list[str]]:
        return [values for listed, kind, _, values in self.records() if listed == name and kind == "A"]

    # --- change batches ---------------------------------------------------------------

    def test_create_of_an_existing_record_is_rejected(self) -> None:
        name = f"peer-1.{DOMAIN}"
        before = self.records()
        # other values, other case, no trailing dot: still the same record set
        self.assertEqual(self.rejected(create(rrset("PEER-1.Main.etcd.internal", "127.0.1.99"))),
                         [already_exists(name)])
        self.assertEqual(self.records(), before)
        self.change(upsert(rrset(f"peer-7.{DOMAIN}", "127.0.1.17")))
        self.assertEqual(self.rejected(create(rrset(f"peer-7.{DOMAIN}", "127.0.1.18"))),
                         [already_exists(f"peer-7.{DOMAIN}")])
        self.assertEqual(self.a_values(f"peer-7.{DOMAIN}"), [["127.0.1.17"]])

    def test_the_error_is_route53s_rest_xml_invalid_change_batch(self) -> None:
        error = error_of(lambda: self.change(create(rrset(f"peer-0.{DOMAIN}", "127.0.1.10"))))
        self.assertEqual(error.response["Error"]["Code"], "InvalidChangeBatch")
        self.assertEqual(self.raw["status"], 400)
        self.assertEqual(self.raw["headers"]["Content-Type"], "text/xml")
        match = CHANGE_ERROR_BODY.match(self.raw["body"])
        self.assertIsNotNone(match, self.raw["body"])
        self.assertEqual(match.group(1), f"[{already_exists(f'peer-0.{DOMAIN}')}]")
        self.assertEqual(match.group(2), error.response["ResponseMetadata"]["RequestId"])
        self.assertEqual(self.raw["headers"]["x-amzn-RequestId"], match.group(2))

    def test_delete_of_a_missing_record_is_rejected(self) -> None:
        before = self.records()
        self.assertEqual(self.rejected(delete(rrset(f"peer-8.{DOMAIN}", "127.0.1.18"))),
                         [not_found(f"peer-8.{DOMAIN}")])
        # the name exists, with another type only
        self.assertEqual(self.rejected(delete(rrset(f"peer-1.{DOMAIN}", "::1", kind="AAAA"))),
                         [not_found(f"peer-1.{DOMAIN}", "AAAA")])
        self.assertEqual(self.records(), before)

    def test_delete_must_match_ttl_and_values(self) -> None:
        name = f"peer-1.{DOMAIN}"
        for wrong in (rrset(name, "127.0.1.11", ttl=31), rrset(name, "127.0.1.12"),
                      rrset(name, "127.0.1.11", "127.0.1.12")):
            with self.subTest(wrong=wrong):
                self.assertEqual(self.rejected(delete(wrong)), [values_differ(name)])
        self.assertEqual(self.a_values(name), [["127.0.1.11"]])
        # values are a set: their order does not matter
        self.change(upsert(rrset(name, "127.0.1.11", "127.0.1.12")))
        self.change(delete(rrset("peer-1.main.etcd.internal", "127.0.1.12", "127.0.1.11")))
        self.assertEqual(self.a_values(name), [])

    def test_delete_and_create_move_a_record_in_one_batch(self) -> None:
        name = f"peer-2.{DOMAIN}"
        self.change(delete(rrset(name, "127.0.1.12")), create(rrset(name, "127.0.1.22")))
        self.assertEqual(self.a_values(name), [["127.0.1.22"]])

    def test_a_stale_delete_is_rejected_and_the_record_keeps_its_newer_value(self) -> None:
        name = f"peer-2.{DOMAIN}"
        # a slow invocation read 127.0.1.12; meanwhile a newer one moved the record
        self.change(delete(rrset(name, "127.0.1.12")), create(rrset(name, "127.0.1.32")))
        reasons = self.rejected(delete(rrset(name, "127.0.1.12")), create(rrset(name, "127.0.1.42")))
        # the failed DELETE left the record in place, so the CREATE finds it (as Route 53 reports)
        self.assertEqual(reasons, [values_differ(name), already_exists(name)])
        self.assertEqual(self.a_values(name), [["127.0.1.32"]])

    def test_a_rejected_batch_applies_none_of_its_changes(self) -> None:
        before = self.records()
        cases = {
            "second change bad": [delete(rrset(f"peer-0.{DOMAIN}", "127.0.1.10")),
                                  create(rrset(f"peer-1.{DOMAIN}", "127.0.1.31"))],
            "last change bad": [upsert(rrset(f"peer-5.{DOMAIN}", "127.0.1.15")),
                                create(rrset(f"peer-6.{DOMAIN}", "127.0.1.16")),
                                delete(rrset(f"peer-2.{DOMAIN}", "127.0.1.99"))],
            "name outside the zone": [upsert(rrset(f"peer-5.{DOMAIN}", "127.0.1.15")),
                                      create(rrset("peer-6.main.etcd.example.", "127.0.1.16"))],
        }
        for case, changes in cases.items():
            with self.subTest(case=case):
                self.assertEqual(len(self.rejected(*changes)), 1)
                self.assertEqual(self.records(), before)
        self.assertEqual(self.rejected(*cases["name outside the zone"]),
                         ["RRSet with DNS name peer-6.main.etcd.example. is not permitted in zone etcd.internal."])

    def test_changes_are_checked_against_the_earlier_changes_of_their_batch(self) -> None:
        new = rrset(f"peer-5.{DOMAIN}", "127.0.1.15")
        self.change(create(new), delete(new))
        self.assertEqual(self.a_values(f"peer-5.{DOMAIN}"), [])
        self.assertEqual(self.rejected(create(new), create(new)), [already_exists(f"peer-5.{DOMAIN}")])
        old = rrset(f"peer-0.{DOMAIN}", "127.0.1.10")
        self.assertEqual(self.rejected(delete(old), delete(old)), [not_found(f"peer-0.{DOMAIN}")])
        self.assertEqual(self.a_values(f"peer-0.{DOMAIN}"), [["127.0.1.10"]])
        self.assertEqual(self.a_values(f"peer-5.{DOMAIN}"), [])

    def test_upsert_always_applies(self) -> None:
        self.change(upsert(rrset(f"peer-0.{DOMAIN}", "127.0.1.20", ttl=60)),
                    upsert(rrset("peer-6.main.etcd.internal", "127.0.1.16")),
                    upsert(rrset("PEER-6.main.etcd.internal.", "127.0.1.26")))
        self.assertEqual([r for r in self.records() if r[1] == "A"], [
            (f"peer-0.{DOMAIN}", "A", 60, ["127.0.1.20"]),
            (f"peer-1.{DOMAIN}", "A", 30, ["127.0.1.11"]),
            (f"peer-2.{DOMAIN}", "A", 30, ["127.0.1.12"]),
            (f"peer-6.{DOMAIN}", "A", 30, ["127.0.1.26"]),
        ])

    def test_srv_and_other_records_are_untouched(self) -> None:
        def others() -> list[Any]:
            return [r for r in self.records() if r[1] != "A"]

        before = others()
        self.assertEqual([(name, kind) for name, kind, *_ in before], [
            ("etcd.internal.", "NS"), ("etcd.internal.", "SOA"),
            (f"_etcd-server._tcp.{DOMAIN}", "SRV"), (f"peer-1.{DOMAIN}", "TXT")])
        name = f"peer-1.{DOMAIN}"
        self.change(delete(rrset(name, "127.0.1.11")), create(rrset(name, "127.0.1.21")))
        self.rejected(delete(rrset(name, "127.0.1.11")), create(rrset(name, "127.0.1.31")))
        self.change(delete(rrset(name, "127.0.1.21")))
        self.assertEqual(others(), before)
        self.assertEqual(self.a_values(name), [])

    # --- listing order ------------------------------------------------------------------

    def add_neighbours(self) -> None:
        """Names around the cluster's: plain alphabetical order would mix them in."""
        names = ["a.etcd.internal", "main-b.etcd.internal", "mainz.etcd.internal", "zz.etcd.internal",
                 "peer-1-b.etcd.internal", "main.etcd.internal"]
        names += [f"peer-{n}.main-b.etcd.internal" for n in range(12)]
        names += [f"peer-{n}.other.etcd.internal" for n in range(12)]
        names += [f"peer-{n}x.etcd.internal" for n in range(12)]
        self.change(*[create(rrset(name, "127.0.2.1")) for name in names])

    def test_listing_sorts_by_reversed_labels_with_the_trailing_dot(self) -> None:
        self.add_neighbours()
        self.change(create(rrset(f"peer-1-b.{DOMAIN}", "127.0.2.2")), create(rrset(f"x.peer-1.{DOMAIN}", "127.0.2.3")),
                    create(rrset(f"peer-10.{DOMAIN}", "127.0.2.4")), create(rrset(f"peer.{DOMAIN}", "127.0.2.5")))
        listed = [(name, kind) for name, kind, *_ in self.records(MaxItems="300")]
        around = [entry for entry in listed if entry[0].endswith("main.etcd.internal.")
                  or entry[0] in ("main-b.etcd.internal.", "mainz.etcd.internal.")]
        # "-" sorts before ".", so main-b comes before main and peer-1-b before peer-1
        self.assertEqual(around, [
            ("main-b.etcd.internal.", "A"),
            ("main.etcd.internal.", "A"),
            (f"_etcd-server._tcp.{DOMAIN}", "SRV"),
            (f"peer-0.{DOMAIN}", "A"),
            (f"peer-1-b.{DOMAIN}", "A"),
            (f"peer-1.{DOMAIN}", "A"),
            (f"peer-1.{DOMAIN}", "TXT"),
            (f"x.peer-1.{DOMAIN}", "A"),
            (f"peer-10.{DOMAIN}", "A"),
            (f"peer-2.{DOMAIN}", "A"),
            (f"peer.{DOMAIN}", "A"),
            ("mainz.etcd.internal.", "A"),
        ])
        self.assertEqual(listed[:3], [("etcd.internal.", "NS"), ("etcd.internal.", "SOA"), ("a.etcd.internal.", "A")])
        self.assertEqual(listed[-1], ("zz.etcd.internal.", "A"))
        main = [i for i, (name, _) in enumerate(listed) if name.endswith(DOMAIN)]
        self.assertEqual(main, list(range(main[0], main[0] + len(main))), "the domain's names are together")

    def test_paging_from_the_cluster_domain_finds_every_cluster_record_and_nothing_else(self) -> None:
        self.add_neighbours()
        self.change(*[create(rrset(f"peer-{n}.{DOMAIN}", f"127.0.1.{n + 10}")) for n in range(3, 9)])
        seen, pages = [], 0
        start: dict[str, str] = {"StartRecordName": "main.etcd.internal"}  # as peer-dns: no dot
        while True:
            page = self.route53.list_resource_record_sets(HostedZoneId=self.zone, MaxItems="4", **start)
            pages += 1
            inside = [r for r in page["ResourceRecordSets"] if r["Name"] == DOMAIN or r["Name"].endswith("." + DOMAIN)]
            seen += [(r["Name"], r["Type"]) for r in inside]
            if len(inside) < len(page["ResourceRecordSets"]) or not page["IsTruncated"]:
                break
            self.assertEqual(page["MaxItems"], "4")
            start = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
        self.assertEqual(seen, [("main.etcd.internal.", "A"), (f"_etcd-server._tcp.{DOMAIN}", "SRV")]
                         + [(f"peer-{n}.{DOMAIN}", "A") for n in range(2)] + [(f"peer-1.{DOMAIN}", "TXT")]
                         + [(f"peer-{n}.{DOMAIN}", "A") for n in range(2, 9)])
        self.assertEqual(pages, 4)

    def test_pages_cover_the_zone_once_and_name_the_next_record(self) -> None:
        self.add_neighbours()
        everything = self.records(MaxItems="300")
        collected, start = [], {}
        while True:
            page = self.route53.list_resource_record_sets(HostedZoneId=self.zone, MaxItems="5", **start)
            collected += [(r["Name"], r["Type"]) for r in page["ResourceRecordSets"]]
            if not page["IsTruncated"]:
                self.assertNotIn("NextRecordName", page)
                break
            self.assertEqual(len(page["ResourceRecordSets"]), 5)
            start = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
            self.assertEqual(self.records(MaxItems="1", **start)[0][:2], (page["NextRecordName"], page["NextRecordType"]))
        self.assertEqual(collected, [entry[:2] for entry in everything])
        self.assertEqual(len(collected), 49)

    def test_start_record_name_and_type_position_the_listing(self) -> None:
        self.add_neighbours()
        cases = [
            ({"StartRecordName": "PEER-1.Main.etcd.internal"}, [(f"peer-1.{DOMAIN}", "A"), (f"peer-1.{DOMAIN}", "TXT")]),
            ({"StartRecordName": f"peer-1.{DOMAIN}", "StartRecordType": "TXT"},
             [(f"peer-1.{DOMAIN}", "TXT"), (f"peer-2.{DOMAIN}", "A")]),
            ({"StartRecordName": f"peer-1.{DOMAIN}", "StartRecordType": "SRV"},
             [(f"peer-1.{DOMAIN}", "TXT"), (f"peer-2.{DOMAIN}", "A")]),
            # no such name: the next one in Route 53's order
            ({"StartRecordName": f"peer-10.{DOMAIN}"}, [(f"peer-2.{DOMAIN}", "A"), ("mainz.etcd.internal.", "A")]),
            ({"StartRecordName": f"peer-1.{DOMAIN}", "StartRecordType": "A"},
             [(f"peer-1.{DOMAIN}", "A"), (f"peer-1.{DOMAIN}", "TXT")]),
        ]
        for start, expected in cases:
            with self.subTest(start=start):
                self.assertEqual([entry[:2] for entry in self.records(MaxItems="2", **start)], expected)

    def test_a_page_holds_at_most_300_record_sets(self) -> None:
        self.change(*[create(rrset(f"host-{n}.other.etcd.internal", "127.0.3.1")) for n in range(300)])
        page = self.route53.list_resource_record_sets(HostedZoneId=self.zone, MaxItems="400")
        self.assertEqual((len(page["ResourceRecordSets"]), page["IsTruncated"]), (300, True))
        rest = self.route53.list_resource_record_sets(HostedZoneId=self.zone, StartRecordName=page["NextRecordName"],
                                                      StartRecordType=page["NextRecordType"])
        self.assertEqual(len(rest["ResourceRecordSets"]) + 300, 307)
        self.assertFalse(rest["IsTruncated"])


CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"
# As the Rust SDK signs (moto verifies no signature).
CBOR_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/monitoring/aws4_request, "
    "SignedHeaders=accept;content-length;content-type;host;smithy-protocol;x-amz-date;x-amzn-query-mode, "
    "Signature=" + "0" * 64)


def epoch(moment: datetime.datetime) -> cbor2.CBORTag:
    """A timestamp as the Rust SDK encodes one: tag 1, epoch seconds as a float64."""
    return cbor2.CBORTag(1, moment.timestamp())


class CborAnswer:
    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw
        self.body = cbor2.loads(raw) if raw else None


class CloudWatchCborTests(unittest.TestCase):
    """Smithy RPC v2 CBOR requests, as aws-sdk-cloudwatch sends them, over plain HTTP."""

    def setUp(self) -> None:
        self.moto = LAUNCHER_PROC
        self.namespace = f"Steadfast/Cbor{next(_names)}"
        # Whole seconds, 2 minutes back: inside every query window below.
        self.when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=2)

    def call(self, operation: str, body: Any = None, raw: bytes | None = None, compress: bool = False) -> CborAnswer:
        data = raw if raw is not None else (b"" if body is None else cbor2.dumps(body))
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor",
                   "x-amzn-query-mode": "true", "X-Amz-Date": "20261122T000000Z", "Authorization": CBOR_AUTHORIZATION}
        if compress:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        connection = http.client.HTTPConnection("127.0.0.1", int(self.moto.http), timeout=30)
        try:
            connection.request("POST", CBOR_PATH + operation, body=data, headers=headers)
            response = connection.getresponse()
            return CborAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def ok(self, operation: str, body: Any = None, **kwargs: Any) -> Any:
        answer = self.call(operation, body, **kwargs)
        self.assertEqual(answer.status, 200, answer.body)
        return answer.body

    def put(self, name: str, value: float, dimensions: list[dict[str, str]], **kwargs: Any) -> None:
        datum = {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "Seconds",
                 "Timestamp": epoch(self.when)}
        self.assertEqual(self.ok("PutMetricData", {"Namespace": self.namespace, "MetricData": [datum]}, **kwargs), {})

    def test_put_metric_data_then_list_metrics_returns_the_metric_with_its_dimensions(self) -> None:
        dimensions = [{"Name": "Cluster", "Value": "main"}, {"Name": "Node", "Value": "peer-0"}]
        self.put("Lag", 1.5, dimensions)
        self.put("Other", 1.0, [{"Name": "Cluster", "Value": "other"}])
        listed = self.ok("ListMetrics", {"Namespace": self.namespace, "MetricName": "Lag",
                                         "Dimensions": [{"Name": "Node", "Value": "peer-0"}]})
        self.assertEqual(listed, {"Metrics": [{"Namespace": self.namespace, "MetricName": "Lag",
                                               "Dimensions": dimensions}]})
        everything = self.ok("ListMetrics", {"Namespace": self.namespace})
        self.assertEqual(sorted(m["MetricName"] for m in everything["Metrics"]), ["Lag", "Other"])
        none = self.ok("ListMetrics", {"Namespace": self.namespace, "Dimensions": [{"Name": "Node", "Value": "peer-9"}]})
        self.assertEqual(none.get("Metrics", []), [])

    def test_get_metric_statistics_returns_the_datapoint_with_a_tag_1_timestamp(self) -> None:
        dimensions = [{"Name": "Node", "Value": "peer-1"}]
        self.put("Latency", 2.0, dimensions)
        self.put("Latency", 5.0, dimensions)
        answer = self.call("GetMetricStatistics", {
            "Namespace": self.namespace, "MetricName": "Latency", "Dimensions": dimensions,
            "StartTime": epoch(self.when - datetime.timedelta(minutes=5)),
            "EndTime": epoch(self.when + datetime.timedelta(minutes=5)),
            "Period": 60, "Statistics": ["Sum", "SampleCount", "Maximum"]})
        self.assertEqual(answer.status, 200, answer.body)
        self.assertEqual(answer.body, {"Label": "Latency", "Datapoints": [{
            "Timestamp": self.when, "Sum": 7.0, "SampleCount": 2.0, "Maximum": 5.0, "Unit": "Seconds"}]})
        # Tag 1 (0xc1) + the whole epoch seconds as an integer; the doubles as float64 (0xfb).
        self.assertIn(b"\xc1" + cbor2.dumps(int(self.when.timestamp())), answer.raw)
        self.assertIn(b"\xfb" + cbor2.dumps(7.0)[1:], answer.raw)

    def test_get_metric_data_put_metric_alarm_and_describe_alarms(self) -> None:
        dimensions = [{"Name": "Node", "Value": "peer-2"}]
        self.put("Errors", 3.0, dimensions)
        data = self.ok("GetMetricData", {
            "StartTime": epoch(self.when - datetime.timedelta(minutes=5)),
            "EndTime": epoch(self.when + datetime.timedelta(minutes=5)),
            "MetricDataQueries": [{"Id": "errors", "MetricStat": {
                "Metric": {"Namespace": self.namespace, "MetricName": "Errors", "Dimensions": dimensions},
                "Period": 60, "Stat": "Sum"}}]})
        [result] = data["MetricDataResults"]
        self.assertEqual((result["Id"], result["Values"], result["Timestamps"]), ("errors", [3.0], [self.when]))
        alarm = f"{self.namespace}-errors"
        self.assertEqual(self.ok("PutMetricAlarm", {
            "AlarmName": alarm, "Namespace": self.namespace, "MetricName": "Errors", "Dimensions": dimensions,
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}), {})
        described = self.ok("DescribeAlarms", {"AlarmNames": [alarm]})
        [found] = described["MetricAlarms"]
        self.assertEqual({key: found[key] for key in ("AlarmName", "Threshold", "EvaluationPeriods", "Dimensions")},
                         {"AlarmName": alarm, "Threshold": 10.0, "EvaluationPeriods": 2, "Dimensions": dimensions})
        self.assertIsInstance(found["StateUpdatedTimestamp"], datetime.datetime)  # tag 1 decodes to a datetime
        self.assertEqual(described["CompositeAlarms"], [])
        self.assertEqual(self.ok("DescribeAlarms", {"AlarmNames": [alarm + "-missing"]})["MetricAlarms"], [])

    def test_response_headers_the_rust_client_requires(self) -> None:
        # An empty body and the Rust encoder's indefinite-length empty map are both "no input".
        for raw in (b"", b"\xbf\xff"):
            with self.subTest(raw=raw):
                answer = self.call("ListMetrics", raw=raw)
                self.assertEqual(answer.status, 200, answer.body)
                self.assertEqual(answer.headers["content-type"], "application/cbor")
                self.assertEqual(answer.headers["smithy-protocol"], "rpc-v2-cbor")
                self.assertTrue(answer.headers.get("x-amzn-requestid"))
                self.assertEqual(int(answer.headers["content-length"]), len(answer.raw))
                self.assertIsInstance(answer.body, dict)

    def test_errors_are_cbor_maps_with_type_and_message_and_the_query_code_header(self) -> None:
        cases = [
            # moto's own check: neither Statistics nor ExtendedStatistics.
            ("GetMetricStatistics", {"Namespace": self.namespace, "MetricName": "m", "Period": 60,
                                     "StartTime": epoch(self.when), "EndTime": epoch(self.when)},
             400, "com.amazonaws.cloudwatch#InvalidParameterCombinationException", "InvalidParameterCombination;Sender"),
            # ResourceNotFound is two shapes; GetDashboard's own is DashboardNotFoundError.
            ("GetDashboard", {"DashboardName": "no-such-dashboard"},
             404, "com.amazonaws.cloudwatch#DashboardNotFoundError", "ResourceNotFound;Sender"),
            ("NoSuchOperation", {}, 404, "UnknownOperationException", "UnknownOperationException;Sender"),
            ("ListMetrics", {"Namespace": 7}, 400, "SerializationException", "SerializationException;Sender"),
        ]
        for operation, body, status, error_type, query_error in cases:
            with self.subTest(operation=operation):
                answer = self.call(operation, body)
                self.assertEqual((answer.status, answer.body["__type"], answer.headers.get("x-amzn-query-error")),
                                 (status, error_type, query_error))
                self.assertTrue(answer.body.get("message"))
                self.assertEqual(answer.headers["content-type"], "application/cbor")
                self.assertEqual(answer.headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(self.call("ListMetrics", raw=b"\xff\x00").body["__type"], "SerializationException")

    def test_boto3_over_query_and_cbor_share_one_backend(self) -> None:
        cloudwatch = self.moto.client("cloudwatch")
        self.put("SeenByBoto3", 4.0, [{"Name": "Node", "Value": "peer-3"}])
        listed = cloudwatch.list_metrics(Namespace=self.namespace)["Metrics"]
        self.assertEqual(listed, [{"Namespace": self.namespace, "MetricName": "SeenByBoto3",
                                   "Dimensions": [{"Name": "Node", "Value": "peer-3"}]}])
        stats = cloudwatch.get_metric_statistics(
            Namespace=self.namespace, MetricName="SeenByBoto3", Dimensions=[{"Name": "Node", "Value": "peer-3"}],
            StartTime=self.when - datetime.timedelta(minutes=5), EndTime=self.when + datetime.timedelta(minutes=5),
            Period=60, Statistics=["Sum"])
        self.assertEqual([(d["Timestamp"], d["Sum"]) for d in stats["Datapoints"]], [(self.when, 4.0)])
        cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=[{"MetricName": "PutByBoto3", "Value": 1.0}])
        names = sorted(m["MetricName"] for m in self.ok("ListMetrics", {"Namespace": self.namespace})["Metrics"])
        self.assertEqual(names, ["PutByBoto3", "SeenByBoto3"])

    def test_gzip_body_and_members_moto_does_not_know(self) -> None:
        # The SDK gzips large PutMetricData bodies; EntityMetricData and StrictEntityValidation
        # are newer than moto's model and are dropped; the rest of the call applies.
        self.assertEqual(self.ok("PutMetricData", {
            "Namespace": self.namespace, "StrictEntityValidation": False,
            "EntityMetricData": [{"Entity": {"KeyAttributes": {"Type": "Service"}}, "MetricData": []}],
            "MetricData": [{"MetricName": "Zipped", "Values": [1.0, 2.0], "Counts": [1.0, 3.0],
                            "Timestamp": epoch(self.when), "Unit": "Count", "StorageResolution": 60}]},
            compress=True), {})
        stats = self.ok("GetMetricStatistics", {
            "Namespace": self.namespace, "MetricName": "Zipped", "Period": 60, "Statistics": ["SampleCount"],
            "StartTime": epoch(self.when - datetime.timedelta(minutes=5)),
            "EndTime": epoch(self.when + datetime.timedelta(minutes=5))})
        self.assertEqual([d["Timestamp"] for d in stats["Datapoints"]], [self.when])

    def test_calls_are_counted_and_a_throttled_call_is_a_cbor_throttling_error(self) -> None:
        self.moto.admin("POST", "calls/reset")
        self.ok("ListMetrics", {"Namespace": self.namespace})
        self.call("GetDashboard", {"DashboardName": "no-such-dashboard"})
        self.assertEqual(self.moto.admin("GET", "calls")[1],
                         {"monitoring:ListMetrics": 1, "monitoring:GetDashboard": 1})
        self.assertEqual(self.moto.admin("POST", "faults", {"throttle": {"monitoring": 1.0}, "seconds": 30})[0], 200)
        try:
            answer = self.call("PutMetricData", {"Namespace": self.namespace,
                                                 "MetricData": [{"MetricName": "Throttled", "Value": 1.0}]})
        finally:
            self.moto.admin("POST", "faults", {})
        self.assertEqual((answer.status, answer.body, answer.headers.get("x-amzn-query-error")),
                         (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}, "Throttling;Sender"))
        self.assertEqual((answer.headers["content-type"], answer.headers["smithy-protocol"]),
                         ("application/cbor", "rpc-v2-cbor"))
        self.assertEqual(self.moto.admin("GET", "calls")[1]["monitoring:PutMetricData"], 1)
        self.assertEqual(self.ok("ListMetrics", {"Namespace": self.namespace, "MetricName": "Throttled"}), {"Metrics": []})

    def test_timestamps_between_query_and_cbor(self) -> None:
        self.assertEqual(steadfast_moto.epoch_seconds_tag("2026-11-22T03:49:13Z"), cbor2.CBORTag(1, 1795319353))
        self.assertEqual(steadfast_moto.epoch_seconds_tag("2026-11-22T03:49:13.250Z"), cbor2.CBORTag(1, 1795319353.25))
        shape = steadfast_moto.get_service_model("cloudwatch").operation_model("GetMetricStatistics").input_shape
        fitted = steadfast_moto.fit_to_shape({"StartTime": 1795319353, "Period": 60, "Unknown": 1, "Unit": None},
                                             shape, "input")
        self.assertEqual(fitted, {"StartTime": datetime.datetime(2026, 11, 22, 3, 49, 13, tzinfo=datetime.timezone.utc),
                                  "Period": 60})


class SharedStateTests(MotoTestCase):
    def test_http_and_https_serve_one_state(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        secure_ec2 = self.moto.client("ec2", secure=True)
        self.assertEqual([v["VpcId"] for v in secure_ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]], [vpc])
        self.moto.client("s3", secure=True).create_bucket(Bucket="shared-state")
        self.assertIn("shared-state", [b["Name"] for b in self.moto.client("s3").list_buckets()["Buckets"]])


class LauncherProcessTests(unittest.TestCase):
    def test_http_only_ready_line_and_clean_sigterm(self) -> None:
        launcher = Launcher(https=False)
        try:
            self.assertEqual(launcher.https, "none")
            self.assertEqual(launcher.admin("GET", "config")[1], DEFAULT_KNOBS)
            self.assertEqual(launcher.admin("GET", "nowhere")[0], 404)
        finally:
            code = launcher.stop(signal.SIGTERM)
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()


class EventPatternTests(MotoTestCase):
    """TestEventPattern answers from moto's own matcher (item 7); moto's stub answered nothing."""

    def test_patterns_match_what_they_name_and_nothing_else(self) -> None:
        events = self.moto.client("events")
        pattern = json.dumps({
            "source": ["aws.autoscaling"],
            "detail-type": ["EC2 Instance Launch Successful"],
            "detail": {"AutoScalingGroupName": ["main-peer-0", "main-peer-1"]},
        })

        def event(detail_type: str, group: str) -> str:
            return json.dumps({"version": "0", "id": "1", "source": "aws.autoscaling",
                               "detail-type": detail_type, "account": "123456789012",
                               "time": "2026-11-21T00:00:00Z", "region": "us-east-1",
                               "resources": [], "detail": {"AutoScalingGroupName": group}})

        def result(e: str) -> bool:
            return events.test_event_pattern(EventPattern=pattern, Event=e)["Result"]

        self.assertTrue(result(event("EC2 Instance Launch Successful", "main-peer-1")))
        self.assertFalse(result(event("EC2 Instance Launch Successful", "web")))
        self.assertFalse(result(event("EC2 Instance Terminate Successful", "main-peer-1")))
        with self.assertRaises(ClientError) as ctx:
            events.test_event_pattern(EventPattern="{not json", Event=event("x", "y"))
        self.assertEqual("InvalidEventPatternException", ctx.exception.response["Error"]["Code"])
