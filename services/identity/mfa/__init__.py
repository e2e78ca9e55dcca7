"""TOTP enrollment and recovery codes, and the code checks sign-in makes."""
