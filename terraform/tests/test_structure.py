"""Structural assertions on the steadfast Terraform, parsed offline with hcl2.

`hcl2` is bc-python-hcl2 (installed by checkov). Values come back wrapped in lists and
expressions as "${...}" strings. Where the module computes something (names from vocab.json,
peer placement, placeholder seeds, timeouts), the checks evaluate the module's OWN expression
(hclexpr.py) for several cluster shapes instead of restating it. Templates (the install
script, cloud-init) are rendered by Terraform itself (`terraform console`), then checked with
bash -n, shellcheck and systemd-analyze verify, and the install script is RUN against stub
commands to prove that its failures ABANDON the launch.

Every check returns a list of problems, and NegativeControls feeds deliberately broken HCL to
each of them to prove it can fail.

Run:  .venv/bin/python terraform/tests/test_structure.py      (prints "N passed, M failed")
Tools it uses when present: terraform (>= 1.5), shellcheck, systemd-analyze, unshare. A
missing tool skips its tests LOUDLY, and fails them when CI=true.
"""

import base64
import glob
import gzip
import ipaddress
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import hcl2
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hclexpr  # noqa: E402
from hclexpr import RawBody, module_evaluator, raw_dir  # noqa: E402

# Two more Terraform functions the module's formulas use (node_env, the backup alarm period),
# with Terraform's meaning: merge() of maps (later keys win), ceil() of a number.
hclexpr.FUNCTIONS.setdefault("merge", lambda *maps: {k: v for m in maps for k, v in m.items()})
hclexpr.FUNCTIONS.setdefault("ceil", lambda x: int(-(-x // 1)))


def _regex(pattern, text):
    """Terraform's regex(): the match (no capture groups used here), an error without one."""
    m = re.search(pattern, text)
    if m is None:
        raise ValueError(f"regex {pattern!r} does not match {text!r}")
    return m.group(0)


hclexpr.FUNCTIONS.setdefault("regex", _regex)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TF_DIR = os.path.join(ROOT, "terraform")
MODULE_DIR = os.path.join(TF_DIR, "modules", "etcd-cluster")
EXAMPLE_DIR = os.path.join(TF_DIR, "examples", "complete")
LOCAL_DIR = os.path.join(TF_DIR, "examples", "local")
TEMPLATES = os.path.join(MODULE_DIR, "templates")
UNITS_DIR = os.path.join(MODULE_DIR, "units")
BASE_UNITS = ["node-bootstrap.service", "etcd-member.service", "node-ready.service"]
BACKUP_UNITS = ["steadfast-backup.service", "steadfast-backup.timer", "steadfast-backup-now.service"]
# Every unit cloud-init writes (backups on, the default), and the ones the install script
# enables and starts: the backup services are started by the timer or by hand, never by it.
TLS_UNITS = ["steadfast-tls.service", "steadfast-tls.timer"]
UNITS = BASE_UNITS + BACKUP_UNITS + TLS_UNITS
STARTED_UNITS = BASE_UNITS + ["steadfast-backup.timer", "steadfast-tls.timer"]

with open(os.path.join(MODULE_DIR, "vocab.json"), encoding="utf-8") as _fh:
    VOCAB = json.load(_fh)

def metric_namespace(cluster):
    """A cluster's own CloudWatch namespace (vocab.json metrics.namespace, Steadfast/<C>)."""
    return VOCAB["metrics"]["namespace"].replace("{cluster}", cluster)


READ_ONLY_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z0-9*]*$")

# The only mutating actions that may be granted on Resource "*", and why. Each entry says which
# condition (if any) must narrow it. Anything else on "*" must be a read (Describe/List/Get).
STAR_EXCEPTIONS = {
    # PutMetricData has no resource-level permissions; the namespace condition keeps a node
    # from writing anything but its own cluster's metrics (review 2, L2: Steadfast/<C>, so one
    # cluster cannot keep another's alarms green). Evaluated for cluster c1.
    "cloudwatch:PutMetricData": ("StringEquals", "cloudwatch:namespace", [metric_namespace("c1")]),
    # Session Manager's channels: ssmmessages has no resource types and no condition keys at
    # all, so "*" is the only possible resource; the channels carry only the calling
    # instance's own sessions and reach no other resource.
    "ssmmessages:CreateControlChannel": None,
    "ssmmessages:CreateDataChannel": None,
    "ssmmessages:OpenControlChannel": None,
    "ssmmessages:OpenDataChannel": None,
}

# What the provider's data sources would say; only these locals are not computable offline.
# What the provider and the first apply decide (the deployment's id comes from terraform_data).
PROVIDER_LOCALS = {"region": "us-east-1", "account_id": "123456789012", "partition": "aws", "deployment_id": "0123abcd"}

# AWS-managed or customer-managed policies attached to a role, with the reason each is allowed.
# Empty: every permission of every role is in a checked aws_iam_policy_document.
ALLOWED_MANAGED_POLICIES = {}


def ci():
    # The one rule the shell checks and the Rust tests use: CI is true or 1 (any case).
    return os.environ.get("CI", "").lower() in ("1", "true")


def need_tool(test, name):
    """Skip (loudly) when a tool is missing; fail instead under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} NOT FOUND: this check did not run"
    print(f"\n  !!! {msg}", file=sys.stderr)
    if ci():
        test.fail(msg + " (CI=true)")
    test.skipTest(msg)
    return None


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

class Config:
    """All blocks of one Terraform directory (or of one HCL string), indexed by type and name."""

    def __init__(self, docs, directory=None, raw=None):
        self.directory = directory
        self.raw = raw
        self.resources = {}  # (type, name) -> body
        self.data = {}  # (type, name) -> body
        self.locals = {}
        self.variables = {}
        self.outputs = {}
        self.modules = {}
        self.providers = []
        self.terraform = []
        for doc in docs:
            for block in doc.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        self.resources[(rtype, name)] = body
            for block in doc.get("data", []):
                for dtype, named in block.items():
                    for name, body in named.items():
                        self.data[(dtype, name)] = body
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("output", []):
                self.outputs.update(block)
            for block in doc.get("module", []):
                self.modules.update(block)
            self.providers += doc.get("provider", [])
            self.terraform += doc.get("terraform", [])

    @classmethod
    def from_dir(cls, directory):
        docs = []
        for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
            with open(path, encoding="utf-8") as fh:
                docs.append(hcl2.load(fh))
        if not docs:
            raise AssertionError(f"no .tf files in {directory}")
        return cls(docs, directory, raw_dir(directory))

    @classmethod
    def from_string(cls, text):
        raw = RawBody(text)
        raw.locals = {}
        for b in raw.blocks.get(("locals",), []):
            raw.locals.update(b.attrs)
        return cls([hcl2.loads(text)], MODULE_DIR, raw)

    def of_type(self, rtype):
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def data_of_type(self, dtype):
        return {name: body for (t, name), body in self.data.items() if t == dtype}

    def evaluator(self, variables=None, extra=None):
        """Evaluates the module's raw expressions (hcl2's text drops parentheses)."""
        return module_evaluator(self.raw, self.directory or MODULE_DIR, variables, extra, PROVIDER_LOCALS)

    def local(self, name, variables=None, extra=None):
        return self.evaluator(variables, extra).expr(self.raw.locals[name])

    def raw_resource(self, rtype, name):
        return self.raw.block("resource", rtype, name)

    def raw_validation(self, variable):
        return self.raw.block("variable", variable).block("validation").attrs["condition"]


def one(value):
    """hcl2 wraps every attribute value in a list; unwrap a single value."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def as_list(value):
    """A list attribute: hcl2 gives [[a, b]] for `x = [a, b]`."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        return value[0]
    return value if isinstance(value, list) else [value]


def blocks(body, name):
    """Nested blocks (`name { ... }`), always a list of dicts."""
    found = body.get(name, [])
    return [b for b in found if isinstance(b, dict)]


def strip_interp(expr):
    expr = one(expr)
    if isinstance(expr, str) and expr.startswith("${") and expr.endswith("}"):
        return expr[2:-1]
    return expr


def norm(expr):
    """An expression without whitespace, for comparisons that do not care about layout."""
    return re.sub(r"\s+", "", str(strip_interp(expr)))


def module_text(directory=MODULE_DIR):
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        with open(path, encoding="utf-8") as fh:
            out[os.path.basename(path)] = fh.read()
    return out


# ----------------------------------------------------------------------------------------------
# local.peers: extract each field's expression and evaluate it with the module's own locals
# ----------------------------------------------------------------------------------------------

PEER_FIELDS = ("index", "name", "fqdn", "subnet_id", "az", "asg_name", "seed_ip")


def peers_formulas(cfg):
    """The raw expression of every field of local.peers, and structural problems with it."""
    peers = cfg.raw.locals.get("peers")
    if not peers:
        return None, ["local.peers is missing"]
    problems = []
    m = re.match(r"\{\s*for\s+n\s+in\s+range\(var\.peer_count\)\s*:\s*tostring\(n\)\s*=>\s*\{(?P<body>.*)\}\s*\}\s*$", peers, re.S)
    if not m:
        return None, ["local.peers must be keyed by tostring(n) for n in range(var.peer_count)"]
    fields = {name: RawBody(m.group("body")).attrs.get(name) for name in PEER_FIELDS}
    m_subnet = re.fullmatch(r"var\.subnet_ids\[(?P<idx>[^\]]+)\]", fields["subnet_id"] or "")
    m_az = re.fullmatch(r"data\.aws_subnet\.zone\[(?P<idx>[^\]]+)\]\.availability_zone", fields["az"] or "")
    if not m_subnet:
        problems.append("local.peers[*].subnet_id must be var.subnet_ids[<index expression>]")
    if not m_az:
        problems.append("local.peers[*].az must be data.aws_subnet.zone[<index>].availability_zone")
    if m_subnet and m_az and m_subnet.group("idx").strip() != m_az.group("idx").strip():
        problems.append("subnet_id and az in local.peers use different index expressions: "
                        f"{m_subnet.group('idx')!r} vs {m_az.group('idx')!r}")
    fields["subnet_idx"] = m_subnet.group("idx").strip() if m_subnet else None
    fields["az_idx"] = m_az.group("idx").strip() if m_az else None
    return fields, problems


def eval_peers(cfg, variables):
    """local.peers as the module computes it, for the given variables (zones are named z<i>)."""
    fields, problems = peers_formulas(cfg)
    if fields is None:
        raise AssertionError(problems)
    subnets = variables["subnet_ids"]
    peers = {}
    for n in range(variables["peer_count"]):
        ev = cfg.evaluator(variables, {"n": n})
        entry = {}
        for name in ("index", "name", "fqdn", "asg_name", "seed_ip"):
            entry[name] = ev.expr(fields[name]) if fields[name] else None
        entry["subnet_id"] = subnets[int(ev.expr(fields["subnet_idx"]))]
        entry["az"] = f"z{int(ev.expr(fields['az_idx']))}"
        peers[str(n)] = entry
    return peers


def shape(peer_count=9, zones=3, cluster="c1", domain="example.internal", **more):
    return dict({"peer_count": peer_count, "subnet_ids": [f"subnet-{i}" for i in range(zones)],
                 "cluster_name": cluster, "domain": domain}, **more)


def fill(template, **values):
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", str(v))
    return out


# ----------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty = OK)
# ----------------------------------------------------------------------------------------------

def check_zone_placement(cfg):
    _, problems = peers_formulas(cfg)
    subnet_ds = cfg.data.get(("aws_subnet", "zone"))
    if not subnet_ds:
        problems.append("data.aws_subnet.zone is missing")
    else:
        if norm(subnet_ds.get("count")) != "length(var.subnet_ids)":
            problems.append("data.aws_subnet.zone must have count = length(var.subnet_ids)")
        if norm(subnet_ds.get("id")) != "var.subnet_ids[count.index]":
            problems.append("data.aws_subnet.zone[i] must read var.subnet_ids[i]")
    if problems:
        return problems
    for peer_count, zones in ((9, 3), (3, 3), (5, 3), (9, 4), (7, 5)):
        peers = eval_peers(cfg, shape(peer_count, zones))
        for n in range(peer_count):
            p = peers[str(n)]
            if p["subnet_id"] != f"subnet-{n % zones}" or p["az"] != f"z{n % zones}":
                problems.append(f"peer {n} of {peer_count} with {zones} zones lands in "
                                f"{p['subnet_id']}/{p['az']}, want zone {n % zones}")
    return problems


def check_vocab_names(cfg):
    """Names, tags and seeds come from vocab.json, evaluated for several shapes."""
    problems = []
    for pc, cluster, net in ((9, "c1", None), (3, "prod-etcd", "127.0.255.0/24"), (25, "x", "10.9.8.0/27")):
        variables = shape(pc, 3, cluster, placeholder_network=net)
        peers = eval_peers(cfg, variables)
        want_net = ipaddress.ip_network(net or VOCAB["placeholder"]["default_network"])
        seeds = []
        for n in range(pc):
            p = peers[str(n)]
            member = fill(VOCAB["names"]["member"], peer=n)
            if p["name"] != member:
                problems.append(f"peer {n} is named {p['name']!r}, vocab says {member!r}")
            if p["fqdn"] != f"{member}.{cluster}.example.internal":
                problems.append(f"peer {n} fqdn {p['fqdn']!r}")
            group = fill(VOCAB["names"]["group"], cluster=cluster, peer=n)
            if p["asg_name"] != group:
                problems.append(f"peer {n} ASG {p['asg_name']!r}, vocab says {group!r}")
            want_seed = str(want_net.network_address + n + VOCAB["placeholder"]["host_offset"])
            if p["seed_ip"] != want_seed:
                problems.append(f"peer {n} seed {p['seed_ip']!r}, want {want_seed}")
            seeds.append(ipaddress.ip_address(p["seed_ip"]))
        if len(set(seeds)) != len(seeds) or any(s not in want_net or s in (want_net.network_address, want_net.broadcast_address) for s in seeds):
            problems.append(f"seeds for {pc} peers in {want_net} are not distinct hosts of it")
        hook = cfg.local("lifecycle_hook_name", variables)
        if hook != fill(VOCAB["names"]["lifecycle_hook"], cluster=cluster):
            problems.append(f"lifecycle hook name {hook!r} does not follow vocab.json")
    def value(local):
        try:
            return cfg.local(local, shape())
        except (KeyError, ValueError) as exc:
            return f"<{exc}>"

    for local, key in (("cluster_tag_key", "cluster"), ("peer_tag_key", "peer"), ("init_tag_key", "initialized")):
        if value(local) != VOCAB["tags"][key]:
            problems.append(f"local.{local} must be vocab.json tags.{key}")
    for local, key in (("client_port", "client"), ("peer_port", "peer"), ("metrics_port", "metrics")):
        if value(local) != VOCAB["ports"][key]:
            problems.append(f"local.{local} must be vocab.json ports.{key}")
    if norm(cfg.raw.locals.get("vocab", "")) != 'jsondecode(file("${path.module}/vocab.json"))':
        problems.append("local.vocab must be jsondecode(file(\"${path.module}/vocab.json\"))")
    return problems


def check_no_restated_vocabulary(texts):
    """No .tf file spells out a name vocab.json owns (except where Terraform needs a literal)."""
    problems = []
    needles = [v for v in VOCAB["env"].values()]
    needles += [VOCAB["tags"]["cluster"], VOCAB["tags"]["peer"]]
    needles += [VOCAB["events"][k] for k in ("launch_lifecycle_action", "launch_successful", "transition_launching")]
    needles += [VOCAB["metrics"]["namespace"].split("{")[0], VOCAB["metrics"]["bootstrap_refused"]]
    needles += [VOCAB["metrics"]["backup_newest_age"], VOCAB["metrics"]["backup_failed"]]
    for fname, text in texts.items():
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", "//")))
        code = re.sub(r'description\s*=\s*".*"', "", code)
        code = re.sub(r'alarm_description\s*=\s*".*"', "", code)
        code = re.sub(r'error_message\s*=\s*".*"', "", code)
        for needle in needles:
            if needle in code:
                problems.append(f"{fname} spells out {needle!r}: take it from local.vocab")
        # ignore_changes needs static keys: the one allowed literal of each tag a node writes.
        for key in ("initialized", "joined", "blank"):
            for m in re.finditer(re.escape(VOCAB["tags"][key]), code):
                line = code[code.rfind("\n", 0, m.start()) + 1:code.find("\n", m.start())]
                if "ignore_changes" not in line:
                    problems.append(f"{fname} spells out {VOCAB['tags'][key]!r} outside ignore_changes")
        for port in VOCAB["ports"].values():
            if re.search(r"(?<![0-9.])%d(?![0-9])" % port, code):
                problems.append(f"{fname} spells out port {port}: take it from local.vocab.ports")
    return problems


def check_asgs(cfg):
    problems = []
    asgs = cfg.of_type("aws_autoscaling_group")
    peer_asgs = {n: b for n, b in asgs.items() if strip_interp(b.get("for_each")) == "local.peers"}
    if len(peer_asgs) != 1:
        return [f"want exactly one aws_autoscaling_group with for_each = local.peers, got {len(peer_asgs)}"]
    name, asg = next(iter(peer_asgs.items()))
    for attr in ("min_size", "max_size", "desired_capacity"):
        if one(asg.get(attr)) != 1:
            problems.append(f"aws_autoscaling_group.{name}.{attr} must be 1, got {one(asg.get(attr))!r}")
    vzi = as_list(asg.get("vpc_zone_identifier"))
    if vzi != ["${each.value.subnet_id}"]:
        problems.append(f"aws_autoscaling_group.{name}.vpc_zone_identifier must be "
                        f"[each.value.subnet_id], got {vzi!r}")
    if "GroupInServiceInstances" not in as_list(asg.get("enabled_metrics", [[]])):
        problems.append(f"aws_autoscaling_group.{name} must enable GroupInServiceInstances")
    dyn_text = repr([d for d in asg.get("dynamic", []) if "tag" in d])
    for needed in ("local.common_tags", "local.peer_tag_key", "propagate_at_launch"):
        if needed not in dyn_text:
            problems.append(f"aws_autoscaling_group.{name} tags must include {needed}")
    if "True" not in dyn_text and "true" not in dyn_text:
        problems.append(f"aws_autoscaling_group.{name} tags must propagate at launch")
    if strip_interp(asg.get("health_check_type")) != "EC2":
        problems.append(f"aws_autoscaling_group.{name} must use EC2 health checks (see nodes.tf)")
    problems += check_lifecycle_hooks(cfg, name, asg)
    return problems


def hook_settings_problems(where, hook):
    problems = []
    if norm(hook.get("name")) != "local.lifecycle_hook_name":
        problems.append(f"{where}: name must be local.lifecycle_hook_name")
    if norm(hook.get("lifecycle_transition")) not in ("local.vocab.events.transition_launching", VOCAB["events"]["transition_launching"]):
        problems.append(f"{where}: must be a LAUNCHING hook")
    if one(hook.get("default_result")) != "CONTINUE":
        problems.append(f"{where}: default_result must be CONTINUE (a node that refuses for a reason a "
                        "new instance would repeat must be kept, not churned)")
    if norm(hook.get("heartbeat_timeout")) != "var.lifecycle_hook_heartbeat_timeout":
        problems.append(f"{where}: heartbeat_timeout must be var.lifecycle_hook_heartbeat_timeout")
    return problems


def check_lifecycle_hooks(cfg, asg_name, asg):
    """(g) The hook is an aws_autoscaling_lifecycle_hook per peer (updatable), plus the same
    hook as initial_lifecycle_hook (so the very first instance is held), identical settings."""
    problems = []
    hooks = cfg.of_type("aws_autoscaling_lifecycle_hook")
    peer_hooks = {n: h for n, h in hooks.items() if norm(h.get("for_each")) == "local.peers"}
    if len(peer_hooks) != 1:
        problems.append("want one aws_autoscaling_lifecycle_hook with for_each = local.peers")
    for n, h in peer_hooks.items():
        problems += hook_settings_problems(f"aws_autoscaling_lifecycle_hook.{n}", h)
        if norm(h.get("autoscaling_group_name")) != f"aws_autoscaling_group.{asg_name}[each.key].name":
            problems.append(f"aws_autoscaling_lifecycle_hook.{n} must belong to aws_autoscaling_group.{asg_name}[each.key]")
    initial = blocks(asg, "initial_lifecycle_hook")
    if len(initial) != 1:
        problems.append(f"aws_autoscaling_group.{asg_name} needs exactly one initial_lifecycle_hook "
                        "(the same hook, so the first instance is held)")
    for h in initial:
        problems += hook_settings_problems(f"aws_autoscaling_group.{asg_name}.initial_lifecycle_hook", h)
    lc = blocks(asg, "lifecycle")
    ignored = [norm(x) for x in as_list(lc[0].get("ignore_changes", [[]]))] if lc else []
    if initial and "initial_lifecycle_hook" not in ignored:
        problems.append(f"aws_autoscaling_group.{asg_name} must ignore_changes = [initial_lifecycle_hook] "
                        "(the separate hook resource carries updates)")
    return problems


def check_volumes(cfg):
    problems = []
    volumes = cfg.of_type("aws_ebs_volume")
    if not volumes:
        return ["no aws_ebs_volume"]
    for name, vol in volumes.items():
        if one(vol.get("encrypted")) is not True:
            problems.append(f"aws_ebs_volume.{name} must be encrypted")
        if not one(vol.get("kms_key_id")):
            problems.append(f"aws_ebs_volume.{name} must name a KMS key")
        if strip_interp(vol.get("for_each")) != "local.peers":
            problems.append(f"aws_ebs_volume.{name} must be for_each = local.peers")
        if strip_interp(vol.get("availability_zone")) != "each.value.az":
            problems.append(f"aws_ebs_volume.{name}.availability_zone must be each.value.az "
                            "(the same local.peers entry that places the ASG)")
        if one(vol.get("type")) not in ("gp3", "${var.volume_type}"):
            problems.append(f"aws_ebs_volume.{name} must be gp3")
        lc = blocks(vol, "lifecycle")
        if not lc or one(lc[0].get("prevent_destroy")) is not True:
            problems.append(f"aws_ebs_volume.{name} must have prevent_destroy = true")
        for key in ("initialized", "joined", "blank"):
            if not lc or f'tags["{VOCAB["tags"][key]}"]' not in repr(lc[0].get("ignore_changes")):
                problems.append(f"aws_ebs_volume.{name} must ignore changes to the {VOCAB['tags'][key]} tag "
                                "(node-bootstrap writes it)")
        if "local.peer_tag_key" not in repr(vol.get("tags")) or "local.common_tags" not in repr(vol.get("tags")):
            problems.append(f"aws_ebs_volume.{name} must carry the cluster and peer tags")
    return problems


def check_launch_templates(cfg):
    problems = []
    lts = cfg.of_type("aws_launch_template")
    if not lts:
        return ["no aws_launch_template"]
    for bad in ("aws_instance", "aws_launch_configuration", "aws_spot_instance_request"):
        if cfg.of_type(bad):
            problems.append(f"unexpected {bad}: every instance must come from a checked launch template")
    for name, lt in lts.items():
        md = blocks(lt, "metadata_options")
        if not md:
            problems.append(f"aws_launch_template.{name} has no metadata_options")
        else:
            md = md[0]
            if one(md.get("http_tokens")) != "required":
                problems.append(f"aws_launch_template.{name}: IMDSv2 must be required (http_tokens)")
            if one(md.get("http_put_response_hop_limit")) != 1:
                problems.append(f"aws_launch_template.{name}: http_put_response_hop_limit must be 1")
            if one(md.get("http_endpoint")) not in ("enabled", None):
                problems.append(f"aws_launch_template.{name}: http_endpoint must be enabled")
        nics = blocks(lt, "network_interfaces")
        if not nics or any(one(n.get("associate_public_ip_address")) is not False for n in nics):
            problems.append(f"aws_launch_template.{name}: network interfaces must set "
                            "associate_public_ip_address = false")
        bdms = blocks(lt, "block_device_mappings")
        if not bdms:
            problems.append(f"aws_launch_template.{name}: root volume must be declared (encrypted)")
        for bdm in bdms:
            for ebs in blocks(bdm, "ebs"):
                if one(ebs.get("encrypted")) is not True:
                    problems.append(f"aws_launch_template.{name}: block device must be encrypted")
        if "user_data" not in lt:
            problems.append(f"aws_launch_template.{name} has no user_data")
        if one(lt.get("instance_initiated_shutdown_behavior")) != "terminate":
            problems.append(f"aws_launch_template.{name}: shutdown must terminate (the install "
                            "script's last resort is to power off)")
        profiles = [norm(p.get("arn")) for p in blocks(lt, "iam_instance_profile")]
        if profiles != ["aws_iam_instance_profile.node[each.key].arn"]:
            problems.append(f"aws_launch_template.{name} must use its own peer's instance profile "
                            f"(aws_iam_instance_profile.node[each.key].arn), got {profiles}")
        conds = " ".join(norm(p.get("condition")) for lc in blocks(lt, "lifecycle") for p in blocks(lc, "precondition"))
        if "length(local.user_data[each.key])<=16384" not in conds:
            problems.append(f"aws_launch_template.{name} must check the 16 KiB user-data limit")
    return problems


def check_dns(cfg, peer_count=9, cluster="c1", domain="example.internal", tls=False):
    problems = []
    records = cfg.of_type("aws_route53_record")
    fields, fproblems = peers_formulas(cfg)
    if fields is None:
        return fproblems
    variables = shape(peer_count, 3, cluster, domain, tls_enabled=tls)
    peers = eval_peers(cfg, variables)
    ev = cfg.evaluator(variables)
    suffix_expr = cfg.raw.locals.get("srv_suffix", "")
    if suffix_expr != 'var.tls_enabled ? "-ssl" : ""':
        problems.append(f"local.srv_suffix must be var.tls_enabled ? \"-ssl\" : \"\", got {suffix_expr!r}")
    want = {
        "server": (f"_etcd-server{'-ssl' if tls else ''}._tcp.{cluster}.{domain}", VOCAB["ports"]["peer"]),
        "client": (f"_etcd-client{'-ssl' if tls else ''}._tcp.{cluster}.{domain}", VOCAB["ports"]["client"]),
    }
    srvs = {n: r for n, r in records.items() if one(r.get("type")) == "SRV"}
    for role, (want_name, port) in want.items():
        found = False
        for rname in srvs:
            raw = cfg.raw_resource("aws_route53_record", rname)
            try:
                name = ev.expr(raw.attrs["name"])
            except Exception as exc:  # noqa: BLE001 - reported as a problem
                problems.append(f"aws_route53_record.{rname}.name: {exc}")
                continue
            if name != want_name:
                continue
            found = True
            recs = raw.attrs.get("records", "")
            m = re.fullmatch(r'\[for n in range\(var\.peer_count\) : (?P<tpl>"[^"]+")\]', recs)
            if not m:
                problems.append(f"aws_route53_record.{rname}.records must be "
                                f"[for n in range(var.peer_count) : \"...\"], got {recs!r}")
                continue
            tpl = m.group("tpl").replace("${local.peers[tostring(n)].fqdn}", "${fqdn}")
            got = [cfg.evaluator(variables, {"n": n, "fqdn": peers[str(n)]["fqdn"]}).expr(tpl)
                   for n in range(peer_count)]
            expected = [f"0 0 {port} {fill(VOCAB['names']['member'], peer=n)}.{cluster}.{domain}." for n in range(peer_count)]
            if got != expected:
                problems.append(f"SRV {want_name} lists {got}, want {expected}")
        if not found:
            problems.append(f"no SRV record named {want_name}")

    peers_a = [r for r in records.values()
               if one(r.get("type")) == "A" and strip_interp(r.get("for_each")) == "local.peers"]
    if len(peers_a) != 1:
        problems.append(f"want one A record resource with for_each = local.peers, got {len(peers_a)}")
    for rec in peers_a:
        if strip_interp(rec.get("name")) != "each.value.fqdn":
            problems.append("peer A records must be named each.value.fqdn")
        lc = blocks(rec, "lifecycle")
        ignored = [strip_interp(x) for x in as_list(lc[0].get("ignore_changes", [[]]))] if lc else []
        if "records" not in ignored:
            problems.append(f"peer A records must have lifecycle ignore_changes = [records], got {ignored}")
        if as_list(rec.get("records")) != ["${each.value.seed_ip}"]:
            problems.append("peer A records must be seeded with each.value.seed_ip")
    seeds = [peers[str(n)]["seed_ip"] for n in range(peer_count)]
    net = ipaddress.ip_network(VOCAB["placeholder"]["default_network"])
    if len(set(seeds)) != len(seeds) or not all(ipaddress.ip_address(s) in net for s in seeds):
        problems.append(f"seed addresses must be distinct placeholder addresses, got {seeds[:4]}...")
    return problems


def policy_documents(cfg):
    return cfg.data_of_type("aws_iam_policy_document")


def statement_conditions(st):
    return [(one(c.get("test")), one(c.get("variable")), as_list(c.get("values"))) for c in blocks(st, "condition")]


def check_iam(cfg):
    """No mutating action on '*' (except STAR_EXCEPTIONS, with their conditions), no wildcard
    actions, every policy from a checked document, and no attached managed policy."""
    problems = []
    for dname, doc in policy_documents(cfg).items():
        for i, st in enumerate(blocks(doc, "statement")):
            where = f"data.aws_iam_policy_document.{dname} statement {one(st.get('sid', [str(i)]))}"
            if "not_actions" in st or "not_resources" in st:
                problems.append(f"{where}: not_actions/not_resources are not allowed")
            if blocks(st, "principals") or blocks(st, "not_principals"):
                continue  # a resource or trust policy: its resources are the resource itself
            if one(st.get("effect", ["Allow"])) != "Allow":
                continue
            actions = as_list(st.get("actions", [[]]))
            resources = as_list(st.get("resources", [[]]))
            if not resources:
                problems.append(f"{where}: no resources")
            if "*" in resources:
                for a in actions:
                    if READ_ONLY_ACTION.match(a):
                        continue
                    if a not in STAR_EXCEPTIONS:
                        problems.append(f"{where}: mutating action {a} on Resource \"*\"")
                        continue
                    want = STAR_EXCEPTIONS[a]
                    if want is not None:
                        test, variable, values = want
                        conds = statement_conditions(st)
                        ok = any(t == test and v == variable and
                                 [cfg.evaluator(shape()).template(x) for x in vals] == values
                                 for t, v, vals in conds)
                        if not ok:
                            problems.append(f"{where}: {a} on \"*\" needs condition {test} {variable} = {values}")
                    others = [x for x in actions if x not in STAR_EXCEPTIONS and not READ_ONLY_ACTION.match(x)]
                    if others:
                        problems.append(f"{where}: {others} share a \"*\" statement with an exception")
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    problems.append(f"{where}: wildcard action {a}")
                if re.match(r"^ssm:(Get|Put|Delete|Label)Parameter", a) or a.startswith(("ssm:SendCommand", "ec2messages:")):
                    problems.append(f"{where}: {a} reaches SSM parameters or commands")
    for rtype in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, body in cfg.of_type(rtype).items():
            pol = strip_interp(body.get("policy"))
            if not re.fullmatch(r"data\.aws_iam_policy_document\.[A-Za-z0-9_-]+(\[[^\]]+\])?\.json", str(pol)):
                problems.append(f"{rtype}.{name}.policy must be a data.aws_iam_policy_document")
    # (f) Attached managed policies: none, unless listed with a reason in ALLOWED_MANAGED_POLICIES.
    for rtype in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_role_policies_exclusive"):
        for name, body in cfg.of_type(rtype).items():
            arn = one(body.get("policy_arn", [""]))
            if arn not in ALLOWED_MANAGED_POLICIES:
                problems.append(f"{rtype}.{name} attaches {arn!r}: attach no managed policy "
                                "(or justify it in ALLOWED_MANAGED_POLICIES)")
    for name, body in cfg.of_type("aws_iam_role").items():
        for arn in as_list(body.get("managed_policy_arns", [[]])):
            if arn not in ALLOWED_MANAGED_POLICIES:
                problems.append(f"aws_iam_role.{name} attaches managed policy {arn!r}")
    return problems


def check_peer_volume_scope(cfg, peer_count=9):
    """(l) One role per peer, and for every peer N its role can attach, detach and tag only
    volumes tagged with this cluster AND peer N; the instance side only this cluster."""
    problems = []
    for rtype in ("aws_iam_role", "aws_iam_instance_profile", "aws_iam_role_policy"):
        body = cfg.resources.get((rtype, "node"))
        if not body or norm(body.get("for_each")) != "local.peers":
            problems.append(f"{rtype}.node must exist with for_each = local.peers (one per peer)")
    pol = cfg.resources.get(("aws_iam_role_policy", "node"), {})
    if norm(pol.get("role")) != "aws_iam_role.node[each.key].id" or norm(pol.get("policy")) != "data.aws_iam_policy_document.node[each.key].json":
        problems.append("aws_iam_role_policy.node must put peer N's document on peer N's role")
    prof = cfg.resources.get(("aws_iam_instance_profile", "node"), {})
    if norm(prof.get("role")) != "aws_iam_role.node[each.key].name":
        problems.append("aws_iam_instance_profile.node must hold peer N's role")
    doc = cfg.data.get(("aws_iam_policy_document", "node"))
    if not doc or norm(doc.get("for_each")) != "local.peers":
        return problems + ["data.aws_iam_policy_document.node must be for_each = local.peers"]
    volume_actions = {"ec2:AttachVolume", "ec2:DetachVolume", "ec2:CreateTags", "ec2:DeleteTags"}
    ev0 = cfg.evaluator(shape(peer_count))
    cluster_key = f"aws:ResourceTag/{VOCAB['tags']['cluster']}"
    peer_key = f"aws:ResourceTag/{VOCAB['tags']['peer']}"
    for n in range(peer_count):
        ev = cfg.evaluator(shape(peer_count), {"each": {"key": str(n), "value": {"index": n}}})
        for st in blocks(doc, "statement"):
            actions = set(as_list(st.get("actions", [[]])))
            touched = actions & volume_actions
            if not touched:
                continue
            sid = one(st.get("sid", ["?"]))
            resources = [norm(r) for r in as_list(st.get("resources", [[]]))]
            conds = {}
            for test, variable, values in statement_conditions(st):
                key = ev.template(variable)
                conds[key] = (test, [ev.template(v) for v in values])
            for r in resources:
                if r not in ("local.volume_arns", "local.instance_arns"):
                    problems.append(f"peer {n} statement {sid}: {touched} on unexpected resource {r}")
            if "local.volume_arns" in resources:
                if "local.instance_arns" in resources:
                    problems.append(f"peer {n} statement {sid}: volumes and instances must be separate "
                                    "statements (the volume side needs the peer tag)")
                if conds.get(cluster_key) != ("StringEquals", [ev0.template("${var.cluster_name}")]):
                    problems.append(f"peer {n} statement {sid}: volumes must be conditioned on {cluster_key} = the cluster")
                if conds.get(peer_key) != ("StringEquals", [str(n)]):
                    problems.append(f"peer {n} statement {sid}: volumes must be conditioned on {peer_key} = {n}, "
                                    f"got {conds.get(peer_key)}")
            if "local.instance_arns" in resources:
                if touched & {"ec2:CreateTags", "ec2:DeleteTags"}:
                    problems.append(f"peer {n} statement {sid}: a node may tag no instance")
                if conds.get(cluster_key) != ("StringEquals", [ev0.template("${var.cluster_name}")]):
                    problems.append(f"peer {n} statement {sid}: instances must be conditioned on the cluster tag")
        hook_statements = [st for st in blocks(doc, "statement")
                           if "autoscaling:CompleteLifecycleAction" in as_list(st.get("actions", [[]]))]
        for st in hook_statements:
            if [norm(r) for r in as_list(st.get("resources"))] != ["local.asg_arns[each.key]"]:
                problems.append(f"peer {n}: CompleteLifecycleAction must be limited to its own ASG")
    return problems


def check_lambda_iam(cfg):
    """peer-dns writes only A records named peer-*.C.D: CREATE, DELETE (conditional batches) and
    UPSERT (where no record exists), nothing else."""
    doc = cfg.data.get(("aws_iam_policy_document", "lambda"))
    if not doc:
        return ["data.aws_iam_policy_document.lambda is missing"]
    problems = []
    writes = [st for st in blocks(doc, "statement")
              if "route53:ChangeResourceRecordSets" in as_list(st.get("actions", [[]]))]
    if len(writes) != 1:
        return [f"want one statement granting route53:ChangeResourceRecordSets, got {len(writes)}"]
    conds = {v: (t, vals) for t, v, vals in statement_conditions(writes[0])}
    want = {
        "route53:ChangeResourceRecordSetsActions": ("ForAllValues:StringEquals", ["CREATE", "DELETE", "UPSERT"]),
        "route53:ChangeResourceRecordSetsRecordTypes": ("ForAllValues:StringEquals", ["A"]),
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ("ForAllValues:StringLike", ["peer-*.${local.cluster_domain}"]),
    }
    for key, value in want.items():
        got = conds.get(key)
        if got is None or got[0] != value[0] or sorted(got[1]) != sorted(value[1]):
            problems.append(f"Route 53 write must be conditioned on {key} {value}, got {got}")
    if as_list(writes[0].get("resources")) != ["${local.zone_arn}"]:
        problems.append("Route 53 writes must be limited to the zone")
    return problems


def check_security_groups(cfg):
    problems = []
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule"):
        for name, rule in cfg.of_type(rtype).items():
            if rtype == "aws_security_group_rule" and one(rule.get("type")) != "ingress":
                continue
            cidrs = as_list(rule.get("cidr_ipv4", rule.get("cidr_blocks", [[]])))
            if any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
                problems.append(f"{rtype}.{name}: ingress from the whole internet")
            lo, hi = one(rule.get("from_port", [0])), one(rule.get("to_port", [65535]))
            if isinstance(lo, int) and isinstance(hi, int) and lo <= 22 <= hi:
                problems.append(f"{rtype}.{name}: SSH (22) must not be open")
    for name, sg in cfg.of_type("aws_security_group").items():
        if blocks(sg, "ingress"):
            problems.append(f"aws_security_group.{name}: use separate rule resources, not inline ingress")
    return problems


def check_rules_accept_unknown_values(cfg):
    """(e) Rules built from caller lists are indexed by position: for_each over a set of values
    fails at plan time when a value is only known after apply."""
    problems = []
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule", "aws_security_group_rule"):
        for name, rule in cfg.of_type(rtype).items():
            fe = norm(rule.get("for_each", ""))
            if "var." in fe:
                problems.append(f"{rtype}.{name}: for_each = {fe} keys rules by caller values; use count")
            cnt = norm(rule.get("count", ""))
            m = re.fullmatch(r"length\((var\.[a-z_]+)\)", cnt)
            if m and f"{m.group(1)}[count.index]" not in repr(rule).replace(" ", ""):
                problems.append(f"{rtype}.{name}: count over {m.group(1)} must read {m.group(1)}[count.index]")
    return problems



# ----------------------------------------------------------------------------------------------
# Backups: the bucket, the node's access to it, the volume tags, the alarms, DLM, the env
# ----------------------------------------------------------------------------------------------

# What the provider would return for the resources the module's formulas read (only these
# attributes are ever read by the expressions evaluated here).
SAMPLE_BACKUP_BUCKET = "c1-backups-20260101000000000000000001"
SAMPLE_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
STANDINS = {
    "aws_s3_bucket": {"backup": [{"id": SAMPLE_BACKUP_BUCKET, "arn": f"arn:aws:s3:::{SAMPLE_BACKUP_BUCKET}"}],
                      "artifacts": {"id": "c1-artifacts-1", "arn": "arn:aws:s3:::c1-artifacts-1"}},
    "aws_kms_key": {"this": [{"arn": SAMPLE_KEY_ARN}]},
}
NODE_TAG_KEYS = sorted(VOCAB["tags"][k] for k in ("initialized", "joined", "blank"))


def gated_by(body, var):
    """Whether a resource exists exactly when var (a bool variable) is true."""
    return norm(body.get("count", "")) == f"var.{var}?1:0"


def condition_values(ev, values):
    """A condition's values, evaluated; a list-valued reference (values = local.x) flattened."""
    out = []
    for v in values:
        got = ev.template(v) if isinstance(v, str) else v
        out += got if isinstance(got, list) else [got]
    return out


def check_backup_bucket(cfg):
    """The backup bucket: SSE-KMS with the cluster key, versioned, private, TLS only, aborted
    multipart uploads cleaned up, noncurrent versions expired, never emptied by default."""
    problems = []
    res = lambda rtype: cfg.resources.get((rtype, "backup"))  # noqa: E731
    bucket = res("aws_s3_bucket")
    if not bucket:
        return ["aws_s3_bucket.backup is missing"]
    for rtype in ("aws_s3_bucket", "aws_s3_bucket_ownership_controls", "aws_s3_bucket_public_access_block",
                  "aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
                  "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_policy"):
        body = res(rtype)
        if not body:
            problems.append(f"{rtype}.backup is missing")
        elif not gated_by(body, "backup_enabled"):
            problems.append(f"{rtype}.backup must have count = var.backup_enabled ? 1 : 0")
        elif rtype != "aws_s3_bucket" and norm(body.get("bucket")) != "aws_s3_bucket.backup[0].id":
            problems.append(f"{rtype}.backup must configure aws_s3_bucket.backup[0]")
    if norm(bucket.get("force_destroy")) != "var.backup_bucket_force_destroy":
        problems.append("aws_s3_bucket.backup: force_destroy must be var.backup_bucket_force_destroy (backups are data)")
    fd = cfg.variables.get("backup_bucket_force_destroy", {})
    if one(fd.get("default")) is not False:
        problems.append("var.backup_bucket_force_destroy must default to false")
    if norm(bucket.get("bucket_prefix")) != "var.cluster_name-backups-" and one(bucket.get("bucket_prefix")) != "${var.cluster_name}-backups-":
        problems.append("aws_s3_bucket.backup.bucket_prefix must be \"${var.cluster_name}-backups-\"")
    own = res("aws_s3_bucket_ownership_controls") or {}
    if [one(r.get("object_ownership")) for r in blocks(own, "rule")] != ["BucketOwnerEnforced"]:
        problems.append("the backup bucket must enforce bucket ownership (BucketOwnerEnforced)")
    pab = res("aws_s3_bucket_public_access_block") or {}
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        if one(pab.get(flag)) is not True:
            problems.append(f"the backup bucket's public access block must set {flag} = true")
    ver = res("aws_s3_bucket_versioning") or {}
    if [one(v.get("status")) for v in blocks(ver, "versioning_configuration")] != ["Enabled"]:
        problems.append("the backup bucket must be versioned (status Enabled)")
    sse = res("aws_s3_bucket_server_side_encryption_configuration") or {}
    rules = blocks(sse, "rule")
    defaults = [d for r in rules for d in blocks(r, "apply_server_side_encryption_by_default")]
    if [(one(d.get("sse_algorithm")), norm(d.get("kms_master_key_id"))) for d in defaults] != [("aws:kms", "local.kms_key_arn")]:
        problems.append("the backup bucket must default to SSE-KMS with the cluster key (local.kms_key_arn)")
    if [one(r.get("bucket_key_enabled")) for r in rules] != [True]:
        problems.append("the backup bucket must enable S3 bucket keys")
    lc = res("aws_s3_bucket_lifecycle_configuration") or {}
    lrules = [r for r in blocks(lc, "rule") if one(r.get("status")) == "Enabled"]
    aborts = [one(a.get("days_after_initiation")) for r in lrules for a in blocks(r, "abort_incomplete_multipart_upload")]
    if aborts != [1]:
        problems.append(f"the backup bucket must abort incomplete multipart uploads after 1 day, got {aborts}")
    nve = [norm(a.get("noncurrent_days")) for r in lrules for a in blocks(r, "noncurrent_version_expiration")]
    if nve != ["var.backup_noncurrent_version_days"]:
        problems.append(f"the backup bucket must expire noncurrent versions after var.backup_noncurrent_version_days, got {nve}")
    pol = res("aws_s3_bucket_policy") or {}
    m = re.fullmatch(r"data\.aws_iam_policy_document\.([a-z_]+)\[0\]\.json", norm(pol.get("policy")))
    doc = cfg.data.get(("aws_iam_policy_document", m.group(1))) if m else None
    tls_deny = False
    for st in blocks(doc or {}, "statement"):
        if (one(st.get("effect")) == "Deny" and as_list(st.get("actions")) == ["s3:*"]
                and sorted(as_list(st.get("resources"))) == sorted(["${aws_s3_bucket.backup[0].arn}", "${aws_s3_bucket.backup[0].arn}/*"])
                and [(one(p.get("type")), as_list(p.get("identifiers"))) for p in blocks(st, "principals")] == [("*", ["*"])]
                and statement_conditions(st) == [("Bool", "aws:SecureTransport", ["false"])]):
            tls_deny = True
    if not tls_deny:
        problems.append("the backup bucket policy must deny s3:* on the bucket and its objects when aws:SecureTransport is false")
    return problems


def node_backup_statements(cfg):
    """The node policy's S3 statements: in its own documents and in any it merges."""
    out = []
    node = cfg.data.get(("aws_iam_policy_document", "node"), {})
    docs = [node]
    for src in as_list(node.get("source_policy_documents", [[]])):
        for m in re.finditer(r"data\.aws_iam_policy_document\.([a-z_]+)", str(src)):
            docs.append(cfg.data.get(("aws_iam_policy_document", m.group(1)), {}))
    for doc in docs:
        out += [st for st in blocks(doc, "statement") if any(a.startswith("s3:") for a in as_list(st.get("actions", [[]])))]
    return out


BACKUP_OBJECT_ACTIONS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"]


def check_node_backup_access(cfg):
    """A node reaches only its own cluster's folder of the backup bucket: objects under
    <prefix><cluster>/, listings of that folder only, no s3:* and no bucket-wide object ARN.
    Evaluated for several prefixes and cluster names. Without backups, no backup access."""
    problems = []
    node = cfg.data.get(("aws_iam_policy_document", "node"), {})
    srcs = re.sub(r"[${}'\"]", "", norm(node.get("source_policy_documents", "")))
    if "aws_iam_policy_document.node_backup" in srcs and "var.backup_enabled?[data.aws_iam_policy_document.node_backup[0].json]:[]" not in srcs:
        problems.append("the node policy must merge the backup statements only when var.backup_enabled")
    backup_doc = cfg.data.get(("aws_iam_policy_document", "node_backup"))
    if backup_doc is not None and not gated_by(backup_doc, "backup_enabled"):
        problems.append("data.aws_iam_policy_document.node_backup must have count = var.backup_enabled ? 1 : 0")
    granted = set()
    for prefix, cluster in (("", "c1"), ("backups/", "prod-etcd"), ("a/b/", "x")):
        ev = cfg.evaluator(shape(cluster=cluster, backup_prefix=prefix), STANDINS)
        arn = STANDINS["aws_s3_bucket"]["backup"][0]["arn"]
        folder = f"{prefix}{cluster}/"
        for st in node_backup_statements(cfg):
            sid = one(st.get("sid", ["?"]))
            actions = as_list(st.get("actions", [[]]))
            try:
                resources = [ev.template(r) for r in as_list(st.get("resources", [[]]))]
            except (KeyError, ValueError) as exc:
                problems.append(f"statement {sid}: cannot evaluate its resources: {exc}")
                continue
            backup_resources = [r for r in resources if r == arn or r.startswith(arn + "/")]
            if not backup_resources:
                continue
            for a in actions:
                if a == "s3:*" or a.endswith("*"):
                    problems.append(f"statement {sid}: wildcard action {a} on the backup bucket")
            granted |= set(actions)
            for r in backup_resources:
                if r == arn:
                    if set(actions) != {"s3:ListBucket"}:
                        problems.append(f"statement {sid}: only s3:ListBucket on the bucket itself, got {actions}")
                    conds = statement_conditions(st)
                    prefixes = [condition_values(ev, vals) for t, v, vals in conds if v == "s3:prefix" and t == "StringLike"]
                    if len(prefixes) != 1 or not prefixes[0] or not all(p.startswith(folder) for p in prefixes[0]):
                        problems.append(f"statement {sid} (prefix {prefix!r}, cluster {cluster!r}): s3:ListBucket must be "
                                        f"conditioned on s3:prefix StringLike under {folder!r}, got {prefixes}")
                elif r != f"{arn}/{folder}*":
                    problems.append(f"statement {sid} (prefix {prefix!r}, cluster {cluster!r}): objects must be "
                                    f"{arn}/{folder}*, got {r}")
    if backup_doc is not None or granted:
        missing = set(BACKUP_OBJECT_ACTIONS + ["s3:ListBucket"]) - granted
        if missing:
            problems.append(f"node-bootstrap backup needs {sorted(missing)} on its folder of the backup bucket")
        extra = granted - set(BACKUP_OBJECT_ACTIONS + ["s3:ListBucket"])
        if extra:
            problems.append(f"the backup bucket grants more than node-bootstrap uses: {sorted(extra)}")
    # The cluster key, for SSE-KMS uploads: through S3 only.
    kms = [st for st in blocks(node, "statement") if "kms:GenerateDataKey" in as_list(st.get("actions", [[]]))]
    ev = cfg.evaluator(shape(), STANDINS)
    for st in kms:
        via = [condition_values(ev, vals) for t, v, vals in statement_conditions(st) if v == "kms:ViaService"]
        if via != [["s3.us-east-1.amazonaws.com"]]:
            problems.append(f"kms:GenerateDataKey for backups must be conditioned on kms:ViaService = S3 only, got {via}")
    if len(kms) != 1 or not {"kms:Encrypt", "kms:Decrypt"} <= set(as_list(kms[0].get("actions"))):
        problems.append("the node policy needs one statement granting kms:GenerateDataKey, kms:Encrypt and kms:Decrypt "
                        "on the cluster key through S3 (SSE-KMS backups)")
    return problems


def check_volume_tag_statements(cfg, peer_count=3):
    """A node writes exactly the three steadfast volume tags (initialized, joined, blank), any
    of them alone, in standalone CreateTags calls, and deletes only steadfast:blank; neither
    call may go without tag keys (a DeleteTags naming none deletes every tag)."""
    problems = []
    doc = cfg.data.get(("aws_iam_policy_document", "node"), {})
    for n in range(peer_count):
        ev = cfg.evaluator(shape(peer_count), {"each": {"key": str(n), "value": {"index": n}}})
        for action, want in (("ec2:CreateTags", NODE_TAG_KEYS), ("ec2:DeleteTags", [VOCAB["tags"]["blank"]])):
            sts = [st for st in blocks(doc, "statement") if action in as_list(st.get("actions", [[]]))]
            if not sts:
                problems.append(f"peer {n}: no statement grants {action} on its own volume")
            for st in sts:
                sid = one(st.get("sid", ["?"]))
                conds = {}
                for t, v, vals in statement_conditions(st):
                    conds.setdefault(ev.template(v), []).append((t, condition_values(ev, vals)))
                keys = conds.get("aws:TagKeys", [])
                allowed = [vals for t, vals in keys if t == "ForAllValues:StringEquals"]
                if len(allowed) != 1 or sorted(allowed[0]) != sorted(want):
                    problems.append(f"peer {n} statement {sid}: {action} must allow exactly the tag keys {want} "
                                    f"(ForAllValues:StringEquals aws:TagKeys), got {allowed}")
                if ("Null", ["false"]) not in keys:
                    problems.append(f"peer {n} statement {sid}: {action} must require tag keys (Null aws:TagKeys = false)")
                for key in conds:
                    if key.startswith("aws:RequestTag/"):
                        problems.append(f"peer {n} statement {sid}: a {key} condition would refuse a call that sets "
                                        "another of the allowed tags alone")
                if action == "ec2:CreateTags" and conds.get("ec2:CreateAction") != [("Null", ["true"])]:
                    problems.append(f"peer {n} statement {sid}: CreateTags must be standalone (Null ec2:CreateAction)")
                if len(as_list(st.get("actions"))) != 1:
                    problems.append(f"peer {n} statement {sid}: {action} must be a statement of its own")
    return problems


def check_backup_alarms(cfg):
    """The stale-backup alarm: the newest verified snapshot's age above 3 intervals, missing
    data breaching; the failed-backup alarm: any BackupFailed in 2 intervals. Both from
    vocab.json's names, to the module's alarm actions, only with backups."""
    problems = []
    m = VOCAB["metrics"]
    want = {
        "backup_stale": (m["backup_newest_age"], "Maximum", "GreaterThanThreshold", "breaching"),
        "backup_failed": (m["backup_failed"], "Sum", "GreaterThanOrEqualToThreshold", "notBreaching"),
    }
    alarms = cfg.of_type("aws_cloudwatch_metric_alarm")
    for name, (metric, statistic, op, missing) in want.items():
        body = alarms.get(name)
        if not body:
            problems.append(f"aws_cloudwatch_metric_alarm.{name} is missing")
            continue
        if not gated_by(body, "backup_enabled"):
            problems.append(f"aws_cloudwatch_metric_alarm.{name} must have count = var.backup_enabled ? 1 : 0")
        raw = cfg.raw_resource("aws_cloudwatch_metric_alarm", name).attrs
        for interval in (300, 60, 90, 3599, 86400):
            ev = cfg.evaluator(shape(backup_interval_secs=interval))
            where = f"aws_cloudwatch_metric_alarm.{name} (interval {interval})"
            try:
                got = {k: ev.expr(raw[k]) for k in ("namespace", "metric_name", "dimensions", "statistic", "period",
                                                     "evaluation_periods", "comparison_operator", "threshold",
                                                     "treat_missing_data")}
                got["datapoints_to_alarm"] = ev.expr(raw["datapoints_to_alarm"]) if "datapoints_to_alarm" in raw else got["evaluation_periods"]
            except (KeyError, ValueError) as exc:
                problems.append(f"{where}: {exc}")
                break
            if (got["namespace"], got["metric_name"], got["dimensions"]) != (metric_namespace("c1"), metric, {m["dimension_cluster"]: "c1"}):
                problems.append(f"{where}: must watch {metric_namespace('c1')}/{metric} with {m['dimension_cluster']} = the cluster")
            if (got["statistic"], got["comparison_operator"], got["treat_missing_data"]) != (statistic, op, missing):
                problems.append(f"{where}: want {statistic}, {op}, treat_missing_data {missing}, got "
                                f"{got['statistic']}, {got['comparison_operator']}, {got['treat_missing_data']}")
            period = got["period"]
            if period % 60 or not interval <= period < interval + 60:
                problems.append(f"{where}: period {period} must be the interval rounded up to whole minutes")
            if name == "backup_stale":
                if got["threshold"] != 3 * interval or got["evaluation_periods"] != 1:
                    problems.append(f"{where}: threshold must be 3 x interval ({3 * interval}) over 1 period, "
                                    f"got {got['threshold']} over {got['evaluation_periods']}")
            else:
                window = period * got["evaluation_periods"]
                if got["threshold"] != 1 or got["datapoints_to_alarm"] != 1 or not 2 * interval <= window < 2 * interval + 120:
                    problems.append(f"{where}: want Sum >= 1 in any of 2 intervals, got threshold {got['threshold']}, "
                                    f"{got['datapoints_to_alarm']} of {got['evaluation_periods']} x {period} s")
        for key in ("alarm_actions", "ok_actions"):
            if norm(body.get(key)) != "local.alarm_actions":
                problems.append(f"aws_cloudwatch_metric_alarm.{name}.{key} must be local.alarm_actions")
    return problems


def check_dlm(cfg):
    """Daily EBS snapshots of this cluster's volumes (the cluster tag), tags copied, by a role
    of its own whose only mutations are snapshots of the cluster's volumes."""
    problems = []
    pol = cfg.resources.get(("aws_dlm_lifecycle_policy", "ebs"))
    if not pol:
        return ["aws_dlm_lifecycle_policy.ebs is missing"]
    if not gated_by(pol, "ebs_snapshots_enabled"):
        problems.append("aws_dlm_lifecycle_policy.ebs must have count = var.ebs_snapshots_enabled ? 1 : 0")
    if norm(pol.get("execution_role_arn")) != "aws_iam_role.dlm[0].arn":
        problems.append("aws_dlm_lifecycle_policy.ebs must run as aws_iam_role.dlm[0]")
    raw = cfg.raw_resource("aws_dlm_lifecycle_policy", "ebs").block("policy_details")
    details = blocks(pol, "policy_details")
    details = details[0] if details else {}
    if as_list(details.get("resource_types")) != ["VOLUME"]:
        problems.append("the DLM policy must target VOLUME resources")
    for cluster in ("c1", "prod-etcd"):
        try:
            tags = cfg.evaluator(shape(cluster=cluster)).expr(raw.attrs["target_tags"])
        except (KeyError, ValueError) as exc:
            problems.append(f"DLM target_tags: {exc}")
            break
        if tags != {VOCAB["tags"]["cluster"]: cluster}:
            problems.append(f"the DLM policy must target exactly the volumes tagged {VOCAB['tags']['cluster']} = {cluster}, got {tags}")
    schedules = blocks(details, "schedule")
    if len(schedules) != 1:
        return problems + [f"want one DLM schedule, got {len(schedules)}"]
    sch = schedules[0]
    if one(sch.get("copy_tags")) is not True:
        problems.append("the DLM schedule must copy the volume's tags onto its snapshots")
    rules = blocks(sch, "create_rule")
    if [(one(r.get("interval")), one(r.get("interval_unit")), as_list(r.get("times"))) for r in rules] != [(24, "HOURS", ["${var.ebs_snapshot_time}"])]:
        problems.append("the DLM schedule must run every 24 hours at var.ebs_snapshot_time")
    if [norm(r.get("count")) for r in blocks(sch, "retain_rule")] != ["var.ebs_snapshot_retain_count"]:
        problems.append("the DLM schedule must keep var.ebs_snapshot_retain_count snapshots")
    role = cfg.resources.get(("aws_iam_role", "dlm"), {})
    trust = cfg.data.get(("aws_iam_policy_document", "dlm_assume"), {})
    services = [i for st in blocks(trust, "statement") for p in blocks(st, "principals") for i in as_list(p.get("identifiers"))]
    if norm(role.get("assume_role_policy")) != "data.aws_iam_policy_document.dlm_assume[0].json" or services != ["dlm.amazonaws.com"]:
        problems.append("aws_iam_role.dlm must be assumable by dlm.amazonaws.com only")
    rp = cfg.resources.get(("aws_iam_role_policy", "dlm"), {})
    if norm(rp.get("policy")) != "data.aws_iam_policy_document.dlm[0].json" or norm(rp.get("role")) != "aws_iam_role.dlm[0].id":
        problems.append("aws_iam_role_policy.dlm must put data.aws_iam_policy_document.dlm on aws_iam_role.dlm")
    doc = cfg.data.get(("aws_iam_policy_document", "dlm"), {})
    ev = cfg.evaluator(shape())
    cluster_cond = ("StringEquals", f"aws:ResourceTag/{VOCAB['tags']['cluster']}", ["c1"])
    for st in blocks(doc, "statement"):
        sid = one(st.get("sid", ["?"]))
        actions = as_list(st.get("actions", [[]]))
        resources = [norm(r) for r in as_list(st.get("resources", [[]]))]
        conds = [(t, ev.template(v), condition_values(ev, vals)) for t, v, vals in statement_conditions(st)]
        for a in actions:
            if READ_ONLY_ACTION.match(a):
                continue
            if a not in ("ec2:CreateSnapshot", "ec2:DeleteSnapshot", "ec2:CreateTags"):
                problems.append(f"DLM statement {sid}: {a} is more than a VOLUME snapshot policy needs")
            for r in resources:
                if r == "local.volume_arns":
                    if a != "ec2:CreateSnapshot" or cluster_conds_missing(conds, cluster_cond):
                        problems.append(f"DLM statement {sid}: only CreateSnapshot of volumes tagged with the cluster")
                elif r == "local.snapshot_arns":
                    if a == "ec2:DeleteSnapshot" and cluster_conds_missing(conds, cluster_cond):
                        problems.append(f"DLM statement {sid}: DeleteSnapshot only of snapshots tagged with the cluster")
                else:
                    problems.append(f"DLM statement {sid}: {a} on {r} (volumes or snapshots only)")
    return problems


def cluster_conds_missing(conds, cluster_cond):
    return cluster_cond not in conds



def unit_settings(text):
    """{section: [(key, value), ...]} of a systemd unit or drop-in (comments dropped)."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, [])
            continue
        key, _, value = line.partition("=")
        out.setdefault(section, []).append((key.strip(), value.strip()))
    return out


def check_backup_units(units, dropin, interval):
    """The backup units: a oneshot service the timer starts (never etcd), the timer (30 s of
    jitter, no catch-up, timers.target, the default interval in the unit and the configured one
    in a drop-in that clears it first), and the on-demand service, not enabled."""
    problems = []
    default = VOCAB["defaults"]["backup_interval_secs"]
    for name, args in (("steadfast-backup.service", "backup"), ("steadfast-backup-now.service", "backup --now")):
        u = unit_settings(units.get(name, ""))
        svc, unit = dict(u.get("Service", [])), u.get("Unit", [])
        if svc.get("Type") != "oneshot":
            problems.append(f"{name} must be Type=oneshot")
        if svc.get("ExecStart") != f"/usr/local/bin/node-bootstrap {args}":
            problems.append(f"{name} must run /usr/local/bin/node-bootstrap {args}, got {svc.get('ExecStart')}")
        if svc.get("EnvironmentFile") != "/etc/steadfast/bootstrap.env":
            problems.append(f"{name} must read /etc/steadfast/bootstrap.env")
        for key, value in unit:
            if key in ("Requires", "Wants", "BindsTo", "Requisite", "PartOf", "Upholds") and "etcd-member" in value:
                problems.append(f"{name}: {key}={value} would start or stop etcd; order only (After=)")
        if ("After", "etcd-member.service") not in unit:
            problems.append(f"{name} must order After=etcd-member.service")
        if "Install" in u:
            problems.append(f"{name} must have no [Install]: only the timer (or a human) starts it")
    svc = dict(unit_settings(units.get("steadfast-backup.service", "")).get("Service", []))
    if (svc.get("Nice"), svc.get("IOSchedulingClass")) != ("10", "idle"):
        problems.append("steadfast-backup.service must run with Nice=10 and IOSchedulingClass=idle")
    t = unit_settings(units.get("steadfast-backup.timer", ""))
    timer = t.get("Timer", [])
    for key, value in (("OnBootSec", str(default)), ("OnUnitActiveSec", str(default)),
                       ("RandomizedDelaySec", "30"), ("Persistent", "false")):
        if (key, value) not in timer:
            problems.append(f"steadfast-backup.timer must set {key}={value}")
    if ("WantedBy", "timers.target") not in t.get("Install", []):
        problems.append("steadfast-backup.timer must be WantedBy=timers.target")
    d = unit_settings(dropin).get("Timer", [])
    for key in ("OnBootSec", "OnUnitActiveSec"):
        if [v for k, v in d if k == key] != ["", str(interval)]:
            problems.append(f"the timer drop-in must clear {key} (timer settings add up) and set it to {interval}, "
                            f"got {[v for k, v in d if k == key]}")
    return problems

# ----------------------------------------------------------------------------------------------
# Templates, rendered by Terraform itself
# ----------------------------------------------------------------------------------------------

def tf_binary():
    return os.environ.get("STEADFAST_TERRAFORM") or shutil.which("terraform")


def tf_eval(expression):
    """Evaluate one expression with `terraform console` in an empty directory (no provider
    needed): templatefile() is Terraform's own template engine."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CHECKPOINT_DISABLE="1")
        if env.get("TF_CLI_CONFIG_FILE") and not os.path.exists(env["TF_CLI_CONFIG_FILE"]):
            env.pop("TF_CLI_CONFIG_FILE")
        res = subprocess.run([tf_binary(), "console"], input=f"jsonencode({expression})\n", text=True,
                             capture_output=True, cwd=tmp, env=env, timeout=60)
        if res.returncode != 0:
            raise AssertionError(f"terraform console failed: {res.stderr}")
        return json.loads(json.loads(res.stdout))


def hcl_value(value):
    """A Python value as an HCL expression for terraform console: JSON, with template
    sequences escaped so that string values stay literal (as file() content would)."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


SAMPLE_SHA = {"node-bootstrap": "a" * 64, "etcd": "b" * 64}


def install_values(**over):
    values = {
        "region": "us-east-1", "asg_name": "c1-peer-0", "hook_name": "c1-launching",
        "artifacts_bucket": "c1-artifacts-20260101000000000000000001",
        "node_bootstrap_key": f"node-bootstrap/{SAMPLE_SHA['node-bootstrap']}/node-bootstrap",
        "node_bootstrap_sha256": SAMPLE_SHA["node-bootstrap"],
        "etcd_url": "", "etcd_s3_key": f"etcd/{SAMPLE_SHA['etcd']}/etcd-v3.5.17-linux-arm64.tar.gz",
        "etcd_sha256": SAMPLE_SHA["etcd"], "etcd_user": VOCAB["etcd_account"]["name"],
        "etcd_uid": VOCAB["etcd_account"]["uid"], "etcd_gid": VOCAB["etcd_account"]["gid"],
        "cluster_name": "c1", "metric_namespace": metric_namespace("c1"),
        "metric_refused": VOCAB["metrics"]["bootstrap_refused"],
        "metric_dimension": VOCAB["metrics"]["dimension_cluster"],
        "unit_names": STARTED_UNITS,
    }
    values.update(over)
    return values


def render_install(**over):
    return tf_eval(f'templatefile("{TEMPLATES}/install.sh.tftpl", {hcl_value(install_values(**over))})')


_MODULE_UNITS = {}


def module_units(units_list):
    """local.units as Terraform computes it (the module's own expression, by terraform
    console): each unit file as cloud-init writes it."""
    key = tuple(units_list)
    if key not in _MODULE_UNITS:
        expr = raw_dir(MODULE_DIR).locals["units"]
        expr = expr.replace("local.systemd_units", hcl_value(list(units_list))).replace("${path.module}", MODULE_DIR)
        _MODULE_UNITS[key] = tf_eval(expr)
    return _MODULE_UNITS[key]


def render_cloud_init(install_script, prepare=1500, ready=600, bootstrap_env="A=b\n", backup_interval=600, units_list=None):
    units_list = UNITS if units_list is None else units_list
    units = module_units(units_list)
    values = {
        "cluster_name": "c1", "peer_index": 0, "bootstrap_env": bootstrap_env,
        "unit_names": units_list, "units": units,
        "unit_start_timeouts": {"node-bootstrap.service": "infinity", "node-ready.service": ready + 120},
        "timer_intervals": {"steadfast-backup.timer": backup_interval} if backup_interval else {},
        "install_gz_b64": base64.b64encode(gzip.compress(install_script.encode())).decode(),
    }
    return tf_eval(f'templatefile("{TEMPLATES}/cloud-init.yaml.tftpl", {hcl_value(values)})')


def check_install_script_text(script):
    """(d) No ERR trap, no errexit inheritance trick, no SIGPIPE-prone `| head`; (c) no object
    version ids; failures ABANDON explicitly."""
    problems = []
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    if re.search(r"\bset\s+-[a-zA-Z]*E", code) or "errtrace" in code:
        problems.append("the install script must not use set -E (errtrace)")
    if re.search(r"\btrap\b[^\n]*\bERR\b", code):
        problems.append("the install script must not trap ERR")
    if re.search(r"\|\s*head\b", code):
        problems.append("the install script must not pipe into head (SIGPIPE under pipefail)")
    if "version-id" in code or "version_id" in code:
        problems.append("the install script must not fetch by object version id (content-addressed keys)")
    if not re.search(r"abandon\s*\(\)", code) or "--lifecycle-action-result ABANDON" not in code:
        problems.append("the install script must have an abandon function that completes the action with ABANDON")
    if not re.search(r'--steps\s*\|\|\s*rc=\$\?', code) or not re.search(r'abandon\s+"\$rc"', code):
        problems.append("the install script must run its steps as a child and ABANDON on its failure")
    nb_verify = code.find('verify "$1/node-bootstrap"')
    nb_install = code.find("/usr/local/bin/node-bootstrap")
    etcd_verify = code.find('verify "$1/etcd.tar.gz"')
    etcd_extract = code.find("tar -xzf")
    if min(nb_verify, etcd_verify) < 0 or nb_verify > nb_install or etcd_verify > etcd_extract:
        problems.append("the install script must verify both SHA-256 sums before installing")
    if "groupadd --system --gid" not in code or "useradd --system --uid" not in code:
        problems.append("the install script must create the etcd group and user with pinned IDs")
    return problems


# ----------------------------------------------------------------------------------------------
# Tests on the real module and examples
# ----------------------------------------------------------------------------------------------

class Base(unittest.TestCase):
    def assertNoProblems(self, problems):
        self.assertEqual([], problems, "\n  " + "\n  ".join(problems))


class ModuleStructure(Base):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_dir(MODULE_DIR)
        cls.texts = module_text()

    def test_peers_are_placed_in_zone_n_mod_z(self):
        self.assertNoProblems(check_zone_placement(self.cfg))

    def test_names_tags_ports_and_seeds_come_from_vocab(self):
        self.assertNoProblems(check_vocab_names(self.cfg))

    def test_no_vocabulary_is_restated(self):
        self.assertNoProblems(check_no_restated_vocabulary(self.texts))

    def test_one_asg_per_peer_min_max_desired_1_in_its_subnet(self):
        self.assertNoProblems(check_asgs(self.cfg))

    def test_volumes_encrypted_in_the_peer_zone_and_protected(self):
        self.assertNoProblems(check_volumes(self.cfg))

    def test_launch_templates(self):
        self.assertNoProblems(check_launch_templates(self.cfg))

    def test_srv_records_list_every_peer(self):
        for peer_count in (9, 3, 5):
            for tls in (True, False):
                with self.subTest(peer_count=peer_count, tls=tls):
                    self.assertNoProblems(check_dns(self.cfg, peer_count=peer_count, tls=tls))

    def test_iam_no_star_resource_on_mutating_actions_and_no_managed_policies(self):
        self.assertNoProblems(check_iam(self.cfg))

    def test_each_peer_role_touches_only_its_own_volume(self):
        for peer_count in (9, 3):
            with self.subTest(peer_count=peer_count):
                self.assertNoProblems(check_peer_volume_scope(self.cfg, peer_count))

    def test_lambda_writes_only_peer_a_records(self):
        self.assertNoProblems(check_lambda_iam(self.cfg))

    def test_security_groups(self):
        self.assertNoProblems(check_security_groups(self.cfg))
        self.assertNoProblems(check_rules_accept_unknown_values(self.cfg))

    def test_peer_count_validation_is_odd_and_at_least_3(self):
        cond = strip_interp(blocks(self.cfg.variables["peer_count"], "validation")[0]["condition"])
        self.assertIn("var.peer_count >= 3", cond)
        self.assertIn("var.peer_count % 2 == 1", cond)
        self.assertEqual(VOCAB["defaults"]["peer_count"], one(self.cfg.variables["peer_count"]["default"]))
        self.assertEqual(VOCAB["defaults"]["record_ttl"], one(self.cfg.variables["record_ttl"]["default"]))

    def test_every_variable_typed_described_and_in_the_readme(self):
        # The module's README carries tables generated from variables.tf and outputs.tf
        # (scripts/module-docs.py): they must be what the generator writes now.
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "scripts", "module-docs.py"), "--check", MODULE_DIR],
            capture_output=True, text=True, check=False,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(MODULE_DIR, "README.md"), encoding="utf-8") as fh:
            readme = fh.read()
        for name, var in self.cfg.variables.items():
            with self.subTest(variable=name):
                self.assertIn("type", var)
                self.assertTrue(one(var.get("description")))
                self.assertTrue(f"| `{name}` |" in readme, f"variable {name} is not in the module README's inputs table")
        for name in self.cfg.outputs:
            with self.subTest(output=name):
                self.assertTrue(f"| `{name}` |" in readme, f"output {name} is not in the module README's outputs table")

    def eval_validation(self, variable, value):
        return self.cfg.evaluator({variable: value}).expr(self.cfg.raw_validation(variable))

    def test_a_tls_is_on_by_default_and_never_refused(self):
        var = self.cfg.variables["tls_enabled"]
        self.assertIs(True, one(var["default"]))
        self.assertEqual([], blocks(var, "validation"), "the interim refusal of tls_enabled = true is gone")
        self.assertEqual(VOCAB["defaults"]["tls_cert_validity_days"], one(self.cfg.variables["tls_cert_validity_days"]["default"]))
        self.assertEqual(VOCAB["defaults"]["tls_ca_validity_days"], one(self.cfg.variables["tls_ca_validity_days"]["default"]))
        self.assertEqual(VOCAB["defaults"]["tls_check_interval_secs"], one(self.cfg.variables["tls_check_interval_secs"]["default"]))
        for var, cases in (("tls_cert_validity_days", ((0, False), (1, True), (30, True), (397, True), (398, False), (1.5, False))),
                           ("tls_ca_validity_days", ((119, False), (120, True), (3650, True), (36501, False))),
                           ("tls_check_interval_secs", ((59, False), (60, True), (3600, True), (3601, False)))):
            for v, ok in cases:
                with self.subTest(var=var, value=v):
                    self.assertEqual(ok, bool(self.eval_validation(var, v)))

    def test_tls_reaches_the_node(self):
        e = VOCAB["env"]
        got = self.cfg.local("node_env", shape(tls_cert_validity_days=2), STANDINS)
        self.assertEqual("true", got[e["tls"]])
        self.assertEqual("/run/steadfast/tls", got[e["tls_dir"]])
        self.assertEqual(SAMPLE_KEY_ARN, got[e["tls_kms_key"]])
        self.assertEqual(str(2 * 86400), got[e["tls_cert_validity_secs"]])
        self.assertEqual("3650", got[e["tls_ca_validity_days"]])
        plain = self.cfg.local("node_env", shape(tls_enabled=False), STANDINS)
        self.assertEqual("false", plain[e["tls"]])
        for k in ("tls_dir", "tls_kms_key", "tls_cert_validity_secs", "tls_ca_validity_days"):
            self.assertNotIn(e[k], plain)
        self.assertEqual({"steadfast-backup.timer": 300, "steadfast-tls.timer": 120},
                         self.cfg.local("timer_intervals", shape(tls_check_interval_secs=120)))
        with open(os.path.join(UNITS_DIR, "steadfast-tls.service"), encoding="utf-8") as fh:
            unit = fh.read()
        self.assertIn("ExecStart=/usr/local/bin/node-bootstrap tls\n", unit)
        self.assertIn("Type=oneshot", unit)
        self.assertIn("ExecCondition=/usr/bin/systemctl is-active --quiet etcd-member.service", unit)
        self.assertNotIn("[Install]", unit, "the timer starts the service, never boot")

    def test_tls_iam_is_scoped_to_the_clusters_ca_secret(self):
        # The vocabulary's name and this deployment's id: a destroyed deployment's secret never
        # stands in a new deployment's way (issue 24, H3); the nodes get it in their environment.
        name = fill(VOCAB["names"]["ca_secret"], cluster="c1") + "-" + PROVIDER_LOCALS["deployment_id"]
        self.assertEqual(name, self.cfg.local("ca_secret_name", shape()))
        self.assertIn("terraform_data.deployment.output", self.cfg.raw.locals["deployment_id"])
        self.assertIn(f"{VOCAB['env']['tls_ca_name']}={name}", self.rendered_bootstrap_env(shape()))
        arn = self.cfg.raw.locals["ca_secret_arn"]
        self.assertIn(":secret:${local.ca_secret_name}-??????", arn)
        for doc_name, want in (("node_tls", {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                                             "secretsmanager:CreateSecret", "secretsmanager:TagResource",
                                             "kms:Decrypt", "kms:GenerateDataKey"}),
                               ("operator_tls", {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                                                 "secretsmanager:PutSecretValue", "kms:Decrypt", "kms:GenerateDataKey"})):
            doc = self.cfg.data[("aws_iam_policy_document", doc_name)]
            self.assertTrue(gated_by(doc, "tls_enabled"), doc_name)
            got = set()
            for st in blocks(doc, "statement"):
                actions = as_list(st["actions"])
                got |= set(actions)
                res = as_list(st["resources"])
                if any(a.startswith("secretsmanager:") for a in actions):
                    self.assertEqual(["${local.ca_secret_arn}"], res, f"{doc_name}: {actions}")
                else:
                    self.assertEqual(["${local.kms_key_arn}"], res)
                    cond = blocks(st, "condition")[0]
                    self.assertEqual("kms:ViaService", one(cond["variable"]))
                    self.assertEqual(["secretsmanager.${local.region}.amazonaws.com"], as_list(cond["values"]))
                if "secretsmanager:CreateSecret" in actions:
                    cond = blocks(st, "condition")[0]
                    self.assertEqual("aws:RequestTag/" + VOCAB["tags"]["cluster"], one(cond["variable"]).replace("${local.vocab.tags.cluster}", VOCAB["tags"]["cluster"]))
            self.assertEqual(want, got, doc_name)
            self.assertNotIn("secretsmanager:DeleteSecret", got)
        node = self.cfg.data[("aws_iam_policy_document", "node")]
        self.assertIn("data.aws_iam_policy_document.node_tls[0].json", norm(node["source_policy_documents"]))

    def test_review_2_findings_stay_fixed(self):
        """Issue 24's small findings of review 2, each checked (each assertion fails without its fix)."""
        # M5: the daily EBS snapshots are watched.
        alarm = self.cfg.of_type("aws_cloudwatch_metric_alarm")["ebs_snapshots_failed"]
        self.assertTrue(gated_by(alarm, "ebs_snapshots_enabled"))
        self.assertEqual(("AWS/EBS", "SnapshotsCreateFailed"), (one(alarm["namespace"]), one(alarm["metric_name"])))
        self.assertIn("aws_dlm_lifecycle_policy.ebs[0].id", norm(alarm["dimensions"]))
        # M6: the dead-letter queue is SSE-SQS, and no key policy statement depends on EventBridge.
        dlq = self.cfg.resources[("aws_sqs_queue", "dlq")]
        self.assertIs(True, one(dlq["sqs_managed_sse_enabled"]))
        self.assertNotIn("kms_master_key_id", dlq)
        self.assertNotIn("events.amazonaws.com", self.cfg.raw.locals["kms_key_policy"])
        # O11: kms:GrantIsForAWSResource gates CreateGrant alone (on other actions it never holds).
        node = self.cfg.data[("aws_iam_policy_document", "node")]
        for st in blocks(node, "statement"):
            variables = [one(c["variable"]) for c in blocks(st, "condition")]
            if "kms:GrantIsForAWSResource" in variables:
                self.assertEqual(["kms:CreateGrant"], as_list(st["actions"]))
        # O11: the Lambda decrypts only through Lambda, and no longer needs GenerateDataKey.
        lam = self.cfg.data[("aws_iam_policy_document", "lambda")]
        kms = [st for st in blocks(lam, "statement") if any(a.startswith("kms:") for a in as_list(st["actions"]))]
        self.assertEqual([["kms:Decrypt"]], [as_list(st["actions"]) for st in kms])
        cond = blocks(kms[0], "condition")[0]
        self.assertEqual(("kms:ViaService", ["lambda.${local.region}.amazonaws.com"]),
                         (one(cond["variable"]), as_list(cond["values"])))
        # O13: a missing build output fails at plan, naming what to build.
        for var in ("node_bootstrap_path", "lambda_zip_path", "etcd_archive_path"):
            cond = self.cfg.raw.block("variable", var).block("validation").attrs["condition"]
            self.assertIn("fileexists(", cond, var)
        # L3: etcd_version is a 3.5 release.
        validations = [b.attrs["condition"] for b in self.cfg.raw.block("variable", "etcd_version").blocks.get(("validation",), [])]
        self.assertTrue(any("^3\\\\.5\\\\." in c for c in validations), validations)
        # L4: the ARNs an operator needs are outputs.
        for name in ("client_lb_arn", "client_target_group_arn", "asg_arns", "kms_key_id", "lambda_dlq_arn",
                     "required_vpc_endpoints"):
            self.assertIn(name, self.cfg.outputs)
        # M4: a setting a running cluster cannot change fails the plan, saying why.
        check = self.cfg.raw.block("resource", "terraform_data", "immutable_check")
        lifecycle = check.block("lifecycle")
        preconditions = lifecycle.blocks.get(("precondition",), [])
        said = " ".join(p.attrs["condition"] for p in preconditions)
        for var in ("cluster_name", "domain", "tls_enabled", "peer_count"):
            self.assertIn(f"var.{var}", said, var)
        kept = self.cfg.resources[("terraform_data", "immutable")]
        self.assertIn("input", norm(kept["lifecycle"]))

    def test_tls_alarms(self):
        m = VOCAB["metrics"]
        alarms = self.cfg.of_type("aws_cloudwatch_metric_alarm")
        for name, metric, statistic, op, threshold, missing in (
                ("tls_certificate_expiry", m["tls_cert_days_left"], "Minimum", "LessThanThreshold", 7, "breaching"),
                ("tls_ca_expiry", m["tls_ca_days_left"], "Minimum", "LessThanThreshold", 90, "breaching"),
                ("tls_failed", m["tls_failed"], "Sum", "GreaterThanThreshold", 0, "notBreaching")):
            with self.subTest(alarm=name):
                self.assertTrue(gated_by(alarms[name], "tls_enabled"))
                raw = self.cfg.raw_resource("aws_cloudwatch_metric_alarm", name).attrs
                ev = self.cfg.evaluator(shape(tls_check_interval_secs=90))
                got = {k: ev.expr(raw[k]) for k in ("namespace", "metric_name", "dimensions", "statistic",
                                                     "comparison_operator", "threshold", "treat_missing_data", "period")}
                self.assertEqual((metric_namespace("c1"), metric, {m["dimension_cluster"]: "c1"}),
                                 (got["namespace"], got["metric_name"], got["dimensions"]))
                self.assertEqual((statistic, op, threshold, missing),
                                 (got["statistic"], got["comparison_operator"], got["threshold"], got["treat_missing_data"]))
                self.assertEqual(0, got["period"] % 60)
                self.assertGreaterEqual(got["period"], 120)
        with open(os.path.join(TF_DIR, "README.md"), encoding="utf-8") as fh:
            readme = fh.read()
        for name in ("<C>-tls-certificate-expiry", "<C>-tls-ca-expiry", "<C>-tls-failed"):
            self.assertTrue(name in readme, f"terraform/README.md needs the runbook line for {name}")

    def test_b_no_reserved_concurrency_by_default(self):
        self.assertIsNone(one(self.cfg.variables["lambda_reserved_concurrency"].get("default")))
        self.assertTrue(self.eval_validation("lambda_reserved_concurrency", None))
        self.assertTrue(self.eval_validation("lambda_reserved_concurrency", 5))
        self.assertFalse(self.eval_validation("lambda_reserved_concurrency", 0))
        fn = self.cfg.resources[("aws_lambda_function", "peer_dns")]
        self.assertEqual("var.lambda_reserved_concurrency==None?-1:var.lambda_reserved_concurrency",
                         norm(fn["reserved_concurrent_executions"]))

    def test_c_artifact_keys_are_content_addressed(self):
        objs = self.cfg.of_type("aws_s3_object")
        self.assertEqual("node-bootstrap/${local.node_bootstrap_sha256}/node-bootstrap", one(objs["node_bootstrap"]["key"]))
        self.assertEqual("etcd/${local.etcd_sha256}/${local.etcd_archive_name}", one(objs["etcd"]["key"]))
        self.assertEqual("filesha256(var.node_bootstrap_path)", norm(self.cfg.locals["node_bootstrap_sha256"]))
        for fname, text in self.texts.items():
            self.assertNotIn("version_id", text, fname)
            self.assertNotIn("version-id", text, fname)
        for obj in objs.values():
            self.assertIs(True, one(blocks(obj, "lifecycle")[0]["create_before_destroy"]))

    def test_f_session_manager_is_narrow_and_optional(self):
        var = self.cfg.variables["enable_session_manager"]
        self.assertIs(True, one(var["default"]))
        doc = self.cfg.data[("aws_iam_policy_document", "session_manager")]
        self.assertEqual("var.enable_session_manager?1:0", norm(doc["count"]))
        actions = sorted(a for st in blocks(doc, "statement") for a in as_list(st["actions"]))
        self.assertEqual(sorted(["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                                 "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                                 "ssmmessages:OpenDataChannel"]), actions)
        for fname, text in self.texts.items():
            self.assertNotIn("AmazonSSMManagedInstanceCore\"", text, fname)
            self.assertNotIn("policy/AmazonSSM", text, fname)

    def test_g_node_deadlines_reach_the_node_and_systemd(self):
        defaults = {v: one(self.cfg.variables[v]["default"]) for v in
                    ("lifecycle_hook_heartbeat_timeout", "prepare_deadline_secs", "ready_timeout_secs")}
        self.assertEqual({"lifecycle_hook_heartbeat_timeout": 300, "prepare_deadline_secs": 1500,
                          "ready_timeout_secs": 600}, defaults)
        self.assertFalse(self.eval_validation("lifecycle_hook_heartbeat_timeout", 29))
        self.assertTrue(self.eval_validation("lifecycle_hook_heartbeat_timeout", 30))
        got = self.cfg.local("node_env", shape(), STANDINS)
        e = VOCAB["env"]
        self.assertEqual(fill(VOCAB["names"]["lifecycle_hook"], cluster="c1"), got[e["lifecycle_hook"]])
        self.assertEqual("300", got[e["hook_timeout_secs"]])
        self.assertEqual("1500", got[e["prepare_deadline_secs"]])
        self.assertEqual("600", got[e["ready_timeout_secs"]])
        self.assertEqual(VOCAB["etcd_account"]["name"], got[e["etcd_user"]])
        self.assertEqual("true", got[e["tls"]])
        # node-bootstrap: never a start timeout (a filesystem-modifying tool is never killed).
        self.assertEqual({"node-bootstrap.service": "infinity", "node-ready.service": 720},
                         self.cfg.local("unit_start_timeouts", shape()))
        self.assertEqual({"node-bootstrap.service": "infinity", "node-ready.service": 170},
                         self.cfg.local("unit_start_timeouts", shape(prepare_deadline_secs=100, ready_timeout_secs=50)))
        # The drop-ins are written from that map (see Templates), and the hook's budget check:
        lt = self.cfg.raw_resource("aws_launch_template", "peer")
        budget = [p.attrs["condition"] for p in lt.block("lifecycle").blocks[("precondition",)]
                  if "lifecycle_hook_heartbeat_timeout" in p.attrs["condition"]]
        self.assertEqual(1, len(budget))
        self.assertTrue(self.cfg.evaluator(shape()).expr(budget[0]))
        self.assertFalse(self.cfg.evaluator(shape(lifecycle_hook_heartbeat_timeout=30, prepare_deadline_secs=3000)).expr(budget[0]))

    def test_g_etcd_versions_that_lose_writes_are_refused(self):
        checks = [norm(v.attrs["condition"]) for v in self.cfg.raw.block("variable", "etcd_version").blocks[("validation",)]]
        self.assertIn('!contains(["3.5.0","3.5.1","3.5.2"],var.etcd_version)', checks)

    def test_g_etcd_timing_reaches_the_node_within_etcds_rules(self):
        d = VOCAB["defaults"]
        self.assertEqual(d["etcd_heartbeat_ms"], one(self.cfg.variables["etcd_heartbeat_interval_ms"]["default"]))
        self.assertEqual(d["etcd_election_ms"], one(self.cfg.variables["etcd_election_timeout_ms"]["default"]))
        e = VOCAB["env"]
        got = self.cfg.local("node_env", shape(etcd_heartbeat_interval_ms=50, etcd_election_timeout_ms=700), STANDINS)
        self.assertEqual("50", got[e["etcd_heartbeat_ms"]])
        self.assertEqual("700", got[e["etcd_election_ms"]])
        self.assertFalse(self.eval_validation("etcd_heartbeat_interval_ms", 9))
        self.assertTrue(self.eval_validation("etcd_heartbeat_interval_ms", 10))
        self.assertFalse(self.eval_validation("etcd_election_timeout_ms", 50001))
        lt = self.cfg.raw_resource("aws_launch_template", "peer")
        five = [p.attrs["condition"] for p in lt.block("lifecycle").blocks[("precondition",)]
                if "etcd_election_timeout_ms" in p.attrs["condition"]]
        self.assertEqual(1, len(five))
        def ev(hb, el):
            return self.cfg.evaluator(shape(etcd_heartbeat_interval_ms=hb, etcd_election_timeout_ms=el)).expr(five[0])
        self.assertTrue(ev(100, 500))
        self.assertFalse(ev(100, 499))

    def test_h_alarms_on_healthy_members_and_refusals(self):
        alarms = self.cfg.of_type("aws_cloudwatch_metric_alarm")
        hh = alarms["client_healthy_hosts"]
        self.assertEqual(("AWS/NetworkELB", "HealthyHostCount", "LessThanThreshold", "${var.peer_count}"),
                         (one(hh["namespace"]), one(hh["metric_name"]), one(hh["comparison_operator"]), one(hh["threshold"])))
        self.assertIn("aws_lb_target_group.client.arn_suffix", repr(hh["dimensions"]))
        br = alarms["bootstrap_refused"]
        raw = self.cfg.raw_resource("aws_cloudwatch_metric_alarm", "bootstrap_refused").attrs
        ev = self.cfg.evaluator(shape())
        self.assertEqual(metric_namespace("c1"), ev.expr(raw["namespace"]))
        self.assertEqual(VOCAB["metrics"]["bootstrap_refused"], ev.expr(raw["metric_name"]))
        self.assertEqual({VOCAB["metrics"]["dimension_cluster"]: "c1"}, ev.expr(raw["dimensions"]))
        self.assertEqual(("Sum", 300, "GreaterThanOrEqualToThreshold", 1),
                         (one(br["statistic"]), one(br["period"]), one(br["comparison_operator"]), one(br["threshold"])))
        with open(os.path.join(TF_DIR, "README.md"), encoding="utf-8") as fh:
            readme = fh.read()
        for name in ("-client-healthy-hosts", "-bootstrap-refused"):
            self.assertTrue(name in readme, f"terraform/README.md needs the runbook line for {name}")

    def test_i_etcd_is_uploaded_and_checked(self):
        etcd = self.cfg.resources[("aws_s3_object", "etcd")]
        self.assertEqual("var.etcd_archive_path==None?0:1", norm(etcd["count"]))
        conds = [norm(p["condition"]) for lc in blocks(etcd, "lifecycle") for p in blocks(lc, "precondition")]
        self.assertIn("filesha256(var.etcd_archive_path)==local.etcd_sha256", conds)
        lt = self.cfg.raw_resource("aws_launch_template", "peer")
        exactly_one = [p.attrs["condition"] for p in lt.block("lifecycle").blocks[("precondition",)]
                       if "etcd_archive_path" in p.attrs["condition"]]
        self.assertEqual(1, len(exactly_one))
        for archive, url, ok in ((None, None, False), ("a.tgz", None, True), (None, "https://x", True), ("a.tgz", "https://x", False)):
            self.assertEqual(ok, self.cfg.evaluator({"etcd_archive_path": archive, "etcd_url": url}).expr(exactly_one[0]))
        self.assertIsNone(one(self.cfg.variables["etcd_url"].get("default")))

    def test_k_units_live_in_the_module_only(self):
        self.assertEqual(sorted(UNITS), sorted(os.listdir(UNITS_DIR)))
        self.assertNotIn("systemd_units_dir", self.cfg.variables)
        units_expr = re.sub(r"\s+", " ", self.cfg.raw.locals["units"])
        self.assertTrue(units_expr.startswith("{ for u in local.systemd_units : u => "), units_expr)
        self.assertIn('file("${path.module}/units/${u}")', units_expr)
        self.assertEqual(UNITS, self.cfg.local("systemd_units"))
        res = subprocess.run(["git", "grep", "-n", "node-bootstrap/systemd", "--", ".", ":!terraform/tests"],
                             cwd=ROOT, capture_output=True, text=True)
        self.assertEqual("", res.stdout, "references to the old unit folder remain")
        self.assertFalse(os.path.exists(os.path.join(ROOT, "node-bootstrap", "systemd")))

    # --- backups -------------------------------------------------------------------------------

    def test_backup_bucket_encrypted_versioned_private_tls_only(self):
        self.assertNoProblems(check_backup_bucket(self.cfg))
        self.assertIs(True, one(self.cfg.variables["backup_enabled"]["default"]))
        self.assertEqual(30, one(self.cfg.variables["backup_noncurrent_version_days"]["default"]))
        self.assertEqual("local.backup_bucket_name", norm(self.cfg.outputs["backup_bucket_name"]["value"]))
        self.assertEqual(SAMPLE_BACKUP_BUCKET, self.cfg.local("backup_bucket_name", shape(), STANDINS))
        self.assertIsNone(self.cfg.local("backup_bucket_name", shape(backup_enabled=False), STANDINS))

    def test_backup_prefix_validation_matches_the_node_key_layout(self):
        self.assertEqual("", one(self.cfg.variables["backup_prefix"]["default"]))
        for prefix, ok in (("", True), ("backups/", True), ("a/b/", True), ("backups", False),
                           ("/abs/", False), ("a//b/", False), ("/", False)):
            with self.subTest(prefix=prefix):
                self.assertEqual(ok, bool(self.eval_validation("backup_prefix", prefix)))

    def test_node_reaches_only_its_clusters_backup_folder(self):
        self.assertNoProblems(check_node_backup_access(self.cfg))
        self.assertEqual("${var.backup_prefix}${var.cluster_name}/", one(self.cfg.locals["backup_cluster_dir"]))

    def test_node_writes_exactly_the_three_volume_tags_and_deletes_only_blank(self):
        for peer_count in (3, 9):
            with self.subTest(peer_count=peer_count):
                self.assertNoProblems(check_volume_tag_statements(self.cfg, peer_count))
        self.assertEqual(NODE_TAG_KEYS, sorted(self.cfg.local("node_volume_tag_keys", shape())))
        self.assertEqual(VOCAB["tags"]["joined"], self.cfg.local("joined_tag_key", shape()))
        self.assertEqual(VOCAB["tags"]["blank"], self.cfg.local("blank_tag_key", shape()))

    def test_backup_alarms(self):
        self.assertNoProblems(check_backup_alarms(self.cfg))
        with open(os.path.join(TF_DIR, "README.md"), encoding="utf-8") as fh:
            readme = fh.read()
        for name in ("<C>-backup-stale", "<C>-backup-failed"):
            self.assertTrue(name in readme, f"terraform/README.md needs the runbook line for {name}")

    def test_daily_ebs_snapshots_of_the_cluster_volumes(self):
        self.assertNoProblems(check_dlm(self.cfg))
        self.assertIs(True, one(self.cfg.variables["ebs_snapshots_enabled"]["default"]))
        self.assertEqual("03:00", one(self.cfg.variables["ebs_snapshot_time"]["default"]))
        self.assertEqual(7, one(self.cfg.variables["ebs_snapshot_retain_count"]["default"]))
        for t, ok in (("03:00", True), ("23:59", True), ("24:00", False), ("3:00", False), ("03:60", False)):
            with self.subTest(time=t):
                self.assertEqual(ok, bool(self.eval_validation("ebs_snapshot_time", t)))

    def test_backup_interval_default_and_range_are_node_bootstraps(self):
        self.assertEqual(VOCAB["defaults"]["backup_interval_secs"], one(self.cfg.variables["backup_interval_secs"]["default"]))
        for v, ok in ((59, False), (60, True), (300, True), (86400, True), (86401, False), (90.5, False)):
            with self.subTest(interval=v):
                self.assertEqual(ok, bool(self.eval_validation("backup_interval_secs", v)))
        self.assertEqual({"backup_keep_all_hours": 6, "backup_keep_hourly_days": 2, "backup_keep_daily_weeks": 4},
                         {v: one(self.cfg.variables[v]["default"]) for v in
                          ("backup_keep_all_hours", "backup_keep_hourly_days", "backup_keep_daily_weeks")})

    def rendered_bootstrap_env(self, variables):
        """bootstrap.env as Terraform renders it: the module's node_env (evaluated here) put
        into the module's own bootstrap_env expression, evaluated by terraform console."""
        need_tool(self, "terraform")
        env = self.cfg.local("node_env", variables, STANDINS)
        expr = self.cfg.raw.locals["bootstrap_env"]
        self.assertEqual(1, expr.count("local.node_env") - expr.count("local.node_env["), expr)
        return tf_eval(" ".join(expr.replace("local.node_env", f"({hcl_value(env)})").splitlines()))

    def test_backup_settings_reach_the_rendered_bootstrap_env(self):
        e = VOCAB["env"]
        text = self.rendered_bootstrap_env(shape(backup_interval_secs=600, backup_prefix="backups/",
                                                 backup_keep_all_hours=3))
        lines = set(text.splitlines())
        for line in (f"{e['backup_bucket']}={SAMPLE_BACKUP_BUCKET}", f"{e['backup_prefix']}=backups/",
                     f"{e['backup_kms_key']}={SAMPLE_KEY_ARN}", f"{e['backup_interval_secs']}=600",
                     f"{e['backup_keep_all_hours']}=3", f"{e['backup_keep_hourly_days']}=2",
                     f"{e['backup_keep_daily_weeks']}=4", f"{e['etcdutl_bin']}=/usr/local/bin/etcdutl",
                     f"{e['scratch_dir']}=/var/tmp/steadfast"):
            self.assertIn(line, lines, text)
        # Without backups, no bucket at all (node-bootstrap then never backs up or restores).
        text = self.rendered_bootstrap_env(shape(backup_enabled=False))
        self.assertFalse(any(line.startswith(e["backup_bucket"] + "=") for line in text.splitlines()), text)
        self.assertIn(f"{e['etcdutl_bin']}=/usr/local/bin/etcdutl", text)

    def test_backup_units_and_timer_interval(self):
        plain = dict(tls_enabled=False)
        self.assertEqual(BASE_UNITS, self.cfg.local("systemd_units", shape(backup_enabled=False, **plain)))
        self.assertEqual(STARTED_UNITS, self.cfg.local("started_units", shape()))
        self.assertEqual(BASE_UNITS, self.cfg.local("started_units", shape(backup_enabled=False, **plain)))
        self.assertEqual({"steadfast-backup.timer": 900}, self.cfg.local("timer_intervals", shape(backup_interval_secs=900, **plain)))
        self.assertEqual({}, self.cfg.local("timer_intervals", shape(backup_enabled=False, **plain)))
        # The install script enables and starts the started units; cloud-init writes them all.
        user_data = re.sub(r"\s+", " ", self.cfg.raw.locals["user_data"])
        self.assertIn("unit_names = local.systemd_units", user_data.split("install.sh.tftpl")[0])
        self.assertIn("unit_names = local.started_units", user_data.split("install.sh.tftpl")[1])
        units = {}
        for u in BACKUP_UNITS:
            with open(os.path.join(UNITS_DIR, u), encoding="utf-8") as fh:
                units[u] = fh.read()
        dropin = "[Timer]\nOnBootSec=\nOnBootSec=900\nOnUnitActiveSec=\nOnUnitActiveSec=900\n"
        self.assertNoProblems(check_backup_units(units, dropin, 900))

    def test_placeholder_network_validation(self):
        self.assertIsNone(one(self.cfg.variables["placeholder_network"].get("default")))
        for net, ok in (("192.0.2.0/24", True), ("127.0.255.0/24", True), ("10.1.2.0/28", True),
                        ("192.0.2.5/24", False), ("2001:db8::/64", False), ("10.0.0.0/31", False), ("nope", False)):
            with self.subTest(net=net):
                self.assertEqual(ok, bool(self.eval_validation("placeholder_network", net)))
        rec = self.cfg.raw_resource("aws_route53_record", "peer")
        cond = rec.block("lifecycle").block("precondition").attrs["condition"]
        for pc, net, ok in ((9, "192.0.2.0/28", True), (13, "192.0.2.0/28", True), (15, "192.0.2.0/28", False)):
            with self.subTest(peer_count=pc, net=net):
                self.assertEqual(ok, self.cfg.evaluator(shape(pc, placeholder_network=net)).expr(cond))
        self.assertEqual("127.0.255.0/24", self.lambda_env(shape(placeholder_network="127.0.255.0/24"))[VOCAB["env"]["placeholder_network"]])
        self.assertEqual(VOCAB["placeholder"]["default_network"], self.lambda_env(shape())[VOCAB["env"]["placeholder_network"]])

    def lambda_env(self, variables):
        fn = self.cfg.raw_resource("aws_lambda_function", "peer_dns")
        ev = self.cfg.evaluator(variables, {"aws_route53_zone": {"this": [{"zone_id": "Z1"}]}})
        return ev.expr(fn.block("environment").attrs["variables"])

    def test_lambda_contract(self):
        fn = self.cfg.resources[("aws_lambda_function", "peer_dns")]
        self.assertEqual("provided.al2023", one(fn["runtime"]))
        self.assertEqual(["arm64"], as_list(fn["architectures"]))
        self.assertEqual("bootstrap", one(fn["handler"]))
        keys = set(self.lambda_env(shape()))
        e = VOCAB["env"]
        for key in ("cluster", "hosted_zone_id", "domain", "record_ttl", "peer_count", "retry_deadline_ms", "placeholder_network"):
            self.assertIn(e[key], keys)
        rules = self.cfg.of_type("aws_cloudwatch_event_rule")
        patterns = " ".join(repr(r.get("event_pattern")) for r in rules.values())
        for key in ("launch_lifecycle_action", "launch_successful", "source_autoscaling"):
            self.assertIn(f"local.vocab.events.{key}", patterns)
        self.assertIn("local.asg_names", patterns)
        self.assertTrue(any("schedule_expression" in r for r in rules.values()))


def node_env_names():
    """The names of the module's bootstrap.env, backups on (the larger set)."""
    return sorted(Config.from_dir(MODULE_DIR).local("node_env", shape(), STANDINS))


class Templates(Base):
    """The install script and cloud-init, rendered by Terraform's templatefile()."""

    @classmethod
    def setUpClass(cls):
        cls.script = render_install() if tf_binary() else None

    def setUp(self):
        if self.script is None:
            need_tool(self, "terraform")

    def test_d_install_script_text(self):
        self.assertNoProblems(check_install_script_text(self.script))
        with open(os.path.join(TEMPLATES, "install.sh.tftpl"), encoding="utf-8") as fh:
            self.assertNoProblems(check_install_script_text(fh.read()))

    def test_d_install_script_passes_bash_n_and_shellcheck(self):
        for variant in (self.script, render_install(etcd_s3_key="", etcd_url="https://example.invalid/etcd.tar.gz")):
            res = subprocess.run(["bash", "-n"], input=variant, text=True, capture_output=True)
            self.assertEqual(0, res.returncode, res.stderr)
            need_tool(self, "shellcheck")
            res = subprocess.run(["shellcheck", "--shell=bash", "-"], input=variant, text=True, capture_output=True)
            self.assertEqual(0, res.returncode, res.stdout + res.stderr)

    def test_g_cloud_init_writes_units_and_timeout_drop_ins(self):
        text = render_cloud_init(self.script, prepare=1500, ready=600)
        self.assertTrue(text.startswith("#cloud-config\n"))
        doc = yaml.safe_load(text)
        files = {f["path"]: f for f in doc["write_files"]}
        self.assertEqual("A=b\n", files["/etc/steadfast/bootstrap.env"]["content"])
        for u in UNITS:
            with open(os.path.join(UNITS_DIR, u), encoding="utf-8") as fh:
                source = fh.read()
            # The module's file, without its comment lines (they stay in units/).
            want = "".join(line for line in source.splitlines(keepends=True) if not line.startswith("#"))
            self.assertEqual(want, files[f"/etc/systemd/system/{u}"]["content"], u)
            self.assertTrue(source.startswith("# steadfast"), f"{u} must say what it is in its opening comment")
        nb = files["/etc/systemd/system/node-bootstrap.service.d/timeouts.conf"]["content"]
        nr = files["/etc/systemd/system/node-ready.service.d/timeouts.conf"]["content"]
        self.assertIn("[Service]\nTimeoutStartSec=infinity\n", nb)
        self.assertIn("[Service]\nTimeoutStartSec=720\n", nr)
        timer = files["/etc/systemd/system/steadfast-backup.timer.d/interval.conf"]["content"]
        self.assertNoProblems(check_backup_units({u: files[f"/etc/systemd/system/{u}"]["content"] for u in BACKUP_UNITS},
                                                 timer, 600))
        # Without backups: no backup unit, no timer drop-in.
        doc = yaml.safe_load(render_cloud_init(self.script, backup_interval=0, units_list=BASE_UNITS))
        paths = [f["path"] for f in doc["write_files"]]
        self.assertFalse([p for p in paths if "steadfast-backup" in p], paths)
        install = files["/usr/local/sbin/steadfast-install"]
        self.assertEqual("gz+b64", install["encoding"])
        self.assertEqual(self.script, gzip.decompress(base64.b64decode(install["content"])).decode())
        self.assertEqual("0755", install["permissions"])
        self.assertEqual([["/usr/local/sbin/steadfast-install"]], doc["runcmd"])

    def test_g_user_data_stays_under_16_kib_with_margin(self):
        # Long real-world values: a 20-character cluster name, a long domain, 25 peers' worth of
        # ASG name, every env line at its widest.
        # (Every name the module writes into bootstrap.env, not every name vocab.json defines:
        # most of those are node-bootstrap's own defaults that the module never sets.)
        names = node_env_names()
        env = "\n".join(f"{v}={'x' * 60}" for v in names) + "\n"
        script = render_install(asg_name="a" * 20 + "-peer-24", hook_name="a" * 20 + "-launching",
                                artifacts_bucket="a" * 20 + "-artifacts-20260101000000000000000001")
        size = len(render_cloud_init(script, prepare=86400, ready=86400, bootstrap_env=env).encode())
        self.assertLess(size, 16384 * 0.75, f"user-data is {size} bytes: too close to EC2's 16 KiB")

    def test_k_units_and_drop_ins_pass_systemd_analyze_verify(self):
        """systemd-analyze verify checks that ExecStart binaries exist. The real ones are put at
        /usr/local/bin by the install script on a node; here, in a private mount namespace,
        an empty tmpfs over /usr/local/bin holds executable stand-ins at exactly those paths,
        and the units and drop-ins are verified against this machine's real systemd (252)."""
        need_tool(self, "systemd-analyze")
        need_tool(self, "unshare")
        text = render_cloud_init(self.script, prepare=1500, ready=600)
        doc = yaml.safe_load(text)
        with tempfile.TemporaryDirectory() as tmp:
            units = os.path.join(tmp, "units")
            for f in doc["write_files"]:
                if f["path"].startswith("/etc/systemd/system/"):
                    path = os.path.join(units, f["path"][len("/etc/systemd/system/"):])
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(f["content"])
            stubs = os.path.join(tmp, "bin")
            os.makedirs(stubs)
            for b in ("node-bootstrap", "etcd"):  # (ExecCondition's /usr/bin/systemctl is the machine's)
                p = os.path.join(stubs, b)
                with open(p, "w", encoding="utf-8") as fh:
                    fh.write("#!/bin/sh\nexit 0\n")
                os.chmod(p, 0o755)
            script = (f"mount -t tmpfs tmpfs /usr/local/bin && cp {stubs}/* /usr/local/bin/ && "
                      f"exec systemd-analyze verify --man=no {' '.join(os.path.join(units, u) for u in UNITS)}")
            res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                 capture_output=True, text=True, timeout=120)
            if res.returncode != 0 and "unshare failed" in res.stderr:
                msg = f"unshare not permitted here: {res.stderr.strip()}"
                print(f"\n  !!! {msg}", file=sys.stderr)
                if ci():
                    self.fail(msg)
                self.skipTest(msg)
            # verify exits 0 on warnings: any output at all is a finding.
            self.assertEqual((0, ""), (res.returncode, (res.stdout + res.stderr).strip()))


class InstallScriptRuns(Base):
    """The rendered install script, RUN against stub commands on PATH (aws, curl, getent,
    groupadd, useradd, systemctl, install, sleep): every failure must ABANDON the launch, and
    only a success starts the units. Nothing outside a temporary directory is touched."""

    @classmethod
    def setUpClass(cls):
        cls.script = render_install() if tf_binary() else None

    def setUp(self):
        if self.script is None:
            need_tool(self, "terraform")
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.stubs = os.path.join(self.tmp, "stubs")
        os.makedirs(self.stubs)
        self.calls = os.path.join(self.tmp, "calls")
        self.artifacts = os.path.join(self.tmp, "artifacts")
        os.makedirs(self.artifacts)
        etcd_dir = os.path.join(self.tmp, "etcd-v3.5.17-linux-arm64")
        os.makedirs(etcd_dir)
        for b in ("etcd", "etcdctl", "etcdutl"):
            with open(os.path.join(etcd_dir, b), "w", encoding="utf-8") as fh:
                fh.write("#!/bin/sh\necho 'etcd Version: 3.5.17'\necho 'Git SHA: x'\n")
            os.chmod(os.path.join(etcd_dir, b), 0o755)
        subprocess.run(["tar", "-czf", os.path.join(self.artifacts, "etcd.tar.gz"), "-C", self.tmp,
                        "etcd-v3.5.17-linux-arm64"], check=True)
        with open(os.path.join(self.artifacts, "node-bootstrap"), "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\n")

    def sha(self, name):
        import hashlib
        with open(os.path.join(self.artifacts, name), "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()

    def stub(self, name, body):
        path = os.path.join(self.stubs, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"#!/bin/bash\necho \"{name} $*\" >>{self.calls}\n{body}\n")
        os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)

    def run_script(self, getent_group="", getent_passwd="", s3_fails=False, nb_sha=None):
        nb_sha = nb_sha or self.sha("node-bootstrap")
        etcd_sha = self.sha("etcd.tar.gz")
        script = render_install(node_bootstrap_sha256=nb_sha, etcd_sha256=etcd_sha,
                                node_bootstrap_key=f"node-bootstrap/{nb_sha}/node-bootstrap",
                                etcd_s3_key=f"etcd/{etcd_sha}/etcd.tar.gz")
        # Never let a real install, systemctl or poweroff run: the script is rewritten to use
        # the temporary directory for /usr/local/bin, /var/lib and /var/tmp.
        root = os.path.join(self.tmp, "root")
        for d in ("usr/local/bin", "var/lib", "var/tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        script = script.replace("/usr/local/bin/", f"{root}/usr/local/bin/").replace(
            "/var/lib/etcd", f"{root}/var/lib/etcd").replace("/var/tmp/", f"{root}/var/tmp/")
        self.assertNotIn(" /usr/local/bin", script)
        path = os.path.join(self.tmp, "steadfast-install")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(script)
        os.chmod(path, 0o755)
        fail = "exit 1" if s3_fails else ""
        self.stub("aws", f'''
if [ "$1 $2" = "s3api get-object" ]; then
  {fail}
  key=$6; dest=$7
  case "$key" in node-bootstrap/*) cp {self.artifacts}/node-bootstrap "$dest" ;; etcd/*) cp {self.artifacts}/etcd.tar.gz "$dest" ;; esac
fi
exit 0''')
        self.stub("curl", 'case "$*" in *api/token*) echo TOKEN ;; *instance-id*) echo i-0123456789abcdef0 ;; esac')
        self.stub("getent", f'''
case "$1 $2" in
  "group etcd") [ -n "{getent_group}" ] && echo "{getent_group}" && exit 0; exit 2 ;;
  "passwd etcd") [ -n "{getent_passwd}" ] && echo "{getent_passwd}" && exit 0; exit 2 ;;
esac
exit 2''')
        for name in ("groupadd", "useradd", "systemctl", "sleep"):
            self.stub(name, "exit 0")
        self.stub("install", 'for a in "$@"; do last=$a; done\nif [ "$1" = "-d" ]; then mkdir -p "$last"; exit 0; fi\n'
                             'n=$#; src=${@:n-1:1}; cp "$src" "$last"')
        env = {"PATH": f"{self.stubs}:/usr/bin:/bin", "HOME": self.tmp,
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"}
        res = subprocess.run(["bash", path], env=env, capture_output=True, text=True, timeout=60)
        calls = ""
        if os.path.exists(self.calls):
            with open(self.calls, encoding="utf-8") as fh:
                calls = fh.read()
        return res, calls

    def assertAbandoned(self, res, calls, reason):
        self.assertNotEqual(0, res.returncode, res.stderr)
        self.assertIn("autoscaling complete-lifecycle-action --auto-scaling-group-name c1-peer-0 "
                      "--lifecycle-hook-name c1-launching --instance-id i-0123456789abcdef0 "
                      "--lifecycle-action-result ABANDON", calls, res.stderr)
        self.assertNotIn("systemctl start", calls)
        self.assertNotIn("systemctl poweroff", calls)
        self.assertIn(reason, res.stderr)

    def test_success_installs_creates_the_account_and_starts_the_units(self):
        res, calls = self.run_script()
        self.assertEqual(0, res.returncode, res.stderr)
        self.assertNotIn("ABANDON", calls)
        uid, gid = VOCAB["etcd_account"]["uid"], VOCAB["etcd_account"]["gid"]
        self.assertIn(f"groupadd --system --gid {gid} etcd", calls)
        self.assertIn(f"useradd --system --uid {uid} --gid {gid}", calls)
        self.assertIn("systemctl enable " + " ".join(STARTED_UNITS), calls)
        self.assertIn("systemctl start --no-block " + " ".join(STARTED_UNITS), calls)
        for b in ("etcd", "etcdctl", "etcdutl", "node-bootstrap"):
            self.assertTrue(os.path.exists(os.path.join(self.tmp, "root", "usr", "local", "bin", b)), b)
        self.assertIn("installed etcd Version: 3.5.17", res.stderr)

    def test_download_failure_abandons(self):
        res, calls = self.run_script(s3_fails=True)
        self.assertAbandoned(res, calls, "giving up after 6 attempts")

    def test_etcd_tarball_without_etcdutl_abandons(self):
        os.remove(os.path.join(self.tmp, "etcd-v3.5.17-linux-arm64", "etcdutl"))
        subprocess.run(["tar", "-czf", os.path.join(self.artifacts, "etcd.tar.gz"), "-C", self.tmp,
                        "etcd-v3.5.17-linux-arm64"], check=True)
        res, calls = self.run_script()
        self.assertAbandoned(res, calls, "the etcd tarball has no etcdutl")

    def test_checksum_mismatch_abandons(self):
        res, calls = self.run_script(nb_sha="c" * 64)
        self.assertAbandoned(res, calls, "SHA-256 mismatch")

    def assertRefused(self, res, calls, reason):
        """A refusal a new instance from this AMI would only repeat: the metric, no ABANDON, no
        units, no power-off (DESIGN decision 9: no churn)."""
        self.assertEqual(3, res.returncode, res.stderr)
        m = VOCAB["metrics"]
        self.assertIn(f"aws cloudwatch put-metric-data --namespace {metric_namespace('c1')} --metric-name "
                      f"{m['bootstrap_refused']} --dimensions {m['dimension_cluster']}=c1 --value 1", calls)
        self.assertNotIn("ABANDON", calls)
        self.assertNotIn("systemctl", calls)
        self.assertIn(reason, res.stderr)

    def test_j_existing_etcd_group_with_another_gid_is_refused_without_churn(self):
        res, calls = self.run_script(getent_group="etcd:x:996:")
        self.assertRefused(res, calls, "group etcd already exists with GID 996")
        self.assertNotIn("s3api get-object", calls)

    def test_j_existing_etcd_user_with_another_uid_is_refused_without_churn(self):
        gid = VOCAB["etcd_account"]["gid"]
        res, calls = self.run_script(getent_group=f"etcd:x:{gid}:", getent_passwd=f"etcd:x:995:{gid}::/var/lib/etcd:/sbin/nologin")
        self.assertRefused(res, calls, "user etcd already exists with UID 995")

    def test_j_matching_existing_account_is_accepted(self):
        uid, gid = VOCAB["etcd_account"]["uid"], VOCAB["etcd_account"]["gid"]
        res, calls = self.run_script(getent_group=f"etcd:x:{gid}:", getent_passwd=f"etcd:x:{uid}:{gid}::/var/lib/etcd:/sbin/nologin")
        self.assertEqual(0, res.returncode, res.stderr)
        self.assertNotIn("groupadd", calls)
        self.assertNotIn("useradd", calls)


class Scripts(Base):
    """The shell scripts around the Terraform: no pipe that SIGPIPE can fail under pipefail."""

    SCRIPTS = ["scripts/terraform-check.sh", "scripts/tf-local.sh", "scripts/tf-env.sh", "scripts/deps.sh",
               "terraform/scripts/roll-peers.sh", "terraform/modules/etcd-cluster/templates/install.sh.tftpl"]

    def test_no_early_exiting_reader_in_a_pipe(self):
        problems = []
        for rel in self.SCRIPTS:
            with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
                for no, line in enumerate(fh, 1):
                    code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
                    if re.search(r"\|\s*(head\b|grep\s+-[a-zA-Z]*[qm])", code):
                        problems.append(f"{rel}:{no}: {line.strip()}")
        self.assertNoProblems(problems)


class RollPeers(unittest.TestCase):
    """roll-peers.sh never moves on because an instance is InService (issue 24, H1): with the
    hook's CONTINUE default a broken peer is InService too."""

    def test_each_step_is_gated_on_the_members_health(self):
        with open(os.path.join(TF_DIR, "scripts", "roll-peers.sh"), encoding="utf-8") as fh:
            text = fh.read()
        self.assertIn("elbv2 describe-target-health", text)
        self.assertIn("State==`healthy`", text)
        # Before each peer: every peer InService and a healthy target.
        before = text[text.index('for asg in "${asgs[@]}"; do'):]
        self.assertIn("until all_healthy; do", before.split("start-instance-refresh")[0])
        # After its refresh: the new instance must be a healthy target before the next peer.
        after = before.split("Successful) break ;;", 1)[1]
        self.assertIn('$(healthy_targets | tr', after)
        self.assertIn('*" $new "*', after)
        self.assertIn("exit 1", after.split("log \"$asg: done")[0])


class ExampleStructure(Base):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_dir(EXAMPLE_DIR)
        cls.local = Config.from_dir(LOCAL_DIR)

    def test_iam_and_security_groups(self):
        for cfg in (self.cfg, self.local):
            self.assertNoProblems(check_iam(cfg))
            self.assertNoProblems(check_security_groups(cfg))

    def test_three_private_subnets_no_nat_and_the_endpoints_nodes_need(self):
        subnets = self.cfg.resources[("aws_subnet", "private")]
        self.assertEqual(3, one(subnets["count"]))
        self.assertIs(False, one(subnets["map_public_ip_on_launch"]))
        for bad in ("aws_nat_gateway", "aws_internet_gateway", "aws_eip"):
            self.assertEqual({}, self.cfg.of_type(bad), f"examples/complete must not need {bad}")
        # Exactly the module's required_vpc_endpoints, for every combination of features (the
        # first real apply once failed without Secrets Manager's: issue 24, B1).
        module = Config.from_dir(MODULE_DIR)
        out = module.raw.block("output", "required_vpc_endpoints").attrs["value"]
        for tls in (True, False):
            for ssm in (True, False):
                want = module.evaluator(shape(tls_enabled=tls, enable_session_manager=ssm)).expr(out)
                got = self.cfg.evaluator({"enable_session_manager": ssm, "tls_enabled": tls}).expr(
                    self.cfg.raw.locals["interface_endpoints"])
                self.assertEqual(want["interface"], got, f"tls {tls}, session manager {ssm}")
                self.assertEqual(["s3"], want["gateway"])
                self.assertEqual(tls, "secretsmanager" in got)
        iface = self.cfg.evaluator({"enable_session_manager": True, "tls_enabled": True}).expr(
            self.cfg.raw.locals["interface_endpoints"])
        self.assertEqual(["ec2", "autoscaling", "monitoring", "secretsmanager", "ssm", "ssmmessages"], iface)
        self.assertIs(True, one(self.cfg.variables["tls_enabled"]["default"]))
        s3 = self.cfg.resources[("aws_vpc_endpoint", "s3")]
        self.assertEqual("Gateway", one(s3["vpc_endpoint_type"]))

    def test_e_clients_created_in_the_same_apply(self):
        for cfg in (self.cfg, self.local):
            mod = self.cfg.modules["etcd"] if cfg is self.cfg else self.local.modules["etcd"]
            self.assertEqual(["${aws_security_group.clients.id}"], as_list(mod["allowed_client_security_group_ids"]))
            self.assertEqual(["${aws_network_interface.client.private_ip}/32"], as_list(mod["allowed_client_cidr_blocks"]))
            self.assertIn(("aws_security_group", "clients"), cfg.resources)
            self.assertIn(("aws_network_interface", "client"), cfg.resources)

    def test_a_i_module_calls(self):
        mod = self.cfg.modules["etcd"]
        self.assertEqual("../../modules/etcd-cluster", one(mod["source"]))
        self.assertEqual("${var.tls_enabled}", one(mod["tls_enabled"]))
        self.assertEqual("${var.etcd_archive_path}", one(mod["etcd_archive_path"]))
        self.assertNotIn("default", self.cfg.variables["etcd_archive_path"])
        self.assertNotIn("etcd_url", mod)

    def test_local_example_points_everything_at_moto(self):
        mod = self.local.modules["etcd"]
        self.assertEqual("../../modules/etcd-cluster", one(mod["source"]))
        self.assertEqual("127.0.255.0/24", one(mod["placeholder_network"]))
        vpc = self.local.resources[("aws_vpc", "this")]
        self.assertEqual("127.0.0.0/16", one(vpc["cidr_block"]))
        self.assertIn(("aws_subnet", "private"), self.local.resources)
        raw = self.local.raw_resource("aws_subnet", "private").attrs["cidr_block"]
        cidrs = [self.local.evaluator(extra={"count": {"index": i}}).expr(raw) for i in range(3)]
        self.assertEqual(["127.0.1.0/24", "127.0.2.0/24", "127.0.3.0/24"], cidrs)
        self.assertEqual(["us-east-1a", "us-east-1b", "us-east-1c"], as_list(self.local.locals["az_names"]))
        provider = self.local.providers[0]["aws"]
        for flag in ("skip_credentials_validation", "skip_requesting_account_id", "skip_metadata_api_check",
                     "insecure", "s3_use_path_style"):
            self.assertIs(True, one(provider[flag]), flag)
        endpoints = one(provider["endpoints"])
        self.assertTrue(endpoints)
        self.assertTrue(all(v == ["${var.moto_endpoint}"] or v == "${var.moto_endpoint}" for v in endpoints.values()))
        services = set(endpoints)
        # servicequotas: the module's preflight reads the vCPU quota (a missing endpoint would send
        # the provider to the real service).
        for needed in ("autoscaling", "cloudwatch", "ec2", "elbv2", "events", "iam", "kms", "lambda", "logs",
                       "route53", "s3", "servicequotas", "sqs", "ssm", "sts"):
            self.assertIn(needed, services)
        # What `sandbox up --terraform` adopts the region from (region/terraform.rs).
        for name in ("cluster_name", "domain", "zone_id", "asg_names", "launch_template_ids", "lambda_function_name",
                     "volume_ids", "lifecycle_hook_name", "event_rule_names", "subnet_ids", "kms_key_arn",
                     "ca_secret_name", "client_endpoint", "required_vpc_endpoints", "backup_bucket_name",
                     "placeholder_network", "vpc_id"):
            self.assertIn(name, self.local.outputs)
            value = norm(self.local.outputs[name]["value"])
            self.assertTrue(value.startswith(("module.etcd.", "aws_")), f"output {name} = {value} is not read from a resource")


# ----------------------------------------------------------------------------------------------
# Negative controls: the checks above must reject broken configurations.
# ----------------------------------------------------------------------------------------------

BROKEN = r'''
locals {
  vocab = jsondecode(file("${path.module}/vocab.json"))
  placeholder_network = "192.0.2.0/24"
  placeholder_offset  = 0
  peers = {
    for n in range(var.peer_count) : tostring(n) => {
      index     = n
      name      = "member-${n}"
      fqdn      = "peer-${n}.${var.cluster_name}.${var.domain}"
      subnet_id = var.subnet_ids[n % length(var.subnet_ids)]
      az        = data.aws_subnet.zone[(n + 1) % length(var.subnet_ids)].availability_zone
      asg_name  = "${var.cluster_name}-${n}"
      seed_ip   = cidrhost(local.placeholder_network, 1)
    }
  }
  cluster_domain  = "${var.cluster_name}.${var.domain}"
  srv_suffix      = var.tls_enabled ? "-ssl" : ""
  srv_server_name = "_etcd-server${local.srv_suffix}._tcp.${local.cluster_domain}"
  peer_port       = 2380
  client_port     = 2379
  lifecycle_hook_name = "${var.cluster_name}-hook"
  cluster_tag_key = "steadfast:cluster"
}
data "aws_subnet" "zone" {
  count = length(var.subnet_ids)
  id    = var.subnet_ids[count.index]
}
resource "aws_autoscaling_group" "peer" {
  for_each            = local.peers
  min_size            = 1
  max_size            = 2
  desired_capacity    = 1
  vpc_zone_identifier = var.subnet_ids
  health_check_type   = "ELB"
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = 1800
  }
}
resource "aws_ebs_volume" "peer" {
  for_each          = local.peers
  availability_zone = each.value.az
  encrypted         = false
  type              = "gp3"
}
resource "aws_launch_template" "peer" {
  instance_initiated_shutdown_behavior = "stop"
  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }
  metadata_options {
    http_tokens                 = "optional"
    http_put_response_hop_limit = 2
  }
  network_interfaces {
    associate_public_ip_address = true
  }
  block_device_mappings {
    ebs {
      encrypted = false
    }
  }
}
resource "aws_route53_record" "srv_server" {
  name    = local.srv_server_name
  type    = "SRV"
  records = [for n in range(var.peer_count - 1) : "0 0 ${local.peer_port} ${local.peers[tostring(n)].fqdn}."]
}
resource "aws_route53_record" "peer" {
  for_each = local.peers
  name     = each.value.fqdn
  type     = "A"
  records  = [each.value.seed_ip]
}
data "aws_iam_policy_document" "bad" {
  statement {
    actions   = ["ec2:AttachVolume", "ec2:DescribeVolumes", "ssm:GetParameters"]
    resources = ["*"]
  }
  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
  }
}
resource "aws_iam_role" "node" {
  for_each = local.peers
}
resource "aws_iam_instance_profile" "node" {
  for_each = local.peers
  role     = aws_iam_role.node[each.key].name
}
resource "aws_iam_role_policy" "node" {
  for_each = local.peers
  role     = aws_iam_role.node[each.key].id
  policy   = data.aws_iam_policy_document.node[each.key].json
}
data "aws_iam_policy_document" "node" {
  for_each = local.peers
  statement {
    sid       = "AttachAny"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = [local.volume_arns, local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }
}
data "aws_iam_policy_document" "lambda" {
  statement {
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [local.zone_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsActions"
      values   = ["UPSERT", "CREATE", "DELETE"]
    }
  }
}
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.node.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
resource "aws_vpc_security_group_ingress_rule" "ssh" {
  cidr_ipv4 = "0.0.0.0/0"
  from_port = 22
  to_port   = 22
}
resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each  = toset(var.allowed_client_cidr_blocks)
  cidr_ipv4 = each.value
}
'''

BROKEN_SCRIPT = r'''#!/bin/bash
set -Eeuo pipefail
trap abandon ERR
aws s3api get-object --bucket b --key k --version-id "$V" /tmp/x
echo "$(etcd --version | head -n1)"
'''


class NegativeControls(Base):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_string(BROKEN)

    def test_a_stale_module_readme_is_caught(self):
        gen = os.path.join(ROOT, "scripts", "module-docs.py")
        with tempfile.TemporaryDirectory() as d:
            for f in ("variables.tf", "outputs.tf", "README.md"):
                shutil.copy(os.path.join(MODULE_DIR, f), d)
            check = [sys.executable, gen, "--check", d]
            self.assertEqual(subprocess.run(check, capture_output=True, check=False).returncode, 0)
            with open(os.path.join(d, "variables.tf"), "a", encoding="utf-8") as fh:
                fh.write('\nvariable "added_later" {\n  description = "New."\n  type        = bool\n  default     = false\n}\n')
            out = subprocess.run(check, capture_output=True, text=True, check=False)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn("out of date", out.stderr)
            subprocess.run([sys.executable, gen, d], capture_output=True, check=True)
            with open(os.path.join(d, "README.md"), encoding="utf-8") as fh:
                self.assertIn("| `added_later` | `bool` | `false` | New. |", fh.read())

    def test_zone_mismatch_is_caught(self):
        _, problems = peers_formulas(self.cfg)
        self.assertTrue(any("different index expressions" in p for p in problems), problems)

    def test_wrong_zone_formula_is_caught(self):
        cfg = Config.from_string(BROKEN.replace("n % length(var.subnet_ids)]", "n % 2]")
                                 .replace("(n + 1) % length(var.subnet_ids)", "n % 2"))
        self.assertTrue(any("lands in" in p for p in check_zone_placement(cfg)))

    def test_names_and_seeds_not_from_vocab_are_caught(self):
        cfg = Config.from_string(BROKEN.replace("(n + 1) % length", "n % length"))
        problems = check_vocab_names(cfg)
        for needle in ("is named 'member-0'", "ASG 'c1-0'", "seed '192.0.2.1', want 192.0.2.2"[:14],
                       "lifecycle hook name", "not distinct"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))

    def test_restated_vocabulary_is_caught(self):
        problems = check_no_restated_vocabulary({"x.tf": BROKEN + '\nresource "a" "b" {\n  x = "STEADFAST_TLS"\n  y = ["EC2 Instance Launch Successful"]\n}\n'})
        for needle in ("'steadfast:cluster'", "'STEADFAST_TLS'", "'EC2 Instance Launch Successful'", "port 2380"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))

    def test_asg_and_hook_problems_are_caught(self):
        problems = check_asgs(self.cfg)
        for needle in ("max_size must be 1", "vpc_zone_identifier", "EC2 health checks",
                       "want one aws_autoscaling_lifecycle_hook", "default_result must be CONTINUE",
                       "heartbeat_timeout must be var.lifecycle_hook_heartbeat_timeout",
                       "must be a LAUNCHING hook" if False else "ignore_changes = [initial_lifecycle_hook]"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))

    def test_unencrypted_volume_is_caught(self):
        self.assertTrue(any("must be encrypted" in p for p in check_volumes(self.cfg)))

    def test_launch_template_problems_are_caught(self):
        problems = check_launch_templates(self.cfg)
        for needle in ("IMDSv2", "hop_limit", "associate_public_ip_address", "block device must be encrypted",
                       "shutdown must terminate", "its own peer's instance profile", "16 KiB"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))

    def test_incomplete_srv_and_missing_ignore_changes_are_caught(self):
        problems = check_dns(self.cfg, peer_count=9)
        self.assertTrue(any("srv_server.records" in p for p in problems), problems)
        self.assertTrue(any("ignore_changes" in p for p in problems), problems)
        self.assertTrue(any("distinct placeholder" in p for p in problems), problems)

    def test_srv_with_wrong_targets_is_caught(self):
        cfg = Config.from_string(BROKEN.replace("range(var.peer_count - 1)", "range(var.peer_count)")
                                 .replace("0 0 ${local.peer_port}", "0 0 ${local.client_port}")
                                 .replace("(n + 1) % length", "n % length"))
        problems = check_dns(cfg, peer_count=3, tls=True)
        self.assertTrue(any(p.startswith("SRV _etcd-server-ssl") for p in problems), problems)

    def test_iam_problems_are_caught(self):
        problems = check_iam(self.cfg)
        for needle in ("mutating action ec2:AttachVolume", "ssm:GetParameters reaches SSM",
                       "cloudwatch:PutMetricData on \"*\" needs condition", "attaches 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))
        self.assertFalse(any("ec2:DescribeVolumes" in p for p in problems), problems)

    def test_a_role_that_can_touch_other_peers_volumes_is_caught(self):
        problems = check_peer_volume_scope(self.cfg, 3)
        self.assertTrue(any("peer 0 statement AttachAny: volumes must be conditioned on aws:ResourceTag/steadfast:peer = 0" in p
                            for p in problems), problems)
        self.assertTrue(any("must be separate statements" in p for p in problems), problems)

    def test_lambda_without_name_and_type_conditions_is_caught(self):
        problems = check_lambda_iam(self.cfg)
        self.assertTrue(any("RecordTypes" in p for p in problems), problems)
        self.assertTrue(any("NormalizedRecordNames" in p for p in problems), problems)

    def test_open_ssh_and_value_keyed_rules_are_caught(self):
        problems = check_security_groups(self.cfg)
        self.assertTrue(any("whole internet" in p for p in problems), problems)
        self.assertTrue(any("SSH" in p for p in problems), problems)
        self.assertTrue(any("use count" in p for p in check_rules_accept_unknown_values(self.cfg)))

    def test_install_script_patterns_are_caught(self):
        problems = check_install_script_text(BROKEN_SCRIPT)
        for needle in ("set -E", "trap ERR", "pipe into head", "version id", "abandon function",
                       "child", "verify both", "pinned IDs"):
            self.assertTrue(any(needle in p for p in problems), (needle, problems))


# Backups done wrong, one way per check (each test below names the problems it must report).
BROKEN_BACKUP = r"""
locals {
  cluster_tag_key = "steadfast:cluster"
  peer_tag_key    = "steadfast:peer"
  init_tag_key    = "steadfast:initialized"
  kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/k"
  volume_arns     = "arn:aws:ec2:us-east-1:123456789012:volume/*"
  snapshot_arns   = "arn:aws:ec2:us-east-1::snapshot/*"
}
resource "aws_s3_bucket" "backup" {
  count         = var.backup_enabled ? 1 : 0
  bucket_prefix = "backups-"
  force_destroy = true
}
resource "aws_s3_bucket_versioning" "backup" {
  count  = var.backup_enabled ? 1 : 0
  bucket = aws_s3_bucket.backup[0].id
  versioning_configuration {
    status = "Suspended"
  }
}
resource "aws_s3_bucket_server_side_encryption_configuration" "backup" {
  count  = var.backup_enabled ? 1 : 0
  bucket = aws_s3_bucket.backup[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}
resource "aws_s3_bucket_lifecycle_configuration" "backup" {
  count  = var.backup_enabled ? 1 : 0
  bucket = aws_s3_bucket.backup[0].id
  rule {
    id     = "x"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }
}
resource "aws_s3_bucket_policy" "backup" {
  count  = var.backup_enabled ? 1 : 0
  bucket = aws_s3_bucket.backup[0].id
  policy = data.aws_iam_policy_document.backup_bucket[0].json
}
data "aws_iam_policy_document" "backup_bucket" {
  count = var.backup_enabled ? 1 : 0
  statement {
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backup[0].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
data "aws_iam_policy_document" "node" {
  for_each                = local.peers
  source_policy_documents = [data.aws_iam_policy_document.node_backup[0].json]
  statement {
    sid       = "Tags"
    actions   = ["ec2:CreateTags"]
    resources = [local.volume_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.peer_tag_key}"
      values   = [each.key]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.init_tag_key]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/${local.init_tag_key}"
      values   = ["false"]
    }
  }
  statement {
    sid       = "Untag"
    actions   = ["ec2:DeleteTags", "ec2:CreateTags"]
    resources = [local.volume_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "Key"
    actions   = ["kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com"]
    }
  }
}
data "aws_iam_policy_document" "node_backup" {
  statement {
    sid       = "Everything"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backup[0].arn, "${aws_s3_bucket.backup[0].arn}/*"]
  }
}
resource "aws_cloudwatch_metric_alarm" "backup_stale" {
  count               = var.backup_enabled ? 1 : 0
  namespace           = local.vocab.metrics.namespace
  metric_name         = local.vocab.metrics.backup_newest_age
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Average"
  period              = var.backup_interval_secs
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 2 * var.backup_interval_secs
  treat_missing_data  = "notBreaching"
  alarm_actions       = []
  ok_actions          = []
}
resource "aws_dlm_lifecycle_policy" "ebs" {
  execution_role_arn = aws_iam_role.dlm.arn
  policy_details {
    resource_types = ["VOLUME"]
    target_tags    = { Name = "x" }
    schedule {
      name      = "d"
      copy_tags = false
      create_rule {
        interval      = 12
        interval_unit = "HOURS"
        times         = ["03:00"]
      }
      retain_rule {
        count = 7
      }
    }
  }
}
data "aws_iam_policy_document" "dlm" {
  statement {
    sid       = "Snap"
    actions   = ["ec2:CreateSnapshot", "ec2:DeleteSnapshot", "ec2:DeleteVolume"]
    resources = [local.volume_arns, local.snapshot_arns]
  }
}
""".replace("local.vocab.", "jsondecode(file(\"${path.module}/vocab.json\")).")

BROKEN_UNITS = {
    "steadfast-backup.service": "[Unit]\nRequires=etcd-member.service\n[Service]\nType=simple\n"
                                "ExecStart=/usr/local/bin/node-bootstrap backup --now\n[Install]\nWantedBy=multi-user.target\n",
    "steadfast-backup.timer": "[Timer]\nOnBootSec=60\nOnUnitActiveSec=60\nPersistent=true\n[Install]\nWantedBy=multi-user.target\n",
    "steadfast-backup-now.service": "[Service]\nType=oneshot\nExecStart=/usr/local/bin/node-bootstrap backup\n",
}


class NegativeBackupControls(Base):
    """The backup checks must reject backups done wrong (BROKEN_BACKUP, BROKEN_UNITS)."""

    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_string(BROKEN_BACKUP)

    def assertFinds(self, problems, *needles):
        for needle in needles:
            self.assertTrue(any(needle in p for p in problems), (needle, problems))

    def test_a_weak_backup_bucket_is_caught(self):
        self.assertFinds(check_backup_bucket(self.cfg),
                         "force_destroy must be var.backup_bucket_force_destroy", "must default to false",
                         "bucket_prefix", "aws_s3_bucket_public_access_block.backup is missing",
                         "aws_s3_bucket_ownership_controls.backup is missing", "must be versioned",
                         "SSE-KMS with the cluster key", "bucket keys", "abort incomplete multipart uploads",
                         "noncurrent versions", "aws:SecureTransport")

    def test_bucket_wide_and_wildcard_backup_access_is_caught(self):
        self.assertFinds(check_node_backup_access(self.cfg),
                         "wildcard action s3:*", "only s3:ListBucket on the bucket itself",
                         "conditioned on s3:prefix", "objects must be", "node_backup must have count",
                         "only when var.backup_enabled", "kms:ViaService = S3 only", "kms:Encrypt")

    def test_wrong_volume_tag_statements_are_caught(self):
        self.assertFinds(check_volume_tag_statements(self.cfg, 3),
                         "CreateTags must allow exactly the tag keys", "DeleteTags must allow exactly the tag keys ['steadfast:blank']",
                         "must require tag keys", "aws:RequestTag/steadfast:initialized condition",
                         "must be standalone", "must be a statement of its own")

    def test_a_stale_alarm_that_misses_quiet_failures_is_caught(self):
        self.assertFinds(check_backup_alarms(self.cfg),
                         "aws_cloudwatch_metric_alarm.backup_failed is missing", "threshold must be 3 x interval",
                         "treat_missing_data breaching", "want Maximum", "rounded up to whole minutes",
                         "alarm_actions must be local.alarm_actions")

    def test_a_dlm_policy_that_misses_the_cluster_is_caught(self):
        self.assertFinds(check_dlm(self.cfg),
                         "count = var.ebs_snapshots_enabled", "aws_iam_role.dlm[0]", "tagged steadfast:cluster = c1",
                         "copy the volume's tags", "every 24 hours", "var.ebs_snapshot_retain_count",
                         "dlm.amazonaws.com", "aws_iam_role_policy.dlm", "ec2:DeleteVolume is more than",
                         "only CreateSnapshot of volumes tagged", "DeleteSnapshot only of snapshots tagged")

    def test_wrong_backup_units_are_caught(self):
        self.assertFinds(check_backup_units(BROKEN_UNITS, "[Timer]\nOnBootSec=600\nOnUnitActiveSec=600\n", 600),
                         "steadfast-backup.service must be Type=oneshot", "Requires=etcd-member.service would start",
                         "must order After=etcd-member.service", "steadfast-backup.service must have no [Install]",
                         "steadfast-backup-now.service must run /usr/local/bin/node-bootstrap backup --now",
                         "must read /etc/steadfast/bootstrap.env", "Nice=10", "RandomizedDelaySec=30",
                         "Persistent=false", "OnBootSec=300", "WantedBy=timers.target", "must clear OnBootSec")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"terraform-structure: {passed} passed, {failed} failed, {len(result.skipped)} skipped")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
