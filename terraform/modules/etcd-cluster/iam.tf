# Least privilege. Rule: no mutating action is ever granted on Resource "*"; only Describe*,
# List* and Get* calls that do not support resource-level permissions are. Mutations are scoped
# to this cluster's ARNs and, where AWS supports it, to this cluster's tag.

locals {
  volume_arns   = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*"
  instance_arns = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
  asg_arns      = [for k in sort(keys(local.peers)) : "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.peers[k].asg_name}"]
}

# ---------------------------------------------------------------------------------------------
# Node role (node-bootstrap on every peer)
# ---------------------------------------------------------------------------------------------

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
  name_prefix        = "${var.cluster_name}-node-"
  description        = "steadfast ${var.cluster_name}: etcd peers (node-bootstrap)"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = local.common_tags
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.cluster_name}-node-"
  role        = aws_iam_role.node.name
  tags        = local.common_tags
}

# Session Manager instead of SSH.
resource "aws_iam_role_policy_attachment" "node_ssm" {
  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "node" {
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

  # Attach and detach (including the force-detach of a volume still held by a dead instance)
  # only this cluster's volumes, to and from this cluster's instances: AttachVolume and
  # DetachVolume authorise both the volume and the instance, and both must carry the tag.
  statement {
    sid       = "AttachDetachOwnVolumes"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = [local.volume_arns, local.instance_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }

  # The only tag a node may write: steadfast:initialized, on this cluster's volumes, and only
  # through a standalone CreateTags call (not as part of creating some other resource).
  statement {
    sid       = "MarkOwnVolumesInitialized"
    actions   = ["ec2:CreateTags"]
    resources = [local.volume_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
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

  # Complete (or extend) the LAUNCHING lifecycle action, only on this cluster's ASGs.
  statement {
    sid       = "CompleteOwnLifecycleActions"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = local.asg_arns
  }

  # Fetch node-bootstrap (and the etcd tarball when it is mirrored) from the artifacts bucket.
  statement {
    sid     = "ReadArtifacts"
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "${aws_s3_bucket.artifacts.arn}/node-bootstrap/*",
      "${aws_s3_bucket.artifacts.arn}/etcd/*",
    ]
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
  name   = "steadfast-node"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
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
  # UPSERT of the peer-N A records of this cluster, in this zone, and nothing else: the SRV
  # records and every other name in the zone are out of reach.
  statement {
    sid       = "UpsertPeerRecords"
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
      values   = ["UPSERT"]
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
