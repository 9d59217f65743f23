# Backups, two layers (see terraform/README.md, "Backups and restore"):
#
# 1. The backup bucket: node-bootstrap's verified etcd snapshots
#    (<prefix><cluster>/snapshots/<taken_at>-r<revision>.db, plus a .json manifest once
#    verified) and the restore plans (<prefix><cluster>/restore/). Built like the artifacts
#    bucket (storage.tf): encrypted with the cluster key, versioned, private, TLS only. Unlike
#    it, never emptied by destroy: backups are data.
# 2. A Data Lifecycle Manager policy: a daily EBS snapshot of every data volume of the cluster,
#    for when the S3 backups are unusable, or to roll one volume back by hand.

# ---------------------------------------------------------------------------------------------
# Backup bucket
# ---------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "backup" {
  #checkov:skip=CKV_AWS_18:Only the cluster's own nodes read and write it, authorised by IAM and recorded by CloudTrail (enable S3 data events account-wide if you need them). A log bucket would need its own log bucket.
  #checkov:skip=CKV_AWS_144:The cluster and its restore path live in one region; a second-region copy is the operator's choice (add replication outside the module). The daily EBS snapshots are a second, independent layer.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events; node-bootstrap publishes its own backup metrics (BackupNewestVerifiedAgeSeconds, BackupFailed) and the module alarms on them.
  count = var.backup_enabled ? 1 : 0

  bucket_prefix = "${var.cluster_name}-backups-"
  # Backups are data: destroy fails while the bucket holds any object version, unless the
  # caller says otherwise (examples/local, a throw-away moto region, does).
  force_destroy = var.backup_bucket_force_destroy
  tags          = local.common_tags
}

resource "aws_s3_bucket_ownership_controls" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket = aws_s3_bucket.backup[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket                  = aws_s3_bucket.backup[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket = aws_s3_bucket.backup[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket = aws_s3_bucket.backup[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket = aws_s3_bucket.backup[0].id

  rule {
    id     = "expire-deleted-snapshots"
    status = "Enabled"
    filter {}
    # node-bootstrap's retention deletes old snapshots; versioning keeps what it (or anyone)
    # deleted or overwrote restorable for this many days.
    noncurrent_version_expiration {
      noncurrent_days = var.backup_noncurrent_version_days
    }
    # A backup interrupted half-way (the node died mid-upload) leaves its parts behind.
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.backup]
}

data "aws_iam_policy_document" "backup_bucket" {
  count = var.backup_enabled ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backup[0].arn, "${aws_s3_bucket.backup[0].arn}/*"]
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

resource "aws_s3_bucket_policy" "backup" {
  count = var.backup_enabled ? 1 : 0

  bucket = aws_s3_bucket.backup[0].id
  policy = data.aws_iam_policy_document.backup_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.backup]
}

locals {
  backup_bucket_name = var.backup_enabled ? aws_s3_bucket.backup[0].id : null
  # Everything a node may touch in the bucket: its own cluster's folder.
  backup_cluster_dir = "${var.backup_prefix}${var.cluster_name}/"
}

# ---------------------------------------------------------------------------------------------
# Daily EBS snapshots (Data Lifecycle Manager)
# ---------------------------------------------------------------------------------------------
# Targets the volumes tagged steadfast:cluster = C: the data volumes only (root volumes never
# carry steadfast:* tags, see nodes.tf). copy_tags puts the volume's tags (cluster, peer,
# initialized, joined) on each snapshot, so a volume created from one can be given exactly the
# tags of the volume it replaces.

data "aws_iam_policy_document" "dlm_assume" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["dlm.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "dlm" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  name_prefix        = "${var.cluster_name}-dlm-"
  description        = "steadfast ${var.cluster_name}: Data Lifecycle Manager, daily EBS snapshots of the data volumes"
  assume_role_policy = data.aws_iam_policy_document.dlm_assume[0].json
  tags               = local.common_tags
}

# What AWSDataLifecycleManagerServiceRole would grant, narrowed to what a VOLUME policy without
# cross-region copies or fast snapshot restore does, and scoped like every role here: snapshots
# of this cluster's volumes only; deletions only of snapshots carrying this cluster's tag
# (copy_tags puts it on every snapshot the policy makes). No ec2:CreateSnapshots: that is the
# multi-volume call of INSTANCE policies.
data "aws_iam_policy_document" "dlm" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  # Read-only discovery: these Describe calls do not support resource-level permissions.
  statement {
    sid       = "Describe"
    actions   = ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"]
    resources = ["*"]
  }

  # CreateSnapshot authorises the volume and the new snapshot: the volume must be this
  # cluster's...
  statement {
    sid       = "SnapshotClusterVolumes"
    actions   = ["ec2:CreateSnapshot"]
    resources = [local.volume_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }

  # ... and the snapshot side has no tags yet to condition on.
  statement {
    sid       = "CreateSnapshots"
    actions   = ["ec2:CreateSnapshot"]
    resources = [local.snapshot_arns]
  }

  # copy_tags and tags_to_add, on snapshots only.
  statement {
    sid       = "TagSnapshots"
    actions   = ["ec2:CreateTags"]
    resources = [local.snapshot_arns]
  }

  # Retention: only snapshots of this cluster.
  statement {
    sid       = "ExpireClusterSnapshots"
    actions   = ["ec2:DeleteSnapshot"]
    resources = [local.snapshot_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_tag_key}"
      values   = [var.cluster_name]
    }
  }
}

resource "aws_iam_role_policy" "dlm" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  name   = "steadfast-dlm"
  role   = aws_iam_role.dlm[0].id
  policy = data.aws_iam_policy_document.dlm[0].json
}

resource "aws_dlm_lifecycle_policy" "ebs" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  # DLM allows only letters, digits, spaces, _ and - in a description.
  description        = "steadfast ${var.cluster_name} daily EBS snapshots of the data volumes"
  execution_role_arn = aws_iam_role.dlm[0].arn
  state              = "ENABLED"

  policy_details {
    resource_types = ["VOLUME"]
    target_tags    = { (local.cluster_tag_key) = var.cluster_name }

    schedule {
      name      = "daily"
      copy_tags = true
      tags_to_add = {
        SnapshotCreator = "steadfast-dlm"
      }

      create_rule {
        interval      = 24
        interval_unit = "HOURS"
        times         = [var.ebs_snapshot_time]
      }

      retain_rule {
        count = var.ebs_snapshot_retain_count
      }
    }
  }

  tags = local.common_tags

  depends_on = [aws_iam_role_policy.dlm]
}
