/* steward.c - personal members, erasing audit records, retention cut-offs. */
#include <stdio.h>
#include <string.h>

#include "steward.h"

bool
cm_steward_personal(enum cm_field f)
{
	switch (f) {
	case CM_F_NAME:
	case CM_F_DOMAIN:
	case CM_F_EMAIL:
	case CM_F_PHONE:
	case CM_F_WEBSITE:
	case CM_F_GLOBAL_NAME:
	case CM_F_COMPANY_ID:
	case CM_F_API_METADATA:
	case CM_F_GHL_LOCATION_ID:
	case CM_F_PROXY_API_KEY:
		return true;
	default:
		return false;
	}
}

/* Replaces one side ("old" or "new") unless it is null or already erased. */
static int
erase_side(json_t *change, const char *side)
{
	json_t	*v = json_object_get(change, side);

	if (v == NULL || json_is_null(v) ||
	    (json_is_string(v) && strcmp(json_string_value(v), CM_ERASED) == 0))
		return 0;
	json_object_set_new(change, side, json_string(CM_ERASED));
	return 1;
}

int
cm_steward_erase_changes(json_t *changes)
{
	const char	*name;
	json_t		*change;
	int		 f, n = 0;

	if (!json_is_object(changes))
		return -1;
	json_object_foreach(changes, name, change) {
		if (!json_is_object(change))
			return -1;
		/*
		 * A member this version does not know is erased too: better
		 * an erased fact than a personal value left behind.
		 */
		if ((f = cm_field_lookup(name)) >= 0 && !cm_steward_personal(f))
			continue;
		n += erase_side(change, "old") + erase_side(change, "new");
	}
	return n;
}

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at s; -1 when any is not a digit. */
static int
digits(const char *s, int n)
{
	int	v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
cm_steward_parse_date(const char *s, char *out, size_t outsz)
{
	int	y, mo, d, h = 0, mi = 0, sec = 0;
	size_t	len = strlen(s);

	if (len != 10 && len != 19 && !(len == 20 && s[19] == 'Z'))
		return -1;
	if (s[4] != '-' || s[7] != '-' || (y = digits(s, 4)) < 1970 ||
	    (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
	    (d = digits(s + 8, 2)) < 1 || d > days_in(y, mo))
		return -1;
	if (len > 10 && ((s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':' || (h = digits(s + 11, 2)) < 0 || h > 23 ||
	    (mi = digits(s + 14, 2)) < 0 || mi > 59 ||
	    (sec = digits(s + 17, 2)) < 0 || sec > 59))
		return -1;
	if (snprintf(out, outsz, "%04d-%02d-%02d %02d:%02d:%02d.000",
	    y, mo, d, h, mi, sec) >= (int)outsz)
		return -1;
	return 0;
}

int
cm_steward_retention_cutoff(int days, time_t now, char *out, size_t outsz)
{
	struct tm	tm;
	time_t		t;

	if (days < 1 || now < (time_t)days * 86400)
		return -1;
	t = now - (time_t)days * 86400;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S.000", &tm) == 0)
		return -1;
	return 0;
}
