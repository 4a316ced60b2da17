//! Exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`).
