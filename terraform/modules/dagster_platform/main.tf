# Dagster's own infrastructure for running ctscan_ops on GKE: a Cloud SQL for PostgreSQL 15
# instance (private IP only, TLS required) with its database and user, the Secret Manager
# container for that user's password, the runtime service account with least-privilege grants,
# its Workload Identity binding to the Kubernetes service account, and the compute-log bucket.
#
# No secret value enters Terraform state: the password is generated and stored out of band
# (deploy/README.md: `gcloud secrets versions add`, then `gcloud sql users set-password`).

locals {
  runtime_member = "serviceAccount:${google_service_account.dagster_runtime.email}"
  ksa_member     = "serviceAccount:${var.project_id}.svc.id.goog[${var.kubernetes_namespace}/${var.kubernetes_service_account}]"
  bucket_grants = {
    for pair in flatten([
      for bucket, roles in var.runtime_bucket_roles : [
        for role in roles : { bucket = bucket, role = role }
      ]
    ]) : "${pair.bucket}/${pair.role}" => pair
  }
}

# Private services access: Cloud SQL gets an address in the VPC that GKE pods reach directly.
resource "google_compute_global_address" "private_services" {
  count = var.create_private_services_access ? 1 : 0

  project       = var.project_id
  name          = "${var.name_prefix}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = var.private_services_prefix_length
  network       = var.network_id
}

resource "google_service_networking_connection" "private_services" {
  count = var.create_private_services_access ? 1 : 0

  network                 = var.network_id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services[0].name]
}

resource "google_sql_database_instance" "dagster" {
  #checkov:skip=CKV_GCP_79:Pinned to PostgreSQL 15, the major version the instance test suite runs against (tests/deploy); upgrade both together.
  #checkov:skip=CKV_GCP_6:TLS is enforced for every connection (ssl_mode ENCRYPTED_ONLY, private IP only); client certificates would have to be distributed to every run pod the chart launches.
  project             = var.project_id
  name                = "${var.name_prefix}-postgres"
  region              = var.region
  database_version    = "POSTGRES_15"
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.sql_tier
    edition           = "ENTERPRISE"
    availability_type = var.sql_high_availability ? "REGIONAL" : "ZONAL"
    disk_type         = "PD_SSD"
    disk_size         = var.sql_disk_size_gb
    disk_autoresize   = true
    user_labels       = merge(var.common_labels, { purpose = "dagster-storage" })

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network_id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "02:00"
      backup_retention_settings {
        retained_backups = var.sql_backups_to_keep
      }
    }

    maintenance_window {
      day  = 7
      hour = 3
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    # Logging flags (CIS GCP 6.2): connections, locks, temp files; no statement text in logs,
    # since run metadata may contain values a user would not want in Cloud Logging.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "dagster" {
  project  = var.project_id
  instance = google_sql_database_instance.dagster.name
  name     = var.database_name
}

# Built-in user without a password in Terraform: the password is set out of band from the
# Secret Manager secret below, so it never appears in state or plans.
resource "google_sql_user" "dagster" {
  project  = var.project_id
  instance = google_sql_database_instance.dagster.name
  name     = var.database_user
  type     = "BUILT_IN"
}

resource "google_secret_manager_secret" "db_password" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-db-password"

  replication {
    auto {}
  }

  labels = merge(var.common_labels, { purpose = "dagster-db-password" })
}

resource "google_secret_manager_secret_iam_member" "db_password_accessor" {
  for_each = toset(var.db_password_accessors)

  project   = var.project_id
  secret_id = google_secret_manager_secret.db_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

# The identity of webserver, daemon, code server and run pods (one Kubernetes service account).
resource "google_service_account" "dagster_runtime" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-runtime"
  display_name = "Dagster runtime (ctscan_ops on GKE)"
  description  = "Workload Identity of the Dagster pods; bucket- and role-scoped grants only."
}

resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.dagster_runtime.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.ksa_member
}

# Project-level roles only where GCP has no narrower resource (Monitoring, Firestore).
resource "google_project_iam_member" "runtime" {
  for_each = toset(var.runtime_project_roles)

  project = var.project_id
  role    = each.value
  member  = local.runtime_member
}

# Bucket-level grants for the buckets ctscan_ops reads and writes (managed by other modules).
resource "google_storage_bucket_iam_member" "runtime" {
  for_each = local.bucket_grants

  bucket = each.value.bucket
  role   = each.value.role
  member = local.runtime_member
}

resource "google_storage_bucket" "compute_logs" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs cover data access.
  project                     = var.project_id
  name                        = var.compute_log_bucket_name
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.compute_log_retention_days
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

  labels = merge(var.common_labels, { purpose = "dagster-compute-logs" })
}

resource "google_storage_bucket_iam_member" "compute_logs_writer" {
  bucket = google_storage_bucket.compute_logs.name
  role   = "roles/storage.objectAdmin"
  member = local.runtime_member
}

# ctscan_ops's artifact store (reports, features, plots: CTSCAN_ARTIFACTS_BUCKET), when no
# other module manages it.
resource "google_storage_bucket" "artifacts" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs cover data access.
  count = var.artifacts_bucket_name == null ? 0 : 1

  project                     = var.project_id
  name                        = var.artifacts_bucket_name
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  labels = merge(var.common_labels, { purpose = "ctscan-artifacts" })
}

resource "google_storage_bucket_iam_member" "artifacts_writer" {
  count = var.artifacts_bucket_name == null ? 0 : 1

  bucket = google_storage_bucket.artifacts[0].name
  role   = "roles/storage.objectAdmin"
  member = local.runtime_member
}
