# ---------------------------------------------------------------------------------------------
# Identity and placement
# ---------------------------------------------------------------------------------------------

variable "cluster_name" {
  description = "Cluster name C. It is a DNS label (the cluster domain is C.D), the etcd initial cluster token, the value of the steadfast:cluster tag, and the prefix of every resource name. Use a name that is unique in the account and region."
  type        = string

  validation {
    # A DNS label, kept short enough that "<C>-etcd-client" still fits the 32-character limit
    # of load balancer and target group names.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$", var.cluster_name))
    error_message = "The cluster_name must be a lowercase DNS label: 1-20 characters, a-z, 0-9 and '-', starting with a letter and not ending with '-'."
  }
}

variable "domain" {
  description = "Zone domain D of the private hosted zone (for example \"etcd.internal\"). Peers are named peer-N.C.D. When zone_id is given, this must be that zone's name."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.domain)) && length(var.domain) <= 200
    error_message = "The domain must be a lowercase DNS name without a trailing dot (for example \"etcd.internal\")."
  }
}

variable "zone_id" {
  description = "ID of an existing Route 53 private hosted zone for domain D. When null (the default), the module creates a private zone for D associated with vpc_id."
  type        = string
  default     = null

  validation {
    condition     = var.zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", var.zone_id))
    error_message = "The zone_id must be a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ."
  }
}

variable "vpc_id" {
  description = "VPC the cluster runs in. A created private zone is associated with it."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone, at least 3. The order is the zone index: peer N lives in subnet_ids[N % length(subnet_ids)]. Never reorder this list on a running cluster (it would move peers away from their volumes)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 3 && length(distinct(var.subnet_ids)) == length(var.subnet_ids) && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "The subnet_ids must hold at least 3 distinct subnet IDs (subnet-...), one per availability zone."
  }
}

variable "peer_count" {
  description = "Number of etcd peers P (fixed for the cluster's life: membership never changes). Odd, at least 3."
  type        = number
  default     = 9

  validation {
    condition     = var.peer_count >= 3 && var.peer_count <= 25 && floor(var.peer_count) == var.peer_count && var.peer_count % 2 == 1
    error_message = "The peer_count must be an odd whole number between 3 and 25."
  }
}

# ---------------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type of every peer. Must be a Graviton (arm64) type: node-bootstrap and etcd are installed as aarch64 binaries."
  type        = string
  default     = "m7g.large"

  validation {
    # Graviton families carry a "g" after the generation digit: t4g, m7g, c7gn, r8g, m7gd ...
    condition     = can(regex("^[a-z]+[0-9]+g[a-z]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "The instance_type must be a Graviton (arm64) type such as m7g.large, t4g.medium or c7g.xlarge."
  }
}

variable "ami_id" {
  description = "AMI of the peers, pinned: a new AMI is a reviewed change of this variable followed by a roll (each launch template gets a new version; no instance is replaced until then). Required unless ami_ssm_parameter is set. The AMI must be arm64 and have the aws CLI, curl, tar and sha256sum (Amazon Linux 2023 does); the newest AL2023 arm64 AMI: `aws ssm get-parameter --name /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 --query Parameter.Value --output text`."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must look like ami-0123456789abcdef0."
  }
}

variable "ami_ssm_parameter" {
  description = "Opt-in floating AMI, for tests: an SSM parameter holding the AMI ID (for example /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64), read at every plan when ami_id is null. Each new release then rewrites every launch template at the next apply, and any failure replacement boots it without a roll: production pins ami_id."
  type        = string
  default     = null

  validation {
    condition     = var.ami_ssm_parameter == null || can(regex("^/", var.ami_ssm_parameter))
    error_message = "The ami_ssm_parameter must be an SSM parameter path starting with '/'."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of each instance's (disposable) root volume. With backups, it must also have room for one etcd snapshot: node-bootstrap reads each snapshot back to /var/tmp/steadfast to verify it (removed at once)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 1024
    error_message = "The root_volume_size must be between 8 and 1024 GiB."
  }
}

variable "health_check_grace_period" {
  description = "Seconds the ASG ignores EC2 status checks of a new instance."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period >= 0 && var.health_check_grace_period <= 7200
    error_message = "The health_check_grace_period must be between 0 and 7200 seconds."
  }
}

variable "lifecycle_hook_heartbeat_timeout" {
  description = "Heartbeat timeout in seconds of the LAUNCHING lifecycle hook (STEADFAST_HOOK_TIMEOUT_SECS on the node). node-bootstrap records a heartbeat every third of it while it is still making progress, so this only bounds how long a HUNG node holds the peer's slot. When it runs out, the hook's default result CONTINUE applies: the instance is kept (InService), not replaced, and the target-group alarm tells you (see README, \"Lifecycle hook and deadlines\")."
  type        = number
  default     = 300

  validation {
    condition     = var.lifecycle_hook_heartbeat_timeout >= 30 && var.lifecycle_hook_heartbeat_timeout <= 7200 && floor(var.lifecycle_hook_heartbeat_timeout) == var.lifecycle_hook_heartbeat_timeout
    error_message = "The lifecycle_hook_heartbeat_timeout must be a whole number of seconds between 30 and 7200 (the AWS limits); node-bootstrap heartbeats every third of it."
  }
}

variable "prepare_deadline_secs" {
  description = "STEADFAST_PREPARE_DEADLINE_SECS: how long node-bootstrap prepare keeps retrying transient failures (attach, fencing, device, DNS) before it gives up (ABANDONing the launch when a new instance could do better). The node-bootstrap unit has no start timeout (TimeoutStartSec=infinity): prepare stops retrying at this deadline, but a tool that is modifying the filesystem (e2fsck, resize2fs, mkfs) is never interrupted."
  type        = number
  default     = 1500

  validation {
    condition     = var.prepare_deadline_secs >= 60 && var.prepare_deadline_secs <= 86400 && floor(var.prepare_deadline_secs) == var.prepare_deadline_secs
    error_message = "The prepare_deadline_secs must be a whole number between 60 and 86400."
  }
}

variable "ready_timeout_secs" {
  description = "STEADFAST_READY_TIMEOUT_SECS: how long node-bootstrap ready waits for the member to be healthy and caught up before it gives up (ABANDONing the launch when a new instance could do better). The node-ready unit's TimeoutStartSec is this plus 120 s (a systemd drop-in written by cloud-init)."
  type        = number
  default     = 600

  validation {
    condition     = var.ready_timeout_secs >= 30 && var.ready_timeout_secs <= 86400 && floor(var.ready_timeout_secs) == var.ready_timeout_secs
    error_message = "The ready_timeout_secs must be a whole number between 30 and 86400."
  }
}

variable "etcd_heartbeat_interval_ms" {
  description = "etcd's heartbeat interval in ms (STEADFAST_ETCD_HEARTBEAT_MS on the node, written to etcd as ETCD_HEARTBEAT_INTERVAL): how often the leader tells the followers it is alive. The election timeout must be at least 5 of these. See README \"etcd timing\"."
  type        = number
  default     = 100

  validation {
    condition     = var.etcd_heartbeat_interval_ms >= 10 && floor(var.etcd_heartbeat_interval_ms) == var.etcd_heartbeat_interval_ms
    error_message = "The etcd_heartbeat_interval_ms must be a whole number of milliseconds, at least 10."
  }
}

variable "etcd_election_timeout_ms" {
  description = "etcd's election timeout in ms (STEADFAST_ETCD_ELECTION_MS on the node, written to etcd as ETCD_ELECTION_TIMEOUT): how long followers go without hearing from the leader before one stands for election. When the leader dies, writes stop for about this long and up to twice it (etcd randomizes each member's timeout in [1x, 2x)). At least 5 heartbeat intervals, at most 50000 (etcd's rules). See README \"etcd timing\"."
  type        = number
  default     = 1000

  validation {
    condition     = var.etcd_election_timeout_ms <= 50000 && floor(var.etcd_election_timeout_ms) == var.etcd_election_timeout_ms
    error_message = "The etcd_election_timeout_ms must be a whole number of milliseconds, at most 50000 (etcd's limit)."
  }
}

variable "detach_grace_secs" {
  description = "STEADFAST_DETACH_GRACE_SECS for node-bootstrap: how long to wait for a volume to detach from a dead instance before force-detaching it."
  type        = number
  default     = 60

  validation {
    condition     = var.detach_grace_secs >= 0 && var.detach_grace_secs <= 900
    error_message = "The detach_grace_secs must be between 0 and 900."
  }
}

# ---------------------------------------------------------------------------------------------
# Data volumes (one per peer; the peer's identity)
# ---------------------------------------------------------------------------------------------

variable "volume_size" {
  description = "Size in GiB of each peer's data volume (mounted at /var/lib/etcd). etcd's default backend quota is 2 GiB; leave room for snapshots and WAL."
  type        = number
  default     = 50

  validation {
    condition     = var.volume_size >= 1 && var.volume_size <= 16384
    error_message = "The volume_size must be between 1 and 16384 GiB."
  }
}

variable "volume_type" {
  description = "EBS type of the data volumes. Only gp3 is supported (iops and throughput are validated against gp3's ranges)."
  type        = string
  default     = "gp3"

  validation {
    condition     = var.volume_type == "gp3"
    error_message = "Only gp3 is supported for the data volumes."
  }
}

variable "volume_iops" {
  description = "Provisioned IOPS of each gp3 data volume (3000 is included in the gp3 price)."
  type        = number
  default     = 3000

  validation {
    condition     = var.volume_iops >= 3000 && var.volume_iops <= 16000 && floor(var.volume_iops) == var.volume_iops
    error_message = "The volume_iops must be a whole number between 3000 and 16000 (gp3)."
  }
}

variable "volume_throughput" {
  description = "Provisioned throughput in MiB/s of each gp3 data volume (125 is included in the gp3 price)."
  type        = number
  default     = 125

  validation {
    condition     = var.volume_throughput >= 125 && var.volume_throughput <= 1000 && floor(var.volume_throughput) == var.volume_throughput
    error_message = "The volume_throughput must be a whole number between 125 and 1000 MiB/s (gp3)."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the data volumes, artifacts and backup buckets, Lambda environment, log group and dead-letter queue. When null (the default), the module creates one key with rotation enabled. A key you bring must allow the CloudWatch Logs and EventBridge statements the module's own key policy has (see kms.tf)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); aliases are not accepted."
  }
}

# ---------------------------------------------------------------------------------------------
# Software: etcd and node-bootstrap
# ---------------------------------------------------------------------------------------------

variable "etcd_version" {
  description = "etcd version installed on every peer (3.5.x, without the leading v)."
  type        = string
  default     = "3.5.17"

  validation {
    condition     = can(regex("^3\\.5\\.[0-9]+$", var.etcd_version))
    error_message = "The etcd_version must be a 3.5 release like 3.5.17 (no leading v): everything else in steadfast (the restore path, the flags it gives etcd) is built and tested for 3.5; 3.6 needs its own upgrade path."
  }

  validation {
    condition     = !contains(["3.5.0", "3.5.1", "3.5.2"], var.etcd_version)
    error_message = "etcd 3.5.0 to 3.5.2 can lose applied writes on a member killed under load (etcd-io/etcd#13766, fixed in 3.5.3): use 3.5.3 or later."
  }
}

variable "etcd_url" {
  description = "https:// or s3:// URL of the etcd linux-arm64 release tarball, fetched by every node at boot. Give this OR etcd_archive_path, not both. Prefer etcd_archive_path: with a URL, replacing a node depends on that server (and on a NAT for an internet URL)."
  type        = string
  default     = null

  validation {
    condition     = var.etcd_url == null || can(regex("^(https|s3)://", var.etcd_url))
    error_message = "The etcd_url must start with https:// or s3://."
  }
}

variable "etcd_sha256" {
  description = "SHA-256 (64 lowercase hex digits) of the etcd tarball. When null, the module's table of verified linux-arm64 checksums for 3.5.17-3.5.27 is used; any other version needs this set."
  type        = string
  default     = null

  validation {
    condition     = var.etcd_sha256 == null || can(regex("^[0-9a-f]{64}$", var.etcd_sha256))
    error_message = "The etcd_sha256 must be 64 lowercase hexadecimal digits."
  }
}

variable "etcd_archive_path" {
  description = "Local path of the etcd linux-arm64 release tarball (the default way to ship etcd). The module checks its SHA-256 against etcd_sha256 (or the module's table) at plan time, uploads it to the artifacts bucket under a content-addressed key (etcd/<sha256>/...), and nodes fetch it through the S3 gateway endpoint and check the SHA-256 again before installing: replacing a node never depends on the internet. Required unless etcd_url is given."
  type        = string
  default     = null

  validation {
    condition     = var.etcd_archive_path == null || fileexists(coalesce(var.etcd_archive_path, "/"))
    error_message = "The etcd_archive_path names no file: download the etcd linux-arm64 release tarball first (README: Deploying to AWS)."
  }
}

variable "node_bootstrap_path" {
  description = "Local path of the aarch64 node-bootstrap binary (make node-bootstrap-arm64 -> target/aarch64-unknown-linux-gnu/release/node-bootstrap). The module uploads it to the artifacts bucket; nodes check its SHA-256 before installing it."
  type        = string

  validation {
    condition     = fileexists(var.node_bootstrap_path)
    error_message = "The node_bootstrap_path names no file: build it first (make node-bootstrap-arm64)."
  }
}

variable "tls_enabled" {
  description = "Mutual TLS on both etcd ports (the default): https URLs, --client-cert-auth and --peer-client-cert-auth, the _etcd-server-ssl/_etcd-client-ssl SRV names. The cluster's CA is created by the first node that needs it in Secrets Manager (steadfast/<cluster>/ca, encrypted with the cluster key): its private key never enters Terraform state or user-data. Each node issues its own certificate at boot and renews it on the TLS timer. Clients need a certificate: `steadfast cert issue`. Switching it on a running cluster is not supported in place (the members' advertised URLs change): build a new cluster, or restore a backup into one. See README, TLS."
  type        = bool
  default     = true
}

variable "tls_cert_validity_days" {
  description = "Validity of the certificates each node issues itself (days). The TLS timer re-issues one when less than a third of it is left; etcd picks the new files up at the next handshake, without a restart."
  type        = number
  default     = 30

  validation {
    condition     = var.tls_cert_validity_days >= 1 && var.tls_cert_validity_days <= 397 && floor(var.tls_cert_validity_days) == var.tls_cert_validity_days
    error_message = "tls_cert_validity_days must be a whole number of days, 1 to 397."
  }
}

variable "tls_ca_validity_days" {
  description = "Validity of the cluster's CA when a node creates it (days). Rotate it with `steadfast ca rotate` well before the TlsCaDaysLeft alarm (90 days)."
  type        = number
  default     = 3650

  validation {
    condition     = var.tls_ca_validity_days >= 120 && var.tls_ca_validity_days <= 36500 && floor(var.tls_ca_validity_days) == var.tls_ca_validity_days
    error_message = "tls_ca_validity_days must be a whole number of days, 120 (more than the 90-day alarm) to 36500."
  }
}

variable "tls_check_interval_secs" {
  description = "How often each node's TLS timer runs (node-bootstrap tls): renewal, a CA rotation's restarts, the TlsCertificateDaysLeft/TlsCaDaysLeft metrics. A CA rotation phase takes about one interval plus one restart per peer."
  type        = number
  default     = 300

  validation {
    condition     = var.tls_check_interval_secs >= 60 && var.tls_check_interval_secs <= 3600
    error_message = "tls_check_interval_secs must be 60 to 3600."
  }
}

variable "placeholder_network" {
  description = "IPv4 network that seeds the peer-N A records before any node runs: peer N starts at host N + 1 of it (vocab.json placeholder.host_offset), addresses nothing answers on. peer-dns gets it as STEADFAST_PLACEHOLDER_NETWORK and moves a stale record back into it. When null, vocab.json's placeholder.default_network (192.0.2.0/24, TEST-NET-1). It must hold peer_count + 1 host addresses below its broadcast address."
  type        = string
  default     = null

  validation {
    condition     = var.placeholder_network == null || try(can(cidrnetmask(var.placeholder_network)) && cidrhost(var.placeholder_network, 0) == split("/", var.placeholder_network)[0] && tonumber(split("/", var.placeholder_network)[1]) <= 30, false)
    error_message = "The placeholder_network must be an IPv4 network in canonical CIDR form (for example 192.0.2.0/24: no host bits set), /30 or larger; it must hold peer_count + 1 host addresses."
  }
}

variable "preflight_vcpu_quota" {
  description = "At plan time, read the account's Running On-Demand Standard instances vCPU quota (Service Quotas ec2/L-1216C47A; the applying principal needs servicequotas:GetServiceQuota and GetAWSDefaultServiceQuota) and refuse when peer_count x the instance type's vCPUs exceeds it. The quota is shared with every other instance of the account in the region, so passing is necessary, not sufficient. Set false where Service Quotas cannot be read."
  type        = bool
  default     = true
}

variable "enable_session_manager" {
  description = "Give the nodes the narrow Session Manager permissions (ssmmessages channel actions and ssm:UpdateInstanceInformation on this account's instances) so that `aws ssm start-session --target i-...` works without SSH. No SSM parameter, document or command access is granted. Needs the ssm and ssmmessages VPC endpoints (or a NAT) to be reachable."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# DNS and the peer-dns Lambda
# ---------------------------------------------------------------------------------------------

variable "record_ttl" {
  description = "TTL in seconds of the peer-N A records (STEADFAST_RECORD_TTL). Keep it at 5 or less: a replaced peer is unreachable until resolvers see its new address."
  type        = number
  default     = 5

  validation {
    condition     = var.record_ttl >= 1 && var.record_ttl <= 60 && floor(var.record_ttl) == var.record_ttl
    error_message = "The record_ttl must be a whole number between 1 and 60 seconds."
  }
}

variable "dns_negative_ttl" {
  description = "How long resolvers may remember that a name of the zone does not exist (the SOA record's TTL and minimum, RFC 2308), in seconds. Route 53's default is 900 s; a client that looked up the client endpoint before its alias existed would be refused that long. Applies only to a zone the module creates (zone_id null)."
  type        = number
  default     = 60

  validation {
    condition     = var.dns_negative_ttl >= 1 && var.dns_negative_ttl <= 3600 && floor(var.dns_negative_ttl) == var.dns_negative_ttl
    error_message = "The dns_negative_ttl must be a whole number between 1 and 3600 seconds."
  }
}

variable "lambda_zip_path" {
  description = "Local path of the peer-dns deployment zip (make lambda -> target/lambda/peer-dns/bootstrap.zip)."
  type        = string

  validation {
    condition     = fileexists(var.lambda_zip_path)
    error_message = "The lambda_zip_path names no file: build it first (make lambda)."
  }
}

variable "lambda_function_name" {
  description = "Name of the peer-dns function. When null, \"<cluster_name>-peer-dns\". This is the name to give cargo lambda deploy."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_function_name == null || can(regex("^[a-zA-Z0-9_-]{1,64}$", var.lambda_function_name))
    error_message = "The lambda_function_name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "lambda_code_managed_by_terraform" {
  description = "false (default): Terraform uploads lambda_zip_path only when it creates the function; later code comes from cargo lambda deploy and apply never reverts it. true: Terraform owns the code too and every apply uploads lambda_zip_path when its hash differs from the deployed code. Configuration (role, environment, memory, timeout, architecture) is always Terraform's."
  type        = bool
  default     = false
}

variable "lambda_memory_size" {
  description = "Memory in MB of the peer-dns function."
  type        = number
  default     = 128

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "The lambda_memory_size must be between 128 and 10240 MB."
  }
}

variable "lambda_timeout" {
  description = "Timeout in seconds of the peer-dns function. Must exceed lambda_retry_deadline_ms / 1000."
  type        = number
  default     = 30

  validation {
    condition     = var.lambda_timeout >= 3 && var.lambda_timeout <= 900
    error_message = "The lambda_timeout must be between 3 and 900 seconds."
  }
}

variable "lambda_retry_deadline_ms" {
  description = "STEADFAST_RETRY_DEADLINE_MS: the function's own deadline for retrying AWS calls. Must be below the function timeout so it fails cleanly (and is retried) instead of being killed."
  type        = number
  default     = 20000

  validation {
    condition     = var.lambda_retry_deadline_ms >= 1000 && var.lambda_retry_deadline_ms <= 890000
    error_message = "The lambda_retry_deadline_ms must be between 1000 and 890000."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of peer-dns. null (the default): no reservation, so apply works in any account (a reservation fails when it would leave the account fewer than 100 unreserved executions, e.g. in new accounts whose quota is 10). Route 53 allows 5 change requests per second per account, so in an account with concurrency to spare, 5 caps concurrent writers at what Route 53 accepts and keeps peer-dns from being starved by other functions; async events beyond it wait in Lambda's queue and are retried."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || try(var.lambda_reserved_concurrency >= 1 && var.lambda_reserved_concurrency <= 100 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency, false)
    error_message = "The lambda_reserved_concurrency must be null (no reservation) or a whole number between 1 and 100."
  }
}

variable "sweep_schedule" {
  description = "EventBridge schedule expression of the periodic sweep that re-asserts every peer-N record."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule))
    error_message = "The sweep_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "log_retention_days" {
  description = "Retention of the peer-dns log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

# ---------------------------------------------------------------------------------------------
# Backups: etcd snapshots to S3 (node-bootstrap backup) and daily EBS snapshots (DLM)
# ---------------------------------------------------------------------------------------------

variable "backup_enabled" {
  description = "Create the backup bucket and give it to node-bootstrap (STEADFAST_BACKUP_BUCKET): every backup_interval_secs the leader streams a verified etcd snapshot to it, and a cluster whose every volume is lost restores the newest verified one by itself. false: no bucket, no backup units, no backup alarms; node-bootstrap then takes no backups and never restores."
  type        = bool
  default     = true
}

variable "backup_prefix" {
  description = "Key prefix of the snapshots in the backup bucket (STEADFAST_BACKUP_PREFIX): keys are <prefix><cluster>/snapshots/... Empty (the default) or ending in '/'; never starting with '/' or containing '//'."
  type        = string
  default     = ""

  validation {
    # node-bootstrap appends a missing '/', so only the forms it keeps as given are accepted:
    # the IAM policy's key scope is then exactly the node's key layout.
    condition     = var.backup_prefix == "" || can(regex("^[^/]+(/[^/]+)*/$", var.backup_prefix))
    error_message = "The backup_prefix must be empty or end in '/', and must not start with '/' or contain '//'."
  }
}

variable "backup_interval_secs" {
  description = "STEADFAST_BACKUP_INTERVAL_SECS: the nodes' backup timer interval (steadfast-backup.timer). The leader takes a snapshot unless one is younger than half of it; the backup-stale alarm fires when the newest verified snapshot is older than 3 of these."
  type        = number
  default     = 300

  validation {
    condition     = var.backup_interval_secs >= 60 && var.backup_interval_secs <= 86400 && floor(var.backup_interval_secs) == var.backup_interval_secs
    error_message = "The backup_interval_secs must be a whole number of seconds between 60 and 86400 (node-bootstrap refuses anything else)."
  }
}

variable "backup_keep_all_hours" {
  description = "STEADFAST_BACKUP_KEEP_ALL_HOURS: retention keeps every snapshot of the last this many hours..."
  type        = number
  default     = 6

  validation {
    condition     = var.backup_keep_all_hours >= 0 && floor(var.backup_keep_all_hours) == var.backup_keep_all_hours
    error_message = "The backup_keep_all_hours must be a whole number, 0 or more."
  }
}

variable "backup_keep_hourly_days" {
  description = "STEADFAST_BACKUP_KEEP_HOURLY_DAYS: ...then the newest verified snapshot of each hour for this many days..."
  type        = number
  default     = 2

  validation {
    condition     = var.backup_keep_hourly_days >= 0 && floor(var.backup_keep_hourly_days) == var.backup_keep_hourly_days
    error_message = "The backup_keep_hourly_days must be a whole number, 0 or more."
  }
}

variable "backup_keep_daily_weeks" {
  description = "STEADFAST_BACKUP_KEEP_DAILY_WEEKS: ...then the newest verified snapshot of each day for this many weeks. The newest verified snapshot is never deleted."
  type        = number
  default     = 4

  validation {
    condition     = var.backup_keep_daily_weeks >= 0 && floor(var.backup_keep_daily_weeks) == var.backup_keep_daily_weeks
    error_message = "The backup_keep_daily_weeks must be a whole number, 0 or more."
  }
}

variable "backup_noncurrent_version_days" {
  description = "Days the backup bucket keeps a snapshot version after retention (or anyone) deleted or overwrote it, before S3 expires it for good."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_noncurrent_version_days >= 1 && floor(var.backup_noncurrent_version_days) == var.backup_noncurrent_version_days
    error_message = "The backup_noncurrent_version_days must be a whole number of days, at least 1."
  }
}

variable "backup_bucket_force_destroy" {
  description = "Let terraform destroy delete the backup bucket with every snapshot in it. false (the default): backups are data, and destroy fails while the bucket holds any object version. Only for throw-away environments (examples/local sets it)."
  type        = bool
  default     = false
}

variable "ebs_snapshots_enabled" {
  description = "A Data Lifecycle Manager policy that snapshots every data volume of the cluster (tagged steadfast:cluster = C) once a day: the layer below the S3 backups."
  type        = bool
  default     = true
}

variable "ebs_snapshot_time" {
  description = "UTC start time (HH:MM) of the daily EBS snapshots; DLM starts them within an hour of it."
  type        = string
  default     = "03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.ebs_snapshot_time))
    error_message = "The ebs_snapshot_time must be a UTC time HH:MM, 00:00 to 23:59."
  }
}

variable "ebs_snapshot_retain_count" {
  description = "How many daily EBS snapshots DLM keeps of each data volume."
  type        = number
  default     = 7

  validation {
    condition     = var.ebs_snapshot_retain_count >= 1 && var.ebs_snapshot_retain_count <= 1000 && floor(var.ebs_snapshot_retain_count) == var.ebs_snapshot_retain_count
    error_message = "The ebs_snapshot_retain_count must be a whole number between 1 and 1000."
  }
}

# ---------------------------------------------------------------------------------------------
# Network access and alarms
# ---------------------------------------------------------------------------------------------

variable "allowed_client_cidr_blocks" {
  description = "CIDR blocks allowed to reach the etcd client port 2379 (on the peers and on the internal load balancer). 0.0.0.0/0 is refused. Values may be unknown until apply (for example computed from a resource created in the same apply): the rules are indexed by position, not by value."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Each allowed_client_cidr_blocks entry must be a valid IPv4 CIDR other than 0.0.0.0/0."
  }
}

variable "allowed_client_security_group_ids" {
  description = "Security groups whose members may reach the etcd client port 2379. IDs may be unknown until apply (a security group created in the same apply): the rules are indexed by position, not by value."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.allowed_client_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "Each allowed_client_security_group_ids entry must look like sg-0123456789abcdef0."
  }
}

variable "node_egress_cidr_blocks" {
  description = "Where peers may open HTTPS (443) connections besides S3 (always allowed through its prefix list): AWS API endpoints (interface VPC endpoints or a NAT) and, with etcd_url, the etcd download server. Narrow it to your VPC CIDR when every AWS API the nodes use has an interface endpoint (see examples/complete)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.node_egress_cidr_blocks) > 0 && alltrue([for c in var.node_egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "The node_egress_cidr_blocks must be a non-empty list of valid IPv4 CIDR blocks."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified by the alarms (alarm and OK). When null, the alarms are created without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "The alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource. Keys starting with \"steadfast:\" are reserved."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.tags) : !can(regex("^steadfast:", k))])
    error_message = "Tag keys starting with \"steadfast:\" are reserved for the module."
  }

  validation {
    # Instance tags are readable through IMDS (instance_metadata_tags = "enabled"), which only
    # allows these characters in keys; an instance with any other tag key fails to launch.
    condition     = alltrue([for k in keys(var.tags) : can(regex("^[a-zA-Z0-9+=._:@-]{1,128}$", k))])
    error_message = "Tag keys may only use letters, digits and + = . _ : @ - (no spaces or '/'), because instance tags are exposed in instance metadata."
  }
}

variable "kms_deletion_window_days" {
  description = "When the module's KMS key (not one given as kms_key_arn) is destroyed, AWS deletes it after this many days (7 to 30). Until then `aws kms cancel-key-deletion` brings it back; after, the volumes, EBS snapshots, backups and CA secret it encrypts are unreadable. Destroying the cluster while keeping its data: see terraform/README.md, Destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number of days, 7 to 30 (what AWS allows)."
  }
}
