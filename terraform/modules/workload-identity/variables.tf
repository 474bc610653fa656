variable "project_id" {
  description = "GCP project that owns the pool."
  type        = string
}

variable "project_number" {
  description = "Numeric project number (the provider resource name uses it)."
  type        = string
}

variable "pool_id" {
  description = "Workload identity pool id."
  type        = string
  default     = "github-pool"
}

variable "provider_id" {
  description = "Workload identity pool provider id."
  type        = string
  default     = "github-provider"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository allowed to impersonate the service account."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "allowed_subjects" {
  description = "GitHub OIDC `sub` claims allowed to obtain tokens, without the `repo:<owner>/<name>:` prefix. Defaults: PR plans, pushes to the default branch, and jobs in the `production` environment (apply)."
  type        = list(string)
  default     = ["pull_request", "ref:refs/heads/main", "ref:refs/heads/master", "environment:production"]

  validation {
    condition     = length(var.allowed_subjects) > 0 && alltrue([for s in var.allowed_subjects : !strcontains(s, "*")])
    error_message = "allowed_subjects must be a non-empty list of exact subjects (no wildcards)."
  }
}

variable "service_account_id" {
  description = "Resource name (projects/<p>/serviceAccounts/<email>) of the SA the workflows impersonate."
  type        = string
}
