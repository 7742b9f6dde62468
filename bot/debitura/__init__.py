"""Client of the Debitura Collection Partner API: client, models, errors, webhook signatures, rate limiter."""
