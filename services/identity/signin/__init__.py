"""Sign-in: the password step, the MFA step, refresh and sign-out."""
