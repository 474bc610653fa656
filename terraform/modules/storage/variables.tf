variable "project_id" {
  description = "GCP project that owns the buckets."
  type        = string
}

variable "region" {
  description = "Default location for buckets."
  type        = string
  default     = "europe-west1"
}

variable "manage_state_bucket" {
  description = "Whether this environment owns the Terraform state bucket. Only prod does: the bucket is shared by all environments (one prefix each) and must be declared exactly once."
  type        = bool
  default     = false
}

variable "terraform_state_bucket_name" {
  description = "Name of the Terraform state bucket (used only when manage_state_bucket is true)."
  type        = string
  default     = null
}

variable "dvc_bucket_name" {
  description = "Name of the DVC remote bucket."
  type        = string
}

variable "models_bucket_name" {
  description = "Name of the model artifacts bucket."
  type        = string
}

variable "models_bucket_location" {
  description = "Location of the models bucket; null means var.region. Prod keeps the pre-existing US multi-region bucket."
  type        = string
  default     = null
}

variable "drift_logs_bucket_name" {
  description = "Name of the drift logs bucket."
  type        = string
}

variable "state_noncurrent_versions_to_keep" {
  description = "Noncurrent versions of each state object kept for restores."
  type        = number
  default     = 10
}

variable "state_noncurrent_retention_days" {
  description = "Days a noncurrent state version is kept."
  type        = number
  default     = 90
}

variable "dvc_retention_days" {
  description = "Age in days after which DVC objects are deleted."
  type        = number
  default     = 365
}

variable "models_noncurrent_retention_days" {
  description = "Days a superseded (noncurrent) model object is kept. Live objects are never aged out, so a model that is not rewritten keeps being served."
  type        = number
  default     = 180
}

variable "drift_logs_retention_days" {
  description = "Age in days after which drift log objects are deleted."
  type        = number
  default     = 90
}

variable "dvc_bucket_admins" {
  description = "IAM members granted roles/storage.objectAdmin on the DVC bucket."
  type        = list(string)
  default     = []
}

variable "models_bucket_admins" {
  description = "IAM members granted roles/storage.objectAdmin on the models bucket."
  type        = list(string)
  default     = []
}

variable "models_bucket_readers" {
  description = "IAM members granted roles/storage.objectViewer on the models bucket (e.g. the Cloud Run SA when the mount is read-only)."
  type        = list(string)
  default     = []
}

variable "drift_logs_writers" {
  description = "IAM members granted roles/storage.objectCreator on the drift logs bucket."
  type        = list(string)
  default     = []
}

variable "common_labels" {
  description = "Labels applied to every bucket."
  type        = map(string)
  default     = {}
}
