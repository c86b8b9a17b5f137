/* test_secrets.c: SHA-256 hex digests, random tokens and constant-time comparison (mc_auth). */
#include "harness.h"
#include "mc_auth.h"

#include <string.h>

START_TEST(sha256_known_answers)
{
    char hex[65];
    ck_assert_int_eq(mc_auth_sha256_hex("", 0, hex), 0);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_int_eq(mc_auth_sha256_hex("abc", 3, hex), 0);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* Binary input: the length counts, not a terminating NUL. */
    ck_assert_int_eq(mc_auth_sha256_hex("abc\0def", 7, hex), 0);
    ck_assert_str_ne(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(random_tokens_are_prefixed_hex)
{
    char a[64], b[64];
    ck_assert_int_eq(mc_auth_random_token("mul_", a, sizeof a), 0);
    ck_assert_int_eq(mc_auth_random_token("mul_", b, sizeof b), 0);
    ck_assert_uint_eq(strlen(a), 4 + 40);
    ck_assert_int_eq(strncmp(a, "mul_", 4), 0);
    ck_assert_uint_eq(strspn(a + 4, "0123456789abcdef"), 40);
    ck_assert_str_ne(a, b);
    /* The buffer must hold the prefix, 40 characters and the NUL. */
    ck_assert_int_eq(mc_auth_random_token("mul_", a, 4 + 40), MC_EINVAL);
    ck_assert_int_eq(mc_auth_random_token("mul_", a, 4 + 41), 0);
    ck_assert_uint_eq(strlen(a), 4 + 40);
}
END_TEST

START_TEST(equal_compares_whole_strings)
{
    ck_assert(mc_auth_equal("", ""));
    ck_assert(mc_auth_equal("secret", "secret"));
    ck_assert(!mc_auth_equal("secret", "secreT"));
    ck_assert(!mc_auth_equal("secret", "secret2"));
    ck_assert(!mc_auth_equal("secret", "sec"));
    ck_assert(!mc_auth_equal("", "x"));
}
END_TEST

Suite *suite_secrets(void)
{
    Suite *s = suite_create("secrets");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, random_tokens_are_prefixed_hex);
    tcase_add_test(tc, equal_compares_whole_strings);
    suite_add_tcase(s, tc);
    return s;
}
