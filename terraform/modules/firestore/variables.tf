variable "project_id" {
  description = "GCP project that owns the database."
  type        = string
}

variable "database_id" {
  description = "Firestore database id; the application client uses \"(default)\"."
  type        = string
  default     = "(default)"
}

variable "location_id" {
  description = "Firestore location (eur3 = Europe multi-region)."
  type        = string
  default     = "eur3"
}

variable "enable_pitr" {
  description = "Enable point-in-time recovery (7 days of versions)."
  type        = bool
  default     = true
}

variable "delete_protection" {
  description = "Protect the database against deletion through the API."
  type        = bool
  default     = true
}

variable "feedback_collection" {
  description = "Collection holding feedback documents."
  type        = string
  default     = "feedback"
}

variable "ttl_field" {
  description = "Timestamp field whose value is the document's expiry time (the application writes now + 90 days)."
  type        = string
  default     = "expireAt"
}

variable "composite_indexes" {
  description = "Composite indexes on the feedback collection: name => ordered list of {field_path, order}. The defaults serve the queries the pipelines run: accuracy (is_correct) and per-class counts (predicted_class) within a timestamp window."
  type = map(list(object({
    field_path = string
    order      = string
  })))
  default = {
    feedback_by_accuracy = [
      { field_path = "is_correct", order = "ASCENDING" },
      { field_path = "timestamp", order = "DESCENDING" },
    ]
    feedback_by_class = [
      { field_path = "predicted_class", order = "ASCENDING" },
      { field_path = "timestamp", order = "DESCENDING" },
    ]
  }
}
