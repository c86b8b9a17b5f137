/* auth.c: token generation and hashing (GnuTLS for SHA-256, the kernel for randomness). */
#include "mc_auth.h"
#include "mc_common.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>

int mc_auth_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest) != 0)
        return MC_EIO;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

int mc_auth_random_token(const char *prefix, char *out, size_t outlen)
{
    size_t plen = strlen(prefix);
    if (outlen < plen + 41)
        return MC_EINVAL;
    unsigned char raw[20];
    if (mc_random_bytes(raw, sizeof raw) != 0)
        return MC_EIO;
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + plen + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int mc_auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
