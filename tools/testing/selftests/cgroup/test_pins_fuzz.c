// SPDX-License-Identifier: GPL-2.0
/*
 * A fuzzer for the writable control files of the "pins" cgroup v2
 * controller, pins.max and pins.peak, on live cgroups.
 *
 * Random writes of many shapes (random bytes of random lengths up to a
 * page, near-valid numbers with and without suffixes, white space, signs,
 * huge values and the edges of overflow, embedded NULs), each one
 * write(2), or a writev(2) in two parts, of an explicit length, go to
 * pins.max and pins.peak of the cgroups of a small tree while other
 * processes charge in it: mlock() in a loop, and pin/unpin through the
 * vm_account test driver if the kernel has it. Only this program writes
 * the files, so each write's outcome is exact:
 *
 * - pins.max: a reference parser written from the documented syntax (see
 *   ref_parse()) says what the input means. Either the write takes all of
 *   it and the file then reads that value, in whole pages rounded down, or
 *   it fails with EINVAL and the file still reads the old value. Two
 *   outcomes are not the controller's: the cgroup core returns 0 for a
 *   write of no bytes without passing it on, and kernfs refuses a write
 *   of more than a page with E2BIG; both leave the value alone.
 * - pins.peak: a write of anything non-empty resets what later reads
 *   through the same open file show, and only those. A cgroup that nothing
 *   charges in (its usage held below its peak) shows it exactly; in the
 *   others the views of the open files never go down unless reset, and
 *   never exceed the all-time peak, which never goes down either.
 *
 * At the end every charge must be gone and the kernel log must hold no
 * warning or oops. TAP: one result for each file and shape of input, with
 * its counts, and one each for the chargers, the charges left, the final
 * limits and the kernel log.
 *
 * Options: -s SEED (printed; the same seed makes the same writes, though
 * the chargers' timing differs from run to run), -n WRITES (default
 * 10000), -v to log every write, -l to only list the writes a seed makes
 * and what the reference expects of each, without a kernel.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"
#include "../../../../lib/test_vm_account_uapi.h"

#define VMAT_DEV	"/dev/vm_account_test"

#define DEFAULT_WRITES	10000
/* Mismatches reported in full; the others are only counted. */
#define MAX_REPORTS	20
/* Pages a charger's buffer has, and the most it locks at once. */
#define CHARGER_PAGES	64
#define CHARGER_MAX	32
/* What the holder in the quiet cgroup locks, then keeps. */
#define QUIET_PEAK	8
#define QUIET_HELD	3
/* Open pins.peak files kept per cgroup. */
#define PEAK_FDS	2

/* The cgroups written to, below the root. */
enum {
	CG_TOP,		/* pins_fuzz.<pid>, pins enabled for its children */
	CG_A,		/* top/a, pins enabled for its child */
	CG_AX,		/* top/a/x: a charger, and one through the driver */
	CG_B,		/* top/b: a charger, two if there is no driver */
	CG_QUIET,	/* top/q: a holder that charges nothing while we run */
	NR_CG,
};

static const char * const cg_names[NR_CG] = {
	"top", "top/a", "top/a/x", "top/b", "top/q",
};

/* The shapes of input. */
enum {
	CLS_RANDOM,	/* random bytes, random lengths up to a page */
	CLS_PRINT,	/* random characters of the numbers' alphabet */
	CLS_NUMBER,	/* decimal numbers, with and without suffixes */
	CLS_NEAR,	/* a valid input with a character or two changed */
	CLS_EDGE,	/* page and overflow edges, long digit strings */
	CLS_MAX,	/* "max" and things like it */
	CLS_NUL,	/* valid input with NULs in it */
	CLS_SPACE,	/* white space around and inside valid input */
	CLS_LONG,	/* valid input padded to about a page, or over */
	NR_CLS,
};

static const char * const cls_names[NR_CLS] = {
	"random", "print", "number", "near", "edge", "max", "nul", "space",
	"long",
};

/* How often each shape comes, out of their sum. */
static const int cls_weight[NR_CLS] = { 10, 12, 20, 20, 12, 6, 8, 8, 4 };

/* What a write does, as the reference sees it or as it went. */
enum outcome {
	OUT_ACCEPT,	/* took every byte; the value is what it means */
	OUT_EINVAL,	/* refused with EINVAL, nothing changed */
	OUT_ZERO,	/* no bytes: write(2) returns 0, nothing changed */
	OUT_E2BIG,	/* over a page: kernfs refuses, nothing changed */
	OUT_WRONG,	/* none of the above */
	NR_OUT,
};

struct cls_count {
	long writes;
	long out[NR_OUT];
};

/* What the chargers did, in memory shared with them. */
struct charger_stats {
	atomic_long ok;
	atomic_long refused;
	atomic_long failed;
	atomic_int last_errno;
};

struct charger {
	int cg;
	bool driver;
	pid_t pid;
};

/* One write: everything about it that the seed decides. */
struct write_plan {
	bool peak;		/* to pins.peak, else to pins.max */
	int cg;			/* the cgroup */
	int cls;		/* the shape of the input */
	size_t len;		/* its length; the input is in fz.buf */
	bool fresh;		/* pins.max: through a file opened for it */
	int fd;			/* pins.peak: which, PEAK_FDS for a new one */
	size_t split;		/* writev() in two parts split there, or 0 */
};

/* One open pins.peak of a cgroup and what reads of it showed. */
struct peak_fd {
	int fd;
	bool reset;		/* a write went through this fd */
	long long seen;		/* pages the last read showed, or -1 */
};

struct cgroup_state {
	char path[PATH_MAX];
	int max_rfd;		/* pins.max, open for reading */
	int max_wfd;		/* pins.max, open for writing */
	long long max;		/* pages, or PINS_MAX: what it must read */
	struct peak_fd peak[PEAK_FDS];
	long long all_peak;	/* pages a fresh pins.peak last showed */
	bool made;
};

static struct {
	uint64_t seed;
	uint64_t rng;
	long writes;
	bool verbose;
	bool list;
	char root[PATH_MAX];
	struct cgroup_state cg[NR_CG];
	struct charger chargers[3];
	int nr_chargers;
	struct charger_stats *stats;
	atomic_bool *stop;
	pid_t holder;
	int holder_sock;
	bool driver;
	struct cls_count max_count[NR_CLS];
	struct cls_count peak_count[NR_CLS];
	int reports;
	char *buf;		/* an input, up to a page and a byte */
	size_t buf_size;
} fz = {
	.writes = DEFAULT_WRITES,
	.holder_sock = -1,
};

/* splitmix64: the same writes from the same seed on any libc. */
static uint64_t rnd_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return rnd_next(&fz.rng);
}

/* A number in [0, @n), @n > 0. */
static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

static bool chance(int percent)
{
	return below(100) < (uint64_t)percent;
}

static char pick(const char *set)
{
	return set[below(strlen(set))];
}

/*
 * Print @len bytes of @s into @dst C-escaped, up to @size, with how many
 * bytes were left out if it doesn't fit.
 */
static const char *show(char *dst, size_t size, const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 16 < size; i++) {
		unsigned char c = s[i];

		if (c == '\n')
			n += sprintf(dst + n, "\\n");
		else if (c == '\t')
			n += sprintf(dst + n, "\\t");
		else if (c == '"' || c == '\\')
			n += sprintf(dst + n, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n += sprintf(dst + n, "\\x%02x", c);
		else
			dst[n++] = c;
	}
	if (i < len)
		n += sprintf(dst + n, "\"...(+%zu)", len - i);
	else
		dst[n++] = '"';
	dst[n] = '\0';

	return dst;
}

/* The white space the documentation means: isspace() in the C locale. */
static bool ref_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

/* The shift of a size suffix, or -1. */
static int ref_suffix(unsigned char c)
{
	static const char suffixes[] = "KMGTPE";
	const char *p;

	if (!c)
		return -1;
	p = strchr(suffixes, c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);

	return p ? 10 * (int)(p - suffixes + 1) : -1;
}

/*
 * The reference parser of pins.max, from the documentation (the pins
 * section of cgroup-v2.rst), not from the controller's code: "max", or a
 * decimal byte count with an optional K, M, G, T, P or E suffix (powers
 * of 1024, either case), kept in whole pages rounded down. White space
 * around it is accepted; anything else is refused: negative or
 * hexadecimal numbers, fractions, trailing characters (a NUL among them:
 * the input is every byte written), nothing but white space, and a byte
 * count that does not fit in 64 bits. White space is what isspace()
 * means: space, tab, newline, vertical tab, form feed, carriage return.
 *
 * Return: OUT_ACCEPT with the limit in *@pages (pages or PINS_MAX), or
 * OUT_EINVAL.
 */
static enum outcome ref_parse(const char *buf, size_t len, long long *pages)
{
	size_t start = 0, end = len;
	uint64_t bytes = 0;
	int shift = 0;

	while (start < end && ref_space(buf[start]))
		start++;
	while (end > start && ref_space(buf[end - 1]))
		end--;
	if (start == end)
		return OUT_EINVAL;

	if (end - start == 3 && !memcmp(buf + start, "max", 3)) {
		*pages = PINS_MAX;
		return OUT_ACCEPT;
	}

	if (ref_suffix(buf[end - 1]) > 0)
		shift = ref_suffix(buf[--end]);
	if (start == end)
		return OUT_EINVAL;

	for (; start < end; start++) {
		unsigned char c = buf[start];

		if (c < '0' || c > '9')
			return OUT_EINVAL;
		if (__builtin_mul_overflow(bytes, 10, &bytes) ||
		    __builtin_add_overflow(bytes, c - '0', &bytes))
			return OUT_EINVAL;
	}
	if (shift && bytes > UINT64_MAX >> shift)
		return OUT_EINVAL;

	*pages = (bytes << shift) / page_size;

	return OUT_ACCEPT;
}

/*
 * What a write of @len bytes to pins.max must do, with the limit it sets
 * in *@pages.
 */
static enum outcome ref_max(const char *buf, size_t len, long long *pages)
{
	*pages = 0;
	if (!len)
		return OUT_ZERO;
	if (len > (size_t)page_size)
		return OUT_E2BIG;

	return ref_parse(buf, len, pages);
}

/* What a write to pins.peak must do: any non-empty input resets it. */
static enum outcome ref_peak(size_t len)
{
	if (!len)
		return OUT_ZERO;
	if (len > (size_t)page_size)
		return OUT_E2BIG;
	return OUT_ACCEPT;
}

/* Append @s to the input. */
static size_t put(size_t len, const char *s)
{
	size_t n = strlen(s);

	if (len + n > fz.buf_size)
		n = fz.buf_size - len;
	memcpy(fz.buf + len, s, n);

	return len + n;
}

static size_t put_char(size_t len, char c)
{
	if (len < fz.buf_size)
		fz.buf[len++] = c;
	return len;
}

/* A run of up to @n characters of white space, \v now and then. */
static size_t put_space(size_t len, int n)
{
	int i, count = below(n + 1);

	for (i = 0; i < count; i++)
		len = put_char(len, pick(chance(10) ? " \t\n\r\f\v" :
					 " \t\n"));
	return len;
}

/* A decimal number, usually of a size that makes a sensible limit. */
static size_t put_number(size_t len, bool suffix)
{
	static const char suffixes[] = "KMGTPEkmgtpe";
	char num[32];
	uint64_t v;

	switch (below(6)) {
	case 0:
		v = below(1 << 20);
		break;
	case 1:		/* about what the chargers lock */
		v = below(2 * CHARGER_PAGES) * page_size + (chance(80) ? 0 :
							    below(page_size));
		break;
	case 2:
		v = below(64);
		break;
	case 3:
		v = rnd() >> below(64);
		break;
	case 4:
		v = page_size * (1 + below(64)) + below(3) - 1;
		break;
	default:
		v = rnd();
		break;
	}
	if (suffix)
		v >>= below(64);
	if (chance(10))
		len = put(len, chance(50) ? "0" : "000");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	len = put(len, num);
	if (suffix)
		len = put_char(len, pick(suffixes));

	return len;
}

/* A valid input, sometimes with white space around it. */
static size_t put_valid(size_t len)
{
	if (chance(15))
		len = put(len, "max");
	else
		len = put_number(len, chance(40));
	if (chance(30))
		len = put_char(len, '\n');
	return len;
}

static size_t gen_random(void)
{
	size_t len, i;

	if (chance(50))
		len = below(17);
	else if (chance(60))
		len = below(257);
	else
		len = below(page_size + 1);
	for (i = 0; i < len; i++)
		fz.buf[i] = rnd();

	return len;
}

static size_t gen_print(void)
{
	static const char alphabet[] =
		"0123456789012345678901234567890123456789kKmMgGtTpPeEmaxX+-. \t\n";
	size_t len = below(41), i;

	for (i = 0; i < len; i++)
		fz.buf[i] = pick(alphabet);

	return len;
}

static size_t gen_number(void)
{
	size_t len = 0;

	if (chance(20))
		len = put_space(len, 3);
	len = put_number(len, chance(50));
	if (chance(40))
		len = put_space(len, 3);

	return len;
}

/* Change a valid input a little: most results are invalid. */
static size_t gen_near(void)
{
	static const char junk[] = "+-.xX _eEbBiI#,;/kKmMgG0123456789\t\n";
	static const char * const tails[] = {
		"B", "iB", "b", ".0", ".5", "K", "KB", "kk", "x", " 1", "\n1",
		"-", "+", "e3", "%", "max",
	};
	static const char * const heads[] = {
		"+", "-", "0x", "0X", "0b", "0o", "-0", "+0", ".", "~", "=",
		"max",
	};
	size_t len = put_valid(0), i, pos;
	int n = 1 + below(3);
	const char *head;

	while (n--) {
		switch (below(6)) {
		case 0:		/* insert */
			pos = below(len + 1);
			memmove(fz.buf + pos + 1, fz.buf + pos, len - pos);
			fz.buf[pos] = pick(junk);
			len++;
			break;
		case 1:		/* delete */
			if (!len)
				break;
			pos = below(len);
			memmove(fz.buf + pos, fz.buf + pos + 1, len - pos - 1);
			len--;
			break;
		case 2:		/* replace */
			if (len)
				fz.buf[below(len)] = pick(junk);
			break;
		case 3:		/* a head */
			head = heads[below(ARRAY_SIZE(heads))];
			i = strlen(head);
			memmove(fz.buf + i, fz.buf, len);
			memcpy(fz.buf, head, i);
			len += i;
			break;
		case 4:		/* a tail */
			len = put(len, tails[below(ARRAY_SIZE(tails))]);
			break;
		default:	/* a byte, any */
			if (len)
				fz.buf[below(len)] = rnd();
			break;
		}
	}

	return len;
}

/*
 * The edges: around the largest mantissa each suffix allows, around
 * 2^64 bytes, around a page, and digit strings longer than any u64.
 */
static size_t gen_edge(void)
{
	static const char * const around[] = {
		"18446744073709551613", "18446744073709551614",
		"18446744073709551615", "18446744073709551616",
		"18446744073709551617", "18446744073709551618",
		"18446744073709551619", "18446744073709551620",
		"36893488147419103232", "99999999999999999999",
		"9223372036854775807", "9223372036854775808",
	};
	static const char suffixes[] = "KMGTPE";
	char num[64];
	size_t len = 0;
	int shift, i;
	uint64_t v;

	switch (below(5)) {
	case 0:		/* the last mantissa that fits, and the first that doesn't */
		shift = 1 + below(ARRAY_SIZE(suffixes) - 1);
		v = (UINT64_MAX >> (10 * shift)) - 2 + below(5);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		len = put(len, num);
		len = put_char(len, chance(50) ? suffixes[shift - 1] :
			       suffixes[shift - 1] + 'a' - 'A');
		break;
	case 1:		/* around 2^64 and 2^63, in decimal */
		len = put(len, around[below(ARRAY_SIZE(around))]);
		break;
	case 2:		/* a page and one either side, and zero */
		v = page_size * below(4) + below(3) - 1;
		if (v == UINT64_MAX)
			v = 0;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		len = put(len, num);
		break;
	case 3:		/* many digits */
		for (i = below(40); i >= 0; i--)
			len = put_char(len, '0' + below(10));
		break;
	default:	/* many leading zeros */
		for (i = below(page_size - 16); i >= 0; i--)
			len = put_char(len, '0');
		len = put_number(len, chance(30));
		break;
	}
	if (chance(30))
		len = put_char(len, '\n');

	return len;
}

static size_t gen_max(void)
{
	static const char * const forms[] = {
		"max", "MAX", "Max", "mAx", "ma", "m", "maxx", "max1", "1max",
		"maxK", "max max", "m ax", "max\n\n", "-max", "+max", "max-",
		"unlimited", "inf", "none", "\nmax", "max\r\n", "max\v",
	};
	size_t len = 0;

	if (chance(30))
		len = put_space(len, 3);
	len = put(len, chance(40) ? "max" : forms[below(ARRAY_SIZE(forms))]);
	if (chance(40))
		len = put_space(len, 3);

	return len;
}

static size_t gen_nul(void)
{
	size_t len, pos;
	int n;

	if (chance(10))
		return 1 + below(4);	/* NULs only: fz.buf is zeroed */

	len = put_valid(0);
	n = 1 + below(2);

	while (n--) {
		pos = below(len + 1);
		memmove(fz.buf + pos + 1, fz.buf + pos, len - pos);
		fz.buf[pos] = '\0';
		len++;
	}

	return len;
}

static size_t gen_space(void)
{
	size_t len = 0, pos;

	if (chance(10))
		return put_space(0, 8);	/* nothing else: empty */

	len = put_space(len, 6);
	len = put_valid(len);
	if (chance(20) && len > 1) {	/* inside: junk */
		pos = 1 + below(len - 1);
		memmove(fz.buf + pos + 1, fz.buf + pos, len - pos);
		fz.buf[pos] = pick(" \t\n\v");
		len++;
	}
	len = put_space(len, 6);

	return len;
}

/* Valid input in a page of white space; sometimes a byte over a page. */
static size_t gen_long(void)
{
	size_t total, len = 0, lead;

	if (chance(12))
		total = page_size + 1;
	else if (chance(30))
		total = page_size;
	else
		total = page_size - below(page_size / 2);

	lead = below(total / 2);
	while (len < lead)
		len = put_char(len, pick(" \t\n"));
	len = put_valid(len);
	while (len < total)
		len = put_char(len, pick(" \t\n"));

	return len;
}

/* Make an input of a random shape in fz.buf: its class, and its length. */
static int gen_input(size_t *len)
{
	int total = 0, cls, r;

	for (cls = 0; cls < NR_CLS; cls++)
		total += cls_weight[cls];
	r = below(total);
	for (cls = 0; r >= cls_weight[cls]; cls++)
		r -= cls_weight[cls];

	memset(fz.buf, 0, fz.buf_size);
	switch (cls) {
	case CLS_RANDOM:
		*len = gen_random();
		break;
	case CLS_PRINT:
		*len = gen_print();
		break;
	case CLS_NUMBER:
		*len = gen_number();
		break;
	case CLS_NEAR:
		*len = gen_near();
		break;
	case CLS_EDGE:
		*len = gen_edge();
		break;
	case CLS_MAX:
		*len = gen_max();
		break;
	case CLS_NUL:
		*len = gen_nul();
		break;
	case CLS_SPACE:
		*len = gen_space();
		break;
	default:
		*len = gen_long();
		break;
	}
	if (*len > fz.buf_size)
		*len = fz.buf_size;

	return cls;
}

/* Make the next write the seed says in fz.buf and @w. */
static void plan_write(struct write_plan *w)
{
	w->peak = chance(15);
	w->cg = below(NR_CG);
	w->cls = gen_input(&w->len);
	w->fresh = chance(30);
	w->fd = below(PEAK_FDS + 1);
	w->split = chance(10) && w->len > 1 ? 1 + below(w->len - 1) : 0;
}

/* Write the input to @fd in one write(2) or writev(2): bytes or -errno. */
static ssize_t write_input(int fd, const struct write_plan *w)
{
	struct iovec iov[2] = {
		{ .iov_base = fz.buf, .iov_len = w->split },
		{ .iov_base = fz.buf + w->split, .iov_len = w->len - w->split },
	};
	ssize_t ret;

	/* kernfs copies the whole iterator: still one write. */
	if (w->split)
		ret = writev(fd, iov, 2);
	else
		ret = write(fd, fz.buf, w->len);

	return ret < 0 ? -errno : ret;
}

/* The outcome of a write that returned @ret for @len bytes. */
static enum outcome outcome_of(ssize_t ret, size_t len)
{
	if (ret == (ssize_t)len && len)
		return OUT_ACCEPT;
	if (ret == -EINVAL)
		return OUT_EINVAL;
	if (ret == 0 && !len)
		return OUT_ZERO;
	if (ret == -E2BIG)
		return OUT_E2BIG;
	return OUT_WRONG;
}

static const char *outcome_name(enum outcome out)
{
	static const char * const names[NR_OUT] = {
		"accepted", "EINVAL", "returned 0", "E2BIG", "something else",
	};

	return names[out];
}

/*
 * Read the byte count (or "max") in the open cgroup file @fd, in pages
 * (or PINS_MAX); the text goes to @text. -2 if it can't be read or isn't
 * whole pages.
 */
static long long read_pages(int fd, char *text, size_t size)
{
	unsigned long long bytes;
	ssize_t n;
	char *end;

	n = pread(fd, text, size - 1, 0);
	if (n <= 0) {
		snprintf(text, size, "(read: %s)", n ? strerror(errno) : "EOF");
		return -2;
	}
	text[n] = '\0';
	if (!strcmp(text, "max\n"))
		return PINS_MAX;
	errno = 0;
	bytes = strtoull(text, &end, 10);
	if (errno || end == text || strcmp(end, "\n") || bytes % page_size)
		return -2;

	return bytes / page_size;
}

/* Report a write that went wrong, the first MAX_REPORTS of them. */
static void report(long nr, const struct write_plan *w, const char *fmt, ...)
{
	char esc[256];
	va_list ap;

	if (fz.reports++ >= MAX_REPORTS)
		return;

	ksft_print_msg("write #%ld (%s) of %zu bytes%s to %s/pins.%s: \"%s\n",
		       nr, cls_names[w->cls], w->len,
		       w->split ? " in two parts" : "", cg_names[w->cg],
		       w->peak ? "peak" : "max",
		       show(esc, sizeof(esc), fz.buf, w->len));
	va_start(ap, fmt);
	printf("#   ");
	vprintf(fmt, ap);
	va_end(ap);
	ksft_print_msg("  replay: -s %llu -n %ld\n",
		       (unsigned long long)fz.seed, nr + 1);
}

static void log_write(long nr, const struct write_plan *w, const char *result)
{
	char esc[256];

	ksft_print_msg("#%ld %s %s/pins.%s %zu \"%s -> %s\n", nr,
		       cls_names[w->cls], cg_names[w->cg],
		       w->peak ? "peak" : "max", w->len,
		       show(esc, sizeof(esc), fz.buf, w->len), result);
}

/* Format @pages of a pins.max for a message. */
static const char *max_text(char *buf, size_t size, long long pages)
{
	pins_format(buf, size, pages);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* One write to pins.max of @cg and its checks. */
static void fuzz_max(long nr, const struct write_plan *w)
{
	struct cgroup_state *cg = &fz.cg[w->cg];
	struct cls_count *count = &fz.max_count[w->cls];
	char text[128], a[64], b[64];
	enum outcome want, got;
	long long pages, now;
	ssize_t ret;
	int fd;

	want = ref_max(fz.buf, w->len, &pages);
	count->writes++;

	fd = w->fresh ? cg_open(cg->path, "pins.max", O_WRONLY | O_CLOEXEC) :
			cg->max_wfd;
	if (fd < 0) {
		count->out[OUT_WRONG]++;
		report(nr, w, "open: %s\n", strerror(errno));
		return;
	}
	ret = write_input(fd, w);
	if (w->fresh)
		close(fd);
	got = outcome_of(ret, w->len);
	now = read_pages(cg->max_rfd, text, sizeof(text));

	if (got == OUT_ACCEPT && want == OUT_ACCEPT && now == pages) {
		cg->max = now;
	} else if (got == want && got != OUT_ACCEPT && got != OUT_WRONG &&
		   now == cg->max) {
		/* Refused, and the old value is still there. */
	} else {
		report(nr, w,
		       "returned %zd (%s), now reads \"%.*s\"; expected %s (%s), old value %s\n",
		       ret, ret < 0 ? strerror(-ret) : outcome_name(got),
		       (int)strcspn(text, "\n"), text,
		       outcome_name(want),
		       want == OUT_ACCEPT ? max_text(a, sizeof(a), pages) :
		       "unchanged", max_text(b, sizeof(b), cg->max));
		got = OUT_WRONG;
		if (now != -2)
			cg->max = now;
	}
	count->out[got]++;

	if (fz.verbose)
		log_write(nr, w, got == OUT_ACCEPT ? max_text(a, sizeof(a), now) :
			  outcome_name(got));
}

/* Report what a read of pins.peak of @idx showed after write #@nr. */
static void peak_problem(long nr, int idx, const char *fmt, ...)
{
	va_list ap;

	if (fz.reports++ >= MAX_REPORTS)
		return;

	printf("# after write #%ld: %s/pins.peak ", nr, cg_names[idx]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* Read the open pins.peak @fd: pages, or -2 (reported). */
static long long peak_read(int fd, long nr, int idx, const char *what)
{
	char text[128];
	long long pages = read_pages(fd, text, sizeof(text));

	if (pages < 0)
		peak_problem(nr, idx, "(%s) reads \"%.*s\"\n", what,
			     (int)strcspn(text, "\n"), text);
	return pages < 0 ? -2 : pages;
}

/* The all-time peak of @idx, through a fresh open; -2 (reported). */
static long long peak_all(long nr, int idx)
{
	struct cgroup_state *cg = &fz.cg[idx];
	long long pages;
	int fd;

	fd = cg_open(cg->path, "pins.peak", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open %s/pins.peak: %s\n", cg->path,
			       strerror(errno));
		return -2;
	}
	pages = peak_read(fd, nr, idx, "fresh");
	close(fd);

	return pages;
}

/* The pages the open pins.peak @p must show in the quiet cgroup. */
static long long quiet_view(bool reset)
{
	return reset ? QUIET_HELD : QUIET_PEAK;
}

/*
 * Check the view through @p, read as @pages after a write that @reset it
 * or not: exact in the quiet cgroup, else never down without a reset and
 * never above @all, the all-time peak. Returns 0 or -1 (reported).
 */
static int peak_check(long nr, int idx, const struct peak_fd *p,
		      long long pages, bool reset, long long all,
		      const char *what)
{
	if (pages < 0 || all < 0)
		return -1;
	if (idx == CG_QUIET && pages != quiet_view(p->reset || reset)) {
		peak_problem(nr, idx, "(%s) shows %lld pages, expected %lld\n",
			     what, pages, quiet_view(p->reset || reset));
		return -1;
	}
	if (!reset && p->seen >= 0 && pages < p->seen) {
		peak_problem(nr, idx,
			     "(%s) went down without a reset: %lld -> %lld pages\n",
			     what, p->seen, pages);
		return -1;
	}
	if (pages > all) {
		peak_problem(nr, idx,
			     "(%s) shows %lld pages, above the all-time peak %lld\n",
			     what, pages, all);
		return -1;
	}

	return 0;
}

/* One write to pins.peak of @idx and its checks. */
static void fuzz_peak(long nr, const struct write_plan *w)
{
	struct cgroup_state *cg = &fz.cg[w->cg];
	struct cls_count *count = &fz.peak_count[w->cls];
	struct peak_fd fresh = { .fd = -1, .seen = -1 }, *p;
	enum outcome want = ref_peak(w->len), got;
	int idx = w->cg, i, bad = 0;
	long long pages[PEAK_FDS + 1], all;
	char a[64];
	ssize_t ret;

	count->writes++;
	if (w->fd == PEAK_FDS) {
		fresh.fd = cg_open(cg->path, "pins.peak", O_RDWR | O_CLOEXEC);
		if (fresh.fd < 0) {
			count->out[OUT_WRONG]++;
			report(nr, w, "open: %s\n", strerror(errno));
			return;
		}
		p = &fresh;
	} else {
		p = &cg->peak[w->fd];
	}

	ret = write_input(p->fd, w);
	got = outcome_of(ret, w->len);
	if (got != want) {
		report(nr, w, "returned %zd (%s), expected %s\n", ret,
		       ret < 0 ? strerror(-ret) : outcome_name(got),
		       outcome_name(want));
		got = OUT_WRONG;
	}

	/* Read the views first: the all-time peak is at least all of them. */
	pages[PEAK_FDS] = peak_read(p->fd, nr, idx, "written");
	for (i = 0; i < PEAK_FDS; i++)
		if (&cg->peak[i] != p)
			pages[i] = peak_read(cg->peak[i].fd, nr, idx, "other");
	all = peak_all(nr, idx);
	if (all >= 0 && all < cg->all_peak) {
		peak_problem(nr, idx, "(fresh) went down: %lld -> %lld pages\n",
			     cg->all_peak, all);
		bad = 1;
	}
	if (idx == CG_QUIET && all != QUIET_PEAK) {
		peak_problem(nr, idx, "(fresh) shows %lld pages, expected %d\n",
			     all, QUIET_PEAK);
		bad = 1;
	}
	if (all >= 0)
		cg->all_peak = all;

	if (peak_check(nr, idx, p, pages[PEAK_FDS], got == OUT_ACCEPT, all,
		       "written"))
		bad = 1;
	p->reset |= got == OUT_ACCEPT;
	p->seen = pages[PEAK_FDS];
	for (i = 0; i < PEAK_FDS; i++) {
		if (&cg->peak[i] == p)
			continue;
		if (peak_check(nr, idx, &cg->peak[i], pages[i], false, all,
			       "other"))
			bad = 1;
		cg->peak[i].seen = pages[i];
	}

	if (bad && got != OUT_WRONG) {
		report(nr, w, "returned %zd: the views above are wrong\n",
		       ret);
		got = OUT_WRONG;
	}
	count->out[got]++;

	if (fz.verbose) {
		snprintf(a, sizeof(a), "reset, reads %lld pages",
			 pages[PEAK_FDS]);
		log_write(nr, w, got == OUT_ACCEPT ? a : outcome_name(got));
	}
	if (fresh.fd >= 0)
		close(fresh.fd);
}

/* A charger: lock, or pin through the driver, and let go, until told. */
static int charger_run(int nr, bool driver)
{
	struct charger_stats *st = &fz.stats[nr];
	struct vm_account_test_pin pin;
	uint64_t rng = fz.seed + nr + 1;
	long n, off;
	char *buf;
	int fd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	buf = pins_buf_alloc(CHARGER_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (driver) {
		fd = open(VMAT_DEV, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ksft_print_msg("open %s: %s\n", VMAT_DEV,
				       strerror(errno));
			return EXIT_FAILURE;
		}
	}

	while (!atomic_load(fz.stop)) {
		n = 1 + rnd_next(&rng) % CHARGER_MAX;
		off = rnd_next(&rng) % (CHARGER_PAGES - n + 1);
		if (driver) {
			pin.addr = (uintptr_t)pins_page_at(buf, off);
			pin.npages = n;
			if (ioctl(fd, VM_ACCOUNT_TEST_PIN, &pin)) {
				if (errno == ENOMEM) {
					atomic_fetch_add(&st->refused, 1);
				} else {
					atomic_store(&st->last_errno, errno);
					atomic_fetch_add(&st->failed, 1);
				}
				continue;
			}
			atomic_fetch_add(&st->ok, 1);
			if (ioctl(fd, VM_ACCOUNT_TEST_UNPIN, &pin.id)) {
				atomic_store(&st->last_errno, errno);
				atomic_fetch_add(&st->failed, 1);
			}
			continue;
		}
		if (mlock(pins_page_at(buf, off), n * page_size)) {
			if (errno == ENOMEM) {
				atomic_fetch_add(&st->refused, 1);
			} else {
				atomic_store(&st->last_errno, errno);
				atomic_fetch_add(&st->failed, 1);
			}
		} else {
			atomic_fetch_add(&st->ok, 1);
		}
		if (munlock(buf, CHARGER_PAGES * page_size)) {
			atomic_store(&st->last_errno, errno);
			atomic_fetch_add(&st->failed, 1);
		}
	}

	if (fd >= 0)
		close(fd);
	pins_buf_free(buf, CHARGER_PAGES);

	return EXIT_SUCCESS;
}

/*
 * The holder in the quiet cgroup: lock QUIET_PEAK pages, let go of all
 * but QUIET_HELD and keep those until told to go.
 */
static int holder_run(int sock)
{
	char *buf;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	buf = pins_buf_alloc(QUIET_PEAK, true);
	if (!buf || mlock(buf, QUIET_PEAK * page_size) ||
	    munlock(pins_page_at(buf, QUIET_HELD),
		    (QUIET_PEAK - QUIET_HELD) * page_size)) {
		ksft_print_msg("holder: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (pins_sock_send(sock, 'r', -1) || pins_sock_recv(sock, 'q', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

static int start_charger(int cg, bool driver)
{
	struct charger *c = &fz.chargers[fz.nr_chargers];
	pid_t pid;

	c->cg = cg;
	c->driver = driver;
	pid = pins_fork(fz.cg[cg].path);
	if (pid < 0)
		return -1;
	if (!pid)
		pins_child_exit(charger_run(fz.nr_chargers, driver));
	c->pid = pid;
	fz.nr_chargers++;

	return 0;
}

/* Make the tree, open its files, start the holder and the chargers. */
static int setup(void)
{
	char name[64];
	int i, j;

	fz.stats = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fz.stats == MAP_FAILED) {
		ksft_print_msg("out of memory\n");
		return -1;
	}
	fz.stop = (atomic_bool *)&fz.stats[ARRAY_SIZE(fz.chargers)];

	snprintf(name, sizeof(name), "pins_fuzz.%d", getpid());
	for (i = 0; i < NR_CG; i++) {
		struct cgroup_state *cg = &fz.cg[i];

		cg->max_rfd = -1;
		cg->max_wfd = -1;
		for (j = 0; j < PEAK_FDS; j++)
			cg->peak[j].fd = -1;
		if (pins_path_of(cg->path, i ? fz.cg[CG_TOP].path : fz.root,
				 i ? cg_names[i] + 4 : name) ||
		    pins_create(cg->path, i == CG_TOP || i == CG_A))
			return -1;
		cg->made = true;
		cg->max = PINS_MAX;
		cg->max_rfd = cg_open(cg->path, "pins.max",
				      O_RDONLY | O_CLOEXEC);
		cg->max_wfd = cg_open(cg->path, "pins.max",
				      O_WRONLY | O_CLOEXEC);
		if (cg->max_rfd < 0 || cg->max_wfd < 0) {
			ksft_print_msg("open %s/pins.max: %s\n", cg->path,
				       strerror(errno));
			return -1;
		}
	}

	fz.holder = pins_fork_peer(fz.cg[CG_QUIET].path, &fz.holder_sock);
	if (fz.holder < 0)
		return -1;
	if (!fz.holder)
		pins_child_exit(holder_run(fz.holder_sock));
	if (pins_sock_recv(fz.holder_sock, 'r', NULL) ||
	    pins_expect(fz.cg[CG_QUIET].path, "pins.current", QUIET_HELD) ||
	    pins_expect(fz.cg[CG_QUIET].path, "pins.peak", QUIET_PEAK))
		return -1;

	/* Open the peak files now: the quiet one's views are known. */
	for (i = 0; i < NR_CG; i++) {
		for (j = 0; j < PEAK_FDS; j++) {
			fz.cg[i].peak[j].fd = cg_open(fz.cg[i].path,
						      "pins.peak",
						      O_RDWR | O_CLOEXEC);
			fz.cg[i].peak[j].seen = -1;
			if (fz.cg[i].peak[j].fd < 0) {
				ksft_print_msg("open %s/pins.peak: %s\n",
					       fz.cg[i].path, strerror(errno));
				return -1;
			}
		}
	}

	fz.driver = !access(VMAT_DEV, F_OK);
	if (start_charger(CG_AX, false) || start_charger(CG_B, false) ||
	    start_charger(fz.driver ? CG_AX : CG_B, fz.driver))
		return -1;

	return 0;
}

/* Stop the chargers and the holder: 0 if they all ended well. */
static int stop_children(void)
{
	int i, ret = 0;

	if (fz.stop)
		atomic_store(fz.stop, true);
	for (i = 0; i < fz.nr_chargers; i++)
		if (fz.chargers[i].pid > 0 && pins_reap(&fz.chargers[i].pid))
			ret = -1;
	if (fz.holder > 0) {
		if (pins_sock_send(fz.holder_sock, 'q', -1) ||
		    pins_reap(&fz.holder))
			ret = -1;
	}
	pins_close_fd(&fz.holder_sock);

	return ret;
}

static void cleanup(void)
{
	int i, j;

	if (fz.stop)
		atomic_store(fz.stop, true);
	for (i = 0; i < fz.nr_chargers; i++)
		pins_kill(&fz.chargers[i].pid);
	pins_kill(&fz.holder);
	pins_close_fd(&fz.holder_sock);
	for (i = NR_CG - 1; i >= 0; i--) {
		pins_close_fd(&fz.cg[i].max_rfd);
		pins_close_fd(&fz.cg[i].max_wfd);
		for (j = 0; j < PEAK_FDS; j++)
			pins_close_fd(&fz.cg[i].peak[j].fd);
		if (fz.cg[i].made)
			cg_destroy(fz.cg[i].path);
		fz.cg[i].made = false;
	}
}

/* Report the counts of one class of one file as a test result. */
static void result(const char *file, int cls, const struct cls_count *c)
{
	ksft_test_result(!c->out[OUT_WRONG],
			 "%s %s: %ld writes: %ld accepted, %ld EINVAL, %ld empty, %ld over a page, %ld wrong\n",
			 file, cls_names[cls], c->writes, c->out[OUT_ACCEPT],
			 c->out[OUT_EINVAL], c->out[OUT_ZERO],
			 c->out[OUT_E2BIG], c->out[OUT_WRONG]);
}

/* The kernel's log since @fd was opened has no warning, oops or BUG. */
static int kmsg_clean(int fd)
{
	static const char * const splats[] = {
		"WARNING:", "BUG:", "BUG ", "Oops", "Call Trace", "RIP:",
		"general protection", "UBSAN", "KASAN", "kmemleak",
		"list_add corruption", "list_del corruption", "refcount_t",
		"rust_panic", "Kernel panic",
	};
	char msg[8192];
	size_t i;
	int ret, bad = 0;

	while ((ret = pins_kmsg_read(fd, msg, sizeof(msg))) > 0) {
		for (i = 0; i < ARRAY_SIZE(splats); i++) {
			if (strstr(msg, splats[i])) {
				if (bad++ < 10)
					ksft_print_msg("kernel: %s\n", msg);
				break;
			}
		}
	}

	return ret < 0 || bad ? -1 : 0;
}

/* -l: print each write the seed makes and what the reference says. */
static void list_inputs(void)
{
	char esc[256], a[64];
	struct write_plan w;
	enum outcome want;
	long long pages;
	long nr;

	for (nr = 0; nr < fz.writes; nr++) {
		plan_write(&w);
		if (w.peak) {
			want = ref_peak(w.len);
			pages = 0;
		} else {
			want = ref_max(fz.buf, w.len, &pages);
		}
		printf("%ld %s/pins.%s %s %zu \"%s -> %s %s", nr,
		       cg_names[w.cg], w.peak ? "peak" : "max",
		       cls_names[w.cls], w.len,
		       show(esc, sizeof(esc), fz.buf, w.len),
		       outcome_name(want), want == OUT_ACCEPT && !w.peak ?
		       max_text(a, sizeof(a), pages) : "");
		printf("\n");
	}
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-s SEED] [-n WRITES] [-v] [-l]\n"
		"  -s SEED    seed of the writes (default: from the time)\n"
		"  -n WRITES  writes to make (default %d)\n"
		"  -v         log every write\n"
		"  -l         only list the writes and the expected outcomes\n",
		prog, DEFAULT_WRITES);
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct write_plan w;
	bool seeded = false;
	int opt, i, kmsg, ret;
	long nr, ms;
	char *end;

	while ((opt = getopt(argc, argv, "s:n:vlh")) != -1) {
		switch (opt) {
		case 's':
			errno = 0;
			fz.seed = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg)
				usage(argv[0]);
			seeded = true;
			break;
		case 'n':
			fz.writes = strtol(optarg, &end, 0);
			if (*end || end == optarg || fz.writes < 1)
				usage(argv[0]);
			break;
		case 'v':
			fz.verbose = true;
			break;
		case 'l':
			fz.list = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!seeded) {
		clock_gettime(CLOCK_REALTIME, &t0);
		fz.seed = (uint64_t)t0.tv_sec * 1000000007ULL ^ t0.tv_nsec ^
			  ((uint64_t)getpid() << 32);
	}
	fz.rng = fz.seed;

	pins_util_init();
	fz.buf_size = page_size + 1;
	fz.buf = calloc(1, fz.buf_size + 64);
	if (!fz.buf)
		ksft_exit_fail_msg("out of memory\n");
	if (fz.list) {
		list_inputs();
		return 0;
	}

	ksft_print_header();
	ksft_print_msg("seed %llu (replay with -s %llu -n %ld)\n",
		       (unsigned long long)fz.seed,
		       (unsigned long long)fz.seed, fz.writes);

	ret = pins_setup_root(fz.root, sizeof(fz.root));
	if (ret == KSFT_SKIP)
		ksft_exit_skip("%s\n", skip_reason);
	if (ret != KSFT_PASS)
		ksft_exit_fail_msg("can't set up the root cgroup\n");

	ksft_set_plan(4 + 2 * NR_CLS);
	kmsg = pins_kmsg_open();
	if (setup()) {
		cleanup();
		ksft_exit_fail_msg("setup failed\n");
	}
	ksft_print_msg("chargers: mlock() in %s and %s, %s in %s\n",
		       cg_names[CG_AX], cg_names[CG_B],
		       fz.driver ? "pins through " VMAT_DEV : "mlock()",
		       cg_names[fz.chargers[2].cg]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (nr = 0; nr < fz.writes; nr++) {
		plan_write(&w);
		if (w.peak)
			fuzz_peak(nr, &w);
		else
			fuzz_max(nr, &w);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ksft_print_msg("%ld writes in %ld ms (%ld us each)\n", fz.writes, ms,
		       ms * 1000 / fz.writes);
	if (fz.reports > MAX_REPORTS)
		ksft_print_msg("%d more problems not shown\n",
			       fz.reports - MAX_REPORTS);

	for (i = 0; i < NR_CLS; i++)
		result("pins.max", i, &fz.max_count[i]);
	for (i = 0; i < NR_CLS; i++)
		result("pins.peak", i, &fz.peak_count[i]);

	/* Each charger was granted charges, and nothing else failed. */
	ret = stop_children();
	for (i = 0; i < fz.nr_chargers; i++) {
		struct charger_stats *st = &fz.stats[i];

		ksft_print_msg("charger %d (%s in %s): %ld granted, %ld refused, %ld failed%s%s\n",
			       i, fz.chargers[i].driver ? "driver" : "mlock",
			       cg_names[fz.chargers[i].cg],
			       atomic_load(&st->ok), atomic_load(&st->refused),
			       atomic_load(&st->failed),
			       atomic_load(&st->failed) ? ": " : "",
			       atomic_load(&st->failed) ?
			       strerror(atomic_load(&st->last_errno)) : "");
		if (!atomic_load(&st->ok) || atomic_load(&st->failed))
			ret = -1;
	}
	ksft_test_result(!ret, "chargers charged while the files were written\n");

	ksft_test_result(!pins_expect_wait(fz.cg[CG_TOP].path, "pins.current",
					   0),
			 "no charge left once the chargers are gone\n");

	for (ret = 0, i = 0; i < NR_CG; i++) {
		char want[64];

		pins_format(want, sizeof(want), fz.cg[i].max);
		if (pins_expect_str(fz.cg[i].path, "pins.max", want))
			ret = -1;
	}
	ksft_test_result(!ret, "every pins.max reads its last value\n");

	cleanup();
	ksft_test_result(kmsg >= 0 && !kmsg_clean(kmsg),
			 "no warning or oops in the kernel log\n");

	ksft_finished();
}
