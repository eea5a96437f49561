"""Dynamic admission: MutatingAdmissionWebhook and ValidatingAdmissionWebhook."""
