# ---------------------------------------------------------------------------------------------
# Data volumes: one per peer, in the peer's zone. The volume (with the name) IS the peer;
# instances are disposable. node-bootstrap finds it by its tags, attaches and mounts it.
# ---------------------------------------------------------------------------------------------

resource "aws_ebs_volume" "peer" {
  for_each = local.peers

  availability_zone = each.value.az
  size              = var.volume_size
  type              = var.volume_type
  iops              = var.volume_iops
  throughput        = var.volume_throughput
  encrypted         = true
  kms_key_id        = local.kms_key_arn
  # Second line of defence: if the volume is ever destroyed through Terraform, AWS snapshots
  # it first.
  final_snapshot = true

  tags = merge(local.common_tags, {
    Name                 = "${var.cluster_name}-${each.value.name}-data"
    (local.peer_tag_key) = tostring(each.value.index)
  })

  lifecycle {
    # The volume holds the peer's etcd data: `terraform destroy`, or any change that would
    # replace it (a new AZ, a different KMS key), fails at plan time instead. To really
    # delete the cluster, see "Destroy" in terraform/README.md.
    prevent_destroy = true
    # node-bootstrap tags a volume steadfast:initialized once it has formatted it; that tag
    # is what stops a blank-but-initialized volume from ever being formatted again, so
    # Terraform must never remove it. Nor the other two it writes: steadfast:joined (when its
    # member last joined the cluster: the key of a restore plan) and steadfast:blank (its data
    # is gone: what lets the cluster restore once every volume says so). ignore_changes needs
    # literal keys: these are vocab.json tags.initialized, tags.joined and tags.blank.
    ignore_changes = [tags["steadfast:initialized"], tags["steadfast:joined"], tags["steadfast:blank"]]
  }
}

# ---------------------------------------------------------------------------------------------
# Artifacts bucket: node-bootstrap and the etcd tarball, encrypted, versioned, private, TLS
# only. Keys are content-addressed (<name>/<sha256>/<file>): a key always names the same bytes,
# so user-data never needs an object version id (a new bucket's versioning can take a while to
# apply, and an upload in that window gets no version id at all). Nodes still check the
# SHA-256 before use.
# ---------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Holds only reproducible build artifacts read by the cluster's own nodes; reads are authorised by IAM and recorded by CloudTrail (enable S3 data events account-wide if you need them). A log bucket would need its own log bucket.
  #checkov:skip=CKV_AWS_144:Artifacts are rebuilt from source and re-uploaded by terraform apply; a second-region copy adds cost without adding recovery ability (nodes only read from their own region).
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events for build artifacts; uploads happen only through terraform apply.
  bucket_prefix = "${var.cluster_name}-artifacts-"
  # Only reproducible build outputs live here, so destroy may empty it.
  force_destroy = true
  tags          = local.common_tags
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-superseded-artifacts"
    status = "Enabled"
    filter {}
    # Keys are content-addressed, so an object is only ever deleted (a new build gets a new
    # key, and the same apply points every launch template at it); versioning keeps a deleted
    # build restorable for 90 days.
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
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

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

locals {
  node_bootstrap_sha256 = filesha256(var.node_bootstrap_path)
  etcd_archive_name     = "etcd-v${var.etcd_version}-linux-arm64.tar.gz"
}

resource "aws_s3_object" "node_bootstrap" {
  bucket                 = aws_s3_bucket.artifacts.id
  key                    = "node-bootstrap/${local.node_bootstrap_sha256}/node-bootstrap"
  source                 = var.node_bootstrap_path
  source_hash            = filemd5(var.node_bootstrap_path)
  server_side_encryption = "aws:kms"
  kms_key_id             = local.kms_key_arn
  bucket_key_enabled     = true
  metadata = {
    sha256 = local.node_bootstrap_sha256
  }
  tags = local.common_tags

  depends_on = [aws_s3_bucket_versioning.artifacts, aws_s3_bucket_server_side_encryption_configuration.artifacts]

  lifecycle {
    # A new build is a new key: upload it before the launch templates move to it, and only
    # then delete the old one, so a launch in between still finds what its template names.
    create_before_destroy = true
  }
}

resource "aws_s3_object" "etcd" {
  count = var.etcd_archive_path == null ? 0 : 1

  bucket                 = aws_s3_bucket.artifacts.id
  key                    = "etcd/${local.etcd_sha256}/${local.etcd_archive_name}"
  source                 = var.etcd_archive_path
  source_hash            = filemd5(var.etcd_archive_path)
  server_side_encryption = "aws:kms"
  kms_key_id             = local.kms_key_arn
  bucket_key_enabled     = true
  metadata = {
    sha256 = local.etcd_sha256
  }
  tags = local.common_tags

  depends_on = [aws_s3_bucket_versioning.artifacts, aws_s3_bucket_server_side_encryption_configuration.artifacts]

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = filesha256(var.etcd_archive_path) == local.etcd_sha256
      error_message = "The SHA-256 of etcd_archive_path differs from etcd_sha256 (or, when that is null, from the module's verified checksum of etcd ${var.etcd_version} linux-arm64): refusing to upload it."
    }
  }
}
