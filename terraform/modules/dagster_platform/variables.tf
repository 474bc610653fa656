variable "project_id" {
  description = "GCP project that hosts Dagster (the same project as the ctscan_ops resources)."
  type        = string
}

variable "region" {
  description = "Region of the Cloud SQL instance and the compute-log bucket."
  type        = string
  default     = "europe-west1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (instance, secret, service account), e.g. dagster-dev."
  type        = string
}

variable "network_id" {
  description = "VPC network (projects/P/global/networks/N) of the GKE cluster; Cloud SQL gets a private IP in it."
  type        = string
}

variable "create_private_services_access" {
  description = "Create the private services access range and peering for the network. False when the network already has one."
  type        = bool
  default     = true
}

variable "private_services_prefix_length" {
  description = "Prefix length of the range reserved for private services access."
  type        = number
  default     = 20
}

variable "sql_tier" {
  description = "Cloud SQL machine tier (Dagster's storage is light: run/event metadata)."
  type        = string
  default     = "db-custom-1-3840"
}

variable "sql_high_availability" {
  description = "REGIONAL (failover replica) instead of ZONAL availability."
  type        = bool
  default     = false
}

variable "sql_disk_size_gb" {
  description = "Initial disk size in GB (auto-resize is on)."
  type        = number
  default     = 20
}

variable "sql_backups_to_keep" {
  description = "Number of daily automated backups retained."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Protect the Cloud SQL instance against deletion by Terraform."
  type        = bool
  default     = true
}

variable "database_name" {
  description = "Database holding Dagster's runs, event log and schedules."
  type        = string
  default     = "dagster"
}

variable "database_user" {
  description = "Built-in database user of Dagster (password set out of band from Secret Manager)."
  type        = string
  default     = "dagster"
}

variable "db_password_accessors" {
  description = "IAM members granted roles/secretmanager.secretAccessor on the database password secret (e.g. the deployer group)."
  type        = list(string)
  default     = []
}

variable "kubernetes_namespace" {
  description = "Kubernetes namespace of the Dagster Helm release."
  type        = string
  default     = "dagster"
}

variable "kubernetes_service_account" {
  description = "Kubernetes service account of the Dagster pods (Helm values global.serviceAccountName)."
  type        = string
  default     = "dagster"
}

variable "runtime_project_roles" {
  description = "Project roles of the runtime service account, only where no narrower resource exists."
  type        = list(string)
  default = [
    "roles/monitoring.viewer",
    "roles/monitoring.metricWriter",
    "roles/datastore.user",
  ]

  validation {
    condition     = alltrue([for r in var.runtime_project_roles : !contains(["roles/owner", "roles/editor", "roles/storage.admin", "roles/storage.objectAdmin"], r)])
    error_message = "Grant storage per bucket (runtime_bucket_roles); owner/editor are never granted."
  }
}

variable "runtime_bucket_roles" {
  description = "Bucket name => roles of the runtime service account on that bucket (artifacts, models, drift logs, Terraform state)."
  type        = map(list(string))
  default     = {}
}

variable "compute_log_bucket_name" {
  description = "Name of the bucket receiving Dagster compute logs (stdout/stderr of every step)."
  type        = string
}

variable "compute_log_retention_days" {
  description = "Age in days after which compute logs are deleted."
  type        = number
  default     = 30
}

variable "common_labels" {
  description = "Labels applied to every labelled resource."
  type        = map(string)
  default     = {}
}

variable "artifacts_bucket_name" {
  description = "Name of ctscan_ops's artifact bucket (CTSCAN_ARTIFACTS_BUCKET) to create; null when it exists elsewhere."
  type        = string
  default     = null
}
