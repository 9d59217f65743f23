variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Exactly three availability zone names, in zone-index order. When null, <region>a, <region>b and <region>c."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || try(length(distinct(var.availability_zones)) == 3 && length(var.availability_zones) == 3, false)
    error_message = "The availability_zones must list exactly three distinct zone names."
  }
}

variable "cluster_name" {
  description = "Cluster name (a DNS label, at most 20 characters)."
  type        = string
  default     = "steadfast"
}

variable "domain" {
  description = "Private zone domain D; peers are peer-N.<cluster_name>.<domain>."
  type        = string
  default     = "etcd.internal"
}

variable "vpc_cidr" {
  description = "CIDR block of the example VPC."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "The vpc_cidr must be a valid IPv4 CIDR block of /20 or larger."
  }
}

variable "peer_count" {
  description = "Number of etcd peers (odd, at least 3)."
  type        = number
  default     = 9
}

variable "instance_type" {
  description = "Graviton instance type of the peers."
  type        = string
  default     = "m7g.large"
}

variable "ami_id" {
  description = "AMI of the peers (arm64, Amazon Linux 2023 or one with the aws CLI, curl, tar and sha256sum), pinned: bumping it is a reviewed change of this variable followed by a roll (terraform/scripts/roll-peers.sh). The newest AL2023 arm64 AMI: aws ssm get-parameter --name /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64 --query Parameter.Value --output text."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must look like ami-0123456789abcdef0."
  }
}

variable "etcd_archive_path" {
  description = "Local path of the etcd linux-arm64 release tarball (etcd-v<version>-linux-arm64.tar.gz). The module checks its SHA-256 and uploads it into the cluster's artifacts bucket; nodes fetch it through the S3 gateway endpoint, so no NAT or internet access is needed."
  type        = string
}

variable "etcd_version" {
  description = "etcd version of etcd_archive_path (3.5.17-3.5.27 have verified checksums in the module)."
  type        = string
  default     = "3.5.17"
}

variable "etcd_sha256" {
  description = "SHA-256 of etcd_archive_path. Leave null for 3.5.17-3.5.27 (the module has their verified checksums); any other version needs it."
  type        = string
  default     = null
}

variable "enable_session_manager" {
  description = "Give the nodes the narrow Session Manager permissions and create the ssm and ssmmessages endpoints."
  type        = bool
  default     = true
}

variable "tls_enabled" {
  description = "Mutual TLS on etcd's ports (the module's default). With it, the nodes need Secrets Manager (the cluster's CA): its VPC endpoint is created."
  type        = bool
  default     = true
}

variable "node_bootstrap_path" {
  description = "Path of the aarch64 node-bootstrap binary. When null, the repository's build output target/aarch64-unknown-linux-gnu/release/node-bootstrap."
  type        = string
  default     = null
}

variable "lambda_zip_path" {
  description = "Path of the peer-dns zip. When null, the repository's build output target/lambda/peer-dns/bootstrap.zip."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic (the subscription must be confirmed from the e-mail)."
  type        = string
  default     = null
}
