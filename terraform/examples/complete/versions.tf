terraform {
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "steadfast"
      Cluster = var.cluster_name
    }
  }

  # node-bootstrap writes steadfast:initialized on a data volume once it has formatted it.
  # The module already ignores it on the volumes; this keeps it out of every other diff too.
  ignore_tags {
    keys = ["steadfast:initialized"]
  }
}
