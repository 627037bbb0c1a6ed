/* check_auth.c - unit tests for auth.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "random.h"
#include "keys.h"
#include "http.h"
#include "unit_run.h"

/* s is exactly n lowercase hex digits. */
static int
is_lower_hex(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

START_TEST(random_bytes)
{
	unsigned char	 a[1000], b[1000], zero[1000];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	/* More than 256 bytes: getrandom() may return them in pieces. */
	ck_assert_int_eq(cm_random_bytes(a, sizeof(a)), 0);
	ck_assert_int_eq(cm_random_bytes(b, sizeof(b)), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert(memcmp(a, zero, sizeof(a)) != 0);
	ck_assert_int_eq(cm_random_bytes(a, 0), 0);
}
END_TEST

START_TEST(client_keys)
{
	char	 pk[CM_CLIENT_KEY_LEN + 1], pk2[CM_CLIENT_KEY_LEN + 1];
	char	 sk[CM_CLIENT_KEY_LEN + 1];

	ck_assert_int_eq(cm_client_key("pk_", pk), 0);
	ck_assert_int_eq(cm_client_key("pk_", pk2), 0);
	ck_assert_int_eq(cm_client_key("sk_", sk), 0);

	ck_assert_uint_eq(strlen(pk), CM_CLIENT_KEY_LEN);
	ck_assert_uint_eq(strlen(sk), CM_CLIENT_KEY_LEN);
	ck_assert(strncmp(pk, "pk_", 3) == 0);
	ck_assert(strncmp(sk, "sk_", 3) == 0);
	ck_assert_msg(is_lower_hex(pk + 3, 32), "%s", pk);
	ck_assert_msg(is_lower_hex(sk + 3, 32), "%s", sk);
	ck_assert_str_ne(pk, pk2);
	ck_assert_str_ne(pk + 3, sk + 3);
}
END_TEST

START_TEST(client_key_bad_prefix)
{
	char	 out[CM_CLIENT_KEY_LEN + 1];

	errno = 0;
	ck_assert_int_eq(cm_client_key("ak_", out), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(cm_client_key("pk", out), -1);
	ck_assert_int_eq(cm_client_key("pk_x", out), -1);
	ck_assert_int_eq(cm_client_key(NULL, out), -1);
}
END_TEST

START_TEST(admin_keys)
{
	char	 a[CM_ADMIN_KEY_LEN + 1], b[CM_ADMIN_KEY_LEN + 1];

	ck_assert_int_eq(cm_admin_key(a), 0);
	ck_assert_int_eq(cm_admin_key(b), 0);
	ck_assert_uint_eq(strlen(a), CM_ADMIN_KEY_LEN);
	ck_assert(strncmp(a, "ak_", 3) == 0);
	ck_assert_msg(is_lower_hex(a + 3, 64), "%s", a);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(sha256_vectors)
{
	char	 out[CM_SHA256_HEX_LEN + 1];

	/* FIPS 180-2, appendix B.1, and the empty message. */
	ck_assert_int_eq(cm_sha256_hex("abc", 3, out), 0);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(cm_sha256_hex("", 0, out), 0);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(cm_sha256_hex("abcdbcdecdefdefgefghfghighijhijk"
	    "ijkljklmklmnlmnomnopnopq", 56, out), 0);
	ck_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	ck_assert_uint_eq(strlen(out), CM_SHA256_HEX_LEN);
}
END_TEST

static const struct {
	const char	*header;
	const char	*token;	/* NULL: not a Bearer credential */
} bearer[] = {
	{ "Bearer abc", "abc" },
	{ "bearer abc", "abc" },
	{ "BEARER abc", "abc" },
	{ "BeArEr abc", "abc" },
	{ "Bearer   ak_0123456789abcdef", "ak_0123456789abcdef" },
	{ "Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==" },
	{ "Bearer !\"#$%&'()*,:;<>?@[\\]^`{|}", "!\"#$%&'()*,:;<>?@[\\]^`{|}" },
	{ "Basic xxx", NULL },
	{ "Basic Bearer abc", NULL },
	{ "Bearer", NULL },
	{ "Bearer ", NULL },
	{ "Bearer    ", NULL },
	{ "Bearer a b", NULL },
	{ "Bearer abc ", NULL },
	{ "Bearer\tabc", NULL },
	{ "Bearer abc\t", NULL },
	{ "Bearerabc", NULL },
	{ " Bearer abc", NULL },
	{ "Bearer ab\x01" "c", NULL },
	{ "Bearer ab\x7f" "c", NULL },
	{ "Bearer ab\xc3\xa9", NULL },
	{ "Bear abc", NULL },
	{ "", NULL },
};

START_TEST(bearer_tokens)
{
	const char	*tok = (const char *)1;
	size_t		 n;

	n = cm_bearer_token(bearer[_i].header, &tok);
	if (bearer[_i].token == NULL) {
		ck_assert_msg(n == 0, "\"%s\" accepted", bearer[_i].header);
		ck_assert_ptr_null(tok);
		return;
	}
	ck_assert_msg(n == strlen(bearer[_i].token), "\"%s\": length %zu",
	    bearer[_i].header, n);
	ck_assert_ptr_nonnull(tok);
	ck_assert(strncmp(tok, bearer[_i].token, n) == 0);
	/* tok points into the header, at the end of it. */
	ck_assert(tok + n == bearer[_i].header + strlen(bearer[_i].header));
}
END_TEST

START_TEST(bearer_null)
{
	const char	*tok;

	ck_assert_uint_eq(cm_bearer_token(NULL, &tok), 0);
	ck_assert_uint_eq(cm_bearer_token("Bearer abc", NULL), 3);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("auth");

	tc = tcase_create("keys");
	tcase_add_test(tc, random_bytes);
	tcase_add_test(tc, client_keys);
	tcase_add_test(tc, client_key_bad_prefix);
	tcase_add_test(tc, admin_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("sha256");
	tcase_add_test(tc, sha256_vectors);
	suite_add_tcase(s, tc);

	tc = tcase_create("bearer");
	tcase_add_loop_test(tc, bearer_tokens, 0,
	    (int)(sizeof(bearer) / sizeof(bearer[0])));
	tcase_add_test(tc, bearer_null);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return unit_run(auth_suite());
}
