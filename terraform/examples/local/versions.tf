terraform {
  required_version = ">= 1.3"

  # scripts/tf-local.sh points it at its state dir: -backend-config=path=<state-dir>/...
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

# Every AWS API goes to the moto server given by moto_endpoint (scripts/tf-local.sh starts one:
# tests/sandbox/moto/steadfast_moto.py, https port, self-signed certificate). Nothing here can
# reach AWS: the credentials are dummies, and the account id comes from moto's STS.
provider "aws" {
  region = "us-east-1"
  # Dummies that moto accepts; they are no secret and open nothing.
  access_key = "steadfast-local" #checkov:skip=CKV_SECRET_6:a fixed dummy credential for the local moto server, not a secret
  secret_key = "steadfast-local" #checkov:skip=CKV_SECRET_6:a fixed dummy credential for the local moto server, not a secret

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  insecure                    = true # the launcher's certificate is self-signed
  s3_use_path_style           = true # no bucket.<host> DNS names on 127.0.0.1

  endpoints {
    autoscaling   = var.moto_endpoint
    cloudwatch    = var.moto_endpoint
    dlm           = var.moto_endpoint
    ec2           = var.moto_endpoint
    elbv2         = var.moto_endpoint
    events        = var.moto_endpoint
    iam           = var.moto_endpoint
    kms           = var.moto_endpoint
    lambda        = var.moto_endpoint
    logs          = var.moto_endpoint
    route53       = var.moto_endpoint
    s3            = var.moto_endpoint
    servicequotas = var.moto_endpoint
    sns           = var.moto_endpoint
    sqs           = var.moto_endpoint
    ssm           = var.moto_endpoint
    sts           = var.moto_endpoint
  }

  default_tags {
    tags = {
      Project = "steadfast"
      Cluster = var.cluster_name
    }
  }

  # As in examples/complete: node-bootstrap writes these tags on a volume.
  ignore_tags {
    keys = ["steadfast:initialized", "steadfast:joined", "steadfast:blank"]
  }
}
