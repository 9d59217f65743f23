# One launch template and one Auto Scaling group per peer. Each ASG holds exactly one instance
# (min = max = desired = 1) in the peer's own subnet, so a dead instance is replaced in the zone
# where the peer's volume lives.

locals {
  bootstrap_env = join("\n", [
    "# Written by cloud-init from the steadfast Terraform module. The cluster name and the peer",
    "# index come from the instance tags, not from here.",
    "STEADFAST_DOMAIN=${local.zone_domain}",
    "STEADFAST_PEER_COUNT=${var.peer_count}",
    "STEADFAST_ZONE_COUNT=${length(var.subnet_ids)}",
    "STEADFAST_DATA_DIR=/var/lib/etcd",
    "STEADFAST_ETCD_ENV_FILE=/run/steadfast/etcd.env",
    "STEADFAST_ETCD_USER=etcd",
    "STEADFAST_LIFECYCLE_HOOK=${local.lifecycle_hook_name}",
    "STEADFAST_DETACH_GRACE_SECS=${var.detach_grace_secs}",
    "STEADFAST_TLS=${var.tls_enabled}",
    "AWS_REGION=${local.region}",
    "",
  ])

  units_b64 = { for u in local.systemd_units : u => filebase64("${local.systemd_units_dir}/${u}") }

  user_data = {
    for k, p in local.peers : k => templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
      cluster_name      = var.cluster_name
      peer_index        = p.index
      bootstrap_env_b64 = base64encode(local.bootstrap_env)
      unit_names        = local.systemd_units
      units_b64         = local.units_b64
      install_b64 = base64encode(templatefile("${path.module}/templates/install.sh.tftpl", {
        region                 = local.region
        asg_name               = p.asg_name
        hook_name              = local.lifecycle_hook_name
        artifacts_bucket       = aws_s3_bucket.artifacts.id
        node_bootstrap_key     = aws_s3_object.node_bootstrap.key
        node_bootstrap_version = aws_s3_object.node_bootstrap.version_id
        node_bootstrap_sha256  = local.node_bootstrap_sha256
        etcd_url               = local.etcd_url
        etcd_s3_key            = var.etcd_archive_path == null ? "" : aws_s3_object.etcd[0].key
        etcd_s3_version        = var.etcd_archive_path == null ? "" : aws_s3_object.etcd[0].version_id
        etcd_sha256            = local.etcd_sha256
        unit_names             = local.systemd_units
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
  user_data              = base64encode(local.user_data[each.key])

  # A stopped peer is useless (its volume stays attached); terminate so the ASG replaces it.
  instance_initiated_shutdown_behavior = "terminate"

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
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
      condition     = length(local.user_data[each.key]) <= 16384
      error_message = "The rendered user-data exceeds EC2's 16 KiB limit."
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

  # Declared inside the ASG so that it exists before the first instance launches. Every
  # launch waits in Pending:Wait until node-bootstrap completes the action (CONTINUE) once its
  # member is healthy and caught up, or the timeout ABANDONs it (the ASG then terminates it
  # and launches another).
  #
  # Heartbeat timeout (default 1800 s = 30 min), sized for a whole-cluster recovery, where a
  # member can only become healthy once a quorum (5 of 9) of fresh instances is up:
  #   instance launch + boot + cloud-init install        ~ 2-4 min
  #   fence: old instance shutting down, detach grace 60 s, force-detach  ~ 2-5 min
  #   DNS convergence (launch event or 1-minute sweep, TTL 5 s)            ~ 1-2 min
  #   waiting for the slowest peer of the quorum (same path, plus EC2 capacity retries
  #   in a struggling zone)                                                ~ 5-10 min
  # about 20 min in a bad case, plus margin. Too short would abandon members that are merely
  # waiting for a quorum (turning a recovery into a churn loop); too long only delays the
  # replacement of an instance that is truly broken, and failures that the install script
  # can see ABANDON at once.
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
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
    aws_iam_role_policy_attachment.node_ssm,
  ]
}
