# Alarms: peer-dns errors and throttles, undeliverable events, and a peer with no InService
# instance. All notify alarm_sns_topic_arn (when set) on ALARM and on OK. The backups issue
# adds its own.

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${var.cluster_name}-peer-dns-errors"
  alarm_description   = "steadfast ${var.cluster_name}: peer-dns failed in 2 of the last 3 five-minute periods (peer names may be stale)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.peer_dns.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = "${var.cluster_name}-peer-dns-throttles"
  alarm_description   = "steadfast ${var.cluster_name}: peer-dns throttled for 15 minutes in a row (a burst of nine launches throttles briefly by design; sustained throttling delays DNS repair)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.peer_dns.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.cluster_name}-peer-dns-dead-letters"
  alarm_description   = "steadfast ${var.cluster_name}: events that peer-dns could not process are waiting in ${aws_sqs_queue.dlq.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

# A replacement normally takes a few minutes (launch, attach, DNS, catch-up); ten minutes
# without an InService instance means the peer is not coming back by itself. Missing data
# counts as breaching: the ASG publishes this metric every minute while it exists.
resource "aws_cloudwatch_metric_alarm" "peer_not_in_service" {
  for_each = local.peers

  alarm_name          = "${var.cluster_name}-${each.value.name}-not-in-service"
  alarm_description   = "steadfast ${var.cluster_name}: ${each.value.name} (ASG ${each.value.asg_name}) has had no InService instance for 10 minutes."
  namespace           = "AWS/AutoScaling"
  metric_name         = "GroupInServiceInstances"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.peer[each.key].name }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 10
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}
