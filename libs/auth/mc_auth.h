/* mc_auth.h: secrets and tokens: random tokens, their stored hashes, and JWTs. */
#ifndef MC_AUTH_H
#define MC_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of data as 64 lowercase hex characters plus NUL. Returns 0 or MC_EIO. */
int mc_auth_sha256_hex(const void *data, size_t len, char out[65]);

/* A fresh random token as Multica mints them: prefix ("mul_", "mat_") followed by 40
 * lowercase hex characters (160 bits). out holds at least strlen(prefix) + 41 bytes. Returns 0,
 * MC_EINVAL when out is too small, or MC_EIO. */
int mc_auth_random_token(const char *prefix, char *out, size_t outlen);

/* Compares two strings in time independent of where they differ. */
int mc_auth_equal(const char *a, const char *b);

#endif
