/*
 * check_validate.c - the member rules of the client object (lib/domain/validate.c) and
 * the time zone name set (lib/domain/tzdb.c), at their boundaries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tzdb.h"
#include "validate.h"
#include "unit_run.h"

#define TZDATA	"/usr/share/zoneinfo/tzdata.zi"

typedef const struct cm_verdict *(*checker)(const char *, size_t);

/* Returns the verdict code, or "ok". */
static const char *
verdict(checker fn, const char *s, size_t len)
{
	const struct cm_verdict	*v = fn(s, len);

	if (v == NULL)
		return "ok";
	ck_assert_ptr_nonnull(v->message);
	return v->code;
}

#define IS(fn, lit, want) \
	ck_assert_msg(strcmp(verdict(fn, (lit), strlen(lit)), (want)) == 0, \
	    "%s(\"%s\") = %s, want %s", #fn, (lit), \
	    verdict(fn, (lit), strlen(lit)), (want))

/* pre + n copies of unit + post, in a new buffer (caller frees). */
static char *
rep(const char *pre, const char *unit, size_t n, const char *post)
{
	size_t	 ulen = strlen(unit), plen = strlen(pre), i;
	char	*s, *p;

	s = malloc(plen + ulen * n + strlen(post) + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, pre, plen);
	p = s + plen;
	for (i = 0; i < n; i++, p += ulen)
		memcpy(p, unit, ulen);
	strcpy(p, post);
	return s;
}

/* Like IS, for a built string that is freed. */
static void
is_rep(checker fn, const char *name, char *s, const char *want)
{
	const char	*got = verdict(fn, s, strlen(s));

	ck_assert_msg(strcmp(got, want) == 0, "%s(%zu bytes) = %s, want %s",
	    name, strlen(s), got, want);
	free(s);
}

START_TEST(test_utf8_codepoints)
{
	ck_assert_uint_eq(cm_utf8_codepoints("", 0), 0);
	ck_assert_uint_eq(cm_utf8_codepoints("abc", 3), 3);
	/* a, e-acute (2), euro (3), grinning face (4) */
	ck_assert_uint_eq(cm_utf8_codepoints("a\xc3\xa9\xe2\x82\xac"
	    "\xf0\x9f\x98\x80", 10), 4);
}
END_TEST

START_TEST(test_trim_spaces)
{
	const char	*s;
	size_t		 len;

	s = "  a b  ";
	len = strlen(s);
	cm_trim_spaces(&s, &len);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(s, "a b", 3), 0);

	s = "    ";
	len = strlen(s);
	cm_trim_spaces(&s, &len);
	ck_assert_uint_eq(len, 0);

	/* Only U+0020: tabs and NBSP stay. */
	s = "\ta\xc2\xa0";
	len = strlen(s);
	cm_trim_spaces(&s, &len);
	ck_assert_uint_eq(len, 4);

	s = "";
	len = 0;
	cm_trim_spaces(&s, &len);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_token)
{
	IS(cm_check_token, "a", "ok");
	IS(cm_check_token, "Client_01-x", "ok");
	IS(cm_check_token, "-_", "ok");
	IS(cm_check_token, "", "invalid_format");
	IS(cm_check_token, "a b", "invalid_format");
	IS(cm_check_token, "a.b", "invalid_format");
	IS(cm_check_token, "a/b", "invalid_format");
	IS(cm_check_token, "../x", "invalid_format");
	IS(cm_check_token, "caf\xc3\xa9", "invalid_format");
	IS(cm_check_token, "a%20", "invalid_format");
	ck_assert_str_eq(verdict(cm_check_token, "a\0b", 3), "invalid_format");
	is_rep(cm_check_token, "token", rep("", "a", 255, ""), "ok");
	is_rep(cm_check_token, "token", rep("", "a", 256, ""),
	    "invalid_format");
}
END_TEST

START_TEST(test_name)
{
	IS(cm_check_name, "A", "ok");
	IS(cm_check_name, "Acme Corp.", "ok");
	IS(cm_check_name, "\xc3\x86r\xc3\xb8 \xe2\x82\xac", "ok");
	IS(cm_check_name, "no\xc2\xa0" "break", "ok");	/* NBSP is no control */
	IS(cm_check_name, "", "invalid_length");
	IS(cm_check_name, "a\tb", "invalid_characters");
	IS(cm_check_name, "a\nb", "invalid_characters");
	IS(cm_check_name, "\x1f", "invalid_characters");
	IS(cm_check_name, "a\x7f", "invalid_characters");
	IS(cm_check_name, "a\xc2\x80", "invalid_characters");	/* U+0080 */
	IS(cm_check_name, "\xc2\x85" "b", "invalid_characters");	/* NEL */
	IS(cm_check_name, "a\xc2\x9f", "invalid_characters");	/* U+009F */
	IS(cm_check_name, "a\xc2\xa1", "ok");			/* U+00A1 */
	ck_assert_str_eq(verdict(cm_check_name, "a\0b", 3),
	    "invalid_characters");

	is_rep(cm_check_name, "name", rep("", "x", 255, ""), "ok");
	is_rep(cm_check_name, "name", rep("", "x", 256, ""), "invalid_length");
	/* Code points, not bytes. */
	is_rep(cm_check_name, "name", rep("", "\xc3\xa9", 255, ""), "ok");
	is_rep(cm_check_name, "name", rep("", "\xc3\xa9", 256, ""),
	    "invalid_length");
	is_rep(cm_check_name, "name", rep("", "\xe2\x82\xac", 255, ""), "ok");
	is_rep(cm_check_name, "name", rep("", "\xe2\x82\xac", 256, ""),
	    "invalid_length");
	is_rep(cm_check_name, "name", rep("", "\xf0\x9f\x98\x80", 255, ""),
	    "ok");
	is_rep(cm_check_name, "name", rep("", "\xf0\x9f\x98\x80", 256, ""),
	    "invalid_length");
	is_rep(cm_check_name, "name", rep("a", "\xf0\x9f\x98\x80", 254, ""),
	    "ok");
}
END_TEST

START_TEST(test_domain)
{
	IS(cm_check_domain, "example.com", "ok");
	IS(cm_check_domain, "a.b", "ok");
	IS(cm_check_domain, "sub-1.example.co.uk", "ok");
	IS(cm_check_domain, "xn--bcher-kva.example", "ok");
	IS(cm_check_domain, "123.com", "ok");
	IS(cm_check_domain, "a.1b", "ok");
	IS(cm_check_domain, "a.b2", "ok");
	IS(cm_check_domain, "", "invalid_domain");
	IS(cm_check_domain, "com", "invalid_domain");
	IS(cm_check_domain, "localhost", "invalid_domain");
	IS(cm_check_domain, "example.com.", "invalid_domain");
	IS(cm_check_domain, ".example.com", "invalid_domain");
	IS(cm_check_domain, "a..com", "invalid_domain");
	IS(cm_check_domain, "exa_mple.com", "invalid_domain");
	IS(cm_check_domain, "-a.com", "invalid_domain");
	IS(cm_check_domain, "a-.com", "invalid_domain");
	IS(cm_check_domain, "a.-com", "invalid_domain");
	IS(cm_check_domain, "a.com-", "invalid_domain");
	IS(cm_check_domain, "http://example.com", "invalid_domain");
	IS(cm_check_domain, "example.com:80", "invalid_domain");
	IS(cm_check_domain, "example.com/x", "invalid_domain");
	IS(cm_check_domain, "1.2.3.4", "invalid_domain");
	IS(cm_check_domain, "example.123", "invalid_domain");
	IS(cm_check_domain, "ex ample.com", "invalid_domain");
	IS(cm_check_domain, "b\xc3\xbc" "cher.de", "invalid_domain");
	IS(cm_check_domain, "user@example.com", "invalid_domain");
	/* The caller lowercases: the checker sees only the stored form. */
	IS(cm_check_domain, "Example.com", "invalid_domain");

	/* Labels: 63 ok, 64 not. */
	is_rep(cm_check_domain, "domain", rep("", "a", 63, ".com"), "ok");
	is_rep(cm_check_domain, "domain", rep("", "a", 64, ".com"),
	    "invalid_domain");
	is_rep(cm_check_domain, "domain", rep("x.", "a", 63, ""), "ok");
	is_rep(cm_check_domain, "domain", rep("x.", "a", 64, ""),
	    "invalid_domain");
	/* 3 x (63 + '.') = 192, + 61 = 253; + 62 = 254. */
	is_rep(cm_check_domain, "domain", rep("", "aaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 3,
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
	    "ok");
	is_rep(cm_check_domain, "domain", rep("", "aaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 3,
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
	    "invalid_domain");
	/* 126 x "a." + "bc" = 254 with short labels. */
	is_rep(cm_check_domain, "domain", rep("", "a.", 126, "b"), "ok");
	is_rep(cm_check_domain, "domain", rep("", "a.", 126, "bc"),
	    "invalid_domain");
}
END_TEST

START_TEST(test_email)
{
	IS(cm_check_email, "a@b.co", "ok");
	IS(cm_check_email, "first.last+tag@sub.example.com", "ok");
	IS(cm_check_email, "!#$%&'*+/=?^_`{|}~-@example.com", "ok");
	IS(cm_check_email, "A@EXAMPLE.COM", "ok");
	IS(cm_check_email, ".a..b.@example.com", "ok");	/* WHATWG allows */
	IS(cm_check_email, "a@1.2", "ok");
	IS(cm_check_email, "a@x-y.example", "ok");
	IS(cm_check_email, "", "invalid_email");
	IS(cm_check_email, "a", "invalid_email");
	IS(cm_check_email, "@b.co", "invalid_email");
	IS(cm_check_email, "a@", "invalid_email");
	IS(cm_check_email, "a@b", "invalid_email");	/* no dot */
	IS(cm_check_email, "a@localhost", "invalid_email");
	IS(cm_check_email, "a@@b.co", "invalid_email");
	IS(cm_check_email, "a@b@c.co", "invalid_email");
	IS(cm_check_email, "a@b..co", "invalid_email");
	IS(cm_check_email, "a@.b.co", "invalid_email");
	IS(cm_check_email, "a@b.co.", "invalid_email");
	IS(cm_check_email, "a@-b.co", "invalid_email");
	IS(cm_check_email, "a@b-.co", "invalid_email");
	IS(cm_check_email, "a@b_c.co", "invalid_email");
	IS(cm_check_email, "a b@c.co", "invalid_email");
	IS(cm_check_email, " a@b.co", "invalid_email");
	IS(cm_check_email, "\"a\"@b.co", "invalid_email");
	IS(cm_check_email, "a(b)@c.co", "invalid_email");
	IS(cm_check_email, "\xc3\xa9@b.co", "invalid_email");
	IS(cm_check_email, "a@\xc3\xa9.co", "invalid_email");
	IS(cm_check_email, "a@[1.2.3.4]", "invalid_email");
	IS(cm_check_email, "a@b.co\n", "invalid_email");

	/* Local part: 64 ok, 65 not. */
	is_rep(cm_check_email, "email", rep("", "l", 64, "@b.co"), "ok");
	is_rep(cm_check_email, "email", rep("", "l", 65, "@b.co"),
	    "invalid_email");
	/* Domain labels: 63 ok, 64 not. */
	is_rep(cm_check_email, "email", rep("a@", "d", 63, ".co"), "ok");
	is_rep(cm_check_email, "email", rep("a@", "d", 64, ".co"),
	    "invalid_email");
	/* Total: 64 + 1 + (63 + 1 + 63 + 1 + 61) = 254 ok; 255 not. */
	is_rep(cm_check_email, "email", rep("", "l", 64,
	    "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    ".ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"),
	    "ok");
	is_rep(cm_check_email, "email", rep("", "l", 64,
	    "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    ".cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"),
	    "invalid_email");
}
END_TEST

START_TEST(test_phone)
{
	IS(cm_check_phone, "+1-555-0123", "ok");
	IS(cm_check_phone, "+1 (555) 012-3456", "ok");
	IS(cm_check_phone, "+15550123456", "ok");
	IS(cm_check_phone, "+44 20 7946 0958", "ok");
	IS(cm_check_phone, "+1.555.012.3456", "ok");
	IS(cm_check_phone, "+1(555)0123456", "ok");
	IS(cm_check_phone, "+1 (555)-012.3456", "ok");
	IS(cm_check_phone, "+44 (0) 20 7946 0958", "ok");
	/* 7 digits ok, 6 not; 15 ok, 16 not, separators not counted. */
	IS(cm_check_phone, "+1234567", "ok");
	IS(cm_check_phone, "+1 2 3 4 5 6 7", "ok");
	IS(cm_check_phone, "+123456", "invalid_phone");
	IS(cm_check_phone, "+1-23-456", "invalid_phone");
	IS(cm_check_phone, "+123456789012345", "ok");
	IS(cm_check_phone, "+1 (234) 567-890-12345", "ok");
	IS(cm_check_phone, "+1234567890123456", "invalid_phone");
	IS(cm_check_phone, "+1 (234) 567-890-123456", "invalid_phone");

	IS(cm_check_phone, "", "invalid_phone");
	IS(cm_check_phone, "+", "invalid_phone");
	IS(cm_check_phone, "+0123456789", "invalid_phone");
	IS(cm_check_phone, "++15550123", "invalid_phone");
	IS(cm_check_phone, "15550123456", "invalid_phone");
	IS(cm_check_phone, "+1--555-0123", "invalid_phone");
	IS(cm_check_phone, "+1  5550123", "invalid_phone");
	IS(cm_check_phone, "+1 -5550123", "invalid_phone");
	IS(cm_check_phone, "+1 555", "invalid_phone");
	IS(cm_check_phone, "+ 15550123", "invalid_phone");
	IS(cm_check_phone, "+(1) 5550123", "invalid_phone");
	IS(cm_check_phone, "+1-555-0123-", "invalid_phone");
	IS(cm_check_phone, "+1-555-0123 ", "invalid_phone");
	IS(cm_check_phone, "+1 (555 012-3456", "invalid_phone");
	IS(cm_check_phone, "+1 555) 012-3456", "invalid_phone");
	IS(cm_check_phone, "+1 (555) (012) 3456", "invalid_phone");
	IS(cm_check_phone, "+1 ((555)) 0123", "invalid_phone");
	IS(cm_check_phone, "+1 () 5550123", "invalid_phone");
	IS(cm_check_phone, "+1 ( 555) 0123", "invalid_phone");
	IS(cm_check_phone, "+1 (555 ) 0123", "invalid_phone");
	IS(cm_check_phone, "+1 (55-5) 0123", "invalid_phone");
	IS(cm_check_phone, "+1/555/0123", "invalid_phone");
	IS(cm_check_phone, "+1 555 0123 x12", "invalid_phone");
	IS(cm_check_phone, "+1\t5550123", "invalid_phone");
	IS(cm_check_phone, "+1555012\xd9\xa3", "invalid_phone");
}
END_TEST

START_TEST(test_website)
{
	IS(cm_check_website, "http://example.com", "ok");
	IS(cm_check_website, "https://example.com/", "ok");
	IS(cm_check_website, "HTTPS://Example.com/Path?q=1&r=a%20b#frag", "ok");
	IS(cm_check_website, "hTtP://a", "ok");
	IS(cm_check_website, "http://localhost:8080/x", "ok");
	IS(cm_check_website, "http://example.com:65535", "ok");
	IS(cm_check_website, "http://[::1]:8080/", "ok");
	IS(cm_check_website, "http://[2001:db8::ffff:192.0.2.1]", "ok");
	IS(cm_check_website, "http://1.2.3.4/", "ok");
	IS(cm_check_website, "https://example.com?x", "ok");
	IS(cm_check_website, "https://example.com#x", "ok");
	IS(cm_check_website, "https://b\xc3\xbc" "cher.de/\xe2\x82\xac", "ok");
	IS(cm_check_website, "https://ex-ample.co.uk/a/(b)/c;d=e", "ok");

	IS(cm_check_website, "", "invalid_url");
	IS(cm_check_website, "example.com", "invalid_url");
	IS(cm_check_website, "www.example.com/x", "invalid_url");
	IS(cm_check_website, "//example.com", "invalid_url");
	IS(cm_check_website, "ftp://example.com", "invalid_url");
	IS(cm_check_website, "javascript:alert(1)", "invalid_url");
	IS(cm_check_website, "mailto:a@b.co", "invalid_url");
	IS(cm_check_website, "http:example.com", "invalid_url");
	IS(cm_check_website, "http:/example.com", "invalid_url");
	IS(cm_check_website, "http://", "invalid_url");
	IS(cm_check_website, "https:///path", "invalid_url");
	IS(cm_check_website, "http://?q", "invalid_url");
	IS(cm_check_website, " http://example.com", "invalid_url");
	IS(cm_check_website, "http://example.com ", "invalid_url");
	IS(cm_check_website, "http://exa mple.com", "invalid_url");
	IS(cm_check_website, "http://example.com/a b", "invalid_url");
	IS(cm_check_website, "http://example.com/\t", "invalid_url");
	IS(cm_check_website, "http://example.com/\x7f", "invalid_url");
	IS(cm_check_website, "http://example.com/\xc2\x85", "invalid_url");
	IS(cm_check_website, "http://example.com/\xc2\xa0", "invalid_url");
	IS(cm_check_website, "http://example.com/\xe2\x80\x80", "invalid_url");
	IS(cm_check_website, "http://example.com/\xe2\x80\xa8", "invalid_url");
	IS(cm_check_website, "http://example.com/\xe3\x80\x80", "invalid_url");
	IS(cm_check_website, "http://example.com/\xef\xbb\xbf", "invalid_url");
	IS(cm_check_website, "http://user:pw@example.com/", "invalid_url");
	IS(cm_check_website, "http://example.com\\@evil.com", "invalid_url");
	IS(cm_check_website, "http://ex<ample.com", "invalid_url");
	IS(cm_check_website, "http://example.com/\"x\"", "invalid_url");
	IS(cm_check_website, "http://example.com:", "invalid_url");
	IS(cm_check_website, "http://example.com:/", "invalid_url");
	IS(cm_check_website, "http://example.com:65536", "invalid_url");
	IS(cm_check_website, "http://example.com:080000", "invalid_url");
	IS(cm_check_website, "http://example.com:80a", "invalid_url");
	IS(cm_check_website, "http://:80", "invalid_url");
	IS(cm_check_website, "http://[::1", "invalid_url");
	IS(cm_check_website, "http://[]", "invalid_url");
	IS(cm_check_website, "http://[zz::]/", "invalid_url");
	IS(cm_check_website, "http://[1.2.3.4]/", "invalid_url");
	IS(cm_check_website, "http://[::1]x", "invalid_url");

	/* 2048 bytes ok, 2049 not: "https://a.co/" is 13 bytes. */
	is_rep(cm_check_website, "website", rep("https://a.co/", "p", 2035, ""),
	    "ok");
	is_rep(cm_check_website, "website", rep("https://a.co/", "p", 2036, ""),
	    "invalid_url");
}
END_TEST

START_TEST(test_global_name)
{
	static const char *const reserved[] = {
		"await", "break", "case", "catch", "class", "const",
		"continue", "debugger", "default", "delete", "do", "else",
		"enum", "export", "extends", "false", "finally", "for",
		"function", "if", "implements", "import", "in", "instanceof",
		"interface", "let", "new", "null", "package", "private",
		"protected", "public", "return", "static", "super", "switch",
		"this", "throw", "true", "try", "typeof", "var", "void",
		"while", "with", "yield", "arguments", "eval",
	};
	size_t	 i;

	IS(cm_check_global_name, "myAnalytics", "ok");
	IS(cm_check_global_name, "_", "ok");
	IS(cm_check_global_name, "$", "ok");
	IS(cm_check_global_name, "$jq_1", "ok");
	IS(cm_check_global_name, "Z9", "ok");
	/* Not reserved: case matters, contextual keywords, globals. */
	IS(cm_check_global_name, "Class", "ok");
	IS(cm_check_global_name, "NULL", "ok");
	IS(cm_check_global_name, "classes", "ok");
	IS(cm_check_global_name, "async", "ok");
	IS(cm_check_global_name, "of", "ok");
	IS(cm_check_global_name, "undefined", "ok");
	IS(cm_check_global_name, "abstract", "ok");

	IS(cm_check_global_name, "", "invalid_format");
	IS(cm_check_global_name, "1abc", "invalid_format");
	IS(cm_check_global_name, "a-b", "invalid_format");
	IS(cm_check_global_name, "a b", "invalid_format");
	IS(cm_check_global_name, "a.b", "invalid_format");
	IS(cm_check_global_name, "caf\xc3\xa9", "invalid_format");
	is_rep(cm_check_global_name, "global_name", rep("A", "b", 254, ""),
	    "ok");
	is_rep(cm_check_global_name, "global_name", rep("A", "b", 255, ""),
	    "invalid_format");

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		IS(cm_check_global_name, reserved[i], "reserved_word");
		ck_assert(cm_js_reserved_word(reserved[i],
		    strlen(reserved[i])));
	}
	ck_assert(!cm_js_reserved_word("classx", 6));
	ck_assert(!cm_js_reserved_word("clas", 4));
	ck_assert(!cm_js_reserved_word("", 0));
	/* Counted, not NUL-terminated. */
	ck_assert(cm_js_reserved_word("newer", 3));
}
END_TEST

START_TEST(test_proxy_api_key)
{
	IS(cm_check_proxy_api_key, "k", "ok");
	IS(cm_check_proxy_api_key, "!~", "ok");
	IS(cm_check_proxy_api_key, "sk-live_ABC.123:/+=", "ok");
	IS(cm_check_proxy_api_key, "", "invalid_format");
	IS(cm_check_proxy_api_key, "a b", "invalid_format");
	IS(cm_check_proxy_api_key, " ab", "invalid_format");
	IS(cm_check_proxy_api_key, "a\tb", "invalid_format");
	IS(cm_check_proxy_api_key, "a\x7f", "invalid_format");
	IS(cm_check_proxy_api_key, "caf\xc3\xa9", "invalid_format");
	is_rep(cm_check_proxy_api_key, "proxy_api_key", rep("", "k", 255, ""),
	    "ok");
	is_rep(cm_check_proxy_api_key, "proxy_api_key", rep("", "k", 256, ""),
	    "invalid_format");
}
END_TEST

START_TEST(test_metadata_key)
{
	IS(cm_check_metadata_key, "a", "ok");
	IS(cm_check_metadata_key, " ", "ok");
	IS(cm_check_metadata_key, "", "invalid_key");
	is_rep(cm_check_metadata_key, "key", rep("", "k", 255, ""), "ok");
	is_rep(cm_check_metadata_key, "key", rep("", "k", 256, ""),
	    "invalid_key");
	is_rep(cm_check_metadata_key, "key", rep("", "\xe2\x82\xac", 255, ""),
	    "ok");
	is_rep(cm_check_metadata_key, "key", rep("", "\xe2\x82\xac", 256, ""),
	    "invalid_key");
}
END_TEST

static int
has(const struct cm_tzdb *db, const char *s)
{
	return cm_tzdb_has(db, s, strlen(s));
}

START_TEST(test_tzdb_system)
{
	struct cm_tzdb	*db;
	char		 err[256];

	db = cm_tzdb_load(TZDATA, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_gt(cm_tzdb_count(db), 400);
	ck_assert(has(db, "America/Los_Angeles"));
	ck_assert(has(db, "UTC"));
	ck_assert(has(db, "Etc/UTC"));
	ck_assert(has(db, "US/Pacific"));		/* a link */
	ck_assert(has(db, "Europe/London"));
	ck_assert(has(db, "America/Argentina/Buenos_Aires"));
	ck_assert(has(db, "Etc/GMT+5"));
	ck_assert(!has(db, "utc"));
	ck_assert(!has(db, "America/los_angeles"));
	ck_assert(!has(db, "../etc/passwd"));
	ck_assert(!has(db, "/usr/share/zoneinfo/UTC"));
	ck_assert(!has(db, ""));
	ck_assert(!has(db, "America"));
	ck_assert(!has(db, "America/"));
	ck_assert(!has(db, "America/Los_Angeles "));
	ck_assert(!has(db, " UTC"));
	ck_assert(!has(db, "Z"));
	ck_assert(!has(db, "L"));
	ck_assert(!cm_tzdb_has(db, "UTC\0x", 5));
	/* Counted: a prefix of a longer buffer. */
	ck_assert(cm_tzdb_has(db, "UTCxyz", 3));
	cm_tzdb_free(db);
}
END_TEST

/* Writes text to a new temporary file; returns its path in buf. */
static void
temp_file(char *buf, size_t bufsz, const char *text)
{
	FILE	*f;
	int	 fd;

	snprintf(buf, bufsz, "/tmp/check_tzdb.XXXXXX");
	fd = mkstemp(buf);
	ck_assert_int_ne(fd, -1);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_tzdb_parse)
{
	struct cm_tzdb	*db;
	char		 path[64], err[256];

	temp_file(path, sizeof(path),
	    "# Zone Commented/Out 0 - X\n"
	    "R d 1916 o - Jun 14 23s 1 S\n"
	    "Rule US 1967 2006 - Oct lastSun 2:00 0 S\n"
	    "Z Europe/Paris 0:9:21 - LMT 1891 Mar 16\n"
	    "0:9:21 - PMT 1911 Mar 11\n"
	    "Zone\tAmerica/New_York -4:56:2 - LMT 1883 N 18 12:03:58\n"
	    "\t\t\t-5\tus\tE%sT\n"
	    "L Europe/Paris Europe/Monaco\n"
	    "Link America/New_York US/Eastern # trailing comment\n"
	    "  li Europe/Paris Europe/Andorra\n"
	    "L Europe/Paris\n"			/* malformed: ignored */
	    "Z\n"
	    "Z Europe/Paris 0 - X\n"		/* duplicate */
	    "Leap 2016 Dec 31 23:59:60 + S\n"	/* not a prefix of Link */
	    "Zonk Not/AZone 0 - X\n"
	    "Z Last/NoNewline 0 - X");
	db = cm_tzdb_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(cm_tzdb_count(db), 6);
	ck_assert(has(db, "Europe/Paris"));
	ck_assert(has(db, "America/New_York"));
	ck_assert(has(db, "Europe/Monaco"));
	ck_assert(has(db, "US/Eastern"));
	ck_assert(has(db, "Europe/Andorra"));
	ck_assert(has(db, "Last/NoNewline"));
	ck_assert(!has(db, "Commented/Out"));
	ck_assert(!has(db, "Not/AZone"));
	ck_assert(!has(db, "#"));
	ck_assert(!has(db, "US"));
	cm_tzdb_free(db);
}
END_TEST

START_TEST(test_tzdb_errors)
{
	struct cm_tzdb	*db;
	char		 path[64], err[256];

	err[0] = '\0';
	db = cm_tzdb_load("/nonexistent/tzdata.zi", err, sizeof(err));
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tzdata.zi"));

	temp_file(path, sizeof(path), "# nothing here\nR x 1 2 - 3\n");
	err[0] = '\0';
	db = cm_tzdb_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_ptr_null(db);
	ck_assert_str_ne(err, "");

	ck_assert(!cm_tzdb_has(NULL, "UTC", 3));
	ck_assert_uint_eq(cm_tzdb_count(NULL), 0);
	cm_tzdb_free(NULL);
}
END_TEST

static Suite *
validate_suite(void)
{
	Suite	*s = suite_create("validate");
	TCase	*tc = tcase_create("rules");
	TCase	*tz = tcase_create("tzdb");

	tcase_add_test(tc, test_utf8_codepoints);
	tcase_add_test(tc, test_trim_spaces);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_name);
	tcase_add_test(tc, test_domain);
	tcase_add_test(tc, test_email);
	tcase_add_test(tc, test_phone);
	tcase_add_test(tc, test_website);
	tcase_add_test(tc, test_global_name);
	tcase_add_test(tc, test_proxy_api_key);
	tcase_add_test(tc, test_metadata_key);
	suite_add_tcase(s, tc);
	tcase_add_test(tz, test_tzdb_system);
	tcase_add_test(tz, test_tzdb_parse);
	tcase_add_test(tz, test_tzdb_errors);
	suite_add_tcase(s, tz);
	return s;
}

int
main(void)
{
	return unit_run(validate_suite());
}
