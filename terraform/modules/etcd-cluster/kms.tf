# One customer managed key for everything the cluster stores: data volumes, backup and
# artifacts buckets, Lambda environment and log group (the dead-letter queue uses SSE-SQS: see
# lambda.tf). Root volumes use the
# account's default EBS key instead (see nodes.tf): a CMK there would need a grant for the Auto
# Scaling service-linked role, which may not exist yet in a fresh account.

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "steadfast ${var.cluster_name}: etcd data volumes, artifacts, backups, Lambda, logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = local.kms_key_policy
  tags                    = local.common_tags
}

resource "aws_kms_alias" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  name          = "alias/steadfast-${var.cluster_name}"
  target_key_id = aws_kms_key.this[0].key_id
}

locals {
  kms_key_arn = var.kms_key_arn == null ? aws_kms_key.this[0].arn : var.kms_key_arn

  # A key policy (a resource policy): "*" in its Resource means "this key". The roles get
  # what they need from IAM policies (iam.tf), through the account statement: the node roles'
  # S3 (artifacts, backups) and EBS use of the key included.
  kms_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsForThePeerDnsLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.lambda_log_group}"
          }
        }
      },
    ]
  })
}

