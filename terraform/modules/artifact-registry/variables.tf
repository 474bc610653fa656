variable "project_id" {
  description = "GCP project that owns the repository."
  type        = string
}

variable "project_number" {
  description = "Numeric project number (for the Cloud Build service agent)."
  type        = string
}

variable "region" {
  description = "Repository location."
  type        = string
  default     = "europe-west1"
}

variable "repository_id" {
  description = "Artifact Registry repository id."
  type        = string
  default     = "ct-scan-mlops"
}

variable "image_retention_days" {
  description = "Images older than this are deleted by the cleanup policy (the most recent ones are kept regardless)."
  type        = number
  default     = 90

  validation {
    condition     = var.image_retention_days >= 1
    error_message = "image_retention_days must be at least 1."
  }
}

variable "minimum_versions_to_keep" {
  description = "Most recent versions kept per image regardless of age."
  type        = number
  default     = 5
}

variable "cleanup_policy_dry_run" {
  description = "When true, cleanup policies only report what they would delete."
  type        = bool
  default     = false
}

variable "docker_readers" {
  description = "IAM members granted roles/artifactregistry.reader on the repository."
  type        = list(string)
  default     = []
}

variable "docker_writers" {
  description = "IAM members granted roles/artifactregistry.writer on the repository."
  type        = list(string)
  default     = []
}

variable "enable_cloud_build_access" {
  description = "Grant the Cloud Build service account writer access."
  type        = bool
  default     = true
}

variable "common_labels" {
  description = "Labels applied to the repository."
  type        = map(string)
  default     = {}
}
