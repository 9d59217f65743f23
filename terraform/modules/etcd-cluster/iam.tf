# Least privilege. Rule: no mutating action is ever granted on Resource "*"; only Describe*,
# List* and Get* calls that do not support resource-level permissions are, plus two documented
# exceptions that AWS gives no resource to scope (cloudwatch:PutMetricData, pinned to
# steadfast's namespace by condition, and Session Manager's ssmmessages channels). Mutations are
# scoped to this cluster's ARNs and, where AWS supports it, to this cluster's and this peer's
# tags. No managed policy is attached to any role. terraform/tests/test_structure.py enforces
# all of this.

locals {
  volume_arns   = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*"
  instance_arns = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
  asg_arns      = { for k, p in local.peers : k => "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${p.asg_name}" }
}

# ---------------------------------------------------------------------------------------------
# Node roles: one per peer (node-bootstrap on that peer's instances)
# ---------------------------------------------------------------------------------------------
# A peer's instance can attach, detach (even force-detach) and mark initialized only ITS OWN
# peer's volume: the volume side of every volume action is conditioned on both the cluster tag
# and the peer tag. The instance side is conditioned on the cluster tag only, because the
# instance holding a stale attachment may be any instance of the cluster.

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  for_each = local.peers

  name_prefix        = "${var.cluster_name}-${each.value.name}-"
  description        = "steadfast ${var.cluster_name}: etcd ${each.value.name} (node-bootstrap)"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = merge(local.common_tags, { (local.peer_tag_key) = tostring(each.value.index) })
}

resource "aws_iam_instance_profile" "node" {
  for_each = local.peers

  name_prefix = "${var.cluster_name}-${each.value.name}-"
  role        = aws_iam_role.node[each.key].name
  tags        = merge(local.common_tags, { (local.peer_tag_key) = tostring(each.value.index) })
}

data "aws_iam_policy_document" "node" {
  for_each = local.peers

  # Read-only discovery: these Describe calls do not support resource-level permissions, so
  # "*" is the only possible resource. Listed one by one rather than Describe*: identity
  # (instance, ASG), finding and fencing the volume (volumes, the instance holding it).
  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeTags",
      "ec2:DescribeVolumes",
      "ec2:DescribeVolumeStatus",
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLifecycleHooks",
    ]
    resources = ["*"]
  }

  # AttachVolume and DetachVolume authorise both the volume and the instance. The volume must
  # be this peer's: both tags, cluster and peer.
  statement {
    sid       = "AttachDetachOwnPeerVolume"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
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
  }

  # ... to and from any instance of this cluster (the one being launched, or a dead one that
  # still holds the volume and must be fenced off).
  statement {
    sid       = "AttachDetachOnClusterInstances"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = [local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }

  # The only tag a node may write: steadfast:initialized, on its own peer's volume, and only
  # through a standalone CreateTags call (not as part of creating some other resource).
  statement {
    sid       = "MarkOwnPeerVolumeInitialized"
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
      # ForAllValues is vacuously true for an empty set: require that tag keys are present.
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/${local.init_tag_key}"
      values   = ["false"]
    }
    condition {
      test     = "Null"
      variable = "ec2:CreateAction"
      values   = ["true"]
    }
  }

  # Complete (CONTINUE or ABANDON) and heartbeat the LAUNCHING lifecycle action, only on this
  # peer's own ASG.
  statement {
    sid       = "CompleteOwnLifecycleActions"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = [local.asg_arns[each.key]]
  }

  # Fetch node-bootstrap and the etcd tarball from the artifacts bucket.
  statement {
    sid     = "ReadArtifacts"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.artifacts.arn}/node-bootstrap/*",
      "${aws_s3_bucket.artifacts.arn}/etcd/*",
    ]
  }

  # The node's own metrics (BootstrapRefused, ...). PutMetricData supports no resource-level
  # permissions; the condition pins it to steadfast's namespace (vocab.json metrics), so a
  # node can write nothing into any other namespace.
  statement {
    sid       = "PublishOwnMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.vocab.metrics.namespace]
    }
  }

  # Objects are SSE-KMS encrypted; attaching volumes encrypted with the CMK needs a grant for
  # EC2 (and only for an AWS resource).
  statement {
    sid       = "UseClusterKeyThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com", "ec2.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "UseClusterKeyForAttachedVolumes"
    actions   = ["kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "node" {
  for_each = local.peers

  name   = "steadfast-node"
  role   = aws_iam_role.node[each.key].id
  policy = data.aws_iam_policy_document.node[each.key].json
}

# Session Manager (instead of SSH), narrowly: the SSM agent's heartbeat and the message
# channels of a shell session. Nothing that reads or writes parameters, documents, commands or
# S3, unlike the AWS-managed AmazonSSMManagedInstanceCore, which this module does not attach.
data "aws_iam_policy_document" "session_manager" {
  count = var.enable_session_manager ? 1 : 0

  # The agent registers and heartbeats its own instance.
  statement {
    sid       = "SsmAgentHeartbeat"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = [local.instance_arns]
  }

  # Session channels: ssmmessages has no resource types and no condition keys, so "*" is the
  # only possible resource; the channels only ever carry this instance's own sessions.
  statement {
    sid = "SessionChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  for_each = var.enable_session_manager ? local.peers : {}

  name   = "steadfast-session-manager"
  role   = aws_iam_role.node[each.key].id
  policy = data.aws_iam_policy_document.session_manager[0].json
}

# ---------------------------------------------------------------------------------------------
# peer-dns Lambda role
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name_prefix        = "${var.cluster_name}-peer-dns-"
  description        = "steadfast ${var.cluster_name}: peer-dns Lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.common_tags
}

data "aws_iam_policy_document" "lambda" {
  # Changes to the peer-N A records of this cluster, in this zone, and nothing else: the SRV
  # records and every other name in the zone are out of reach. peer-dns writes conditionally:
  # one batch that DELETEs exactly the values it read and CREATEs the new one (Route 53 rejects
  # the batch if the record changed meanwhile), UPSERT only where no record exists.
  statement {
    sid       = "WritePeerRecords"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [local.zone_arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["peer-*.${local.cluster_domain}"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["A"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsActions"
      values   = ["CREATE", "DELETE", "UPSERT"]
    }
  }

  statement {
    sid       = "ReadZone"
    actions   = ["route53:ListResourceRecordSets"]
    resources = [local.zone_arn]
  }

  statement {
    sid       = "WaitForChanges"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }

  # Describe calls do not support resource-level permissions.
  statement {
    sid       = "Describe"
    actions   = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  # Decrypt the environment; encrypt messages to the SSE-KMS dead-letter queue.
  statement {
    sid       = "UseClusterKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "steadfast-peer-dns"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
