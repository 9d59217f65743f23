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
  # EBS snapshot ARNs carry no account.
  snapshot_arns = "arn:${local.partition}:ec2:${local.region}::snapshot/*"
  asg_arns      = { for k, p in local.peers : k => "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${p.asg_name}" }
}

# ---------------------------------------------------------------------------------------------
# Node roles: one per peer (node-bootstrap on that peer's instances)
# ---------------------------------------------------------------------------------------------
# A peer's instance can attach, detach (even force-detach) and tag only ITS OWN peer's volume: the volume side of every volume action is conditioned on both the cluster tag
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

  # The backup bucket's statements (below), the same for every peer; none without backups.
  source_policy_documents = concat(
    var.backup_enabled ? [data.aws_iam_policy_document.node_backup[0].json] : [],
    var.tls_enabled ? [data.aws_iam_policy_document.node_tls[0].json] : [],
  )

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

  # The only tags a node may write: steadfast:initialized, steadfast:joined and
  # steadfast:blank (local.node_volume_tag_keys), on its own peer's volume, and only through a
  # standalone CreateTags call (not as part of creating some other resource). Any one of them
  # alone, or several: ForAllValues refuses every other key, and the Null test on aws:TagKeys
  # refuses a call without tag keys (for which ForAllValues would hold vacuously).
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
      values   = local.node_volume_tag_keys
    }
    condition {
      # ForAllValues is vacuously true for an empty set: require that tag keys are present.
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
    condition {
      test     = "Null"
      variable = "ec2:CreateAction"
      values   = ["true"]
    }
  }

  # ... and remove only steadfast:blank again (once its member has rejoined or been restored),
  # from its own peer's volume. The Null test matters twice here: a DeleteTags call that names
  # no tag deletes EVERY tag of the volume.
  statement {
    sid       = "UnmarkOwnPeerVolumeBlank"
    actions   = ["ec2:DeleteTags"]
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
      values   = [local.blank_tag_key]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
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
  # permissions; the condition pins it to this cluster's own namespace (Steadfast/<C>,
  # vocab.json metrics), so a node can write nothing into any other namespace, nor into
  # another cluster's (whose alarms it could otherwise keep green).
  statement {
    sid       = "PublishOwnMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metric_namespace]
    }
  }

  # Objects are SSE-KMS encrypted with the cluster key: reading artifacts and backups decrypts,
  # writing backups (single and multipart uploads) generates data keys; only through S3.
  statement {
    sid       = "UseClusterKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  # Attaching volumes encrypted with the CMK: Decrypt through EC2, and a grant for EC2 (and
  # only for an AWS resource).
  statement {
    sid       = "DecryptAttachedVolumes"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }
  }

  # kms:GrantIsForAWSResource exists only in grant requests: it may gate CreateGrant alone (with
  # it on the other actions too, they were never granted).
  statement {
    sid       = "GrantClusterKeyToEc2ForAttachedVolumes"
    actions   = ["kms:CreateGrant"]
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

  statement {
    sid       = "UseClusterKeyForAttachedVolumes"
    actions   = ["kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }
  }
}

# The backup bucket, for node-bootstrap backup (snapshots, manifests, retention) and the
# recovery it plans (restore plans): objects only under this cluster's folder
# (<prefix><cluster>/, local.backup_cluster_dir), and listings only of that folder. Merged into
# every peer's node policy above (source_policy_documents).
data "aws_iam_policy_document" "node_backup" {
  count = var.backup_enabled ? 1 : 0

  statement {
    sid       = "ListOwnClusterBackups"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backup[0].arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.backup_cluster_dir, "${local.backup_cluster_dir}*"]
    }
  }

  statement {
    sid = "ReadWriteOwnClusterBackups"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.backup[0].arn}/${local.backup_cluster_dir}*"]
  }
}

# TLS: the cluster's CA secret, and nothing else in Secrets Manager. A node reads it and, the
# first time any node needs it, creates it (create-if-absent: one creator wins, the rest read
# the winner's), tagged with the cluster; it never updates or deletes it (only `steadfast ca
# rotate`, with the operator's own credentials, writes new versions). The secret is encrypted
# with the cluster key, used only through Secrets Manager.
data "aws_iam_policy_document" "node_tls" {
  count = var.tls_enabled ? 1 : 0

  statement {
    sid       = "ReadOwnClusterCa"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [local.ca_secret_arn]
  }

  statement {
    sid       = "CreateOwnClusterCa"
    actions   = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
    resources = [local.ca_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.vocab.tags.cluster}"
      values   = [var.cluster_name]
    }
  }

  statement {
    sid       = "UseClusterKeyThroughSecretsManager"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

# What an operator (or a CI job) needs for `steadfast cert issue` (read the CA) and `steadfast
# ca rotate` (also write new versions of it): attach output.operator_tls_policy_json to their
# role. Reading the CA secret is the power to issue client certificates: grant it like admin.
data "aws_iam_policy_document" "operator_tls" {
  count = var.tls_enabled ? 1 : 0

  statement {
    sid       = "ReadClusterCa"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [local.ca_secret_arn]
  }

  statement {
    sid       = "RotateClusterCa"
    actions   = ["secretsmanager:PutSecretValue"]
    resources = [local.ca_secret_arn]
  }

  statement {
    sid       = "UseClusterKeyThroughSecretsManager"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
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

  # Decrypt its environment, and only through Lambda (the dead-letter queue uses SSE-SQS: it
  # holds event envelopes, nothing secret).
  statement {
    sid       = "DecryptEnvironmentThroughLambda"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["lambda.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "steadfast-peer-dns"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
