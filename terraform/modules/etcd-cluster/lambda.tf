# peer-dns: points peer-N.C.D at the private IP of whatever instance holds slot N. Invoked by
# the two ASG launch events of this cluster's ASGs and by a periodic sweep.
#
# Ownership rule (see README, "Updating the Lambda with cargo lambda deploy"):
#   Terraform owns the configuration: name, role, runtime, architecture, handler, memory,
#   timeout, environment, concurrency, DLQ, KMS key, tags.
#   Terraform owns the code only at creation, unless lambda_code_managed_by_terraform = true.
#   With the default (false), source_code_hash is left unset, so Terraform has no opinion on
#   the deployed code: `cargo lambda deploy` updates it and a later apply neither fights nor
#   reverts it. With true, the hash of lambda_zip_path is declared and apply uploads the zip
#   whenever the deployed code differs.

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.lambda_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.common_tags
}

# SSE-SQS, not the cluster key: EventBridge writes dead letters with its own service principal,
# and a key policy that depends on aws:SourceArn being present on those KMS requests could lose
# dead letters silently (review M6). The queue holds event envelopes, nothing secret.
resource "aws_sqs_queue" "dlq" {
  name                      = "${var.cluster_name}-peer-dns-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum
  sqs_managed_sse_enabled   = true
  tags                      = local.common_tags
}

# EventBridge delivers to the DLQ itself when it cannot invoke the function.
data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = [
        aws_cloudwatch_event_rule.lifecycle_action.arn,
        aws_cloudwatch_event_rule.launch_successful.arn,
        aws_cloudwatch_event_rule.sweep.arn,
      ]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]
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

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

resource "aws_lambda_function" "peer_dns" {
  #checkov:skip=CKV_AWS_117:peer-dns only calls AWS APIs (Route 53, Auto Scaling, EC2); Route 53's API has no VPC endpoint, so placing it in the VPC would add a NAT dependency to the path that repairs DNS during an outage.
  #checkov:skip=CKV_AWS_272:Code signing would reject the unsigned zips that the supported `cargo lambda deploy` workflow uploads.
  #checkov:skip=CKV_AWS_50:X-Ray's PutTraceSegments supports neither resource-level permissions nor a narrowing condition, and this module grants no unconditioned mutating action on Resource "*"; the function logs structured JSON spans instead.
  function_name = local.lambda_function_name
  description   = "steadfast ${var.cluster_name}: points peer-N.${local.cluster_domain} at the instance holding slot N"
  role          = aws_iam_role.lambda.arn
  runtime       = "provided.al2023"
  architectures = ["arm64"]
  handler       = "bootstrap"
  memory_size   = var.lambda_memory_size
  timeout       = var.lambda_timeout
  kms_key_arn   = local.kms_key_arn

  filename = var.lambda_zip_path
  # Unset (null) by default: Terraform then never compares or re-uploads the code, so a
  # `cargo lambda deploy` is left alone. See the ownership rule at the top of this file.
  source_code_hash = var.lambda_code_managed_by_terraform ? filebase64sha256(var.lambda_zip_path) : null

  # null (default): no reservation (-1). See the variable for when to reserve.
  reserved_concurrent_executions = var.lambda_reserved_concurrency == null ? -1 : var.lambda_reserved_concurrency

  # Names from vocab.json (env), the same constants peer-dns compiles in.
  environment {
    variables = {
      (local.env.cluster)             = var.cluster_name
      (local.env.hosted_zone_id)      = local.zone_id
      (local.env.domain)              = local.zone_domain
      (local.env.record_ttl)          = tostring(var.record_ttl)
      (local.env.peer_count)          = tostring(var.peer_count)
      (local.env.zone_count)          = tostring(length(var.subnet_ids))
      (local.env.retry_deadline_ms)   = tostring(var.lambda_retry_deadline_ms)
      (local.env.placeholder_network) = local.placeholder_network
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  tags = local.common_tags

  depends_on = [aws_iam_role_policy.lambda, aws_cloudwatch_log_group.lambda]

  lifecycle {
    precondition {
      condition     = var.lambda_retry_deadline_ms < var.lambda_timeout * 1000
      error_message = "lambda_retry_deadline_ms must be below lambda_timeout (in ms), so the function gives up cleanly before Lambda kills it."
    }
  }
}

# Async invocations (all of ours): a failed launch event is retried twice, and events older
# than an hour are dropped to the DLQ (the sweep will have repaired the records long before).
resource "aws_lambda_function_event_invoke_config" "peer_dns" {
  function_name                = aws_lambda_function.peer_dns.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

# --- EventBridge ------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "lifecycle_action" {
  name        = "${var.cluster_name}-peer-launch-lifecycle-action"
  description = "steadfast ${var.cluster_name}: an instance of a peer ASG is waiting in Pending:Wait"
  event_pattern = jsonencode({
    source        = [local.vocab.events.source_autoscaling]
    "detail-type" = [local.vocab.events.launch_lifecycle_action]
    detail = {
      AutoScalingGroupName = local.asg_names
    }
  })
  tags = local.common_tags
}

resource "aws_cloudwatch_event_rule" "launch_successful" {
  name        = "${var.cluster_name}-peer-launch-successful"
  description = "steadfast ${var.cluster_name}: an instance of a peer ASG is InService"
  event_pattern = jsonencode({
    source        = [local.vocab.events.source_autoscaling]
    "detail-type" = [local.vocab.events.launch_successful]
    detail = {
      AutoScalingGroupName = local.asg_names
    }
  })
  tags = local.common_tags
}

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = local.sweep_rule_name
  description         = "steadfast ${var.cluster_name}: periodic sweep of every peer-N record"
  schedule_expression = var.sweep_schedule
  tags                = local.common_tags
}

locals {
  # The two launch rules share their target and permission settings.
  launch_rules = {
    lifecycle-action  = aws_cloudwatch_event_rule.lifecycle_action
    launch-successful = aws_cloudwatch_event_rule.launch_successful
  }
}

resource "aws_cloudwatch_event_target" "launch" {
  for_each = local.launch_rules
  rule     = each.value.name
  arn      = aws_lambda_function.peer_dns.arn
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule = aws_cloudwatch_event_rule.sweep.name
  arn  = aws_lambda_function.peer_dns.arn
  # A missed sweep is superseded by the next one a minute later.
  retry_policy {
    maximum_event_age_in_seconds = 120
    maximum_retry_attempts       = 2
  }
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "launch" {
  for_each       = local.launch_rules
  statement_id   = "Allow-${each.key}-rule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.peer_dns.function_name
  principal      = "events.amazonaws.com"
  source_arn     = each.value.arn
  source_account = local.account_id
}

resource "aws_lambda_permission" "sweep" {
  statement_id   = "AllowSweepRule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.peer_dns.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.sweep.arn
  source_account = local.account_id
}
