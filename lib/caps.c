/* Capabilities with libcap (see include/ovlbox/caps.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "ovlbox/caps.h"

/* The set is a uint64_t: capability numbers above 63 would need a wider type. */
#define CAPSET_BITS 64

int ovl_cap_last(void)
{
	/* cap_max_bits() asks the kernel (it reads /proc/sys/kernel/cap_last_cap or probes the
	 * bounding set) so a binary built with older headers still sees newer capabilities. */
	int n = (int)cap_max_bits();
	if (n > CAPSET_BITS)
		n = CAPSET_BITS;
	return n - 1;
}

const char *ovl_cap_name(int cap, char buf[OVL_CAP_NAME_MAX])
{
	char *name = cap_to_name((cap_value_t)cap);
	if (name == NULL || strlen(name) >= OVL_CAP_NAME_MAX) {
		snprintf(buf, OVL_CAP_NAME_MAX, "%d", cap);
	} else {
		for (size_t i = 0; name[i]; i++)
			buf[i] = (char)toupper((unsigned char)name[i]);
		buf[strlen(name)] = '\0';
	}
	cap_free(name);
	return buf;
}

int ovl_cap_from_name(const char *name, int *cap, ovl_error_t *err)
{
	char lower[OVL_CAP_NAME_MAX + 4] = "cap_";
	const char *bare = strncasecmp(name, "cap_", 4) == 0 ? name + 4 : name;
	size_t len = strlen(bare);
	/* Numbers are accepted by cap_from_name() but not by us: a name is what the user meant. */
	if (len == 0 || len >= OVL_CAP_NAME_MAX || !isalpha((unsigned char)bare[0]))
		return ovl_error(err, 0, "unknown capability \"%s\"", name);
	for (size_t i = 0; i <= len; i++)
		lower[4 + i] = (char)tolower((unsigned char)bare[i]);
	cap_value_t v;
	if (cap_from_name(lower, &v) < 0)
		return ovl_error(err, 0, "unknown capability \"%s\"", name);
	if ((int)v > ovl_cap_last())
		return ovl_error(err, 0, "capability \"%s\" is not supported by the running kernel",
				 name);
	*cap = (int)v;
	return 0;
}

int ovl_capset_add(struct ovl_capset *set, const char *name, ovl_error_t *err)
{
	if (strcasecmp(name, "ALL") == 0) {
		set->all = true;
		return 0;
	}
	int cap;
	if (ovl_cap_from_name(name, &cap, err) < 0)
		return -1;
	set->bits |= UINT64_C(1) << cap;
	return 0;
}

bool ovl_capset_has(const struct ovl_capset *set, int cap)
{
	if (set == NULL || cap < 0 || cap >= CAPSET_BITS)
		return false;
	return set->all || (set->bits & (UINT64_C(1) << cap)) != 0;
}

static void cap_tp_free(cap_t *c)
{
	if (*c)
		cap_free(*c);
}
#define cleanup_cap __attribute__((cleanup(cap_tp_free)))

/* The caps to keep, limited to what the process has: a named cap it lacks is an error (the user
 * asked for something they will not get); "ALL" means "all we have". */
static int resolve_keep(const struct ovl_capset *keep, int last, uint64_t *out, ovl_error_t *err)
{
	cleanup_cap cap_t cur = cap_get_proc();
	if (cur == NULL)
		return ovl_error(err, errno, "reading the process capabilities");
	*out = 0;
	for (int c = 0; c <= last; c++) {
		if (!ovl_capset_has(keep, c))
			continue;
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(cur, (cap_value_t)c, CAP_PERMITTED, &v) < 0)
			return ovl_error(err, errno, "reading the process capabilities");
		if (v == CAP_SET) {
			*out |= UINT64_C(1) << c;
		} else if (!keep->all) {
			char name[OVL_CAP_NAME_MAX];
			return ovl_error(err, 0, "keeping %s: not in the permitted set",
					 ovl_cap_name(c, name));
		}
	}
	return 0;
}

/* Bounding set first, while CAP_SETPCAP is still effective (it may not be kept). */
static int drop_bounding(uint64_t kept, int last, ovl_error_t *err)
{
	for (int c = 0; c <= last; c++) {
		if (kept & (UINT64_C(1) << c))
			continue;
		int in = cap_get_bound((cap_value_t)c);
		if (in == 0)
			continue; /* already gone: no CAP_SETPCAP needed */
		if (in < 0 || cap_drop_bound((cap_value_t)c) < 0) {
			char name[OVL_CAP_NAME_MAX];
			return ovl_error(err, errno, "dropping %s from the bounding set",
					 ovl_cap_name(c, name));
		}
	}
	return 0;
}

static int set_pei(uint64_t kept, int last, ovl_error_t *err)
{
	cleanup_cap cap_t c = cap_init();
	if (c == NULL)
		return ovl_error(err, errno, "cap_init");
	for (int i = 0; i <= last; i++) {
		if (!(kept & (UINT64_C(1) << i)))
			continue;
		cap_value_t v = (cap_value_t)i;
		if (cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
		    cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
		    cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET) < 0) {
			char name[OVL_CAP_NAME_MAX];
			return ovl_error(err, errno, "cap_set_flag %s", ovl_cap_name(i, name));
		}
	}
	if (cap_set_proc(c) < 0)
		return ovl_error(err, errno,
				 "setting the permitted, effective and inheritable sets");
	return 0;
}

/* Ambient caps must be in both permitted and inheritable, so this runs after set_pei(). */
static int set_ambient(uint64_t kept, int last, ovl_error_t *err)
{
	/* One prctl; libcap's cap_reset_ambient() probes every capability first. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return ovl_error(err, errno, "clearing the ambient set");
	for (int c = 0; c <= last; c++) {
		if (!(kept & (UINT64_C(1) << c)))
			continue;
		if (cap_set_ambient((cap_value_t)c, CAP_SET) < 0) {
			char name[OVL_CAP_NAME_MAX];
			return ovl_error(err, errno, "raising %s in the ambient set",
					 ovl_cap_name(c, name));
		}
	}
	return 0;
}

int ovl_caps_restrict(const struct ovl_capset *keep, ovl_error_t *err)
{
	int last = ovl_cap_last();
	uint64_t kept = 0;
	if (resolve_keep(keep, last, &kept, err) < 0 || drop_bounding(kept, last, err) < 0 ||
	    set_pei(kept, last, err) < 0 || set_ambient(kept, last, err) < 0)
		return -1;
	/* Always: a setuid binary or file caps must not give back what we just dropped. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ovl_error(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	return 0;
}
