"""Pure coaching logic: scoring, recommendations, account names. No I/O here."""
