resource "google_firestore_database" "feedback" {
  project                           = var.project_id
  name                              = var.database_id
  location_id                       = var.location_id
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = var.enable_pitr ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"

  # Removing the resource from Terraform must never drop the feedback data.
  deletion_policy = "ABANDON"
}

# TTL: Firestore deletes a feedback document some time after its expireAt passes.
resource "google_firestore_field" "feedback_ttl" {
  project    = var.project_id
  database   = google_firestore_database.feedback.name
  collection = var.feedback_collection
  field      = var.ttl_field

  ttl_config {}

  # Keep the default single-field indexes off a write-only timestamp field.
  index_config {}
}

resource "google_firestore_index" "feedback" {
  for_each = var.composite_indexes

  project     = var.project_id
  database    = google_firestore_database.feedback.name
  collection  = var.feedback_collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}
