terraform {
  # terraform_data (the deployment's identity, the settings tripwire) needs Terraform >= 1.4.
  # The repository's checks run Terraform 1.11 (fmt, validate, plan and apply against moto).
  required_version = ">= 1.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}
