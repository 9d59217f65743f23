# Alarms: peer-dns errors and throttles, undeliverable events, a peer with no InService
# instance, fewer healthy members behind the client load balancer than peers, and a node that
# refused to bootstrap. All notify alarm_sns_topic_arn (when set) on ALARM and on OK. The
# runbook for each is in terraform/README.md ("Alarms"). With backups: a stale newest verified
# snapshot, and failed backup runs. With TLS: a certificate within 7 days of expiry, the CA
# within 90 days, failed TLS timer runs.

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  # CloudWatch periods of a minute or more are whole minutes.
  backup_alarm_period = ceil(var.backup_interval_secs / 60) * 60
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

# An InService instance is not a healthy member: EC2 health checks (deliberately, see nodes.tf)
# only see the instance, and a lifecycle hook that timed out CONTINUEs a node that never became
# ready. The client target group health-checks every member's /health, so fewer healthy targets
# than peers for 10 minutes means a member is down while its instance looks fine.
# The load balancer has cross-zone load balancing on (nlb.tf): each of its nodes health-checks
# every target, so the Minimum across them is the number of members healthy for all of them.
resource "aws_cloudwatch_metric_alarm" "client_healthy_hosts" {
  alarm_name          = "${var.cluster_name}-client-healthy-hosts"
  alarm_description   = "steadfast ${var.cluster_name}: fewer than ${var.peer_count} etcd members have passed /health behind the client load balancer for 10 minutes. Runbook: terraform/README.md, Alarms."
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { TargetGroup = aws_lb_target_group.client.arn_suffix, LoadBalancer = aws_lb.client.arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 10
  comparison_operator = "LessThanThreshold"
  threshold           = var.peer_count
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

# node-bootstrap publishes BootstrapRefused (vocab.json metrics) when it refuses to start etcd
# for a reason a new instance would only repeat (data loss detected, a foreign filesystem, the
# wrong zone). It does not ABANDON then (that would churn the peer forever): the instance is
# kept, and this alarm calls a human.
resource "aws_cloudwatch_metric_alarm" "bootstrap_refused" {
  alarm_name          = "${var.cluster_name}-bootstrap-refused"
  alarm_description   = "steadfast ${var.cluster_name}: a node refused to start etcd (data loss detected, foreign filesystem or wrong zone); it is kept, not replaced. Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.bootstrap_refused
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

# Every member publishes BackupNewestVerifiedAgeSeconds (vocab.json metrics.backup_newest_age)
# on every run of its backup timer, whoever leads, so the alarm sees backups stop whatever the
# leader does. Missing data counts as breaching: backups that quietly stopped (timers not
# running, nodes unable to read the bucket, no verified snapshot at all) publish nothing.
resource "aws_cloudwatch_metric_alarm" "backup_stale" {
  count = var.backup_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-backup-stale"
  alarm_description   = "steadfast ${var.cluster_name}: the newest verified etcd snapshot in the backup bucket is older than 3 backup intervals (${3 * var.backup_interval_secs} s), or no member reported its age. Read journalctl -u steadfast-backup on the leader; take one with sudo systemctl start steadfast-backup-now. Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.backup_newest_age
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Maximum"
  period              = local.backup_alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 3 * var.backup_interval_secs
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

# node-bootstrap counts BackupFailed (vocab.json metrics.backup_failed) whenever a backup run
# fails; the cause is in its journal.
resource "aws_cloudwatch_metric_alarm" "backup_failed" {
  count = var.backup_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-backup-failed"
  alarm_description   = "steadfast ${var.cluster_name}: a backup run failed in the last 2 backup intervals. Read journalctl -u steadfast-backup on the leader for the cause. Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.backup_failed
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Sum"
  period              = local.backup_alarm_period
  evaluation_periods  = 2
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

# The daily EBS snapshots (DLM) are the cheap layer under the S3 backups: a policy that stops
# taking them (its role, its key grant, a quota) says so through AWS/EBS's per-policy metrics.
resource "aws_cloudwatch_metric_alarm" "ebs_snapshots_failed" {
  count = var.ebs_snapshots_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-ebs-snapshots-failed"
  alarm_description   = "steadfast ${var.cluster_name}: the daily EBS snapshot policy failed to create a snapshot. Check the policy's role and its use of the cluster key (aws dlm get-lifecycle-policy). Runbook: terraform/README.md, Alarms."
  namespace           = "AWS/EBS"
  metric_name         = "SnapshotsCreateFailed"
  dimensions          = { DLMPolicyId = aws_dlm_lifecycle_policy.ebs[0].id }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

resource "aws_cloudwatch_metric_alarm" "tls_certificate_expiry" {
  count = var.tls_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-tls-certificate-expiry"
  alarm_description   = "steadfast ${var.cluster_name}: a node's certificate expires within 7 days (renewal should have replaced it at a third of its validity), or no node reported. Read journalctl -u steadfast-tls on the nodes. Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.tls_cert_days_left
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Minimum"
  period              = ceil(var.tls_check_interval_secs / 60) * 60 * 3
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 7
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

resource "aws_cloudwatch_metric_alarm" "tls_ca_expiry" {
  count = var.tls_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-tls-ca-expiry"
  alarm_description   = "steadfast ${var.cluster_name}: a trusted CA expires within 90 days. Rotate it: steadfast ca rotate (README, TLS). Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.tls_ca_days_left
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Minimum"
  period              = ceil(var.tls_check_interval_secs / 60) * 60 * 3
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 90
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}

resource "aws_cloudwatch_metric_alarm" "tls_failed" {
  count = var.tls_enabled ? 1 : 0

  alarm_name          = "${var.cluster_name}-tls-failed"
  alarm_description   = "steadfast ${var.cluster_name}: a node's TLS timer run failed (renewal or a rotation's restart) in 2 of the last 3 intervals. Read journalctl -u steadfast-tls. Runbook: terraform/README.md, Alarms."
  namespace           = local.metric_namespace
  metric_name         = local.vocab.metrics.tls_failed
  dimensions          = { (local.vocab.metrics.dimension_cluster) = var.cluster_name }
  statistic           = "Sum"
  period              = ceil(var.tls_check_interval_secs / 60) * 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.common_tags
}
