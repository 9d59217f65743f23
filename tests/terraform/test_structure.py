"""Structural assertions on the steadfast Terraform, parsed offline with hcl2.

`hcl2` is bc-python-hcl2 (installed by checkov). Values come back wrapped in lists and
expressions as "${...}" strings, so the checks below assert on expressions and, where the
vocabulary is a formula (peer -> zone, peer -> name, SRV targets), evaluate it in Python for
several cluster shapes.

Run:  .venv/bin/python tests/terraform/test_structure.py      (prints "N passed, M failed")
 or:  .venv/bin/python -m unittest discover -s tests/terraform -p 'test_*.py'
"""

import glob
import ipaddress
import os
import re
import sys
import unittest

import hcl2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE_DIR = os.path.join(ROOT, "terraform", "modules", "etcd-cluster")
EXAMPLE_DIR = os.path.join(ROOT, "terraform", "examples", "complete")

READ_ONLY_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z0-9*]*$")


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

class Config:
    """All blocks of one Terraform directory (or of one HCL string), indexed by type and name."""

    def __init__(self, docs):
        self.resources = {}  # (type, name) -> body
        self.data = {}  # (type, name) -> body
        self.locals = {}
        self.variables = {}
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

    @classmethod
    def from_dir(cls, directory):
        docs = []
        for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
            with open(path, encoding="utf-8") as fh:
                docs.append(hcl2.load(fh))
        if not docs:
            raise AssertionError(f"no .tf files in {directory}")
        return cls(docs)

    @classmethod
    def from_string(cls, text):
        return cls([hcl2.loads(text)])

    def of_type(self, rtype):
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def data_of_type(self, dtype):
        return {name: body for (t, name), body in self.data.items() if t == dtype}


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


# ----------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty = OK), so they can be run on broken snippets
# too (see NegativeControls).
# ----------------------------------------------------------------------------------------------

def peers_formulas(cfg):
    """Index expressions of the subnet and the AZ in local.peers, and its key range."""
    peers = one(cfg.locals.get("peers"))
    if not isinstance(peers, str):
        return None, ["local.peers is missing or not a for-expression"]
    problems = []
    if not re.search(r"for\s+n\s+in\s+range\(var\.peer_count\)\s*:\s*tostring\(n\)\s*=>", peers):
        problems.append("local.peers must be keyed by tostring(n) for n in range(var.peer_count)")
    m_subnet = re.search(r"'subnet_id':\s*'\$\{var\.subnet_ids\[(?P<idx>[^\]]+)\]\}'", peers)
    m_az = re.search(
        r"'az':\s*'\$\{data\.aws_subnet\.zone\[(?P<idx>[^\]]+)\]\.availability_zone\}'", peers)
    m_fqdn = re.search(r"'fqdn':\s*'(?P<tpl>[^']+)'", peers)
    m_seed = re.search(r"'seed_ip':\s*'(?P<tpl>[^']+)'", peers)
    if not m_subnet:
        problems.append("local.peers[*].subnet_id must be var.subnet_ids[<index expression>]")
    if not m_az:
        problems.append("local.peers[*].az must be data.aws_subnet.zone[<index>].availability_zone")
    if m_subnet and m_az and m_subnet.group("idx").strip() != m_az.group("idx").strip():
        problems.append("subnet_id and az in local.peers use different index expressions: "
                        f"{m_subnet.group('idx')!r} vs {m_az.group('idx')!r}")
    formulas = {
        "subnet_idx": m_subnet.group("idx").strip() if m_subnet else None,
        "az_idx": m_az.group("idx").strip() if m_az else None,
        "fqdn": m_fqdn.group("tpl") if m_fqdn else None,
        "seed_ip": m_seed.group("tpl") if m_seed else None,
    }
    return formulas, problems


def eval_index(expr, n, zones):
    """Evaluate an HCL index expression such as `n % length(var.subnet_ids)`."""
    py = expr.replace("length(var.subnet_ids)", str(zones))
    if not re.fullmatch(r"[0-9n%+\-*() ]+", py):
        raise ValueError(f"cannot evaluate index expression {expr!r}")
    return eval(py, {"__builtins__": {}}, {"n": n})  # noqa: S307 - vetted characters only


def render(template, values):
    """Substitute ${...} references in an HCL template string."""
    def sub(m):
        key = m.group(1).strip()
        if key not in values:
            raise KeyError(f"unknown reference {key!r} in {template!r}")
        return str(values[key])
    return re.sub(r"\$\{([^}]+)\}", sub, template)


def check_zone_placement(cfg):
    formulas, problems = peers_formulas(cfg)
    if formulas is None:
        return problems
    subnet_ds = cfg.data.get(("aws_subnet", "zone"))
    if not subnet_ds:
        problems.append("data.aws_subnet.zone is missing")
    else:
        if strip_interp(subnet_ds.get("count")) != "length(var.subnet_ids)":
            problems.append("data.aws_subnet.zone must have count = length(var.subnet_ids)")
        if strip_interp(subnet_ds.get("id")) != "var.subnet_ids[count.index]":
            problems.append("data.aws_subnet.zone[i] must read var.subnet_ids[i]")
    if formulas["subnet_idx"] and not problems:
        for peer_count, zones in ((9, 3), (3, 3), (5, 3), (9, 4), (7, 5)):
            for n in range(peer_count):
                got = eval_index(formulas["subnet_idx"], n, zones)
                if got != n % zones:
                    problems.append(f"peer {n} of {peer_count} with {zones} zones lands in zone "
                                    f"{got}, want {n % zones}")
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
    hooks = blocks(asg, "initial_lifecycle_hook")
    if not any(one(h.get("lifecycle_transition")) == "autoscaling:EC2_INSTANCE_LAUNCHING"
               and one(h.get("default_result")) == "ABANDON" for h in hooks):
        problems.append(f"aws_autoscaling_group.{name} needs a LAUNCHING initial_lifecycle_hook "
                        "with default_result ABANDON")
    if "GroupInServiceInstances" not in as_list(asg.get("enabled_metrics", [[]])):
        problems.append(f"aws_autoscaling_group.{name} must enable GroupInServiceInstances")
    tags = {}
    for t in blocks(asg, "tag"):
        pass  # static tags are not used; the dynamic block is checked below
    dyn = [d for d in asg.get("dynamic", []) if "tag" in d]
    dyn_text = repr(dyn)
    for needed in ("local.common_tags", "local.peer_tag_key", "propagate_at_launch"):
        if needed not in dyn_text:
            problems.append(f"aws_autoscaling_group.{name} tags must include {needed}")
    if "True" not in dyn_text and "true" not in dyn_text:
        problems.append(f"aws_autoscaling_group.{name} tags must propagate at launch")
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
        if not lc or "steadfast:initialized" not in repr(lc[0].get("ignore_changes")):
            problems.append(f"aws_ebs_volume.{name} must ignore changes to the steadfast:initialized tag")
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
    return problems


def check_dns(cfg, peer_count=9, cluster="c1", domain="example.internal", tls=True):
    problems = []
    records = cfg.of_type("aws_route53_record")
    formulas, fproblems = peers_formulas(cfg)
    problems += fproblems
    if formulas is None or not formulas["fqdn"]:
        return problems + ["local.peers[*].fqdn is missing"]

    def fqdn(n):
        return render(formulas["fqdn"], {"n": n, "var.cluster_name": cluster, "var.domain": domain})

    # Local string values used by the SRV names and targets.
    env = {"var.cluster_name": cluster, "var.domain": domain}
    for key in ("cluster_domain", "client_port", "peer_port"):
        val = one(cfg.locals.get(key))
        if val is None:
            problems.append(f"local.{key} is missing")
            continue
        env[f"local.{key}"] = render(str(val), env)
    suffix_expr = strip_interp(cfg.locals.get("srv_suffix", ""))
    if suffix_expr != 'var.tls_enabled ? "-ssl" : ""':
        problems.append(f"local.srv_suffix must be var.tls_enabled ? \"-ssl\" : \"\", got {suffix_expr!r}")
    env["local.srv_suffix"] = "-ssl" if tls else ""

    want = {
        "server": (f"_etcd-server{'-ssl' if tls else ''}._tcp.{cluster}.{domain}", 2380),
        "client": (f"_etcd-client{'-ssl' if tls else ''}._tcp.{cluster}.{domain}", 2379),
    }
    srvs = {n: r for n, r in records.items() if one(r.get("type")) == "SRV"}
    for role, (want_name, port) in want.items():
        found = False
        for rname, rec in srvs.items():
            name_expr = strip_interp(rec.get("name"))
            name_tpl = one(cfg.locals.get(name_expr.replace("local.", ""), "")) if name_expr.startswith("local.") else one(rec.get("name"))
            try:
                name = render(str(name_tpl), env)
            except KeyError as exc:
                problems.append(f"aws_route53_record.{rname}: {exc}")
                continue
            if name != want_name:
                continue
            found = True
            recs = strip_interp(rec.get("records"))
            m = re.fullmatch(r'\[for n in range\(var\.peer_count\) : "(?P<tpl>[^"]+)"\]', str(recs))
            if not m:
                problems.append(f"aws_route53_record.{rname}.records must be "
                                f"[for n in range(var.peer_count) : \"...\"], got {recs!r}")
                continue
            tpl = m.group("tpl").replace("${local.peers[tostring(n)].fqdn}", "${fqdn}")
            got = []
            for n in range(peer_count):
                got.append(render(tpl, dict(env, n=n, fqdn=fqdn(n))))
            expected = [f"0 0 {port} peer-{n}.{cluster}.{domain}." for n in range(peer_count)]
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
    if formulas["seed_ip"]:
        seeds = [render(formulas["seed_ip"], {"n": n, "n + 1": n + 1}) for n in range(25)]
        net = ipaddress.ip_network("192.0.2.0/24")
        if len(set(seeds)) != len(seeds) or not all(ipaddress.ip_address(s) in net for s in seeds):
            problems.append(f"seed addresses must be distinct TEST-NET-1 addresses, got {seeds[:4]}...")
    else:
        problems.append("local.peers[*].seed_ip is missing")
    names = [fqdn(n) for n in range(peer_count)]
    if names != [f"peer-{n}.{cluster}.{domain}" for n in range(peer_count)]:
        problems.append(f"peer names are {names}")
    return problems


def policy_documents(cfg):
    return cfg.data_of_type("aws_iam_policy_document")


def check_iam(cfg):
    """No '*' resource on a mutating action, in every identity policy document."""
    problems = []
    for dname, doc in policy_documents(cfg).items():
        for i, st in enumerate(blocks(doc, "statement")):
            where = f"data.aws_iam_policy_document.{dname} statement {one(st.get('sid', [str(i)]))}"
            if "not_actions" in st or "not_resources" in st:
                problems.append(f"{where}: not_actions/not_resources are not allowed")
            if blocks(st, "principals") or blocks(st, "not_principals"):
                continue  # a resource or trust policy: its resources are the resource itself
            effect = one(st.get("effect", ["Allow"]))
            if effect != "Allow":
                continue
            actions = [a for a in as_list(st.get("actions", [[]]))]
            resources = [r for r in as_list(st.get("resources", [[]]))]
            if not resources:
                problems.append(f"{where}: no resources")
            if "*" in resources:
                mutating = [a for a in actions if not READ_ONLY_ACTION.match(a)]
                if mutating:
                    problems.append(f"{where}: mutating actions {mutating} on Resource \"*\"")
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    problems.append(f"{where}: wildcard action {a}")
    # Every role policy must come from a checked document (not an inline JSON string).
    for rtype in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, body in cfg.of_type(rtype).items():
            pol = strip_interp(body.get("policy"))
            if not re.fullmatch(r"data\.aws_iam_policy_document\.[A-Za-z0-9_-]+\.json", str(pol)):
                problems.append(f"{rtype}.{name}.policy must be a data.aws_iam_policy_document")
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


# ----------------------------------------------------------------------------------------------
# Tests on the real module and example
# ----------------------------------------------------------------------------------------------

class ModuleStructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_dir(MODULE_DIR)

    def assertNoProblems(self, problems):
        self.assertEqual([], problems, "\n  " + "\n  ".join(problems))

    def test_peers_are_placed_in_zone_n_mod_z(self):
        self.assertNoProblems(check_zone_placement(self.cfg))

    def test_one_asg_per_peer_min_max_desired_1_in_its_subnet(self):
        self.assertNoProblems(check_asgs(self.cfg))

    def test_volumes_encrypted_in_the_peer_zone_and_protected(self):
        self.assertNoProblems(check_volumes(self.cfg))

    def test_asg_and_volume_come_from_the_same_peer_entry(self):
        # Both iterate local.peers and pick the subnet / AZ of the same entry; the two index
        # expressions inside local.peers are identical (checked in peers_formulas).
        asg = self.cfg.resources[("aws_autoscaling_group", "peer")]
        vol = self.cfg.resources[("aws_ebs_volume", "peer")]
        self.assertEqual(strip_interp(asg["for_each"]), strip_interp(vol["for_each"]))
        formulas, problems = peers_formulas(self.cfg)
        self.assertNoProblems(problems)
        self.assertEqual(formulas["subnet_idx"], formulas["az_idx"])

    def test_launch_templates_imdsv2_no_public_ip_encrypted_root(self):
        self.assertNoProblems(check_launch_templates(self.cfg))

    def test_srv_records_list_every_peer(self):
        for peer_count in (9, 3, 5):
            for tls in (True, False):
                with self.subTest(peer_count=peer_count, tls=tls):
                    self.assertNoProblems(check_dns(self.cfg, peer_count=peer_count, tls=tls))

    def test_iam_no_star_resource_on_mutating_actions(self):
        self.assertNoProblems(check_iam(self.cfg))

    def test_security_groups(self):
        self.assertNoProblems(check_security_groups(self.cfg))

    def test_peer_count_validation_is_odd_and_at_least_3(self):
        cond = strip_interp(blocks(self.cfg.variables["peer_count"], "validation")[0]["condition"])
        self.assertIn("var.peer_count >= 3", cond)
        self.assertIn("var.peer_count % 2 == 1", cond)
        self.assertEqual(9, one(self.cfg.variables["peer_count"]["default"]))

    def test_every_variable_typed_and_described(self):
        for name, var in self.cfg.variables.items():
            with self.subTest(variable=name):
                self.assertIn("type", var)
                self.assertTrue(one(var.get("description")))

    def test_lambda_contract(self):
        fn = self.cfg.resources[("aws_lambda_function", "peer_dns")]
        self.assertEqual("provided.al2023", one(fn["runtime"]))
        self.assertEqual(["arm64"], as_list(fn["architectures"]))
        self.assertEqual("bootstrap", one(fn["handler"]))
        env = one(blocks(fn, "environment")[0]["variables"])
        for key in ("STEADFAST_CLUSTER", "STEADFAST_HOSTED_ZONE_ID", "STEADFAST_DOMAIN",
                    "STEADFAST_RECORD_TTL", "STEADFAST_PEER_COUNT", "STEADFAST_RETRY_DEADLINE_MS"):
            self.assertIn(key, env)
        rules = self.cfg.of_type("aws_cloudwatch_event_rule")
        patterns = " ".join(repr(r.get("event_pattern")) for r in rules.values())
        for detail_type in ("EC2 Instance-launch Lifecycle Action", "EC2 Instance Launch Successful"):
            self.assertIn(detail_type, patterns)
        self.assertIn("local.asg_names", patterns)
        self.assertTrue(any("schedule_expression" in r for r in rules.values()))

    def test_user_data_verifies_sha256_before_install(self):
        with open(os.path.join(MODULE_DIR, "templates", "install.sh.tftpl"), encoding="utf-8") as fh:
            script = fh.read()
        nb_verify = script.index('verify "$work/node-bootstrap"')
        nb_install = script.index("/usr/local/bin/node-bootstrap")
        etcd_verify = script.index('verify "$work/etcd.tar.gz"')
        etcd_extract = script.index("tar -xzf")
        self.assertLess(nb_verify, nb_install)
        self.assertLess(etcd_verify, etcd_extract)
        self.assertIn("sha256sum --check", script)
        with open(os.path.join(MODULE_DIR, "templates", "cloud-init.yaml.tftpl"), encoding="utf-8") as fh:
            self.assertTrue(fh.read().startswith("#cloud-config\n"))


def render_template(text, values):
    """A tiny stand-in for Terraform's templatefile(), enough for this module's templates:
    ${name}, ${name[key]}, ${join(" ", name)} and %{ for x in name ~}...%{ endfor ~}."""
    def expand_for(m):
        var, seq, body = m.group(1), m.group(2), m.group(3)
        return "".join(render_template(body, dict(values, **{var: item})) for item in values[seq])
    text = re.sub(r"%\{ for (\w+) in (\w+) ~\}\n(.*?)%\{ endfor ~\}\n", expand_for, text, flags=re.S)

    def expr(m):
        e = m.group(1).strip()
        j = re.fullmatch(r'join\("(.*)", (\w+)\)', e)
        if j:
            return j.group(1).join(values[j.group(2)])
        k = re.fullmatch(r"(\w+)\[(\w+)\]", e)
        if k:
            return str(values[k.group(1)][values[k.group(2)]])
        if re.fullmatch(r"\w+", e):
            return str(values[e])
        raise ValueError(f"unsupported template expression {e!r}")
    return re.sub(r"(?<!\$)\$\{([^}]+)\}", expr, text)


class UserDataTemplates(unittest.TestCase):
    UNITS = ["node-bootstrap.service", "etcd-member.service", "node-ready.service"]

    def render_install(self, **over):
        values = {
            "region": "us-east-1", "asg_name": "c1-peer-0", "hook_name": "c1-launching",
            "artifacts_bucket": "c1-artifacts-x", "node_bootstrap_key": "node-bootstrap/node-bootstrap",
            "node_bootstrap_version": "v1", "node_bootstrap_sha256": "0" * 64,
            "etcd_url": "https://example.invalid/etcd.tar.gz", "etcd_s3_key": "",
            "etcd_s3_version": "", "etcd_sha256": "1" * 64, "unit_names": self.UNITS,
        }
        values.update(over)
        with open(os.path.join(MODULE_DIR, "templates", "install.sh.tftpl"), encoding="utf-8") as fh:
            return render_template(fh.read(), values)

    def test_install_script_is_valid_bash(self):
        import subprocess
        script = self.render_install()
        self.assertIn("UNITS='node-bootstrap.service etcd-member.service node-ready.service'", script)
        res = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        self.assertEqual(0, res.returncode, res.stderr)

    def test_cloud_init_is_valid_yaml_with_every_unit(self):
        import base64
        import yaml
        units_b64 = {u: base64.b64encode(f"[Unit]\nDescription={u}\n".encode()).decode() for u in self.UNITS}
        with open(os.path.join(MODULE_DIR, "templates", "cloud-init.yaml.tftpl"), encoding="utf-8") as fh:
            text = render_template(fh.read(), {
                "cluster_name": "c1", "peer_index": 0, "bootstrap_env_b64": "QQ==",
                "unit_names": self.UNITS, "units_b64": units_b64,
                "install_b64": base64.b64encode(self.render_install().encode()).decode(),
            })
        self.assertTrue(text.startswith("#cloud-config\n"))
        doc = yaml.safe_load(text)
        paths = [f["path"] for f in doc["write_files"]]
        self.assertIn("/etc/steadfast/bootstrap.env", paths)
        for u in self.UNITS:
            self.assertIn(f"/etc/systemd/system/{u}", paths)
        self.assertTrue(all(f.get("encoding") == "b64" for f in doc["write_files"]))
        self.assertEqual([["/usr/local/sbin/steadfast-install"]], doc["runcmd"])


class ExampleStructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_dir(EXAMPLE_DIR)

    def test_iam_no_star_resource_on_mutating_actions(self):
        self.assertEqual([], check_iam(self.cfg))

    def test_security_groups(self):
        self.assertEqual([], check_security_groups(self.cfg))

    def test_three_private_subnets_and_the_module(self):
        subnets = self.cfg.resources[("aws_subnet", "private")]
        self.assertEqual(3, one(subnets["count"]))
        self.assertIs(False, one(subnets["map_public_ip_on_launch"]))
        with open(os.path.join(EXAMPLE_DIR, "main.tf"), encoding="utf-8") as fh:
            text = fh.read()
        self.assertIn('source = "../../modules/etcd-cluster"', text)
        for service in ("ec2", "autoscaling", "ssm", "ssmmessages", "ec2messages"):
            self.assertIn(f'"{service}"', text)


# ----------------------------------------------------------------------------------------------
# Negative controls: the checks above must reject broken configurations.
# ----------------------------------------------------------------------------------------------

BROKEN = r'''
locals {
  peers = {
    for n in range(var.peer_count) : tostring(n) => {
      index     = n
      fqdn      = "peer-${n}.${var.cluster_name}.${var.domain}"
      subnet_id = var.subnet_ids[n % length(var.subnet_ids)]
      az        = data.aws_subnet.zone[(n + 1) % length(var.subnet_ids)].availability_zone
      seed_ip   = "192.0.2.1"
    }
  }
  cluster_domain = "${var.cluster_name}.${var.domain}"
  srv_suffix     = var.tls_enabled ? "-ssl" : ""
  srv_server_name = "_etcd-server${local.srv_suffix}._tcp.${local.cluster_domain}"
  peer_port      = 2380
  client_port    = 2379
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
}
resource "aws_ebs_volume" "peer" {
  for_each          = local.peers
  availability_zone = each.value.az
  encrypted         = false
  type              = "gp3"
}
resource "aws_launch_template" "peer" {
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
    actions   = ["ec2:AttachVolume", "ec2:DescribeVolumes"]
    resources = ["*"]
  }
}
resource "aws_vpc_security_group_ingress_rule" "ssh" {
  cidr_ipv4 = "0.0.0.0/0"
  from_port = 22
  to_port   = 22
}
'''


class NegativeControls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = Config.from_string(BROKEN)

    def test_zone_mismatch_is_caught(self):
        _, problems = peers_formulas(self.cfg)
        self.assertTrue(any("different index expressions" in p for p in problems), problems)

    def test_wrong_zone_formula_is_caught(self):
        cfg = Config.from_string(BROKEN.replace("n % length(var.subnet_ids)]", "n % 2]")
                                 .replace("(n + 1) % length(var.subnet_ids)", "n % 2"))
        self.assertTrue(any("lands in zone" in p for p in check_zone_placement(cfg)))

    def test_asg_problems_are_caught(self):
        problems = check_asgs(self.cfg)
        self.assertTrue(any("max_size must be 1" in p for p in problems), problems)
        self.assertTrue(any("vpc_zone_identifier" in p for p in problems), problems)
        self.assertTrue(any("lifecycle_hook" in p for p in problems), problems)

    def test_unencrypted_volume_is_caught(self):
        self.assertTrue(any("must be encrypted" in p for p in check_volumes(self.cfg)))

    def test_imds_and_public_ip_and_root_encryption_are_caught(self):
        problems = check_launch_templates(self.cfg)
        self.assertTrue(any("IMDSv2" in p for p in problems), problems)
        self.assertTrue(any("hop_limit" in p for p in problems), problems)
        self.assertTrue(any("associate_public_ip_address" in p for p in problems), problems)
        self.assertTrue(any("block device must be encrypted" in p for p in problems), problems)

    def test_incomplete_srv_and_missing_ignore_changes_are_caught(self):
        problems = check_dns(self.cfg, peer_count=9)
        self.assertTrue(any("srv_server.records" in p for p in problems), problems)
        self.assertTrue(any("ignore_changes" in p for p in problems), problems)
        self.assertTrue(any("distinct TEST-NET-1" in p for p in problems), problems)

    def test_srv_with_wrong_targets_is_caught(self):
        cfg = Config.from_string(BROKEN.replace("range(var.peer_count - 1)", "range(var.peer_count)")
                                 .replace("0 0 ${local.peer_port}", "0 0 ${local.client_port}"))
        problems = check_dns(cfg, peer_count=3)
        self.assertTrue(any(p.startswith("SRV _etcd-server-ssl") for p in problems), problems)

    def test_star_resource_on_mutating_action_is_caught(self):
        problems = check_iam(self.cfg)
        self.assertTrue(any("ec2:AttachVolume" in p for p in problems), problems)
        self.assertFalse(any("ec2:DescribeVolumes" in p for p in problems), problems)

    def test_open_ssh_is_caught(self):
        problems = check_security_groups(self.cfg)
        self.assertTrue(any("whole internet" in p for p in problems), problems)
        self.assertTrue(any("SSH" in p for p in problems), problems)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"terraform structure: {passed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
