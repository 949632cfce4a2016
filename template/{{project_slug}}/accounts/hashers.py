from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id with 46 MiB of memory, 2 passes and 1 lane.

    The OWASP Password Storage Cheat Sheet's first Argon2id configuration is 46 MiB, 1 pass, 1
    lane (its minimum is 19 MiB with 2 passes); this doubles the passes at the same memory. One
    lane keeps each login on one core, so concurrent logins do not compete for threads, and the
    memory bounds what an attacker's GPU can parallelise. About 80 ms per check on a 2-core server.
    The algorithm name stays "argon2", so Django's must_update() rehashes stored hashes with other
    parameters at the next successful login.
    """

    time_cost = 2
    memory_cost = 46 * 1024  # KiB
    parallelism = 1
