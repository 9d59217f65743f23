# One launch template and one Auto Scaling group per peer. Each ASG holds exactly one instance
# (min = max = desired = 1) in the peer's own subnet, so a dead instance is replaced in the zone
# where the peer's volume lives.

locals {
  # /etc/steadfast/bootstrap.env: node-bootstrap's configuration (the STEADFAST_* names come
  # from vocab.json). The cluster name and the peer index come from the instance tags.
  # Without backups there is no STEADFAST_BACKUP_BUCKET at all: node-bootstrap then takes no
  # backups and never restores. etcdutl: the install script installs it next to etcd (and
  # fails without it). The scratch dir takes the verify read-back of one snapshot, on the root
  # volume (removed at once): root_volume_size must leave room for one snapshot. With TLS: the
  # CA secret is encrypted with the cluster key; the certificates live on tmpfs (issued again
  # at every boot, never on the data volume).
  node_env = merge({
    (local.env.domain)                  = local.zone_domain
    (local.env.peer_count)              = tostring(var.peer_count)
    (local.env.zone_count)              = tostring(length(var.subnet_ids))
    (local.env.data_dir)                = "/var/lib/etcd"
    (local.env.env_file)                = "/run/steadfast/etcd.env"
    (local.env.etcd_user)               = local.etcd_account.name
    (local.env.lifecycle_hook)          = local.lifecycle_hook_name
    (local.env.hook_timeout_secs)       = tostring(var.lifecycle_hook_heartbeat_timeout)
    (local.env.prepare_deadline_secs)   = tostring(var.prepare_deadline_secs)
    (local.env.ready_timeout_secs)      = tostring(var.ready_timeout_secs)
    (local.env.detach_grace_secs)       = tostring(var.detach_grace_secs)
    (local.env.tls)                     = tostring(var.tls_enabled)
    (local.env.etcd_heartbeat_ms)       = tostring(var.etcd_heartbeat_interval_ms)
    (local.env.etcd_election_ms)        = tostring(var.etcd_election_timeout_ms)
    (local.env.backup_prefix)           = var.backup_prefix
    (local.env.backup_kms_key)          = local.kms_key_arn
    (local.env.backup_interval_secs)    = tostring(var.backup_interval_secs)
    (local.env.backup_keep_all_hours)   = tostring(var.backup_keep_all_hours)
    (local.env.backup_keep_hourly_days) = tostring(var.backup_keep_hourly_days)
    (local.env.backup_keep_daily_weeks) = tostring(var.backup_keep_daily_weeks)
    (local.env.etcdutl_bin)             = "/usr/local/bin/etcdutl"
    (local.env.scratch_dir)             = "/var/tmp/steadfast"
    AWS_REGION                          = local.region
    }, var.backup_enabled ? { (local.env.backup_bucket) = local.backup_bucket_name } : {},
    var.tls_enabled ? {
      (local.env.tls_dir)                = "/run/steadfast/tls"
      (local.env.tls_kms_key)            = local.kms_key_arn
      (local.env.tls_ca_name)            = local.ca_secret_name
      (local.env.tls_cert_validity_secs) = tostring(var.tls_cert_validity_days * 86400)
      (local.env.tls_ca_validity_days)   = tostring(var.tls_ca_validity_days)
  } : {})
  bootstrap_env = join("\n", concat(
    ["# Written by cloud-init from the steadfast Terraform module. The cluster name and the peer index come from the instance tags."],
    [for k in sort(keys(local.node_env)) : "${k}=${local.node_env[k]}"],
    [""],
  ))

  # systemd start timeouts follow from the node's own deadlines, written as drop-ins next to the
  # units. node-ready: its deadline + 120 s of slack for process start-up and the final AWS
  # calls. node-bootstrap: none ("infinity"). prepare stops retrying at its own deadline, but a
  # tool that is modifying the filesystem (e2fsck, resize2fs, mkfs) is never interrupted: a
  # systemd timeout would SIGKILL it half-way. Its lifecycle heartbeats go on while it runs.
  unit_start_timeouts = {
    "node-bootstrap.service" = "infinity"
    "node-ready.service"     = var.ready_timeout_secs + 120
  }

  # The backup timer fires every backup_interval_secs: a drop-in next to the unit (the unit's
  # own values are the default interval, vocab.json defaults.backup_interval_secs). Only with
  # backups, like the backup units themselves.
  # The TLS timer likewise fires every tls_check_interval_secs.
  timer_intervals = merge(
    var.backup_enabled ? { "steadfast-backup.timer" = var.backup_interval_secs } : {},
    var.tls_enabled ? { "steadfast-tls.timer" = var.tls_check_interval_secs } : {},
  )

  # Written without their comment lines: the files in units/ carry the documentation, and
  # user-data must stay well inside EC2's 16 KiB.
  units = { for u in local.systemd_units : u => join("\n", [for l in split("\n", file("${path.module}/units/${u}")) : l if !startswith(l, "#")]) }

  user_data = {
    for k, p in local.peers : k => templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
      cluster_name        = var.cluster_name
      peer_index          = p.index
      bootstrap_env       = local.bootstrap_env
      unit_names          = local.systemd_units
      units               = local.units
      unit_start_timeouts = local.unit_start_timeouts
      timer_intervals     = local.timer_intervals
      install_gz_b64 = base64gzip(templatefile("${path.module}/templates/install.sh.tftpl", {
        region                = local.region
        asg_name              = p.asg_name
        hook_name             = local.lifecycle_hook_name
        artifacts_bucket      = aws_s3_bucket.artifacts.id
        node_bootstrap_key    = aws_s3_object.node_bootstrap.key
        node_bootstrap_sha256 = local.node_bootstrap_sha256
        etcd_url              = var.etcd_archive_path == null ? var.etcd_url : ""
        etcd_s3_key           = var.etcd_archive_path == null ? "" : aws_s3_object.etcd[0].key
        etcd_sha256           = local.etcd_sha256
        etcd_user             = local.etcd_account.name
        etcd_uid              = local.etcd_account.uid
        etcd_gid              = local.etcd_account.gid
        cluster_name          = var.cluster_name
        metric_namespace      = local.metric_namespace
        metric_refused        = local.vocab.metrics.bootstrap_refused
        metric_dimension      = local.vocab.metrics.dimension_cluster
        # The units to enable and start (cloud-init writes all of local.systemd_units).
        unit_names = local.started_units
      }))
    })
  }
}

resource "aws_launch_template" "peer" {
  for_each = local.peers

  name                   = "${var.cluster_name}-${each.value.name}"
  description            = "steadfast ${var.cluster_name} ${each.value.name} (etcd ${var.etcd_version})"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true

  # Nothing is launched before the account is known to offer it (preflight.tf).
  depends_on = [terraform_data.preflight]
  user_data  = base64encode(local.user_data[each.key])

  # A stopped peer is useless (its volume stays attached); terminate so the ASG replaces it.
  instance_initiated_shutdown_behavior = "terminate"

  # Each peer has its own role: it may attach, detach and tag only its own peer's volume.
  iam_instance_profile {
    arn = aws_iam_instance_profile.node[each.key].arn
  }

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.node.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  # The root volume is disposable (the peer's data lives on its own volume) but still
  # encrypted, with the account's EBS key (a CMK here would need a key grant for the Auto
  # Scaling service-linked role).
  block_device_mappings {
    device_name = data.aws_ami.node.root_device_name
    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # Only Name and the user's tags on the root volume: never the steadfast:* tags, which
  # node-bootstrap uses to find the peer's data volume.
  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.value.name}-root" })
  }

  tag_specifications {
    resource_type = "network-interface"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.value.name}" })
  }

  tags = local.common_tags

  lifecycle {
    precondition {
      condition     = local.etcd_sha256 != ""
      error_message = "No verified checksum is known for etcd ${var.etcd_version}: set etcd_sha256 to the SHA-256 of its linux-arm64 tarball."
    }
    precondition {
      condition     = data.aws_ami.node.architecture == "arm64"
      error_message = "The AMI must be arm64: node-bootstrap and etcd are installed as aarch64 binaries."
    }
    precondition {
      condition     = length(distinct([for s in data.aws_subnet.zone : s.availability_zone])) == length(var.subnet_ids)
      error_message = "The subnet_ids must be in distinct availability zones (one subnet per zone)."
    }
    precondition {
      condition     = alltrue([for s in data.aws_subnet.zone : s.vpc_id == var.vpc_id])
      error_message = "Every subnet in subnet_ids must belong to vpc_id."
    }
    precondition {
      # EC2 limits user-data to 16 KiB before base64 encoding.
      condition     = length(local.user_data[each.key]) <= 16384
      error_message = "The rendered user-data exceeds EC2's 16 KiB limit."
    }
    precondition {
      condition     = (var.etcd_archive_path == null) != (var.etcd_url == null)
      error_message = "Set exactly one of etcd_archive_path (the module uploads the tarball to the artifacts bucket; recommended) and etcd_url."
    }
    precondition {
      condition     = var.etcd_election_timeout_ms >= 5 * var.etcd_heartbeat_interval_ms
      error_message = "etcd_election_timeout_ms must be at least 5 x etcd_heartbeat_interval_ms (etcd refuses to start otherwise; node-bootstrap checks it too)."
    }
    precondition {
      # AWS ends any lifecycle action after 100 heartbeat timeouts (or 48 h), however often
      # the node heartbeats: the node's whole budget must fit inside that.
      condition     = var.prepare_deadline_secs + var.ready_timeout_secs + 600 <= 100 * var.lifecycle_hook_heartbeat_timeout
      error_message = "prepare_deadline_secs + ready_timeout_secs + 600 s of install time must fit in 100 x lifecycle_hook_heartbeat_timeout, the longest AWS keeps a lifecycle action open."
    }
  }
}

resource "aws_autoscaling_group" "peer" {
  # Deliberately EC2 health checks, not ELB: when quorum is lost every member's /health fails
  # at once, and ELB health checks would then terminate all nine healthy instances, turning a
  # transient quorum loss into a full replacement. The load balancer still routes only to
  # members whose /health passes.
  for_each = local.peers

  name                = each.value.asg_name
  min_size            = 1
  max_size            = 1
  desired_capacity    = 1
  vpc_zone_identifier = [each.value.subnet_id]

  health_check_type         = "EC2"
  health_check_grace_period = var.health_check_grace_period
  target_group_arns         = [aws_lb_target_group.client.arn]
  termination_policies      = ["OldestInstance"]

  # Do not make `terraform apply` wait for InService: on a fresh cluster the members only
  # become ready once a quorum of them has booted, and Terraform creates ASGs in parallel
  # batches. apply returns at once; the cluster forms within minutes (see README).
  wait_for_capacity_timeout = "0"

  # Needed by the "peer has no InService instance" alarms (group metrics are free).
  metrics_granularity = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.peer[each.key].id
    version = aws_launch_template.peer[each.key].latest_version
  }

  # The LAUNCHING hook is declared twice, with the same name and settings, on purpose:
  #   - here, as initial_lifecycle_hook, because an ASG created with desired_capacity = 1
  #     launches its first instance at once: only a hook passed to CreateAutoScalingGroup
  #     itself holds that very first instance in Pending:Wait (a separate hook resource is
  #     created after the group, too late for it);
  #   - as aws_autoscaling_lifecycle_hook.launching below, because Terraform never updates an
  #     initial_lifecycle_hook after creation: the separate resource (PutLifecycleHook, an
  #     upsert by name) is what carries later changes, e.g. of the heartbeat timeout.
  # ignore_changes keeps the no-op diff of the initial copy out of plans.
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook_name
    lifecycle_transition = local.vocab.events.transition_launching
    default_result       = "CONTINUE"
    heartbeat_timeout    = var.lifecycle_hook_heartbeat_timeout
  }

  # Instance refresh is NOT triggered by Terraform: every ASG would start its refresh in the
  # same apply, and with one instance per ASG that replaces all peers at once (quorum lost).
  # terraform/scripts/roll-peers.sh refreshes one peer at a time instead (see README,
  # "Upgrade"). Meanwhile any replacement launches from the newest launch template version.

  dynamic "tag" {
    for_each = merge(local.common_tags, {
      Name                 = "${var.cluster_name}-${each.value.name}"
      (local.peer_tag_key) = tostring(each.value.index)
    })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Everything a launching instance relies on exists first: its volume, its DNS name (and the
  # SRV record), the rules and permissions that deliver its launch event to peer-dns, and its
  # IAM permissions.
  depends_on = [
    aws_ebs_volume.peer,
    aws_route53_record.peer,
    aws_route53_record.srv_server,
    aws_route53_record.srv_client,
    aws_cloudwatch_event_target.launch,
    aws_lambda_permission.launch,
    aws_iam_role_policy.node,
    aws_iam_role_policy.session_manager,
  ]

  lifecycle {
    ignore_changes = [initial_lifecycle_hook]
  }
}

# The LAUNCHING hook that Terraform keeps up to date (see the comment on the ASG). Every launch
# waits in Pending:Wait until node-bootstrap completes the action: CONTINUE once its member is
# healthy and caught up, or ABANDON whenever a new instance could do better (the install or
# a deadline failed on something transient). The node records a heartbeat every third of the
# timeout while it is making progress, so the timeout only bounds a HUNG node.
#
# default_result is CONTINUE, not ABANDON: a node that stops heartbeating without deciding has
# hung, or refused for a reason that a new instance would only repeat (data loss detected, a
# foreign filesystem, the wrong zone). ABANDON would churn such a peer every timeout, forever,
# and each new instance would re-run the same refusal against the same volume. CONTINUE keeps
# the instance (InService, not in the load balancer's healthy set) and the alarms
# (client-healthy-hosts below peer_count, BootstrapRefused) call a human. See README,
# "Lifecycle hook and deadlines".
resource "aws_autoscaling_lifecycle_hook" "launching" {
  for_each = local.peers

  name                   = local.lifecycle_hook_name
  autoscaling_group_name = aws_autoscaling_group.peer[each.key].name
  lifecycle_transition   = local.vocab.events.transition_launching
  default_result         = "CONTINUE"
  heartbeat_timeout      = var.lifecycle_hook_heartbeat_timeout
}
