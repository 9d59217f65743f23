"""steadfast-moto: a moto 5.2.5 server with the AWS behaviour steadfast depends on.

Run it as::

    .venv/bin/python tests/sandbox/moto/steadfast_moto.py --host 127.0.0.1 --port P \
        [--ssl-port Q] [--cert-file PATH]

It serves ONE moto backend state on plain http port P and, when given, on https port Q
(a self-signed certificate for ``localhost`` and the bind address, generated at start;
``--cert-file`` writes its PEM for clients that want to trust it). Port 0 picks a free
port. Once both listen it prints exactly one line on stdout::

    steadfast-moto ready http=<P> https=<Q|none>

and it exits with status 0 on SIGTERM or SIGINT. ``MOTO_IAM_LOAD_MANAGED_POLICIES`` (and
every other ``MOTO_*`` setting) is left exactly as the caller's environment has it.

What it changes in moto, and why (moto is patched in this process, never forked):

1. Launch lifecycle hooks. moto stores hooks but never holds an instance, ignores
   CreateAutoScalingGroup's ``LifecycleHookSpecificationList``, and has no
   CompleteLifecycleAction / RecordLifecycleActionHeartbeat (HTTP 500).
   - ``FakeAutoScalingGroup.replace_autoscaling_group_instances`` (the one place moto
     launches group instances: creation, desired-capacity change, replacement) is wrapped:
     each new instance of a group that has ``autoscaling:EC2_INSTANCE_LAUNCHING`` hooks
     is put in ``Pending:Wait`` with one hold per hook, deadline = HeartbeatTimeout.
   - ``FakeAutoScalingGroup.active_instances`` counts Pending* instances too, so moto
     does not launch more while one waits (it counted only InService).
   - ``AutoScalingResponse.complete_lifecycle_action`` / ``record_lifecycle_action_heartbeat``
     are added. CONTINUE (by InstanceId or LifecycleActionToken) makes the instance
     InService once every hook holding it is done; ABANDON terminates it and the group
     launches a replacement, which waits again. A heartbeat moves the deadline to
     now + HeartbeatTimeout, capped (as AWS) at launch + min(48 h, 100 x HeartbeatTimeout).
     Anything not waiting gets AWS's ``ValidationError`` "No active Lifecycle Action found
     with instance ID <id>" (or "... with token <token>").
   - A background thread checks deadlines every 100 ms and applies the hook's
     DefaultResult on expiry.
   - ``AutoScalingResponse.create_auto_scaling_group`` registers the specification list's
     hooks before moto launches the group's first instances.
   - ``AutoScalingBackend.create_lifecycle_hook`` (PutLifecycleHook) updates an existing
     hook in place (moto replaced it, resetting every field not given); holds follow the
     hook's current DefaultResult and HeartbeatTimeout. GlobalTimeout is reported as AWS
     computes it. Hooks added after an instance launched do not hold it (as AWS).
   - ``AutoScalingBackend.delete_auto_scaling_group`` also deletes the group's hooks (moto
     kept them, so a new group of the same name inherited them).
   - Shorter timeouts than AWS's 30 s minimum are accepted (tests use 1-3 s).
   Only LAUNCHING hooks hold; TERMINATING hooks are stored but terminate at once (moto).

2. Termination realism knobs (all off by default: "as fast as moto"), set at runtime via
   ``POST /_steadfast/config``:
   - ``shutting_down_secs``: ``Instance.terminate`` leaves the instance ``shutting-down``
     (volumes attached) this long, then runs moto's terminate. Its group still replaces
     it at once. A second terminate of a shutting-down/terminated instance changes nothing.
   - ``guest_shutdown_secs``: when > 0, a terminating instance also stays ``shutting-down``
     (volumes attached) until its guest has shut down, as in EC2, where the volumes detach only
     after the OS is down: ``POST /_steadfast/guest-down {"instance_id": ...}`` reports it
     (the sandbox's fleet does, once the node's last process is gone); at most this long.
     Without it a new instance could mount a volume the old one still writes to.
   - ``keep_volumes_on_terminate``: at the end of termination, non-root volumes without
     DeleteOnTermination stay attached (``attached``) to the terminated instance until
     someone detaches them (moto detached every volume at once): the stuck-volume case.
   - ``attach_delay_secs``: AttachVolume (``ElasticBlockStore.attach_volume``) leaves the
     attachment ``attaching`` this long before ``attached``.
   - ``replacement_delay_secs``: ``AutoScalingBackend.notify_terminate_instances`` (EC2
     TerminateInstances), ``terminate_instance`` (TerminateInstanceInAutoScalingGroup) and
     ABANDON bring the group back to its desired capacity this long after the
     termination, instead of at once.
   - ``ec2_vcpu_quota``: the account's "Running On-Demand Standard instances" vCPU quota
     (Service Quotas ``ec2``/``L-1216C47A``, which moto does not know), 64 unless set: what the
     module's preflight compares ``peer_count`` x the instance type's vCPUs with at plan time.
     ``GetAWSDefaultServiceQuota``, which moto lacks, answers as ``GetServiceQuota``.
   Always on (moto silently moved an attached volume): AttachVolume of a volume that is
   attached anywhere fails with ``VolumeInUse``, as AWS does.

3. Fault injection and call counting: a WSGI middleware in front of moto.
   The service of a call is the SigV4 credential scope's service (Authorization header or
   presigned ``X-Amz-Credential``); requests without one (moto-api, IMDS) are not AWS calls.
   The action comes from ``Action=`` (query or form), ``X-Amz-Target``, the operation in a Smithy
   RPC v2 CBOR path (``/service/<Service>/operation/<Operation>``, item 6), or, for REST APIs
   (route53, lambda, s3), from method + path (tables below; an unknown REST call is named
   ``<METHOD> /<first path segment>``). Admin API under ``/_steadfast/`` (S3 bucket names
   cannot start with ``_``, and no AWS API path does, so it never shadows one); every
   answer is JSON, bad input is a 400 that changes nothing:
   - ``POST /_steadfast/faults`` ``{"throttle": {"route53": 0.8}, "latency_ms": {"ec2": 50},
     "seconds": 60, "seed": 1, "exempt_access_keys": ["AKID"]}``: replaces the window
     (probabilities per service, ``"*"`` for any other service; no ``seconds`` = until cleared;
     ``{}`` clears). Calls signed with an exempt access key are never slowed or throttled (the
     sandbox's supervisor, which plays the cloud itself, signs with its own key).
     ``GET /_steadfast/faults``: the window, ``seconds_left`` and the throttled counts.
   - ``GET /_steadfast/calls``: ``{"<service>:<Action>": n}`` of AWS calls received
     (throttled ones included); ``POST /_steadfast/calls/reset``.
   - ``POST /_steadfast/reach`` ``{"allow": {"<access key>": ["ec2", ...]}, "hold_secs": 6}``:
     which services a caller can reach (item 9); ``{}`` lets every caller reach everything.
     ``GET /_steadfast/reach``: the allow-lists, and per access key the services it called and
     those it was refused (``{"called": {"<key>": {"<service>": n}}, "refused": {...}}``).
   - ``GET|POST /_steadfast/config``: the knobs of item 2 (POST takes any subset).
   - ``POST /_steadfast/guest-down`` ``{"instance_id": ...}``: that instance's guest has shut
     down (``guest_shutdown_secs``); answers whether its termination was waiting for it.
   - ``GET /_steadfast/changes?after=G&wait_ms=M``: ``{"generation": N, "counts": {...}}``,
     the count of changes so far, answered as soon as it exceeds ``after`` or after
     ``wait_ms`` (default 0, at most 10000); ``counts`` splits it by what may have changed:
     ``volumes`` (an EC2 call on a volume: AttachVolume, DetachVolume, CreateVolume, ...),
     ``records`` (a Route 53 write), ``instances`` (any other EC2 or Auto Scaling write),
     ``tags`` (CreateTags, DeleteTags). Background work that ran (hold timeouts,
     replacements, shutdowns) counts for instances and volumes, an admin POST for all. Reads
     (Describe*, List*, Get*, Head*, TestEventPattern, REST GET/HEAD) and calls to other
     services (CloudWatch metrics, S3) are not changes. The sandbox's hypervisor waits on it
     instead of polling blind, as EC2's own hypervisor learns of an attachment at once.
   - ``GET /_steadfast/lifecycle``: the holds, each with instance_id, group, hook, token,
     default_result, heartbeat_timeout, deadline and global_deadline (unix seconds) and
     seconds_left.
   A throttled call gets the real service's error: route53 400 ``Throttling`` (REST-XML),
   ec2 503 ``RequestLimitExceeded``, s3 503 ``SlowDown``, lambda 429
   ``TooManyRequestsException``, query services (autoscaling, iam, sts, ...) 400
   ``Throttling``, RPC v2 CBOR calls (CloudWatch) 400 ``ThrottlingException`` in CBOR with
   ``x-amzn-query-error: Throttling;Sender`` (item 6), JSON and other REST services 400
   ``ThrottlingException``. EC2 and Auto
   Scaling calls are serialized with the deadline thread under one lock, so holds and
   timers never race moto's request threads.

4. S3 bucket policies: moto evaluated a statement's Condition without any request context,
   so every conditional statement came out DENIED (a ``Deny`` when
   ``aws:SecureTransport = false`` refused PutObject over TLS too). ``FakeBucket.get_permission``
   is replaced: ``Bool aws:SecureTransport`` is evaluated (true when the request came in on
   the https port); a statement applies only when all its conditions hold; a condition this
   launcher does not know makes a Deny apply and an Allow not apply (fail closed). moto
   still answers a denied object call with a bare 403 (no AccessDenied XML body).

5. Route 53 change batches and listing order. moto checked CREATE and DELETE against its
   journal of earlier requests, not against the records: a CREATE of an existing name+type
   with other values (or of one written by UPSERT) succeeded and stored a second record set
   of that name+type; a DELETE whose values no longer matched (a stale read) deleted the
   current record; a DELETE of a missing record was ``InvalidInput``; a batch that failed
   half way kept its first changes. Its listing order ignored case and the trailing dot.
   - ``Route53Backend.change_resource_record_sets`` is replaced. Under one lock (moto's
     request threads would otherwise interleave two batches), every change is checked, in
     order, against the zone's records as the earlier changes of the batch leave them:
     CREATE of an existing name+type (+SetIdentifier) -> "Tried to create resource record
     set [name='n.', type='A'] but it already exists"; DELETE of a missing one -> "Tried to
     delete resource record set [...] but it was not found"; DELETE whose TTL, set of values
     or AliasTarget differ -> "... but the values provided do not match the current values";
     a name outside the zone -> "RRSet with DNS name n. is not permitted in zone z.";
     UPSERT always applies. A change that fails leaves the state the later ones see
     unchanged. Any failure rejects the whole batch with every reason, and nothing is
     applied. Names compare as Route 53 compares them: case-insensitively, with or without
     the trailing dot; they are stored as Route 53 stores them (lower case, trailing dot).
     moto's own input checks stay (unknown Action, unsupported characters, a DELETE without
     TTL+ResourceRecords or AliasTarget: ``InvalidInput``), before anything is applied.
   - ``Route53.change_resource_record_sets`` (the response) renders InvalidChangeBatch as
     Route 53 does today: HTTP 400, ``text/xml``, ``<ErrorResponse xmlns=...><Error><Type>
     Sender</Type><Code>InvalidChangeBatch</Code><Message>[reason, reason]</Message></Error>
     <RequestId>..</RequestId></ErrorResponse>`` (moto added a ``<message>`` copy). The
     older ``<InvalidChangeBatch><Messages>`` body is not used: Route 53 stopped sending it,
     and neither botocore nor the Rust SDK reads an error code from it.
   - ``FakeZone.get_record_sets`` (ListResourceRecordSets' order and start position) sorts
     by the name with its labels reversed and the trailing dot kept, as Route 53 compares
     it (``internal.etcd.main.``: so ``main-b.`` sorts before ``main.`` and its subdomains,
     which stay together), then by type; StartRecordName (+ StartRecordType) starts at the
     first record set >= that position, case-insensitively.
   - ``Route53Backend.list_resource_record_sets`` reads under the same lock and returns at
     most 300 record sets a page, as Route 53 (MaxItems above 300 still pages).
   Not modelled: CNAME-versus-other-type conflicts, the other routing fields (Weight,
   HealthCheckId, ...) in a DELETE's comparison, StartRecordIdentifier paging.

6. CloudWatch over Smithy RPC v2 CBOR. The Rust SDK's CloudWatch client (aws-sdk-cloudwatch
   1.140) speaks only RPC v2 CBOR: ``POST /service/GraniteServiceVersion20100801/operation/<Op>``,
   ``smithy-protocol: rpc-v2-cbor``, a CBOR body. moto answered 404. moto 5.2.5 would serve
   CloudWatch over AWS JSON 1.0 only if botocore's model listed that protocol, and this venv's
   botocore (1.35.99) lists Query alone (moto: "Unsupported protocol [json] for service
   cloudwatch"), so ``RpcV2CborTranslator`` (picked by the middleware from the path and the
   header) hands moto the same call over Query:
   - the body (empty = ``{}``; gunzipped under ``Content-Encoding: gzip``, as the SDK may send
     PutMetricData) is decoded with cbor2 and fitted to botocore's model of the operation's input
     (``fit_to_shape``): tag-1 timestamps become UTC datetimes, nulls are left out, a member the
     model lacks (the SDK is newer: PutMetricData's ``EntityMetricData``,
     ``StrictEntityValidation``) is dropped with a warning on stderr, and a value of the wrong
     CBOR type is 400 ``SerializationException``;
   - botocore's QuerySerializer writes the form (``Action=<Op>&Version=2010-08-01&...``, ISO 8601
     timestamps, base64 blobs); moto gets it as ``POST /`` with the request's Authorization (its
     service, region and account come from there);
   - moto's XML is read by botocore's QueryParser against the operation's output shape and sent
     back with moto's status, ``Content-Type: application/cbor``, ``smithy-protocol: rpc-v2-cbor``
     and ``x-amzn-RequestId``: a CBOR map, timestamps as tag 1 + epoch seconds (an integer when
     whole, else a float64), doubles as float64, blobs as byte strings, no output as ``{}``;
   - an error keeps moto's status and is ``{"__type": "com.amazonaws.cloudwatch#<ErrorShape>",
     "message": "..."}`` (the model's error shape with that Query code, the operation's own
     errors first; the bare code when none has it) with ``x-amzn-query-error: <Query code>;
     <Sender|Receiver>``: CloudWatch is awsQueryCompatible, and its clients take the error code
     from that header (``InvalidParameterValue``, ``ResourceNotFound``, ...). An operation
     moto's model lacks is 404 ``UnknownOperationException``; moto raising (an action it has not
     implemented, a moto bug such as GetMetricStatistics without StartTime) is 500
     ``InternalFailure``.
   Counting and faults see ``monitoring:<Op>`` (the SigV4 scope's service, the path's
   operation); a throttled call is 400 ``{"__type": "ThrottlingException", "message": "Rate
   exceeded"}`` with ``x-amzn-query-error: Throttling;Sender`` (CloudWatch's Query code; its
   model has no throttling shape). Only the services in ``RPC_V2_CBOR_SERVICES`` (CloudWatch)
   are translated; moto checks no required members, as over Query.

7. EventBridge ``TestEventPattern``. moto's handler is a stub (``EventsHandler.test_event_pattern``
   returns an empty body), so nothing could check that a rule's pattern matches the events it
   is meant for. It is replaced by one that answers ``{"Result": <bool>}`` from moto's own
   matcher (``EventPattern.load(pattern).matches_event(event)``, the code moto uses to route
   PutEvents to rules), and ``InvalidEventPatternException`` (400) for a pattern or event that
   is not valid JSON.

9. Service reachability: moto answered every service to every caller, so a node that calls a
   service its VPC provides no endpoint for (no NAT, no route) worked in the sandbox and hung
   in AWS. AWS: a call to a service without a route never connects; the SDK's timeout ends it.
   Here: ``POST /_steadfast/reach`` names, per access key, the services a caller reaches;
   a call signed with that key to any other service is held ``hold_secs`` (default 6 s, past
   the callers' 5 s attempt timeout) and then answered 504 with no body, never by moto; it is
   counted as refused. Callers without an allow-list reach everything.
"""

from __future__ import annotations

import argparse
import contextvars
import copy
import datetime
import gzip
import heapq
import io
import ipaddress
import itertools
import json
import logging
import os
import random
import re
import signal
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape as xml_escape

import cbor2
from botocore.model import OperationModel, OperationNotFoundError, Shape
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer
from botocore.utils import percent_encode_sequence
from werkzeug.serving import BaseWSGIServer, make_server

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import (
    AutoScalingBackend,
    FakeAutoScalingGroup,
    InstanceState,
    LifecycleHook,
    TerminateInstanceActivity,
)
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult
from moto.core.utils import get_service_model
from moto.ec2.exceptions import VolumeInUseError
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.ec2.models.instances import Instance
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.route53.exceptions import InvalidActionValue, InvalidInput, Route53ClientError
from moto.route53.models import FakeZone, RecordSet, Route53Backend
from moto.route53.responses import Route53 as Route53Response
from moto.route53.utils import validate_domain_name
from moto.s3.models import FakeBucket
from moto.servicequotas.models import ServiceQuotasBackend
from moto.servicequotas.responses import ServiceQuotasResponse

LOG = logging.getLogger("steadfast-moto")

TICK_SECS = 0.1
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
MAX_GLOBAL_TIMEOUT_SECS = 48 * 3600
PENDING_OR_IN_SERVICE = {"Pending", "Pending:Wait", "Pending:Proceed", "InService"}
ADMIN_PREFIX = "/_steadfast/"
LOCKED_SERVICES = {"ec2", "autoscaling"}

# One lock for everything that mutates EC2 / Auto Scaling state: their API calls, the
# deadline thread, and the admin lifecycle view.
STATE_LOCK = threading.RLock()
# True while the current request arrived on the https port (read by the S3 policy patch).
SECURE_TRANSPORT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "secure_transport", default=False
)


# --------------------------------------------------------------------------------------
# Knobs (item 2)
# --------------------------------------------------------------------------------------


@dataclass
class Knobs:
    shutting_down_secs: float = 0.0
    guest_shutdown_secs: float = 0.0
    keep_volumes_on_terminate: bool = False
    attach_delay_secs: float = 0.0
    replacement_delay_secs: float = 0.0
    ec2_vcpu_quota: float = 64.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def update(self, changes: dict[str, Any]) -> None:
        """Applies a partial update; raises ValueError (and changes nothing) on bad input."""
        current = self.as_dict()
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        for key, value in changes.items():
            current[key] = _checked_knob(key, value, type(current[key]))
        self.__dict__.update(current)


def _checked_knob(key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    return float(value)


KNOBS = Knobs()


# --------------------------------------------------------------------------------------
# The background thread: deferred work and lifecycle deadlines
# --------------------------------------------------------------------------------------


class Ticker:
    """Every TICK_SECS, under STATE_LOCK, runs the deferred work that is due, then `on_tick`."""

    def __init__(self) -> None:
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._timers_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after(self, delay: float, work: Callable[[], None]) -> None:
        with self._timers_lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), work))

    def start(self, on_tick: Callable[[float], bool]) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(on_tick,), name="steadfast-ticker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, on_tick: Callable[[float], bool]) -> None:
        changed: list[bool] = []
        while not self._stop.wait(TICK_SECS):
            changed.clear()
            with STATE_LOCK:
                for work in self._due(time.monotonic()):
                    changed.append(True)
                    _logged(work)
                _logged(lambda: changed.append(on_tick(time.monotonic())))
            if any(changed):
                CHANGES.bump("instances", "volumes")

    def _due(self, now: float) -> list[Callable[[], None]]:
        due = []
        with self._timers_lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
        return due


class Changes:
    """A generation count of state changes, by source, and waiting for the next one."""

    TOPICS = ("instances", "volumes", "records", "tags")

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._counts: Counter[str] = Counter()

    def bump(self, *topics: str) -> None:
        with self._cond:
            for topic in topics:
                self._counts[topic] += 1
            self._cond.notify_all()

    def _generation(self) -> int:
        return sum(self._counts.values())

    def wait(self, after: int, seconds: float) -> dict[str, Any]:
        """The generation and the counts, once it exceeds `after` or `seconds` have passed."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation() > after, timeout=max(0.0, seconds))
            return {"generation": self._generation(),
                    "counts": {topic: self._counts[topic] for topic in self.TOPICS}}


CHANGES = Changes()
READ_ACTION_PREFIXES = ("Describe", "List", "Get", "Head", "TestEventPattern", "GET ", "HEAD ")
TAG_ACTIONS = {"CreateTags", "DeleteTags", "CreateOrUpdateTags"}


def change_topic(service: str, action: str) -> str | None:
    """What an AWS call may change, of what the region's reconcilers watch (`Changes.TOPICS`),
    or None."""
    if service not in ("ec2", "autoscaling", "route53") or action.startswith(READ_ACTION_PREFIXES):
        return None
    if service == "route53":
        return "records"
    if action in TAG_ACTIONS:
        return "tags"
    if service == "ec2" and "Volume" in action:
        return "volumes"
    return "instances"


def _logged(work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:  # the thread must outlive any one failure
        LOG.exception("steadfast-moto background work failed")


TICKER = Ticker()


def later(delay: float, work: Callable[[], None]) -> None:
    """Runs `work` now, or on the background thread after `delay` seconds."""
    if delay > 0:
        TICKER.after(delay, work)
    else:
        work()


# --------------------------------------------------------------------------------------
# Lifecycle holds (item 1)
# --------------------------------------------------------------------------------------


def global_timeout(heartbeat_timeout: float) -> float:
    """AWS's cap on the total wait of one lifecycle action."""
    return min(MAX_GLOBAL_TIMEOUT_SECS, 100 * heartbeat_timeout)


def next_deadline(now: float, heartbeat_timeout: float, global_deadline: float) -> float:
    """The deadline after a launch or a heartbeat at `now`."""
    return min(now + heartbeat_timeout, global_deadline)


@dataclass
class Hold:
    backend: AutoScalingBackend
    group_name: str
    instance_id: str
    hook: LifecycleHook
    token: str
    deadline: float
    global_deadline: float

    def describe(self, now: float) -> dict[str, Any]:
        wall = time.time() - now
        return {
            "instance_id": self.instance_id,
            "group": self.group_name,
            "hook": self.hook.name,
            "token": self.token,
            "default_result": self.hook.default_result,
            "heartbeat_timeout": self.hook.heartbeat_timeout,
            "deadline": wall + self.deadline,
            "seconds_left": round(self.deadline - now, 3),
            "global_deadline": wall + self.global_deadline,
        }


class Holds:
    """Instances waiting in Pending:Wait, one hold per (instance, LAUNCHING hook)."""

    def __init__(self) -> None:
        self._holds: dict[tuple[str, str], Hold] = {}

    def hold(self, group: FakeAutoScalingGroup, state: InstanceState, hooks: list[LifecycleHook]) -> None:
        now = time.monotonic()
        state.lifecycle_state = "Pending:Wait"
        for hook in hooks:
            cap = now + global_timeout(hook.heartbeat_timeout)
            self._holds[(state.instance_id, hook.name)] = Hold(
                backend=group.autoscaling_backend,
                group_name=group.name,
                instance_id=state.instance_id,
                hook=hook,
                token=str(uuid.uuid4()),
                deadline=next_deadline(now, hook.heartbeat_timeout, cap),
                global_deadline=cap,
            )

    def complete(self, backend: AutoScalingBackend, params: dict[str, Any], result: str) -> None:
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
        self._resolve(self._find(backend, params), result)

    def heartbeat(self, backend: AutoScalingBackend, params: dict[str, Any]) -> None:
        hold = self._find(backend, params)
        hold.deadline = next_deadline(
            time.monotonic(), hold.hook.heartbeat_timeout, hold.global_deadline
        )

    def expire(self, now: float) -> bool:
        """Resolves the holds whose deadline passed; whether there was one."""
        expired = False
        for hold in list(self._holds.values()):
            if _live_state(hold) is None:
                self._holds.pop((hold.instance_id, hold.hook.name), None)
            elif hold.deadline <= now:
                self._resolve(hold, hold.hook.default_result)
                expired = True
        return expired

    def forget(self, instance_id: str) -> None:
        for key in [key for key in self._holds if key[0] == instance_id]:
            del self._holds[key]

    def describe(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [hold.describe(now) for hold in self._holds.values()]

    def _find(self, backend: AutoScalingBackend, params: dict[str, Any]) -> Hold:
        instance_id, token = params.get("InstanceId"), params.get("LifecycleActionToken")
        hold = next(
            (
                hold
                for hold in self._holds.values()
                if hold.backend is backend
                and hold.group_name == params.get("AutoScalingGroupName")
                and hold.hook.name == params.get("LifecycleHookName")
                and (hold.instance_id == instance_id if instance_id else hold.token == token)
                and _live_state(hold) is not None
            ),
            None,
        )
        if hold is None:
            what = f"instance ID {instance_id}" if instance_id else f"token {token}"
            raise ValidationError(f"No active Lifecycle Action found with {what}")
        return hold

    def _resolve(self, hold: Hold, result: str) -> None:
        state = _live_state(hold)
        if result == "ABANDON":
            self.forget(hold.instance_id)
            _abandon(hold.backend, state)
            return
        del self._holds[(hold.instance_id, hold.hook.name)]
        if not any(key[0] == hold.instance_id for key in self._holds):
            state.lifecycle_state = "InService"


def _live_state(hold: Hold) -> InstanceState | None:
    group = hold.backend.autoscaling_groups.get(hold.group_name)
    if group is None:
        return None
    return next((s for s in group.instance_states if s.instance_id == hold.instance_id), None)


def _abandon(backend: AutoScalingBackend, state: InstanceState) -> None:
    group = state.auto_scaling_group
    group.instance_states = [s for s in group.instance_states if s is not state]
    backend.ec2_backend.terminate_instances([state.instance_id])
    schedule_replacement(group)


HOLDS = Holds()


def launching_hooks(backend: AutoScalingBackend, group_name: str) -> list[LifecycleHook]:
    return [
        hook
        for hook in backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group_name and hook.lifecycle_transition == LAUNCHING
    ]


# --------------------------------------------------------------------------------------
# Auto Scaling patches
# --------------------------------------------------------------------------------------


def schedule_replacement(group: FakeAutoScalingGroup) -> None:
    """Brings `group` back to its desired capacity, after `replacement_delay_secs`."""
    later(KNOBS.replacement_delay_secs, lambda: _reconcile(group))


def _reconcile(group: FakeAutoScalingGroup) -> None:
    backend = group.autoscaling_backend
    if backend.autoscaling_groups.get(group.name) is group:
        backend.set_desired_capacity(group.name, group.desired_capacity)


def _wrap_launch(original: Callable[..., None]) -> Callable[..., None]:
    def replace_autoscaling_group_instances(
        self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        known = {state.instance_id for state in self.instance_states}
        original(self, count_needed, propagated_tags)
        hooks = launching_hooks(self.autoscaling_backend, self.name)
        for state in self.instance_states:
            if hooks and state.instance_id not in known:
                HOLDS.hold(self, state, hooks)

    return replace_autoscaling_group_instances


def _active_instances(self: FakeAutoScalingGroup) -> list[InstanceState]:
    return [s for s in self.instance_states if s.lifecycle_state in PENDING_OR_IN_SERVICE]


def _notify_terminate_instances(self: AutoScalingBackend, instance_ids: list[str]) -> None:
    for group in list(self.autoscaling_groups.values()):
        kept = [s for s in group.instance_states if s.instance_id not in instance_ids]
        if len(kept) < len(group.instance_states):
            group.instance_states = kept
            schedule_replacement(group)


def _terminate_instance(
    self: AutoScalingBackend, instance_id: str, should_decrement: bool
) -> TerminateInstanceActivity:
    state = next(
        (s for g in self.autoscaling_groups.values() for s in g.instance_states if s.instance_id == instance_id),
        None,
    )
    if state is None:
        raise ValidationError(
            f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
        )
    group = state.auto_scaling_group
    original_capacity = group.desired_capacity
    group.instance_states = [s for s in group.instance_states if s is not state]
    if should_decrement:
        group.desired_capacity = original_capacity - 1
    self.ec2_backend.terminate_instances([instance_id])
    schedule_replacement(group)
    return TerminateInstanceActivity(state.instance, original_capacity)


def _wrap_put_hook(original: Callable[..., LifecycleHook]) -> Callable[..., LifecycleHook]:
    def create_lifecycle_hook(
        self: AutoScalingBackend,
        name: str,
        as_name: str,
        transition: str | None,
        timeout: int | None,
        result: str | None,
    ) -> LifecycleHook:
        hook = self.lifecycle_hooks.get(f"{as_name}_{name}")
        if hook is None:
            hook = original(self, name, as_name, transition, timeout, result)
        else:
            hook.lifecycle_transition = transition or hook.lifecycle_transition
            hook.heartbeat_timeout = timeout or hook.heartbeat_timeout
            hook.default_result = result or hook.default_result
        hook.global_timeout = int(global_timeout(hook.heartbeat_timeout))
        return hook

    return create_lifecycle_hook


def _wrap_create_group(original: Callable[[AutoScalingResponse], Any]) -> Callable[[AutoScalingResponse], Any]:
    def create_auto_scaling_group(self: AutoScalingResponse) -> Any:
        group_name = self._get_param("AutoScalingGroupName")
        specs = self._get_param("LifecycleHookSpecificationList", [])
        for spec in specs:
            self.autoscaling_backend.create_lifecycle_hook(
                name=spec["LifecycleHookName"],
                as_name=group_name,
                transition=spec["LifecycleTransition"],
                timeout=int(spec["HeartbeatTimeout"]) if "HeartbeatTimeout" in spec else None,
                result=spec.get("DefaultResult"),
            )
        try:
            return original(self)
        except Exception:
            for spec in specs:
                self.autoscaling_backend.delete_lifecycle_hook(group_name, spec["LifecycleHookName"])
            raise

    return create_auto_scaling_group


def _wrap_delete_group(original: Callable[..., None]) -> Callable[..., None]:
    def delete_auto_scaling_group(self: AutoScalingBackend, group_name: str) -> None:
        original(self, group_name)
        for key in [k for k, hook in self.lifecycle_hooks.items() if hook.auto_scaling_group_name == group_name]:
            del self.lifecycle_hooks[key]

    return delete_auto_scaling_group


def _lifecycle_params(response: AutoScalingResponse) -> dict[str, Any]:
    names = ("AutoScalingGroupName", "LifecycleHookName", "InstanceId", "LifecycleActionToken")
    return {name: response._get_param(name) for name in names}


def _complete_lifecycle_action(self: AutoScalingResponse) -> EmptyResult:
    HOLDS.complete(
        self.autoscaling_backend, _lifecycle_params(self), self._get_param("LifecycleActionResult")
    )
    return EmptyResult()


def _record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> EmptyResult:
    HOLDS.heartbeat(self.autoscaling_backend, _lifecycle_params(self))
    return EmptyResult()


def patch_autoscaling() -> None:
    FakeAutoScalingGroup.replace_autoscaling_group_instances = _wrap_launch(
        FakeAutoScalingGroup.replace_autoscaling_group_instances
    )
    FakeAutoScalingGroup.active_instances = _active_instances
    AutoScalingBackend.notify_terminate_instances = _notify_terminate_instances
    AutoScalingBackend.terminate_instance = _terminate_instance
    AutoScalingBackend.create_lifecycle_hook = _wrap_put_hook(AutoScalingBackend.create_lifecycle_hook)
    AutoScalingBackend.delete_auto_scaling_group = _wrap_delete_group(AutoScalingBackend.delete_auto_scaling_group)
    AutoScalingResponse.create_auto_scaling_group = _wrap_create_group(
        AutoScalingResponse.create_auto_scaling_group
    )
    AutoScalingResponse.complete_lifecycle_action = _complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = _record_lifecycle_action_heartbeat


# --------------------------------------------------------------------------------------
# EC2 patches
# --------------------------------------------------------------------------------------


def _wrap_terminate(original: Callable[[Instance], Any]) -> Callable[[Instance], Any]:
    def finish(instance: Instance) -> None:
        kept = _volumes_to_keep(instance) if KNOBS.keep_volumes_on_terminate else {}
        for device in kept:
            del instance.block_device_mapping[device]
        original(instance)
        instance.block_device_mapping.update(kept)

    def terminate(self: Instance) -> Any:
        HOLDS.forget(self.id)
        previous = copy.copy(self._state)
        if self._state.name in ("shutting-down", "terminated"):
            return previous
        if KNOBS.guest_shutdown_secs > 0:
            self._state.name, self._state.code = "shutting-down", 32
            SHUTDOWNS.start(self, finish, KNOBS.shutting_down_secs, KNOBS.guest_shutdown_secs)
            return previous
        if KNOBS.shutting_down_secs > 0:
            self._state.name, self._state.code = "shutting-down", 32
        later(KNOBS.shutting_down_secs, lambda: finish(self))
        return previous

    return terminate


class Shutdowns:
    """Terminating instances waiting for their guest to shut down (``guest_shutdown_secs``):
    each finishes once its guest is down (or the cap passed) and ``shutting_down_secs`` passed."""

    def __init__(self) -> None:
        self.pending: dict[str, dict[str, Any]] = {}

    def start(self, instance: Instance, finish: Callable[[Instance], None], least: float, cap: float) -> None:
        now = time.monotonic()
        self.pending[instance.id] = {"instance": instance, "finish": finish, "earliest": now + least,
                                     "cap": now + cap, "down": False}
        later(cap, lambda: self._maybe_finish(instance.id))
        later(least, lambda: self._maybe_finish(instance.id))

    def guest_down(self, instance_id: str) -> dict[str, Any]:
        p = self.pending.get(instance_id)
        if p is None:
            return {"instance_id": instance_id, "pending": False}
        p["down"] = True
        later(max(0.0, p["earliest"] - time.monotonic()), lambda: self._maybe_finish(instance_id))
        return {"instance_id": instance_id, "pending": True}

    def _maybe_finish(self, instance_id: str) -> None:
        p = self.pending.get(instance_id)
        now = time.monotonic()
        if p is None or now < p["earliest"] or not (p["down"] or now >= p["cap"]):
            return
        del self.pending[instance_id]
        p["finish"](p["instance"])


SHUTDOWNS = Shutdowns()


def _volumes_to_keep(instance: Instance) -> dict[str, Any]:
    return {
        device: mapping
        for device, mapping in instance.block_device_mapping.items()
        if device != instance.root_device_name and not mapping.delete_on_termination
    }


def _wrap_attach_volume(original: Callable[[ElasticBlockStore], Any]) -> Callable[[ElasticBlockStore], Any]:
    def attach_volume(self: ElasticBlockStore) -> Any:
        volume = self.ec2_backend.get_volume(self._get_param("VolumeId"))
        if volume.attachment is not None:
            raise VolumeInUseError(volume.id, volume.attachment.instance.id)
        result = original(self)
        if KNOBS.attach_delay_secs > 0:
            _hold_attaching(volume, KNOBS.attach_delay_secs)
        return result

    return attach_volume


def _hold_attaching(volume: Any, delay: float) -> None:
    attachment = volume.attachment
    mapping = attachment.instance.block_device_mapping[attachment.device]
    attachment.status = mapping.status = "attaching"

    def attached() -> None:
        if volume.attachment is attachment:
            attachment.status, mapping.status = "attached", "in-use"

    TICKER.after(delay, attached)


def patch_ec2() -> None:
    Instance.terminate = _wrap_terminate(Instance.terminate)
    ElasticBlockStore.attach_volume = _wrap_attach_volume(ElasticBlockStore.attach_volume)


# --------------------------------------------------------------------------------------
# Service Quotas: the EC2 vCPU quota (item 2's ec2_vcpu_quota)
# --------------------------------------------------------------------------------------

EC2_VCPU_QUOTA_CODE = "L-1216C47A"


def ec2_vcpu_quota(region: str) -> dict[str, Any]:
    """The quota as GetServiceQuota returns it, its value the knob's."""
    return {
        "Adjustable": True,
        "GlobalQuota": False,
        "QuotaArn": f"arn:aws:servicequotas:{region}::ec2/{EC2_VCPU_QUOTA_CODE}",
        "QuotaCode": EC2_VCPU_QUOTA_CODE,
        "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "Unit": "None",
        "Value": KNOBS.ec2_vcpu_quota,
    }


def _wrap_get_service_quota(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def get_service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code == "ec2" and quota_code == EC2_VCPU_QUOTA_CODE:
            return ec2_vcpu_quota(self.region_name)
        return original(self, service_code, quota_code)

    return get_service_quota


def _get_aws_default_service_quota(self: ServiceQuotasResponse) -> str:
    """GetAWSDefaultServiceQuota, which moto lacks (Terraform's quota data source reads it too):
    the same answer as GetServiceQuota."""
    params = json.loads(self.body)
    quota = self.backend.get_service_quota(
        service_code=str(params.get("ServiceCode")), quota_code=str(params.get("QuotaCode"))
    )
    return json.dumps({"Quota": quota})


def patch_servicequotas() -> None:
    ServiceQuotasBackend.get_service_quota = _wrap_get_service_quota(ServiceQuotasBackend.get_service_quota)
    ServiceQuotasResponse.get_aws_default_service_quota = _get_aws_default_service_quota


# --------------------------------------------------------------------------------------
# S3 bucket policy conditions (item 4)
# --------------------------------------------------------------------------------------


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    statements = json.loads(self.policy)["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    secure = SECURE_TRANSPORT.get()
    results = {statement_permission(s, action, resource, secure) for s in statements}
    for verdict in (PermissionResult.DENIED, PermissionResult.PERMITTED):
        if verdict in results:
            return verdict
    return PermissionResult.NEUTRAL


def statement_permission(statement: dict[str, Any], action: str, resource: str, secure: bool) -> PermissionResult:
    """One statement's verdict: moto's action/resource/principal matching, our conditions."""
    if not conditions_apply(statement, secure):
        return PermissionResult.NEUTRAL
    bare = {key: value for key, value in statement.items() if key != "Condition"}
    return IAMPolicyStatement(bare).is_action_permitted(action, resource)


def conditions_apply(statement: dict[str, Any], secure: bool) -> bool:
    """True when every condition holds; an unknown one holds for Deny, not for Allow."""
    unknown_verdict = statement.get("Effect") == "Deny"
    for operator, block in statement.get("Condition", {}).items():
        for key, expected in block.items():
            verdict = _condition(operator, key, expected, secure)
            if not (unknown_verdict if verdict is None else verdict):
                return False
    return True


def _condition(operator: str, key: str, expected: Any, secure: bool) -> bool | None:
    if operator.lower() != "bool" or key.lower() != "aws:securetransport":
        return None
    values = expected if isinstance(expected, list) else [expected]
    return any(str(value).lower() == str(secure).lower() for value in values)


def patch_s3() -> None:
    FakeBucket.get_permission = _bucket_permission


# --------------------------------------------------------------------------------------
# Route 53 change batches and listing order (item 5)
# --------------------------------------------------------------------------------------

ROUTE53_XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
ROUTE53_PAGE_LIMIT = 300
# Batches are checked and applied, and listings read, one at a time.
ROUTE53_LOCK = threading.RLock()

RecordKey = tuple[str, str, str | None]  # (stored name, type, SetIdentifier)


class ChangeBatchRejected(Route53ClientError):
    """Route 53's InvalidChangeBatch, with every reason of the batch, in order."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("InvalidChangeBatch", "[" + ", ".join(reasons) + "]")
        self.reasons = reasons


def dns_name(name: str) -> str:
    """A name as Route 53 stores and compares it: lower case, with the trailing dot."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def listing_key(name: str) -> str:
    """Route 53's listing order for a name: labels reversed, trailing dot kept."""
    return ".".join(reversed(dns_name(name)[:-1].split("."))) + "."


def _record_key(record_set: dict[str, Any]) -> RecordKey:
    return dns_name(record_set["Name"]), record_set["Type"], record_set.get("SetIdentifier")


def _stored_key(rrset: RecordSet) -> RecordKey:
    return dns_name(rrset.name), rrset.type, rrset.set_identifier


def _record_data(ttl: Any, values: Any, alias: Any) -> tuple[Any, ...]:
    """What a DELETE must match: TTL, the set of values, the alias target."""
    value_set = frozenset(v["Value"] if isinstance(v, dict) else str(v) for v in values or [])
    target = None
    if alias:
        target = (alias.get("HostedZoneId"), dns_name(alias.get("DNSName", "")),
                  str(alias.get("EvaluateTargetHealth", False)).lower())
    return None if ttl is None else int(ttl), value_set, target


def _describe(key: RecordKey) -> str:
    name, kind, set_id = key
    extra = f", set-identifier='{set_id}'" if set_id is not None else ""
    return f"[name='{name}', type='{kind}'{extra}]"


def _check_input(change: dict[str, Any]) -> None:
    """moto's request checks (InvalidInput and friends), made before anything is applied."""
    action, record_set = change["Action"], change["ResourceRecordSet"]
    if action not in ("CREATE", "UPSERT", "DELETE"):
        raise InvalidActionValue(action)
    validate_domain_name(record_set["Name"], code="InvalidChangeBatch")
    has_records = "TTL" in record_set and "ResourceRecords" in record_set
    if action == "DELETE" and not (has_records or "AliasTarget" in record_set):
        raise InvalidInput(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], "
            f"or TrafficPolicyInstanceId], but found none in Change with [Action=DELETE, "
            f"Name={record_set['Name']}, Type={record_set['Type']}, "
            f"SetIdentifier={record_set.get('SetIdentifier', 'null')}]")


def check_change_batch(zone: FakeZone, changes: list[dict[str, Any]]) -> None:
    """Raises ChangeBatchRejected unless every change applies, in order, to the zone."""
    zone_name = dns_name(zone.name)
    current = {_stored_key(r): _record_data(r.ttl, r.records, r.alias_target) for r in zone.rrsets}
    reasons = []
    for change in changes:
        record_set = change["ResourceRecordSet"]
        key = _record_key(record_set)
        if key[0] != zone_name and not key[0].endswith("." + zone_name):
            reasons.append(f"RRSet with DNS name {key[0]} is not permitted in zone {zone_name}")
            continue
        data = _record_data(record_set.get("TTL"), record_set.get("ResourceRecords"),
                            record_set.get("AliasTarget"))
        action, what = change["Action"], _describe(key)
        if action == "CREATE" and key in current:
            reasons.append(f"Tried to create resource record set {what} but it already exists")
        elif action == "DELETE" and key not in current:
            reasons.append(f"Tried to delete resource record set {what} but it was not found")
        elif action == "DELETE" and current[key] != data:
            reasons.append(f"Tried to delete resource record set {what} "
                           "but the values provided do not match the current values")
        elif action == "DELETE":
            del current[key]
        else:
            current[key] = data
    if reasons:
        raise ChangeBatchRejected(reasons)


def apply_change_batch(zone: FakeZone, changes: list[dict[str, Any]]) -> None:
    """Applies a checked batch; the zone's record list is replaced in one assignment."""
    rrsets = list(zone.rrsets)
    for change in changes:
        record_set = dict(change["ResourceRecordSet"], Name=dns_name(change["ResourceRecordSet"]["Name"]))
        if "ResourceRecords" in record_set:
            record_set["ResourceRecords"] = [r["Value"] for r in record_set["ResourceRecords"]]
        key = _record_key(record_set)
        rrsets = [r for r in rrsets if _stored_key(r) != key]
        if change["Action"] != "DELETE":
            rrsets.append(RecordSet(record_set))
    zone.rrsets = rrsets


def _change_resource_record_sets(self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    with ROUTE53_LOCK:
        zone = self.get_hosted_zone(zoneid)
        for change in change_list:
            _check_input(change)
        check_change_batch(zone, change_list)
        apply_change_batch(zone, change_list)


def invalid_change_batch_body(message: str, request_id: str) -> str:
    return (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{ROUTE53_XMLNS}"><Error><Type>Sender</Type>'
            f"<Code>InvalidChangeBatch</Code><Message>{xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>")


def _wrap_change_response(original: Callable[[Route53Response], Any]) -> Callable[[Route53Response], Any]:
    def change_resource_record_sets(self: Route53Response) -> Any:
        try:
            return original(self)
        except Route53ClientError as error:
            if error.code != "InvalidChangeBatch":
                raise
            # moto puts its own request id in <RequestId> and x-amzn-RequestId.
            body = invalid_change_batch_body(error.message, str(uuid.uuid4()))
            return 400, {"status": 400, "Content-Type": "text/xml"}, body

    return change_resource_record_sets


def _record_sets_from(self: FakeZone, start_type: str | None, start_name: str | None) -> list[RecordSet]:
    def position(rrset: RecordSet) -> tuple[str, str]:
        return listing_key(rrset.name), rrset.type or ""

    ordered = sorted(self.rrsets, key=lambda r: (*position(r), r.set_identifier or ""))
    if not start_name:
        return ordered
    start = (listing_key(start_name), start_type or "")
    return [rrset for rrset in ordered if position(rrset) >= start]


def _wrap_list_record_sets(original: Callable[..., Any]) -> Callable[..., Any]:
    def list_resource_record_sets(
        self: Route53Backend, zone_id: str, start_type: str, start_name: str, max_items: int
    ) -> Any:
        with ROUTE53_LOCK:
            return original(self, zone_id, start_type, start_name, min(max_items, ROUTE53_PAGE_LIMIT))

    return list_resource_record_sets


def patch_route53() -> None:
    Route53Backend.change_resource_record_sets = _change_resource_record_sets
    Route53Backend.list_resource_record_sets = _wrap_list_record_sets(Route53Backend.list_resource_record_sets)
    Route53Response.change_resource_record_sets = _wrap_change_response(Route53Response.change_resource_record_sets)
    FakeZone.get_record_sets = _record_sets_from


def _test_event_pattern(self: EventsHandler) -> tuple[str, dict[str, Any]]:
    try:
        pattern = EventPattern.load(self._get_param("EventPattern"))
        event = json.loads(self._get_param("Event") or "")
    except (ValueError, TypeError) as e:
        return self.error("InvalidEventPatternException", f"Event pattern is not valid: {e}")
    if not isinstance(event, dict):
        return self.error("InvalidEventPatternException", "Event is not a JSON object")
    return json.dumps({"Result": bool(pattern.matches_event(event))}), self.response_headers


def patch_events() -> None:
    EventsHandler.test_event_pattern = _test_event_pattern


def install_patches() -> None:
    patch_autoscaling()
    patch_ec2()
    patch_s3()
    patch_route53()
    patch_events()
    patch_servicequotas()


# --------------------------------------------------------------------------------------
# Which AWS call is this? (item 3)
# --------------------------------------------------------------------------------------

ROUTE53_ROUTES = [
    ("POST", r"/hostedzone/[^/]+/rrset", "ChangeResourceRecordSets"),
    ("GET", r"/hostedzone/[^/]+/rrset", "ListResourceRecordSets"),
    ("POST", r"/hostedzone/[^/]+/associatevpc", "AssociateVPCWithHostedZone"),
    ("POST", r"/hostedzone/[^/]+/disassociatevpc", "DisassociateVPCFromHostedZone"),
    ("GET", r"/hostedzone", "ListHostedZones"),
    ("POST", r"/hostedzone", "CreateHostedZone"),
    ("GET", r"/hostedzone/[^/]+", "GetHostedZone"),
    ("POST", r"/hostedzone/[^/]+", "UpdateHostedZoneComment"),
    ("DELETE", r"/hostedzone/[^/]+", "DeleteHostedZone"),
    ("GET", r"/hostedzonesbyname", "ListHostedZonesByName"),
    ("GET", r"/hostedzonecount", "GetHostedZoneCount"),
    ("GET", r"/change/[^/]+", "GetChange"),
    ("GET", r"/tags/[^/]+/[^/]+", "ListTagsForResource"),
    ("POST", r"/tags/[^/]+/[^/]+", "ChangeTagsForResource"),
    ("GET", r"/healthcheck", "ListHealthChecks"),
    ("POST", r"/healthcheck", "CreateHealthCheck"),
    ("GET", r"/healthcheck/[^/]+", "GetHealthCheck"),
    ("POST", r"/healthcheck/[^/]+", "UpdateHealthCheck"),
    ("DELETE", r"/healthcheck/[^/]+", "DeleteHealthCheck"),
]
LAMBDA_ROUTES = [
    ("GET", r"/functions", "ListFunctions"),
    ("POST", r"/functions", "CreateFunction"),
    ("GET", r"/functions/[^/]+", "GetFunction"),
    ("DELETE", r"/functions/[^/]+", "DeleteFunction"),
    ("POST", r"/functions/[^/]+/invocations", "Invoke"),
    ("GET", r"/functions/[^/]+/configuration", "GetFunctionConfiguration"),
    ("PUT", r"/functions/[^/]+/configuration", "UpdateFunctionConfiguration"),
    ("PUT", r"/functions/[^/]+/code", "UpdateFunctionCode"),
    ("POST", r"/functions/[^/]+/policy", "AddPermission"),
    ("GET", r"/functions/[^/]+/policy", "GetPolicy"),
    ("DELETE", r"/functions/[^/]+/policy/[^/]+", "RemovePermission"),
    ("POST", r"/functions/[^/]+/versions", "PublishVersion"),
    ("GET", r"/functions/[^/]+/versions", "ListVersionsByFunction"),
    ("PUT", r"/functions/[^/]+/concurrency", "PutFunctionConcurrency"),
    ("GET", r"/event-source-mappings", "ListEventSourceMappings"),
    ("POST", r"/event-source-mappings", "CreateEventSourceMapping"),
]
REST_ROUTES = {"route53": ROUTE53_ROUTES, "lambda": LAMBDA_ROUTES}
S3_SUBRESOURCE_NOUNS = {
    "policy": "BucketPolicy",
    "policyStatus": "BucketPolicyStatus",
    "versioning": "BucketVersioning",
    "tagging": "BucketTagging",
    "acl": "BucketAcl",
    "encryption": "BucketEncryption",
    "lifecycle": "BucketLifecycleConfiguration",
    "location": "BucketLocation",
    "cors": "BucketCors",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "BucketReplication",
    "website": "BucketWebsite",
    "object-lock": "ObjectLockConfiguration",
}
S3_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request")
CREDENTIAL_KEY = re.compile(r"Credential=([^/,\s]+)/")
VERSION_PREFIX = re.compile(r"^/\d{4}-\d{2}-\d{2}(?=/|$)")


@dataclass
class Call:
    service: str
    action: str
    protocol: str  # "json" (X-Amz-Target), "query" (Action=), "rpc-v2-cbor" or "rest"
    access_key: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}:{self.action}"


def identify(environ: dict[str, Any]) -> Call | None:
    """The AWS call a request makes, or None for a request that is not SigV4-signed."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    service = _signing_service(environ.get("HTTP_AUTHORIZATION", ""), query)
    if service is None:
        return None
    key = _access_key(environ.get("HTTP_AUTHORIZATION", ""), query)
    route = rpc_v2_cbor_route(environ)
    if route is not None:
        return Call(service, route[1], RPC_V2_CBOR, key)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return Call(service, target.rsplit(".", 1)[-1], "json", key)
    action = _first(query, "Action") or _first(_form(environ), "Action")
    if action:
        return Call(service, action, "query", key)
    return Call(service, _rest_action(service, environ, query), "rest", key)


def _access_key(authorization: str, query: dict[str, list[str]]) -> str:
    match = CREDENTIAL_KEY.search(authorization) or CREDENTIAL_KEY.search(
        "Credential=" + (_first(query, "X-Amz-Credential") or "")
    )
    return match.group(1) if match else ""


def _signing_service(authorization: str, query: dict[str, list[str]]) -> str | None:
    match = CREDENTIAL_SCOPE.search(authorization) or CREDENTIAL_SCOPE.search(
        "Credential=" + (_first(query, "X-Amz-Credential") or "")
    )
    return match.group(1).lower() if match else None


def _first(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


def _form(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The form body's fields; the body is put back for moto to read."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace"))


def _rest_action(service: str, environ: dict[str, Any], query: dict[str, list[str]]) -> str:
    method = environ.get("REQUEST_METHOD", "GET")
    path = unquote(environ.get("PATH_INFO", "/"))
    if service == "s3":
        return s3_action(method, path, query, "HTTP_X_AMZ_COPY_SOURCE" in environ)
    path = VERSION_PREFIX.sub("", path).rstrip("/") or "/"
    for route_method, pattern, name in REST_ROUTES.get(service, []):
        if method == route_method and re.fullmatch(pattern, path):
            return name
    return f"{method} /{path.strip('/').split('/')[0]}"


def s3_action(method: str, path: str, query: dict[str, Any], copy_source: bool) -> str:
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if key:
        return _s3_object_action(method, query, copy_source)
    return _s3_bucket_action(method, query)


def _s3_object_action(method: str, query: dict[str, Any], copy_source: bool) -> str:
    if "uploads" in query:
        return "CreateMultipartUpload"
    if "uploadId" in query:
        names = {"PUT": "UploadPartCopy" if copy_source else "UploadPart", "GET": "ListParts",
                 "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}
        return names.get(method, f"{method} multipart")
    for sub, noun in (("tagging", "ObjectTagging"), ("acl", "ObjectAcl"), ("retention", "ObjectRetention")):
        if sub in query:
            return S3_VERBS.get(method, method) + noun
    if method == "PUT" and copy_source:
        return "CopyObject"
    return S3_VERBS.get(method, method) + "Object"


def _s3_bucket_action(method: str, query: dict[str, Any]) -> str:
    special = {("GET", "uploads"): "ListMultipartUploads", ("GET", "versions"): "ListObjectVersions",
               ("POST", "delete"): "DeleteObjects"}
    for (special_method, sub), name in special.items():
        if method == special_method and sub in query:
            return name
    for sub, noun in S3_SUBRESOURCE_NOUNS.items():
        if sub in query:
            return S3_VERBS.get(method, method) + noun
    if method == "GET":
        return "ListObjectsV2" if _first(query, "list-type") == "2" else "ListObjects"
    names = {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}
    return names.get(method, f"{method} bucket")


# --------------------------------------------------------------------------------------
# Throttling errors, as each service really sends them
# --------------------------------------------------------------------------------------

Response = tuple[str, list[tuple[str, str]], bytes]


def throttle_response(call: Call) -> Response:
    request_id = str(uuid.uuid4())
    if call.protocol == RPC_V2_CBOR:
        return rpc_v2_cbor_error("400 Bad Request", request_id, "ThrottlingException", "Throttling", "Rate exceeded")
    if call.service == "route53":
        return _xml("400 Bad Request", request_id, (
            '<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
            "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"))
    if call.service == "ec2":
        return _xml("503 Service Unavailable", request_id, (
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
            "<Message>Request limit exceeded.</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"))
    if call.service == "s3":
        return _xml("503 Slow Down", request_id, (
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"))
    if call.service == "lambda":
        return _json("429 Too Many Requests", request_id, "TooManyRequestsException",
                     {"Type": "User", "Reason": "CallerRateLimitExceeded", "message": "Rate exceeded"})
    if call.protocol != "query":
        return _json("400 Bad Request", request_id, "ThrottlingException", {"message": "Rate exceeded"})
    return _xml("400 Bad Request", request_id, (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"))


def _xml(status: str, request_id: str, body: str) -> Response:
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return status, headers, body.encode()


def _json(status: str, request_id: str, code: str, fields: dict[str, str]) -> Response:
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id),
               ("x-amzn-ErrorType", code)]
    return status, headers, json.dumps({"__type": code, **fields}).encode()


# --------------------------------------------------------------------------------------
# Fault windows and call counters
# --------------------------------------------------------------------------------------


class Faults:
    """The current fault window: throttle probabilities and latencies per service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle: dict[str, float] = {}
        self._latency_ms: dict[str, float] = {}
        self._ends: float | None = None
        self._exempt: frozenset[str] = frozenset()
        self._rng = random.Random()
        self.throttled: Counter[str] = Counter()

    def set(self, spec: dict[str, Any]) -> None:
        """Replaces the window; raises ValueError (and changes nothing) on bad input."""
        unknown = set(spec) - {"throttle", "latency_ms", "seconds", "seed", "exempt_access_keys"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        throttle = _per_service(spec.get("throttle", {}), "throttle", upper=1.0)
        latency = _per_service(spec.get("latency_ms", {}), "latency_ms", upper=None)
        exempt = spec.get("exempt_access_keys", [])
        if not isinstance(exempt, list) or not all(isinstance(k, str) for k in exempt):
            raise ValueError("exempt_access_keys must be a list of access key ids")
        seconds = spec.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0):
            raise ValueError("seconds must be a number > 0")
        with self._lock:
            self._throttle, self._latency_ms = throttle, latency
            self._exempt = frozenset(exempt)
            self._ends = time.monotonic() + seconds if seconds is not None else None
            self._rng = random.Random(spec.get("seed"))
            self.throttled.clear()

    def decide(self, call: Call) -> tuple[float, bool]:
        """(seconds of latency to add, whether to throttle) for `call`; counts throttles."""
        with self._lock:
            if self._ends is not None and time.monotonic() >= self._ends:
                self._throttle, self._latency_ms, self._ends = {}, {}, None
            if call.access_key in self._exempt:
                return 0.0, False
            latency = _for_service(self._latency_ms, call.service) / 1000.0
            probability = _for_service(self._throttle, call.service)
            throttle = probability > 0 and self._rng.random() < probability
            if throttle:
                self.throttled[call.key] += 1
            return latency, throttle

    def describe(self) -> dict[str, Any]:
        with self._lock:
            left = None if self._ends is None else max(0.0, round(self._ends - time.monotonic(), 3))
            return {"throttle": self._throttle, "latency_ms": self._latency_ms,
                    "seconds_left": left, "throttled": dict(self.throttled)}


def _per_service(values: Any, name: str, upper: float | None) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ValueError(f"{name} must be an object of service -> number")
    for service, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (upper is not None and value > upper):
            raise ValueError(f"{name}.{service} must be a number in [0, {upper or 'inf'}]")
    return {service.lower(): float(value) for service, value in values.items()}


def _for_service(values: dict[str, float], service: str) -> float:
    return values.get(service, values.get("*", 0.0))


FAULTS = Faults()
CALLS: Counter[str] = Counter()


class Reach:
    """Per access key, the services it may reach (item 9), and what each key called and was refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._allow: dict[str, frozenset[str]] = {}
        self._hold = 6.0
        self._called: dict[str, Counter[str]] = {}
        self._refused: dict[str, Counter[str]] = {}

    def set(self, spec: dict[str, Any]) -> None:
        unknown = set(spec) - {"allow", "hold_secs"}
        if unknown:
            raise ValueError(f"unknown reach keys: {sorted(unknown)}")
        allow = spec.get("allow", {})
        if not isinstance(allow, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in allow.items()
        ):
            raise ValueError("allow must map access key ids to lists of service names")
        hold = spec.get("hold_secs", 6.0)
        if not isinstance(hold, (int, float)) or not 0 <= hold <= 60:
            raise ValueError("hold_secs must be a number of seconds in 0..=60")
        with self._lock:
            self._allow = {k: frozenset(s.lower() for s in v) for k, v in allow.items()}
            self._hold = float(hold)
            self._called.clear()
            self._refused.clear()

    def decide(self, call: "Call") -> float | None:
        """None when `call` reaches its service; otherwise how long to hold it before refusing."""
        with self._lock:
            self._called.setdefault(call.access_key, Counter())[call.service] += 1
            allowed = self._allow.get(call.access_key)
            if allowed is None or call.service in allowed:
                return None
            self._refused.setdefault(call.access_key, Counter())[call.service] += 1
            return self._hold

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "allow": {k: sorted(v) for k, v in self._allow.items()},
                "hold_secs": self._hold,
                "called": {k: dict(v) for k, v in self._called.items()},
                "refused": {k: dict(v) for k, v in self._refused.items()},
            }


REACH = Reach()
CALLS_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------
# Smithy RPC v2 CBOR, translated to the Query protocol moto serves (item 6)
# --------------------------------------------------------------------------------------

RPC_V2_CBOR = "rpc-v2-cbor"
RPC_V2_CBOR_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")
UTC = datetime.timezone.utc
# Request headers that belong to the CBOR request and would mislead moto about the Query one.
CBOR_ONLY_HEADERS = ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_X_AMZN_QUERY_MODE",
                     "HTTP_TRANSFER_ENCODING", "HTTP_ACCEPT", "HTTP_X_AMZ_TARGET")


@dataclass(frozen=True)
class CborService:
    botocore_name: str  # the service model moto (and botocore) know it by
    namespace: str  # its Smithy namespace: error __type values are "<namespace>#<ShapeName>"


# Smithy service shape name (the path's service segment) -> the service moto serves over Query.
RPC_V2_CBOR_SERVICES = {
    "GraniteServiceVersion20100801": CborService("cloudwatch", "com.amazonaws.cloudwatch"),
}


def rpc_v2_cbor_route(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service shape name, operation) of a Smithy RPC v2 CBOR request, or None."""
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("HTTP_SMITHY_PROTOCOL", "").strip() != RPC_V2_CBOR:
        return None
    match = RPC_V2_CBOR_PATH.fullmatch(environ.get("PATH_INFO", ""))
    return (match.group(1), match.group(2)) if match else None


class CborRequestError(Exception):
    """A request refused before moto sees it."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def rpc_v2_cbor_error(status: str, request_id: str, error_type: str, query_code: str, message: str,
                      fault: str | None = None) -> Response:
    """An RPC v2 CBOR error of an awsQueryCompatible service: ``{"__type", "message"}`` in the
    body, and the Query error code in ``x-amzn-query-error: <code>;<Sender|Receiver>``, which is
    where a query-compatible client (the Rust SDK, botocore) takes the error code from."""
    if fault not in ("Sender", "Receiver"):
        fault = "Receiver" if status.startswith("5") else "Sender"
    body: dict[str, Any] = {"__type": error_type}
    if message:
        body["message"] = message
    return _cbor(status, request_id, body, [("x-amzn-query-error", f"{query_code};{fault}")])


def _cbor(status: str, request_id: str, body: dict[str, Any], extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("Content-Type", "application/cbor"), ("smithy-protocol", RPC_V2_CBOR),
               ("x-amzn-RequestId", request_id), *(extra or [])]
    return status, headers, cbor2.dumps(body)


class RpcV2CborTranslator:
    """WSGI: an RPC v2 CBOR request -> the same call to moto over Query -> an RPC v2 CBOR answer."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = self.translate(environ)
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def translate(self, environ: dict[str, Any]) -> Response:
        service_name, operation = rpc_v2_cbor_route(environ) or ("", "")
        service = RPC_V2_CBOR_SERVICES[service_name]
        try:
            operation_model = cbor_operation_model(service, operation)
            params = cbor_input(read_body(environ), operation_model.input_shape)
            status, headers, body = call_wsgi(self.moto_app, query_environ(environ, operation_model, params))
        except CborRequestError as error:
            return rpc_v2_cbor_error(error.status, str(uuid.uuid4()), error.code, error.code, str(error))
        except Exception as error:  # moto raised: NotImplementedError for an action it lacks, or a bug
            LOG.exception("moto failed on %s.%s (RPC v2 CBOR over Query)", service_name, operation)
            return rpc_v2_cbor_error("500 Internal Server Error", str(uuid.uuid4()), "InternalFailure",
                                     "InternalFailure", f"{type(error).__name__}: {error}")
        return cbor_answer(service, operation_model, status, headers, body)


def cbor_operation_model(service: CborService, operation: str) -> OperationModel:
    model = get_service_model(service.botocore_name)
    try:
        return model.operation_model(operation)
    except OperationNotFoundError:
        raise CborRequestError("404 Not Found", "UnknownOperationException",
                               f"{operation} is not an operation of {service.botocore_name} known to moto") from None


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, gunzipped if the client compressed it (PutMetricData may be)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    raw = stream.read(length) if length else (stream.read() if environ.get("wsgi.input_terminated") else b"")
    if "gzip" in environ.get("HTTP_CONTENT_ENCODING", "").lower():
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise CborRequestError("400 Bad Request", "SerializationException", f"body is not gzip: {error}") from None
    return raw


def cbor_input(raw: bytes, shape: Shape | None) -> dict[str, Any]:
    """The decoded input structure, fitted to moto's model of it (see `fit_to_shape`)."""
    try:
        value = cbor2.loads(raw) if raw else {}
    except (cbor2.CBORDecodeError, ValueError) as error:
        raise CborRequestError("400 Bad Request", "SerializationException", f"body is not CBOR: {error}") from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise CborRequestError("400 Bad Request", "SerializationException", "the body must be a CBOR map")
    return fit_to_shape(value, shape, shape.name) if shape is not None else {}


def fit_to_shape(value: Any, shape: Shape, path: str) -> Any:
    """`value` (as cbor2 decoded it) in the types botocore's Query serializer takes: tag-1
    timestamps are aware datetimes in UTC, numbers are checked, nulls are left out. A member
    moto's (older) model does not have is dropped with a warning: the Query form has no place
    for it. A value of the wrong CBOR type is a SerializationException."""
    kind = shape.type_name
    if kind == "structure":
        fitted = {}
        for key, member in _typed(value, dict, path, "a map").items():
            if member is None:
                continue
            if key not in shape.members:
                LOG.warning("RPC v2 CBOR: %s.%s is not in moto's model of %s; dropped", path, key, shape.name)
                continue
            fitted[key] = fit_to_shape(member, shape.members[key], f"{path}.{key}")
        return fitted
    if kind == "list":
        items = _typed(value, list, path, "an array")
        return [fit_to_shape(item, shape.member, f"{path}[{i}]") for i, item in enumerate(items) if item is not None]
    if kind == "map":
        entries = _typed(value, dict, path, "a map")
        return {key: fit_to_shape(item, shape.value, f"{path}.{key}") for key, item in entries.items() if item is not None}
    if kind == "timestamp":
        if isinstance(value, datetime.datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.datetime.fromtimestamp(_number(value, path), UTC)
    if kind in ("double", "float"):
        return float(_number(value, path))
    if kind in ("integer", "long", "short", "byte"):
        if isinstance(value, bool):  # a CBOR true is a Python int too
            raise CborRequestError("400 Bad Request", "SerializationException", f"{path} must be an integer, not bool")
        return _typed(value, int, path, "an integer")
    if kind == "boolean":
        return _typed(value, bool, path, "a boolean")
    if kind == "blob":
        return bytes(_typed(value, (bytes, bytearray), path, "a byte string"))
    return _typed(value, str, path, "a text string")


def _typed(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise CborRequestError("400 Bad Request", "SerializationException",
                               f"{path} must be {what}, not {type(value).__name__}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CborRequestError("400 Bad Request", "SerializationException",
                               f"{path} must be a number, not {type(value).__name__}")
    return value


def query_environ(environ: dict[str, Any], operation_model: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ of the same call in the Query protocol: ``POST /`` with a form body
    ``Action=<Operation>&Version=<apiVersion>&...`` as botocore serializes it. The SigV4
    Authorization header stays: moto takes the service, region and account from it."""
    form = QuerySerializer().serialize_to_request(params, operation_model)["body"]
    body = percent_encode_sequence(form).encode()
    query = {key: value for key, value in environ.items() if key not in CBOR_ONLY_HEADERS}
    query.update({
        "REQUEST_METHOD": "POST", "PATH_INFO": "/", "RAW_URI": "/", "REQUEST_URI": "/", "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": False,
    })
    return query


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """(status code, lower-cased headers, body) of `app`'s answer to `environ`."""
    started: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started["status"], started["headers"] = status, headers
        return written.append

    chunks = _drained(app(environ, start_response))
    headers = {name.lower(): value for name, value in started["headers"]}
    return int(started["status"].split()[0]), headers, b"".join(written + chunks)


def epoch_seconds_tag(text: str) -> cbor2.CBORTag:
    """A Query (ISO 8601) timestamp as RPC v2 CBOR sends one: tag 1, epoch seconds (an integer
    when whole, else a float)."""
    moment = datetime.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return cbor2.CBORTag(1, int(seconds) if seconds.is_integer() else seconds)


def cbor_answer(service: CborService, operation_model: OperationModel, status: int, headers: dict[str, str],
                body: bytes) -> Response:
    """moto's Query (XML) answer as an RPC v2 CBOR response with the same status."""
    request_id = headers.get("x-amzn-requestid") or str(uuid.uuid4())
    status_line = f"{status} {_phrase(status)}"
    try:
        parsed = QueryParser(timestamp_parser=epoch_seconds_tag).parse(
            {"status_code": status, "headers": headers, "body": body}, operation_model.output_shape)
    except Exception as error:  # not XML botocore can read
        LOG.exception("RPC v2 CBOR: moto's answer to %s could not be read", operation_model.name)
        return rpc_v2_cbor_error("500 Internal Server Error", request_id, "InternalFailure", "InternalFailure",
                                 f"moto's answer could not be read: {error}")
    parsed.pop("ResponseMetadata", None)
    if status < 300:
        return _cbor(status_line, request_id, parsed)
    error = parsed.get("Error", {})
    code = error.get("Code") or str(status)
    return rpc_v2_cbor_error(status_line, request_id, error_type(service, operation_model, code), code,
                             error.get("Message") or error.get("message") or "", error.get("Type"))


def error_type(service: CborService, operation_model: OperationModel, code: str) -> str:
    """The ``__type`` of a Query error code: the shape ID of the model's error shape with that
    code (the operation's own errors first: ResourceNotFound is two shapes), else the code."""
    for shape in [*operation_model.error_shapes, *operation_model.service_model.error_shapes]:
        if shape.metadata.get("error", {}).get("code", shape.name) == code:
            return f"{service.namespace}#{shape.name}"
    return code


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------------------
# WSGI: admin API + middleware
# --------------------------------------------------------------------------------------


class AdminError(Exception):
    pass


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as error:
        raise AdminError(f"body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def _post_faults(environ: dict[str, Any]) -> Any:
    FAULTS.set(_json_body(environ))
    return FAULTS.describe()


def _get_calls(_: dict[str, Any]) -> Any:
    with CALLS_LOCK:
        return dict(CALLS)


def _post_reach(environ: dict[str, Any]) -> Any:
    REACH.set(_json_body(environ))
    return REACH.describe()


def _reset_calls(_: dict[str, Any]) -> Any:
    with CALLS_LOCK:
        CALLS.clear()
    return {}


def _post_config(environ: dict[str, Any]) -> Any:
    KNOBS.update(_json_body(environ))
    return KNOBS.as_dict()


def _post_guest_down(environ: dict[str, Any]) -> Any:
    body = _json_body(environ)
    instance_id = body.get("instance_id") if isinstance(body, dict) else None
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError("guest-down needs {\"instance_id\": \"i-...\"}")
    with STATE_LOCK:
        return SHUTDOWNS.guest_down(instance_id)


def _get_changes(environ: dict[str, Any]) -> Any:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    after = int(_first(query, "after") or -1)
    wait_ms = int(_first(query, "wait_ms") or 0)
    if not 0 <= wait_ms <= 10_000:
        raise ValueError(f"wait_ms must be 0..=10000, not {wait_ms}")
    return CHANGES.wait(after, wait_ms / 1000)


def _get_lifecycle(_: dict[str, Any]) -> Any:
    with STATE_LOCK:
        return HOLDS.describe()


ADMIN_ROUTES: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
    ("POST", "faults"): _post_faults,
    ("GET", "faults"): lambda _: FAULTS.describe(),
    ("GET", "calls"): _get_calls,
    ("POST", "calls/reset"): _reset_calls,
    ("POST", "reach"): _post_reach,
    ("GET", "reach"): lambda _: REACH.describe(),
    ("POST", "config"): _post_config,
    ("GET", "config"): lambda _: KNOBS.as_dict(),
    ("GET", "lifecycle"): _get_lifecycle,
    ("GET", "changes"): _get_changes,
    ("POST", "guest-down"): _post_guest_down,
}


def admin_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    route = (environ["REQUEST_METHOD"], environ["PATH_INFO"][len(ADMIN_PREFIX):].strip("/"))
    handler = ADMIN_ROUTES.get(route)
    if handler is None:
        status, body = "404 Not Found", {"error": f"no admin route {route[0]} {ADMIN_PREFIX}{route[1]}"}
    else:
        try:
            status, body = "200 OK", handler(environ)
        except (AdminError, ValueError) as error:
            status, body = "400 Bad Request", {"error": str(error)}
        finally:
            if route[0] == "POST":
                CHANGES.bump(*Changes.TOPICS)
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


class SteadfastMiddleware:
    """Admin routes, call counting, fault injection and locking in front of moto."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.moto_app = moto_app
        self.cbor_app = RpcV2CborTranslator(moto_app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(ADMIN_PREFIX):
            return admin_app(environ, start_response)
        SECURE_TRANSPORT.set(environ.get("wsgi.url_scheme") == "https")
        route = rpc_v2_cbor_route(environ)
        app = self.cbor_app if route is not None and route[0] in RPC_V2_CBOR_SERVICES else self.moto_app
        call = identify(environ)
        if call is None:
            return app(environ, start_response)
        with CALLS_LOCK:
            CALLS[call.key] += 1
        hold = REACH.decide(call)
        if hold is not None:
            # No route to this service: nothing answers; the caller's own timeout ends it.
            time.sleep(hold)
            start_response("504 Gateway Timeout", [("Content-Length", "0")])
            return [b""]
        latency, throttle = FAULTS.decide(call)
        time.sleep(latency)
        if throttle:
            status, headers, body = throttle_response(call)
            start_response(status, headers + [("Content-Length", str(len(body)))])
            return [body]
        topic = change_topic(call.service, call.action)
        if topic is None:
            if call.service in LOCKED_SERVICES:
                with STATE_LOCK:
                    return _drained(app(environ, start_response))
            return app(environ, start_response)
        try:
            if call.service in LOCKED_SERVICES:
                with STATE_LOCK:
                    return _drained(app(environ, start_response))
            return _drained(app(environ, start_response))
        finally:
            CHANGES.bump(topic)


def _drained(result: Iterable[bytes]) -> list[bytes]:
    """The whole response body, produced (and the iterable closed) under the caller's lock."""
    try:
        return list(result)
    finally:
        getattr(result, "close", lambda: None)()


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


def self_signed_tls(host: str, directory: str) -> tuple[ssl.SSLContext, bytes]:
    """A TLS server context with a fresh self-signed, non-CA certificate, and its PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "steadfast-moto")])
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if host not in ("localhost", "127.0.0.1"):
        alt_names.append(_general_name(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
        with open(path, "wb") as handle:
            handle.write(data)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_pem


def _general_name(host: str) -> Any:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def serve(app: Any, host: str, port: int, tls: ssl.SSLContext | None) -> BaseWSGIServer:
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler, ssl_context=tls)
    threading.Thread(target=server.serve_forever, name=f"serve-{server.server_port}", daemon=True).start()
    return server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="moto server with steadfast's patches")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="plain http port (0 = any free port)")
    parser.add_argument("--ssl-port", type=int, help="https port over the same state (0 = any free port)")
    parser.add_argument("--cert-file", help="write the https certificate (PEM) here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    install_patches()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app = SteadfastMiddleware(DomainDispatcherApplication(create_backend_app))
    with tempfile.TemporaryDirectory(prefix="steadfast-moto-") as scratch:
        servers = [serve(app, args.host, args.port, None)]
        os.environ.setdefault("MOTO_PORT", str(servers[0].server_port))
        if args.ssl_port is not None:
            tls, cert_pem = self_signed_tls(args.host, scratch)
            if args.cert_file:
                with open(args.cert_file, "wb") as handle:
                    handle.write(cert_pem)
            servers.append(serve(app, args.host, args.ssl_port, tls))
        TICKER.start(HOLDS.expire)
        https = servers[1].server_port if len(servers) > 1 else "none"
        print(f"steadfast-moto ready http={servers[0].server_port} https={https}", flush=True)
        while not stop.wait(0.5):
            pass
        for server in servers:
            server.shutdown()
            server.server_close()
        TICKER.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
