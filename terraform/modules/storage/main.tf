# Buckets for Terraform state, DVC, model artifacts and drift logs.
# All buckets: uniform bucket-level access, public access prevention enforced, no force_destroy.

resource "google_storage_bucket" "terraform_state" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs (data access) cover reads of the state object.
  count = var.manage_state_bucket ? 1 : 0

  project                     = var.project_id
  name                        = var.terraform_state_bucket_name
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # Only noncurrent versions age out: the live state object is never deleted by lifecycle.
  lifecycle_rule {
    condition {
      num_newer_versions = var.state_noncurrent_versions_to_keep
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.state_noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  labels = merge(var.common_labels, { purpose = "terraform-state" })

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_storage_bucket" "dvc" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs cover data access.
  project                     = var.project_id
  name                        = var.dvc_bucket_name
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.dvc_retention_days
    }
    action {
      type = "Delete"
    }
  }

  labels = merge(var.common_labels, { purpose = "dvc-storage" })
}

resource "google_storage_bucket" "models" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs cover data access.
  project                     = var.project_id
  name                        = var.models_bucket_name
  location                    = coalesce(var.models_bucket_location, var.region)
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # Superseded model versions age out; the served object itself never does.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.models_noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  labels = merge(var.common_labels, { purpose = "model-artifacts" })

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_storage_bucket" "drift_logs" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs cover data access.
  project                     = var.project_id
  name                        = var.drift_logs_bucket_name
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Versioning keeps an overwritten drift report recoverable until the age rule removes it.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.drift_logs_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  labels = merge(var.common_labels, { purpose = "drift-logs" })
}

resource "google_storage_bucket_iam_member" "dvc_admin" {
  for_each = toset(var.dvc_bucket_admins)

  bucket = google_storage_bucket.dvc.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

resource "google_storage_bucket_iam_member" "models_admin" {
  for_each = toset(var.models_bucket_admins)

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

resource "google_storage_bucket_iam_member" "models_reader" {
  for_each = toset(var.models_bucket_readers)

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = each.value
}

resource "google_storage_bucket_iam_member" "drift_logs_writer" {
  for_each = toset(var.drift_logs_writers)

  bucket = google_storage_bucket.drift_logs.name
  role   = "roles/storage.objectCreator"
  member = each.value
}
