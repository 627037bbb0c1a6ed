/*
 * check_webhook.c - unit tests for webhook.c: an endpoint's members
 * checked, ids, the delivery signature against an independent HMAC
 * (Python's hmac module computed the vectors), back-off and the
 * destination addresses a delivery may connect to.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <jansson.h>

#include "webhook.h"
#include "unit_run.h"

static const char	*body = "{\"id\":\"evt_1\"}";

START_TEST(signature_matches_an_independent_hmac)
{
	char	sec[71], prev[71], sig[CM_WEBHOOK_SIG_HEX], hdr[300];
	int	i;

	strcpy(sec, "whsec_");
	strcpy(prev, "whsec_");
	for (i = 0; i < 32; i++) {
		strcat(sec, "ab");
		strcat(prev, "cd");
	}
	ck_assert_int_eq(cm_webhook_sign(sec, 1700000000, body, strlen(body),
	    sig), 0);
	ck_assert_str_eq(sig, "48ce72ebc6159726b066d3e45e8c08227c941adbc1e3fc9"
	    "4bda1e30e801a109e");
	ck_assert_int_eq(cm_webhook_signature_header(sec, NULL, 1700000000,
	    body, strlen(body), hdr, sizeof(hdr)), 0);
	ck_assert_str_eq(hdr, "t=1700000000,v1=48ce72ebc6159726b066d3e45e8c08"
	    "227c941adbc1e3fc94bda1e30e801a109e");
	/* During an overlap: one more v1, made with the previous secret. */
	ck_assert_int_eq(cm_webhook_signature_header(sec, prev, 1700000000,
	    body, strlen(body), hdr, sizeof(hdr)), 0);
	ck_assert_str_eq(hdr, "t=1700000000,v1=48ce72ebc6159726b066d3e45e8c08"
	    "227c941adbc1e3fc94bda1e30e801a109e,v1=75c4af1e423ed42a1f71161ee2"
	    "d22e41cf130abdfda108ea59ef6bd6f5f8d60d");
	/* Another time, another body: another signature. */
	ck_assert_int_eq(cm_webhook_sign(sec, 1700000001, body, strlen(body),
	    hdr), 0);
	ck_assert_str_ne(hdr, sig);
	ck_assert_int_eq(cm_webhook_signature_header(sec, prev, 1, body,
	    strlen(body), hdr, 100), -1);
}
END_TEST

START_TEST(backoff_doubles_caps_and_jitters)
{
	unsigned	n;
	long long	w;

	/* r = 0: the lower half alone; r = max: the whole wait. */
	ck_assert_int_eq(cm_webhook_backoff_ms(1, 1000, 60000, 0), 500);
	ck_assert_int_eq(cm_webhook_backoff_ms(1, 1000, 60000, 500), 1000);
	ck_assert_int_eq(cm_webhook_backoff_ms(2, 1000, 60000, 0), 1000);
	ck_assert_int_eq(cm_webhook_backoff_ms(3, 1000, 60000, 0), 2000);
	ck_assert_int_eq(cm_webhook_backoff_ms(40, 1000, 60000, 0), 30000);
	for (n = 1; n < 64; n++) {
		w = cm_webhook_backoff_ms(n, 1000, 60000, 0xffffffffu);
		ck_assert_int_ge(w, 500);
		ck_assert_int_le(w, 60000);
	}
}
END_TEST

static bool
allowed(const char *text, bool private_ok)
{
	struct sockaddr_in	a4;
	struct sockaddr_in6	a6;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		return cm_webhook_addr_allowed((struct sockaddr *)&a4,
		    private_ok);
	}
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a6.sin6_addr), 1);
	a6.sin6_family = AF_INET6;
	return cm_webhook_addr_allowed((struct sockaddr *)&a6, private_ok);
}

START_TEST(addresses_a_delivery_may_reach)
{
	static const char *const inside[] = {
		"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "100.64.0.1", "::1",
		"fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"
	};
	static const char *const never[] = {
		"0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"
	};
	static const char *const outside[] = {
		"93.184.216.34", "172.32.0.1", "100.128.0.1", "11.0.0.1",
		"2606:2800:220:1::248", "::ffff:93.184.216.34"
	};
	size_t	i;

	for (i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		ck_assert_msg(!allowed(inside[i], false), "%s", inside[i]);
		ck_assert_msg(allowed(inside[i], true), "%s", inside[i]);
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		ck_assert_msg(!allowed(never[i], true), "%s", never[i]);
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		ck_assert_msg(allowed(outside[i], false), "%s", outside[i]);
}
END_TEST

START_TEST(ids_and_types)
{
	unsigned long long	n;
	char			buf[CM_WEBHOOK_ID_MAX];
	json_t			*a;

	ck_assert_int_eq(cm_webhook_id_parse("we_42", &n), 0);
	ck_assert_uint_eq(n, 42);
	cm_webhook_id(n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "we_42");
	ck_assert_int_eq(cm_webhook_id_parse("we_9999999999999999999", &n), 0);
	ck_assert_int_eq(cm_webhook_id_parse("we_18446744073709551615", &n), -1);
	ck_assert_int_eq(cm_webhook_id_parse("we_0", &n), -1);
	ck_assert_int_eq(cm_webhook_id_parse("we_01", &n), -1);
	ck_assert_int_eq(cm_webhook_id_parse("we_1x", &n), -1);
	ck_assert_int_eq(cm_webhook_id_parse("WE_1", &n), -1);
	ck_assert_int_eq(cm_webhook_id_parse("we_", &n), -1);
	ck_assert(cm_webhook_types_have("client.created,client.deleted",
	    "client.deleted"));
	ck_assert(!cm_webhook_types_have("client.created,client.deleted",
	    "client.delete"));
	ck_assert(!cm_webhook_types_have("", "client.created"));
	a = cm_webhook_types_array("client.erased,client.created");
	ck_assert_uint_eq(json_array_size(a), 2);
	ck_assert_str_eq(json_string_value(json_array_get(a, 0)),
	    "client.created");
	json_decref(a);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("webhook");
	TCase	*tc = tcase_create("webhook");

	tcase_add_test(tc, signature_matches_an_independent_hmac);
	tcase_add_test(tc, backoff_doubles_caps_and_jitters);
	tcase_add_test(tc, addresses_a_delivery_may_reach);
	tcase_add_test(tc, ids_and_types);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
