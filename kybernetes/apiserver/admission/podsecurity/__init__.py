"""Pod Security Admission: the privileged, baseline and restricted Pod Security Standards."""
