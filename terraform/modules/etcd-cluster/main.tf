# steadfast etcd-cluster module: the whole deployment of one fixed-membership etcd cluster.
#
# Layout
#   main.tf       data sources and the vocabulary (local.peers, names, tags)
#   preflight.tf  what the account must offer first (instance type per zone, vCPU quota)
#   kms.tf        the customer managed key (unless kms_key_arn is given)
#   storage.tf    one gp3 data volume per peer (the peer's identity), artifacts bucket + objects
#   backup.tf     backup bucket (etcd snapshots), daily EBS snapshots (DLM) and their role
#   dns.tf        private zone, SRV records, seeded A records, client alias
#   iam.tf        node role and Lambda role, least privilege
#   network.tf    security groups
#   nodes.tf      launch template + ASG + LAUNCHING hook per peer, cloud-init user-data
#   lambda.tf     peer-dns function, log group, DLQ, EventBridge rules
#   nlb.tf        internal client load balancer on 2379
#   alarms.tf     CloudWatch alarms
#   outputs.tf

data "aws_partition" "current" {}

# This deployment's identity: a UUID taken once, at the first apply, and kept (a destroy and a
# new apply with the same cluster name make a new one).
resource "terraform_data" "deployment" {
  input = uuid()

  lifecycle {
    ignore_changes = [input]
  }
}

# Settings a running cluster cannot change: each is part of every member's identity (its URLs,
# its name, the membership). The values of the first apply are kept here, and the check below
# refuses a plan that changes one, saying why and what to do.
resource "terraform_data" "immutable" {
  input = {
    cluster_name = var.cluster_name
    domain       = var.domain
    tls_enabled  = var.tls_enabled
    peer_count   = var.peer_count
  }

  lifecycle {
    ignore_changes = [input]
  }
}

resource "terraform_data" "immutable_check" {
  input = terraform_data.immutable.output

  lifecycle {
    precondition {
      condition     = terraform_data.immutable.output.cluster_name == var.cluster_name && terraform_data.immutable.output.domain == var.domain
      error_message = "cluster_name and domain cannot change on a running cluster: every member's name (peer-N.<cluster>.<domain>) and the SRV records are part of its identity. Deploy a new cluster with the new name and move the data with a snapshot (steadfast restore), then destroy this one."
    }
    precondition {
      condition     = terraform_data.immutable.output.tls_enabled == var.tls_enabled
      error_message = "tls_enabled cannot change on a running cluster: the members' advertised URLs (http or https) are part of the membership. Deploy a new cluster with the new setting and restore a snapshot into it (docs/operations.md)."
    }
    precondition {
      condition     = terraform_data.immutable.output.peer_count == var.peer_count
      error_message = "peer_count cannot change on a running cluster: the membership is fixed (it is what lets a peer come back as itself). Deploy a new cluster with the new size and restore a snapshot into it."
    }
  }
}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# One entry per subnet: the subnet's AZ is the peer's (and its volume's) AZ.
data "aws_subnet" "zone" {
  count = length(var.subnet_ids)
  id    = var.subnet_ids[count.index]
}

# Only when asked for (ami_ssm_parameter, and no ami_id): a floating AMI.
data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null && var.ami_ssm_parameter != null ? 1 : 0
  name  = var.ami_ssm_parameter
}

data "aws_ami" "node" {
  # Looked up by exact ID, so no name-matching ("whoAMI") ambiguity: only to read its
  # architecture and root device name.
  filter {
    name   = "image-id"
    values = [local.ami_id]
  }

  lifecycle {
    precondition {
      condition     = local.ami_id != null
      error_message = "Set ami_id to the AMI the peers run (pinned: a new AMI is then a reviewed variable change followed by a roll). Find the newest Amazon Linux 2023 arm64 AMI with: aws ssm get-parameter --name /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 --query Parameter.Value --output text. (ami_ssm_parameter makes it float instead: for tests only.)"
    }
  }
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  # The shared vocabulary (tag keys, name templates, ports, environment variable names, event
  # and metric names): one file that the Rust crates compile in too. Every name below that
  # another part of steadfast must agree on comes from it; nothing here spells one out again.
  vocab = jsondecode(file("${path.module}/vocab.json"))

  # The AWS APIs the nodes call for the features that are on (vocab.json node_services): the
  # required_vpc_endpoints output. A private subnet without a route must have an endpoint for
  # every one of them, or no node finishes prepare.
  gateway_services = split(" ", local.vocab.node_services.gateway)
  interface_services = concat(
    split(" ", local.vocab.node_services.always),
    var.tls_enabled ? split(" ", local.vocab.node_services.tls) : [],
    var.enable_session_manager ? split(" ", local.vocab.node_services.session_manager) : [],
  )

  # The cluster's own CloudWatch namespace (Steadfast/<C>): the nodes' IAM condition pins it.
  metric_namespace = replace(local.vocab.metrics.namespace, "{cluster}", var.cluster_name)

  cluster        = var.cluster_name
  zone_domain    = var.domain                          # D
  cluster_domain = "${var.cluster_name}.${var.domain}" # C.D
  zone_count     = length(var.subnet_ids)              # Z

  # Seeded A records point peer N at host N + offset of this network (see vocab.json).
  placeholder_network = var.placeholder_network != null ? var.placeholder_network : local.vocab.placeholder.default_network
  placeholder_offset  = local.vocab.placeholder.host_offset

  # The vocabulary, in one place. Peer N lives in zone N mod Z: its ASG's subnet and its
  # volume's availability zone both come from this map, so they cannot disagree.
  peers = {
    for n in range(var.peer_count) : tostring(n) => {
      index     = n
      name      = replace(local.vocab.names.member, "{peer}", tostring(n))
      fqdn      = "${replace(local.vocab.names.member, "{peer}", tostring(n))}.${var.cluster_name}.${var.domain}"
      subnet_id = var.subnet_ids[n % length(var.subnet_ids)]
      az        = data.aws_subnet.zone[n % length(var.subnet_ids)].availability_zone
      asg_name  = replace(replace(local.vocab.names.group, "{cluster}", var.cluster_name), "{peer}", tostring(n))
      # A distinct address per peer that nothing answers on (TEST-NET-1 by default).
      seed_ip = cidrhost(local.placeholder_network, n + local.placeholder_offset)
    }
  }

  asg_names = [for k in sort(keys(local.peers)) : local.peers[k].asg_name]

  srv_suffix      = var.tls_enabled ? "-ssl" : ""
  srv_server_name = "_etcd-server${local.srv_suffix}._tcp.${local.cluster_domain}"
  srv_client_name = "_etcd-client${local.srv_suffix}._tcp.${local.cluster_domain}"
  client_alias    = replace(replace(local.vocab.names.client_endpoint, "{cluster}", var.cluster_name), "{domain}", var.domain)

  lifecycle_hook_name  = replace(local.vocab.names.lifecycle_hook, "{cluster}", var.cluster_name)
  sweep_rule_name      = replace(local.vocab.names.sweep_rule, "{cluster}", var.cluster_name)
  lambda_function_name = var.lambda_function_name == null ? "${var.cluster_name}-peer-dns" : var.lambda_function_name
  lambda_log_group     = "/aws/lambda/${local.lambda_function_name}"

  ami_id = var.ami_id != null ? var.ami_id : one([for p in data.aws_ssm_parameter.ami : nonsensitive(p.value)])

  # Tags
  cluster_tag_key = local.vocab.tags.cluster
  peer_tag_key    = local.vocab.tags.peer
  init_tag_key    = local.vocab.tags.initialized
  # node-bootstrap also writes these on its own peer's volume (and removes blank again).
  joined_tag_key = local.vocab.tags.joined
  blank_tag_key  = local.vocab.tags.blank
  # Every tag a node may write on its volume; Terraform ignores changes to them (storage.tf).
  node_volume_tag_keys = [local.init_tag_key, local.joined_tag_key, local.blank_tag_key]
  common_tags          = merge(var.tags, { (local.cluster_tag_key) = var.cluster_name })

  # etcd ports: client, peer, metrics (plain http, /health).
  client_port  = local.vocab.ports.client
  peer_port    = local.vocab.ports.peer
  metrics_port = local.vocab.ports.metrics

  # Environment variable names shared with node-bootstrap and peer-dns.
  env = local.vocab.env

  # The etcd system account, pinned so that a volume's ownership survives any AMI change.
  etcd_account = local.vocab.etcd_account

  # Verified SHA-256 of the official linux-arm64 release tarballs
  # (https://github.com/etcd-io/etcd/releases/download/vX/etcd-vX-linux-arm64.tar.gz), as
  # pinned in kubespray's roles/kubespray_defaults/vars/main/checksums.yml.
  etcd_arm64_sha256 = {
    "3.5.17" = "7d717a62520bf39fa1115dfbb1df79479ff74b5eda0914f4132bfa60a48b9549"
    "3.5.18" = "c2bcaf465537d6d47c8bb82a69e31f786f32257050e3bca445bc4e63479ec714"
    "3.5.19" = "a786fd2c92c3c0404586ffedf1b318e4944a17aefed1fa6566f5712ddb8359ad"
    "3.5.20" = "f034232e6fb64b0d89c45fd78b8b4c3e9fb8d69605dddddcdebf5d7cd96a1531"
    "3.5.21" = "95bf6918623a097c0385b96f139d90248614485e781ec9bee4768dbb6c79c53f"
    "3.5.22" = "22aca5a253c4a9f2850300b0a1dd209587586ff0e985f5cb1c34e9e5edc07848"
    "3.5.23" = "d95118595a9556a29775f99c1ef2ee16f6be113df76b7178643a2bfd6a6f37c3"
    "3.5.24" = "efc01f6b3fbef0f000cb53bcad4845c116d7fdd8769ca39d9c40d2fe4d2e509f"
    "3.5.25" = "419dce0b679df31cc45201ef2449b7a6a48e9d241af01741957c9ac86a35badc"
    "3.5.26" = "93ac1667df0e178ea6d152476ce4088df4075604fe4bc7f85f4719e863cd030b"
    "3.5.27" = "1277309f540c5a0329c428f95455c9f76d24f768c8d28fd2753e891c379053fa"
  }
  etcd_sha256 = var.etcd_sha256 != null ? var.etcd_sha256 : lookup(local.etcd_arm64_sha256, var.etcd_version, "")

  # The systemd units ship inside the module (units/): the only copy. Every unit listed is
  # written by cloud-init; started_units are the ones the install script enables and starts.
  # The backup services are not among them: the timer starts steadfast-backup.service, and
  # steadfast-backup-now.service runs only when someone starts it (the on-demand snapshot).
  backup_units = ["steadfast-backup.service", "steadfast-backup.timer", "steadfast-backup-now.service"]
  # With TLS, the TLS timer (renewal, a CA rotation's restarts) likewise starts its service.
  tls_units     = ["steadfast-tls.service", "steadfast-tls.timer"]
  systemd_units = concat(["node-bootstrap.service", "etcd-member.service", "node-ready.service"], var.backup_enabled ? local.backup_units : [], var.tls_enabled ? local.tls_units : [])
  started_units = concat(["node-bootstrap.service", "etcd-member.service", "node-ready.service"], var.backup_enabled ? ["steadfast-backup.timer"] : [], var.tls_enabled ? ["steadfast-tls.timer"] : [])
  # The cluster's CA secret (vocab.json names.ca_secret, then this deployment's id), created by
  # the first node that needs it; IAM is scoped to its name (Secrets Manager appends a random
  # 6-character suffix). One name per deployment: a destroyed deployment's secret (not
  # Terraform's, encrypted with a key destroy schedules for deletion) never stands in the way of
  # a new one with the same cluster name.
  deployment_id  = substr(replace(terraform_data.deployment.output, "-", ""), 0, 8)
  ca_secret_name = "${replace(local.vocab.names.ca_secret, "{cluster}", var.cluster_name)}-${local.deployment_id}"
  ca_secret_arn  = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.ca_secret_name}-??????"
}
