variable "project_id" {
  description = "GCP project that runs the service."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
  default     = "europe-west1"
}

variable "service_name" {
  description = "Cloud Run service name."
  type        = string
  default     = "ct-scan-api"
}

variable "container_image" {
  description = "Initial container image. Later image changes come from the deploy workflow and are ignored here."
  type        = string
}

variable "service_account_email" {
  description = "Service account the revisions run as."
  type        = string
}

variable "cpu_limit" {
  description = "CPU limit per instance (e.g. 1000m or 2)."
  type        = string
  default     = "2000m"
}

variable "memory_limit" {
  description = "Memory limit per instance (e.g. 4Gi)."
  type        = string
  default     = "4Gi"
}

variable "environment_variables" {
  description = "Plain environment variables. Never put secrets here: use secret_environment_variables."
  type        = map(string)
  default     = {}
}

variable "secret_environment_variables" {
  description = "Environment variables read from Secret Manager: name => {secret_name, version}."
  type = map(object({
    secret_name = string
    version     = string
  }))
  default = {}
}

variable "gcs_volume_mount" {
  description = "Optional GCS FUSE volume: {name, bucket, mount_path, read_only}."
  type = object({
    name       = string
    bucket     = string
    mount_path = string
    read_only  = bool
  })
  default = null
}

variable "min_instances" {
  description = "Minimum instance count (0 allows scale to zero)."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Maximum instance count."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1
    error_message = "max_instances must be at least 1."
  }
}

variable "concurrency" {
  description = "Maximum concurrent requests per instance."
  type        = number
  default     = 80
}

variable "cpu_idle" {
  description = "Throttle CPU outside requests (request-based billing)."
  type        = bool
  default     = true
}

variable "startup_cpu_boost" {
  description = "Extra CPU during startup (model loading)."
  type        = bool
  default     = true
}

variable "timeout_seconds" {
  description = "Request timeout in seconds."
  type        = number
  default     = 300
}

variable "allow_public_access" {
  description = "Grant allUsers roles/run.invoker (the API is public)."
  type        = bool
  default     = true
}

variable "common_labels" {
  description = "Labels applied to the service."
  type        = map(string)
  default     = {}
}
