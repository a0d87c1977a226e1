// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for the pins that sockets take, MSG_ZEROCOPY sends and AF_XDP
 * UMEMs, charged to the "pins" cgroup v2 controller, through real sockets
 * over loopback.
 *
 * A MSG_ZEROCOPY send on a TCP or UDP socket charges its worst case, its
 * size in pages plus two, to the pins cgroup of the task that sends it
 * (source "zerocopy" in pins.stat) until the send's completion
 * notification is generated; sends merged into one notification add up.
 * Over loopback the receive path copies the data and the notification
 * completes as soon as the data is sent (and for TCP acknowledged), so to
 * see the charge the tests hold it with a corked send: MSG_MORE on UDP, or
 * TCP_CORK for up to about 200 ms, keeps the skb and with it the
 * notification in the sending socket until it is uncorked. Without
 * CAP_IPC_LOCK and with a finite RLIMIT_MEMLOCK the same pages also go to
 * the user's locked_vm, as on vanilla 6.12, and a send that does not fit
 * fails with ENOBUFS; so does a send that the cgroup or an ancestor
 * refuses, and a refused send charges nothing anywhere.
 *
 * XDP_UMEM_REG on an AF_XDP socket (no NIC needed) charges the UMEM's
 * length in pages, rounded up, to the cgroup of the registering task
 * (source "xdp") until the UMEM's last socket is gone, whoever holds it
 * by then. Without CAP_IPC_LOCK the user's locked_vm is charged too,
 * against RLIMIT_MEMLOCK. Refusals fail with ENOBUFS.
 *
 * Both sites used to open-code their RLIMIT_MEMLOCK accounting: the tests
 * check that the conversion to vm_account kept it as it was (those tests
 * need no controller and also run on a kernel without one), that the
 * cgroup gets exactly the pages the site charges, at the cgroup, its
 * parent and the root alike, and that a charge stays with its
 * notification or UMEM when the task moves or the socket is passed on.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on the
 * fixture below: a cgroup with pins enabled for its children and two
 * children of it, the test's cgroup and a sibling. Tests that need the
 * controller skip without it; the RLIMIT_MEMLOCK tests run anyway, then
 * without checking any cgroup.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/if_xdp.h>
#include <linux/limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* The pages of the usual send or UMEM. */
#define SEND_PAGES	8

/* How long to wait for a completion or for data, in milliseconds. */
#define TIMEOUT_MS	2000

/*
 * TCP_CORK holds a partial segment for about 200 ms at most: when nothing
 * is in flight, the zero window probe timer, armed for the RTO (at least
 * TCP_RTO_MIN), sends it. A check of a corked TCP send that comes later
 * than this may have missed the charge, and is tried again, not failed.
 */
#define CORK_MS		150
#define CORK_TRIES	3

/* The two ends of a socket pair. */
#define TX		0
#define RX		1

/* What a MSG_ZEROCOPY send of @npages pages charges. */
static long zc_charge(long npages)
{
	return npages + 2;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void close_pair(int fds[2])
{
	pins_close_fd(&fds[TX]);
	pins_close_fd(&fds[RX]);
}

/*
 * The pages of @cgroup/pins.current and the bytes of the @key line of its
 * pins.stat (@key NULL: the sum of all lines). Returns 0, or -1 if they
 * can't be read or parsed.
 */
static int usage_read(const char *cgroup, const char *key, long *pages,
		      long long *bytes)
{
	char buf[PAGE_SIZE], name[64], *line, *save;
	long long cur, val;
	bool found = !key;

	cur = cg_read_long(cgroup, "pins.current");
	if (cur < 0 || cur % page_size || cg_read(cgroup, "pins.stat", buf,
						  sizeof(buf)))
		return -1;

	*pages = cur / page_size;
	*bytes = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%63s %lld", name, &val) != 2)
			return -1;
		if (!key) {
			*bytes += val;
		} else if (!strcmp(name, key)) {
			*bytes = val;
			found = true;
		}
	}

	return found ? 0 : -1;
}

/*
 * Returns 0 if @cgroup holds @pages pages, all of them in the @key line of
 * its pins.stat, or if @cgroup is NULL (no controller, nothing to check).
 * With @quiet, a mismatch is not reported.
 */
static int usage_check(const char *cgroup, const char *key, long pages,
		       bool quiet)
{
	long long bytes, all;
	long cur;

	if (!cgroup)
		return 0;

	if (usage_read(cgroup, key, &cur, &bytes) ||
	    usage_read(cgroup, NULL, &cur, &all)) {
		ksft_print_msg("can't read the pins files of %s\n", cgroup);
		return -1;
	}

	if (cur == pages && bytes == pages * page_size && all == bytes)
		return 0;

	if (!quiet)
		ksft_print_msg("%s: %ld pages, %s %lld bytes of %lld; expected %ld pages\n",
			       cgroup, cur, key, bytes, all, pages);

	return -1;
}

static int usage_expect(const char *cgroup, const char *key, long pages)
{
	return usage_check(cgroup, key, pages, false);
}

/* usage_expect(), giving the kernel up to TIMEOUT_MS to get there. */
static int usage_wait(const char *cgroup, const char *key, long pages)
{
	long long end = now_ms() + TIMEOUT_MS;

	while (usage_check(cgroup, key, pages, true) && now_ms() < end)
		usleep(10000);

	return usage_expect(cgroup, key, pages);
}

/*
 * Where a test charges: @cg, a child of @parent, for pins.stat's @key, or
 * the root alone if both are NULL; the root counts the charges of the
 * whole host, and showed @base bytes of @key when the test began.
 */
struct site {
	const char *root;
	const char *parent;
	const char *cg;
	const char *key;
	long long base;
};

/* Set up @s for @key in @cg, a child of @parent, below @root. */
static int site_init(struct site *s, const char *root, const char *parent,
		     const char *cg, const char *key)
{
	s->key = key;
	s->root = root;
	s->parent = parent;
	s->cg = cg;
	s->base = pins_stat_bytes(root, key);

	return s->base < 0 ? -1 : 0;
}

/*
 * Returns 0 if the site's cgroup and its parent (if it has them) hold
 * @pages pages, all of them for its key, and the root's line for the key
 * shows @pages pages more than when the test began.
 */
static int site_check(const struct site *s, long pages, bool quiet)
{
	long long bytes;

	if (s->cg && (usage_check(s->cg, s->key, pages, quiet) ||
		      usage_check(s->parent, s->key, pages, quiet)))
		return -1;

	bytes = pins_stat_bytes(s->root, s->key);
	if (bytes == s->base + pages * page_size)
		return 0;

	if (!quiet)
		ksft_print_msg("%s/pins.stat: %s %lld bytes, expected %lld + %ld pages\n",
			       s->root, s->key, bytes, s->base, pages);

	return -1;
}

static int held(const struct site *s, long pages)
{
	return site_check(s, pages, false);
}

/* held(), giving the kernel up to TIMEOUT_MS to get there. */
static int held_wait(const struct site *s, long pages)
{
	long long end = now_ms() + TIMEOUT_MS;

	while (site_check(s, pages, true) && now_ms() < end)
		usleep(10000);

	return held(s, pages);
}

static int set_int(int fd, int level, int name, int val)
{
	if (setsockopt(fd, level, name, &val, sizeof(val))) {
		ksft_print_msg("setsockopt %d/%d = %d: %s\n", level, name, val,
			       strerror(errno));
		return -1;
	}

	return 0;
}

static const char *proto_name(int family, int type)
{
	if (family == AF_INET)
		return type == SOCK_STREAM ? "TCP/IPv4" : "UDP/IPv4";

	return type == SOCK_STREAM ? "TCP/IPv6" : "UDP/IPv6";
}

/* The loopback address of @family, port 0, in @ss. */
static socklen_t loopback(int family, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}

	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

/*
 * Connect a sender with SO_ZEROCOPY set, @fds[TX], to a receiver, @fds[RX],
 * over the loopback address of @family (127.0.0.1 or ::1) with sockets of
 * @type, SOCK_STREAM (TCP) or SOCK_DGRAM (UDP). Returns 0, or -1 with both
 * fds -1.
 */
static int zc_open(int family, int type, int fds[2])
{
	struct timeval tv = { .tv_sec = TIMEOUT_MS / 1000 };
	struct sockaddr_storage ss;
	int lfd, one = 1;
	socklen_t len;

	fds[TX] = -1;
	fds[RX] = -1;
	len = loopback(family, &ss);

	lfd = socket(family, type | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, len) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &len) ||
	    (type == SOCK_STREAM && listen(lfd, 1)))
		goto err;

	fds[TX] = socket(family, type | SOCK_CLOEXEC, 0);
	if (fds[TX] < 0 ||
	    setsockopt(fds[TX], SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) ||
	    connect(fds[TX], (struct sockaddr *)&ss, len))
		goto err;

	if (type == SOCK_STREAM) {
		fds[RX] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fds[RX] < 0)
			goto err;
		pins_close_fd(&lfd);
	} else {
		fds[RX] = lfd;
		lfd = -1;
	}

	if (setsockopt(fds[RX], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		goto err;

	return 0;

err:
	ksft_print_msg("%s socket pair: %s\n", proto_name(family, type),
		       strerror(errno));
	pins_close_fd(&lfd);
	close_pair(fds);

	return -1;
}

/*
 * Send @npages pages of @buf on @fd with MSG_ZEROCOPY and @flags. Returns
 * 0 if that ends with errno @expected, or 0 and all of it sent.
 */
static int zc_send(int fd, char *buf, long npages, int flags, int expected)
{
	size_t len = npages * page_size;
	ssize_t ret;
	int err = 0;

	/* Never block: a send that would is a failure of the test. */
	ret = send(fd, buf, len,
		   flags | MSG_ZEROCOPY | MSG_DONTWAIT | MSG_NOSIGNAL);
	if (ret < 0)
		err = errno;

	if (err != expected) {
		ksft_print_msg("send %ld pages, flags %#x: got %d (%s), expected %d (%s)\n",
			       npages, flags, err, strerror(err), expected,
			       strerror(expected));
		return -1;
	}

	if (!err && (size_t)ret != len) {
		ksft_print_msg("send %ld pages: only %zd bytes sent\n", npages,
			       ret);
		return -1;
	}

	return 0;
}

/* Release what a corked send holds in @fds[TX], of @type. */
static int zc_uncork(int fds[2], int type)
{
	if (type == SOCK_STREAM)
		return set_int(fds[TX], IPPROTO_TCP, TCP_CORK, 0);

	/* Also ends a datagram corked with MSG_MORE. */
	return set_int(fds[TX], IPPROTO_UDP, UDP_CORK, 0);
}

/*
 * Receive @npages pages from @fds[RX], of @type: a stream of them or one
 * datagram of exactly that size.
 */
static int zc_drain(int fds[2], int type, long npages)
{
	size_t want = npages * page_size, got = 0;
	char *buf;
	ssize_t n;
	int ret = -1;

	buf = malloc(want + 1);
	if (!buf)
		return -1;

	while (got < want) {
		n = recv(fds[RX], buf, want + 1 - got,
			 type == SOCK_STREAM ? 0 : MSG_TRUNC);
		if (n <= 0) {
			ksft_print_msg("recv: %s after %zu of %zu bytes\n",
				       n ? strerror(errno) : "EOF", got, want);
			goto out;
		}
		got += n;
		if (type != SOCK_STREAM)
			break;
	}

	if (got != want) {
		ksft_print_msg("received %zu bytes, expected %zu\n", got,
			       want);
		goto out;
	}
	ret = 0;
out:
	free(buf);

	return ret;
}

/*
 * Read the completion notifications of @fd until one covers send @hi;
 * they must cover the sends @lo to @hi, and nothing else. Waits up to
 * TIMEOUT_MS for each.
 */
static int zc_complete(int fd, __u32 lo, __u32 hi)
{
	char control[256];
	struct sock_extended_err *ee;
	struct pollfd pfd = { .fd = fd };
	struct msghdr msg = {};
	struct cmsghdr *cm;
	__u32 next = lo;

	while (next <= hi) {
		if (poll(&pfd, 1, TIMEOUT_MS) != 1 ||
		    !(pfd.revents & POLLERR)) {
			ksft_print_msg("no completion of send %u\n", next);
			return -1;
		}

		memset(control, 0, sizeof(control));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(fd, &msg, MSG_ERRQUEUE) < 0) {
			ksft_print_msg("recvmsg MSG_ERRQUEUE: %s\n",
				       strerror(errno));
			return -1;
		}

		cm = CMSG_FIRSTHDR(&msg);
		if (!cm || !((cm->cmsg_level == SOL_IP &&
			      cm->cmsg_type == IP_RECVERR) ||
			     (cm->cmsg_level == SOL_IPV6 &&
			      cm->cmsg_type == IPV6_RECVERR))) {
			ksft_print_msg("no IP_RECVERR on the error queue\n");
			return -1;
		}

		ee = (struct sock_extended_err *)CMSG_DATA(cm);
		if (ee->ee_errno || ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY ||
		    ee->ee_info != next || ee->ee_data < next ||
		    ee->ee_data > hi) {
			ksft_print_msg("completion %u/%u of %u-%u, expected 0/%u of %u-%u\n",
				       ee->ee_errno, ee->ee_origin,
				       ee->ee_info, ee->ee_data,
				       SO_EE_ORIGIN_ZEROCOPY, next, hi);
			return -1;
		}
		next = ee->ee_data + 1;
	}

	return 0;
}

/* Uncork @fds, receive @npages pages and the completion of sends @lo-@hi. */
static int zc_flush(int fds[2], int type, long npages, __u32 lo, __u32 hi)
{
	if (zc_uncork(fds, type) || zc_drain(fds, type, npages))
		return -1;

	return zc_complete(fds[TX], lo, hi);
}

/* The flag that corks a send of @type: TCP is corked with TCP_CORK. */
static int zc_cork_flag(int type)
{
	return type == SOCK_STREAM ? 0 : MSG_MORE;
}

/*
 * Open a pair of @family and @type, corked (TCP_CORK) if it is TCP: every
 * send with zc_cork_flag() then stays in the sender until zc_uncork().
 */
static int zc_open_corked(int family, int type, int fds[2])
{
	if (zc_open(family, type, fds))
		return -1;

	if (type == SOCK_STREAM &&
	    set_int(fds[TX], IPPROTO_TCP, TCP_CORK, 1)) {
		close_pair(fds);
		return -1;
	}

	return 0;
}

/* Open an AF_XDP socket. */
static int xsk_open(void)
{
	int fd;

	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		ksft_print_msg("socket(AF_XDP): %s\n", strerror(errno));

	return fd;
}

/*
 * Register @len bytes at @addr, in chunks of @chunk bytes, as the UMEM of
 * the AF_XDP socket @fd. Returns 0 if that ends with errno @expected.
 */
static int umem_reg(int fd, char *addr, __u64 len, __u32 chunk,
		    int expected)
{
	struct xdp_umem_reg mr = {
		.addr = (unsigned long)addr,
		.len = len,
		.chunk_size = chunk,
	};
	int err = 0;

	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)))
		err = errno;

	if (err != expected) {
		ksft_print_msg("XDP_UMEM_REG of %llu bytes: got %d (%s), expected %d (%s)\n",
			       (unsigned long long)len, err, strerror(err),
			       expected, strerror(expected));
		return -1;
	}

	return 0;
}

/* Register @npages pages of @buf, in chunks of a page, as @fd's UMEM. */
static int umem_reg_pages(int fd, char *buf, long npages, int expected)
{
	return umem_reg(fd, buf, npages * page_size, page_size, expected);
}

/*
 * Run @fn in a child process, in @cgroup if it isn't NULL (@fn then checks
 * the charges of @cgroup), else where this process is. Returns 0 if it
 * exited with EXIT_SUCCESS.
 */
static int run_child(const char *cgroup,
		     int (*fn)(const char *cgroup, void *arg), void *arg)
{
	pid_t pid;

	if (cgroup)
		return pins_run_child(cgroup, fn, arg);

	pid = pins_fork(NULL);
	if (!pid)
		pins_child_exit(fn(NULL, arg));

	return pid < 0 ? -1 : pins_reap(&pid);
}

/* Write @str to the file @dir/@name, opened with O_WRONLY | @flags. */
static int write_file(const char *dir, const char *name, const char *str,
		      int flags)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);

	return pins_write_file(path, str, flags);
}

#define REFUSED_EVENT	"events/pins/charge_refused/enable"

/* Read all of @dir/trace into a string to free(), or NULL. */
static char *trace_read(const char *dir)
{
	size_t size = 1 << 16, len = 0;
	char path[PATH_MAX], *buf, *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/trace", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(size);
	if (fd < 0 || !buf)
		goto err;

	while ((n = read(fd, buf + len, size - len - 1)) > 0) {
		len += n;
		if (size - len > 1)
			continue;
		size *= 2;
		p = realloc(buf, size);
		if (!p)
			goto err;
		buf = p;
	}
	if (n < 0)
		goto err;
	buf[len] = '\0';
	close(fd);

	return buf;

err:
	ksft_print_msg("can't read %s: %s\n", path, strerror(errno));
	free(buf);
	if (fd >= 0)
		close(fd);

	return NULL;
}

/* The number of lines of @text that contain @str. */
static int count_lines(const char *text, const char *str)
{
	const char *p = text, *eol;
	int n = 0;

	while ((p = strstr(p, str))) {
		n++;
		eol = strchr(p, '\n');
		if (!eol)
			break;
		p = eol + 1;
	}

	return n;
}

/*
 * The text of every record logged to @fd (from pins_kmsg_open()) since it was
 * opened, each on a line of its own after a newline, in a string to
 * free(); NULL if it can't be read.
 */
static char *kmsg_read(int fd)
{
	size_t size = 1 << 16, len = 0, n;
	char text[2048], *buf, *p;
	int got;

	buf = malloc(size);
	if (!buf)
		return NULL;

	while ((got = pins_kmsg_read(fd, text, sizeof(text))) > 0) {
		n = strlen(text);
		if (len + n + 3 > size) {
			size = 2 * (len + n + 3);
			p = realloc(buf, size);
			if (!p)
				break;
			buf = p;
		}
		buf[len++] = '\n';
		memcpy(buf + len, text, n);
		len += n;
	}
	if (got < 0) {
		free(buf);
		return NULL;
	}
	buf[len++] = '\n';
	buf[len] = '\0';

	return buf;
}

/* Returns 0 if exactly one line of @log (from kmsg_read()) is @line. */
static int kmsg_expect(const char *log, const char *line)
{
	char want[512];
	int n;

	snprintf(want, sizeof(want), "\n%s\n", line);
	for (n = 0; (log = strstr(log, want)); n++)
		log++;

	if (n != 1) {
		ksft_print_msg("\"%s\" logged %d times, expected once\n", line,
			       n);
		return -1;
	}

	return 0;
}

FIXTURE(net) {
	char root[PATH_MAX];
	char parent[PATH_MAX];	/* pins enabled for its children */
	char cg[PATH_MAX];	/* the test's cgroup, a child of parent */
	char sibling[PATH_MAX];	/* another child of parent */
	bool pins;		/* the cgroups above exist */
	bool xdp;		/* AF_XDP sockets can be made */
	bool traced;		/* pins:charge_refused may be enabled */
	char why[64];		/* why !pins */
};

/* Join @dir and @name into the path @dst. Returns 0, or -1 if too long. */
static int path_join(char dst[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(dst, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX) {
		dst[0] = '\0';
		return -1;
	}

	return 0;
}

/* Remove those of the fixture's cgroups that exist, children first. */
static void net_cleanup(char *parent, char *cg, char *sibling)
{
	if (sibling[0])
		cg_destroy(sibling);
	if (cg[0])
		cg_destroy(cg);
	if (parent[0])
		cg_destroy(parent);
	sibling[0] = '\0';
	cg[0] = '\0';
	parent[0] = '\0';
}

/*
 * Create the fixture's cgroups for test @name: @parent below @root, with
 * pins enabled for its children @cg and @sibling.
 */
static int net_create(const char *root, const char *name, char *parent,
		      char *cg, char *sibling)
{
	char dir[NAME_MAX];
	int n;

	n = snprintf(dir, sizeof(dir), "pins_net_%s", name);
	if (n < 0 || n >= (int)sizeof(dir))
		return -1;

	if (path_join(parent, root, dir) || pins_create(parent, true))
		return -1;

	if (path_join(cg, parent, "child") || pins_create(cg, false))
		return -1;

	if (path_join(sibling, parent, "b"))
		return -1;

	return pins_create(sibling, false);
}

/*
 * The fixture's data is shared with the test's process, which its
 * teardown outlives: FIXTURE_TEARDOWN_PARENT runs it in the parent after
 * the test's process has exited, however it ended. By then every socket
 * and mapping of the test is gone with it and its cgroups are empty of
 * tasks (cg_destroy() kills any helper left behind), so the teardown only
 * has the cgroups to remove, and can, even when the test failed while
 * sitting in one of them. Teardown follows only a completed setup: setup
 * undoes a partial one itself.
 */
FIXTURE_SETUP(net)
{
	int fd, ret;

	pins_util_init();

	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	self->xdp = fd >= 0;
	if (fd >= 0)
		close(fd);

	ret = pins_setup_root(self->root, sizeof(self->root));
	if (ret == KSFT_SKIP) {
		snprintf(self->why, sizeof(self->why), "%s", skip_reason);
		return;
	}
	ASSERT_EQ(KSFT_PASS, ret);

	ret = net_create(self->root, _metadata->name, self->parent, self->cg,
			 self->sibling);
	if (ret)
		net_cleanup(self->parent, self->cg, self->sibling);
	ASSERT_EQ(0, ret);
	self->pins = true;
}

FIXTURE_TEARDOWN_PARENT(net)
{
	const char *dir = pins_tracefs();

	if (self->traced && dir)
		write_file(dir, REFUSED_EVENT, "0", 0);
	net_cleanup(self->parent, self->cg, self->sibling);
}

enum { CYCLE_PASS, CYCLE_FAIL, CYCLE_RETRY };

/*
 * In @s->cg: a corked MSG_ZEROCOPY send of SEND_PAGES pages on a pair of
 * @family and @type, then @more pages more merged into its notification
 * if @more isn't 0, must charge the cgroup, its parent and the root with
 * what they pin until the notification is generated, after they are
 * uncorked and received. Returns CYCLE_RETRY if TCP_CORK may have let go
 * of the data before the charge was checked.
 */
static int corked_cycle(const struct site *s, int family, int type,
			long more)
{
	long charge = zc_charge(SEND_PAGES) + (more ? zc_charge(more) : 0);
	int fds[2] = { -1, -1 }, ret = CYCLE_FAIL;
	int flag = zc_cork_flag(type);
	long long start;
	char *buf;

	buf = pins_buf_alloc(SEND_PAGES + more, false);
	if (!buf || zc_open_corked(family, type, fds) || held(s, 0))
		goto out;

	start = now_ms();
	if (zc_send(fds[TX], buf, SEND_PAGES, flag, 0))
		goto out;
	if (more && zc_send(fds[TX], pins_page_at(buf, SEND_PAGES), more, flag, 0))
		goto out;
	if (held(s, charge)) {
		if (type == SOCK_STREAM && now_ms() - start >= CORK_MS) {
			ksft_print_msg("checked after %lld ms, TCP_CORK may have let go: again\n",
				       now_ms() - start);
			ret = CYCLE_RETRY;
		}
		goto out;
	}

	/* Merged sends make one notification. */
	if (zc_flush(fds, type, SEND_PAGES + more, 0, more ? 1 : 0) ||
	    held(s, 0))
		goto out;

	ret = CYCLE_PASS;
out:
	close_pair(fds);
	pins_buf_free(buf, SEND_PAGES + more);

	return ret;
}

/*
 * corked_cycle() in @cg, a child of @parent below @root, tried again if
 * TCP_CORK let go too early.
 */
static int corked_test(const char *root, const char *parent, const char *cg,
		       int family, int type, long more)
{
	int i, ret = CYCLE_FAIL;
	struct site s;

	if (cg_enter_current(cg)) {
		ksft_print_msg("can't move into %s\n", cg);
		return -1;
	}

	for (i = 0; i < CORK_TRIES; i++) {
		if (site_init(&s, root, parent, cg, "zerocopy"))
			return -1;
		ret = corked_cycle(&s, family, type, more);
		if (ret != CYCLE_RETRY)
			break;
		if (usage_wait(cg, "zerocopy", 0))
			return -1;
	}

	return ret == CYCLE_PASS ? 0 : -1;
}

/* A corked TCP send over 127.0.0.1 is charged until its completion. */
TEST_F(net, zerocopy_tcp4)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET, SOCK_STREAM, 0));
}

/* A corked TCP send over ::1 is charged until its completion. */
TEST_F(net, zerocopy_tcp6)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET6, SOCK_STREAM, 0));
}

/*
 * Two TCP sends merged into one notification (the second one appends to
 * the corked skb of the first) charge what both pin, until it comes.
 */
TEST_F(net, zerocopy_tcp4_merged)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET, SOCK_STREAM, 4));
}

/* A UDP send corked with MSG_MORE over 127.0.0.1 is charged. */
TEST_F(net, zerocopy_udp4)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET, SOCK_DGRAM, 0));
}

/* A UDP send corked with MSG_MORE over ::1 is charged. */
TEST_F(net, zerocopy_udp6)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET6, SOCK_DGRAM, 0));
}

/*
 * A send from a task in the root cgroup, which has no limit, is counted by
 * the root alone: its zerocopy line shows what the send pins until the
 * notification, and then what it showed before.
 */
TEST_F(net, zerocopy_in_root)
{
	struct site s;

	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, cg_enter_current(self->root));
	ASSERT_EQ(0, site_init(&s, self->root, NULL, NULL, "zerocopy"));
	ASSERT_EQ(CYCLE_PASS, corked_cycle(&s, AF_INET, SOCK_DGRAM, 0));
}

/* Two sends of one UDP datagram make one notification and add up. */
TEST_F(net, zerocopy_udp6_merged)
{
	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, corked_test(self->root, self->parent, self->cg,
				 AF_INET6, SOCK_DGRAM, 4));
}

/*
 * Sends on @tcp and @udp (pairs of zc_open()) that need one page more
 * than is left below a limit fail with ENOBUFS and charge nothing (@s);
 * sends that fit exactly are taken, peak at the limit, and complete.
 */
static int refusal_cycle(const struct site *s, int tcp[2], int udp[2])
{
	long fits = SEND_PAGES - 1;
	char *buf;
	int ret = -1;

	buf = pins_buf_alloc(SEND_PAGES, false);
	if (!buf)
		return -1;

	if (zc_send(tcp[TX], buf, SEND_PAGES, 0, ENOBUFS) || held(s, 0) ||
	    zc_send(udp[TX], buf, SEND_PAGES, 0, ENOBUFS) || held(s, 0))
		goto out;

	if (zc_send(tcp[TX], buf, fits, 0, 0) ||
	    zc_drain(tcp, SOCK_STREAM, fits) || zc_complete(tcp[TX], 0, 0) ||
	    held_wait(s, 0))
		goto out;

	if (zc_send(udp[TX], buf, fits, 0, 0) ||
	    zc_drain(udp, SOCK_DGRAM, fits) || zc_complete(udp[TX], 0, 0) ||
	    held_wait(s, 0))
		goto out;

	/* Both took the cgroup to its limit and not beyond. */
	if (pins_expect(s->cg, "pins.peak", zc_charge(fits)))
		goto out;

	ret = 0;
out:
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/*
 * A send the cgroup's pins.max refuses fails with ENOBUFS and charges
 * nothing; pins.events counts it at the cgroup and its parent,
 * pins.events.local at the cgroup only.
 */
TEST_F(net, zerocopy_refused_cgroup)
{
	int tcp[2], udp[2];
	struct site s;

	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, pins_set_max(self->cg, zc_charge(SEND_PAGES) - 1));
	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg,
			       "zerocopy"));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_STREAM, tcp));
	ASSERT_EQ(0, zc_open(AF_INET6, SOCK_DGRAM, udp));

	ASSERT_EQ(0, refusal_cycle(&s, tcp, udp));
	ASSERT_EQ(0, pins_events_expect(self->cg, 2, 2));
	ASSERT_EQ(0, pins_events_expect(self->parent, 2, 0));
	ASSERT_EQ(0, pins_events_expect(self->sibling, 0, 0));
}

/*
 * A send the parent's pins.max refuses fails with ENOBUFS and charges
 * nothing; pins.events and pins.events.local count it at the parent only.
 */
TEST_F(net, zerocopy_refused_parent)
{
	int tcp[2], udp[2];
	struct site s;

	if (!self->pins)
		SKIP(return, "%s", self->why);

	ASSERT_EQ(0, pins_set_max(self->parent, zc_charge(SEND_PAGES) - 1));
	ASSERT_EQ(0, pins_expect(self->cg, "pins.max", PINS_MAX));
	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg,
			       "zerocopy"));
	ASSERT_EQ(0, zc_open(AF_INET6, SOCK_STREAM, tcp));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_DGRAM, udp));

	ASSERT_EQ(0, refusal_cycle(&s, tcp, udp));
	ASSERT_EQ(0, pins_events_expect(self->cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->parent, 2, 2));
}

/*
 * Every refused send fires pins:charge_refused with who sent what, which
 * cgroup was charged, which one refused and where its limit stood; the
 * first refusal by each cgroup's limit logs one line naming the source
 * and that cgroup.
 */
TEST_F(net, zerocopy_refusal_reported)
{
	unsigned long long cg_ino, parent_ino;
	long limit = zc_charge(SEND_PAGES) - 1, hold = 1;
	int tcp[2], udp[2], kmsg;
	char comm[32], want[512];
	const char *dir;
	char *buf, *trace, *log;
	struct site s;
	FILE *f;

	if (!self->pins)
		SKIP(return, "%s", self->why);
	dir = pins_tracefs();
	if (!dir)
		SKIP(return, "tracefs isn't mounted");
	kmsg = pins_kmsg_open();
	if (kmsg < 0)
		SKIP(return, "can't read /dev/kmsg");

	f = fopen("/proc/self/comm", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	cg_ino = pins_cg_id(self->cg);
	parent_ino = pins_cg_id(self->parent);
	ASSERT_NE(0, cg_ino);
	ASSERT_NE(0, parent_ino);

	self->traced = true;
	ASSERT_EQ(0, write_file(dir, REFUSED_EVENT, "1", 0));
	ASSERT_EQ(0, write_file(dir, "trace", "", O_TRUNC));

	buf = pins_buf_alloc(SEND_PAGES, false);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg,
			       "zerocopy"));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_STREAM, tcp));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_DGRAM, udp));

	/* Refused by the cgroup's own limit, with nothing charged. */
	ASSERT_EQ(0, pins_set_max(self->cg, limit));
	ASSERT_EQ(0, zc_send(tcp[TX], buf, SEND_PAGES, 0, ENOBUFS));

	/* Refused by the parent's, with a held send charged to the cgroup. */
	ASSERT_EQ(0, pins_set_max(self->cg, PINS_MAX));
	ASSERT_EQ(0, pins_set_max(self->parent, limit + zc_charge(hold)));
	ASSERT_EQ(0, zc_send(udp[TX], buf, hold, MSG_MORE, 0));
	ASSERT_EQ(0, held(&s, zc_charge(hold)));
	ASSERT_EQ(0, zc_send(tcp[TX], buf, SEND_PAGES, 0, ENOBUFS));
	ASSERT_EQ(0, held(&s, zc_charge(hold)));

	ASSERT_EQ(0, write_file(dir, REFUSED_EVENT, "0", 0));
	trace = trace_read(dir);
	ASSERT_NE(NULL, trace);

	snprintf(want, sizeof(want),
		 "charge_refused: pid=%d comm=%s cgroup=%llu limiter=%llu source=zerocopy pages=%ld limit=%ld usage=0\n",
		 getpid(), comm, cg_ino, cg_ino, zc_charge(SEND_PAGES), limit);
	EXPECT_EQ(1, count_lines(trace, want)) {
		TH_LOG("no \"%s\" in the trace:\n%s", want, trace);
	}
	snprintf(want, sizeof(want),
		 "charge_refused: pid=%d comm=%s cgroup=%llu limiter=%llu source=zerocopy pages=%ld limit=%ld usage=%ld\n",
		 getpid(), comm, cg_ino, parent_ino, zc_charge(SEND_PAGES),
		 limit + zc_charge(hold), zc_charge(hold));
	EXPECT_EQ(1, count_lines(trace, want)) {
		TH_LOG("no \"%s\" in the trace:\n%s", want, trace);
	}
	EXPECT_EQ(2, count_lines(trace, "charge_refused:")) {
		TH_LOG("trace:\n%s", trace);
	}
	free(trace);

	log = kmsg_read(kmsg);
	ASSERT_NE(NULL, log);
	pins_refusal_text(want, sizeof(want), "zerocopy", self->root,
			  self->cg);
	EXPECT_EQ(0, kmsg_expect(log, want));
	pins_refusal_text(want, sizeof(want), "zerocopy", self->root,
			  self->parent);
	EXPECT_EQ(0, kmsg_expect(log, want));
	free(log);

	ASSERT_EQ(0, zc_flush(udp, SOCK_DGRAM, hold, 0, 0));
	ASSERT_EQ(0, held_wait(&s, 0));
	pins_buf_free(buf, SEND_PAGES);
}

/*
 * Child of zerocopy_rlimit: without CAP_IPC_LOCK, with RLIMIT_MEMLOCK at
 * what one send of SEND_PAGES pages needs, a bigger send is refused, that
 * one is taken, and while it is held the user's locked_vm is full: a send
 * of one page on another socket is refused, until the first completes.
 * The cgroup, if any, holds what the rlimit counter holds.
 */
static int child_zc_rlimit(const char *cgroup, void *arg)
{
	int a[2] = { -1, -1 }, b[2] = { -1, -1 }, ret = EXIT_FAILURE;
	long max = zc_charge(SEND_PAGES);
	char *buf;

	buf = pins_buf_alloc(SEND_PAGES + 1, false);
	if (!buf || pins_drop_privileges(max))
		goto out;

	if (zc_open(AF_INET, SOCK_DGRAM, a) || zc_open(AF_INET, SOCK_DGRAM, b))
		goto out;

	/* One page too many: refused, and nothing charged anywhere. */
	if (zc_send(a[TX], buf, SEND_PAGES + 1, MSG_MORE, ENOBUFS) ||
	    usage_expect(cgroup, "zerocopy", 0))
		goto out;

	/* Exactly the limit: taken, and held by the cork. */
	if (zc_send(a[TX], buf, SEND_PAGES, MSG_MORE, 0) ||
	    usage_expect(cgroup, "zerocopy", max))
		goto out;

	/* The user's locked_vm is full: even a page is refused. */
	if (zc_send(b[TX], buf, 1, MSG_MORE, ENOBUFS) ||
	    usage_expect(cgroup, "zerocopy", max))
		goto out;

	/* The completion returns the pages to both counters. */
	if (zc_flush(a, SOCK_DGRAM, SEND_PAGES, 0, 0) ||
	    usage_wait(cgroup, "zerocopy", 0))
		goto out;

	if (zc_send(b[TX], buf, SEND_PAGES, MSG_MORE, 0) ||
	    usage_expect(cgroup, "zerocopy", max) ||
	    zc_flush(b, SOCK_DGRAM, SEND_PAGES, 0, 0) ||
	    usage_wait(cgroup, "zerocopy", 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close_pair(a);
	close_pair(b);
	pins_buf_free(buf, SEND_PAGES + 1);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, a finite RLIMIT_MEMLOCK limits the pages of
 * MSG_ZEROCOPY sends held by the user, as on vanilla (with or without the
 * controller); with the controller the cgroup holds them too.
 */
TEST_F(net, zerocopy_rlimit)
{
	if (self->pins)
		ASSERT_EQ(0, pins_set_max(self->cg, PINS_MAX));

	ASSERT_EQ(0, run_child(self->pins ? self->cg : NULL, child_zc_rlimit, NULL));
	if (self->pins)
		ASSERT_EQ(0, usage_wait(self->cg, "zerocopy", 0));
}

/*
 * Child of zerocopy_rlimit_infinity: without CAP_IPC_LOCK and without an
 * RLIMIT_MEMLOCK, a held send charges no rlimit counter: once the rlimit
 * is lowered to what one send needs, another send still fits; the cgroup,
 * if any, holds both.
 */
static int child_zc_rlimit_infinity(const char *cgroup, void *arg)
{
	int a[2] = { -1, -1 }, b[2] = { -1, -1 }, c[2] = { -1, -1 };
	long max = zc_charge(SEND_PAGES);
	int ret = EXIT_FAILURE;
	char *buf;

	buf = pins_buf_alloc(SEND_PAGES, false);
	if (!buf || pins_drop_privileges(PINS_MAX))
		goto out;

	if (zc_open(AF_INET6, SOCK_DGRAM, a) ||
	    zc_open(AF_INET6, SOCK_DGRAM, b) ||
	    zc_open(AF_INET6, SOCK_DGRAM, c))
		goto out;

	if (zc_send(a[TX], buf, SEND_PAGES, MSG_MORE, 0) ||
	    usage_expect(cgroup, "zerocopy", max))
		goto out;

	if (pins_set_memlock(max))
		goto out;

	/* a's pages are not in locked_vm, b's are, and fill it. */
	if (zc_send(b[TX], buf, SEND_PAGES, MSG_MORE, 0) ||
	    usage_expect(cgroup, "zerocopy", 2 * max) ||
	    zc_send(c[TX], buf, 1, MSG_MORE, ENOBUFS) ||
	    usage_expect(cgroup, "zerocopy", 2 * max))
		goto out;

	if (zc_flush(a, SOCK_DGRAM, SEND_PAGES, 0, 0) ||
	    zc_flush(b, SOCK_DGRAM, SEND_PAGES, 0, 0) ||
	    usage_wait(cgroup, "zerocopy", 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close_pair(a);
	close_pair(b);
	close_pair(c);
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/*
 * Without CAP_IPC_LOCK but with an infinite RLIMIT_MEMLOCK, nothing goes
 * to the user's locked_vm, as on vanilla.
 */
TEST_F(net, zerocopy_rlimit_infinity)
{
	ASSERT_EQ(0, run_child(self->pins ? self->cg : NULL, child_zc_rlimit_infinity,
			       NULL));
	if (self->pins)
		ASSERT_EQ(0, usage_wait(self->cg, "zerocopy", 0));
}

/*
 * Child of zerocopy_cap_ipc_lock, as root in the test's cgroup (if any),
 * whose pins.max is then one send of SEND_PAGES and one of a page, less a
 * page. With RLIMIT_MEMLOCK at a page, CAP_IPC_LOCK lets the first send
 * through; the cgroup still refuses the second.
 */
static int child_zc_cap(const char *cgroup, void *arg)
{
	int a[2] = { -1, -1 }, b[2] = { -1, -1 }, ret = EXIT_FAILURE;
	long max = zc_charge(SEND_PAGES);
	char *buf;

	if (pins_set_memlock(1))
		return EXIT_FAILURE;

	if (pins_cap_ipc_lock_effective() != 1) {
		ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
		return EXIT_FAILURE;
	}

	buf = pins_buf_alloc(SEND_PAGES, false);
	if (!buf || zc_open_corked(AF_INET, SOCK_DGRAM, a) ||
	    zc_open_corked(AF_INET, SOCK_STREAM, b))
		goto out;

	if (zc_send(a[TX], buf, SEND_PAGES, MSG_MORE, 0) ||
	    usage_expect(cgroup, "zerocopy", max))
		goto out;

	if (cgroup && (zc_send(b[TX], buf, 1, 0, ENOBUFS) ||
		       usage_expect(cgroup, "zerocopy", max)))
		goto out;

	if (zc_flush(a, SOCK_DGRAM, SEND_PAGES, 0, 0) ||
	    usage_wait(cgroup, "zerocopy", 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close_pair(a);
	close_pair(b);
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for MSG_ZEROCOPY but not pins.max. */
TEST_F(net, zerocopy_cap_ipc_lock)
{
	if (self->pins)
		ASSERT_EQ(0, pins_set_max(self->cg,
					  zc_charge(SEND_PAGES) +
					  zc_charge(1) - 1));

	ASSERT_EQ(0, run_child(self->pins ? self->cg : NULL, child_zc_cap, NULL));
	if (self->pins)
		ASSERT_EQ(0, usage_wait(self->cg, "zerocopy", 0));
}

/*
 * A held send stays charged to the cgroup it was sent from when the sender
 * moves, and is returned there. A send merged into its notification after
 * the move joins that charge; a new send is charged to the new cgroup.
 */
TEST_F(net, zerocopy_migration)
{
	int a[2], b[2];
	long long base;
	char *buf;

	if (!self->pins)
		SKIP(return, "%s", self->why);

	buf = pins_buf_alloc(SEND_PAGES, false);
	ASSERT_NE(NULL, buf);
	base = pins_stat_bytes(self->root, "zerocopy");
	ASSERT_LE(0, base);

	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_DGRAM, a));
	ASSERT_EQ(0, zc_open(AF_INET, SOCK_DGRAM, b));
	ASSERT_EQ(0, zc_send(a[TX], buf, SEND_PAGES, MSG_MORE, 0));
	ASSERT_EQ(0, usage_expect(self->cg, "zerocopy",
				  zc_charge(SEND_PAGES)));

	ASSERT_EQ(0, cg_enter_current(self->sibling));
	ASSERT_EQ(0, usage_expect(self->cg, "zerocopy",
				  zc_charge(SEND_PAGES)));
	ASSERT_EQ(0, usage_expect(self->sibling, "zerocopy", 0));

	/* Appended to the held datagram: its notification's cgroup pays. */
	ASSERT_EQ(0, zc_send(a[TX], buf, 1, MSG_MORE, 0));
	ASSERT_EQ(0, usage_expect(self->cg, "zerocopy",
				  zc_charge(SEND_PAGES) + zc_charge(1)));
	ASSERT_EQ(0, usage_expect(self->sibling, "zerocopy", 0));

	/* A new notification: charged to where the sender is now. */
	ASSERT_EQ(0, zc_send(b[TX], buf, 2, MSG_MORE, 0));
	ASSERT_EQ(0, usage_expect(self->sibling, "zerocopy", zc_charge(2)));
	ASSERT_EQ(0, usage_expect(self->parent, "zerocopy",
				  zc_charge(SEND_PAGES) + zc_charge(1) +
				  zc_charge(2)));
	ASSERT_EQ(base + (zc_charge(SEND_PAGES) + zc_charge(1) +
			  zc_charge(2)) * page_size,
		  pins_stat_bytes(self->root, "zerocopy"));

	ASSERT_EQ(0, zc_flush(a, SOCK_DGRAM, SEND_PAGES + 1, 0, 1));
	ASSERT_EQ(0, usage_wait(self->cg, "zerocopy", 0));
	ASSERT_EQ(0, usage_expect(self->sibling, "zerocopy", zc_charge(2)));

	ASSERT_EQ(0, zc_flush(b, SOCK_DGRAM, 2, 0, 0));
	ASSERT_EQ(0, usage_wait(self->sibling, "zerocopy", 0));
	ASSERT_EQ(0, usage_expect(self->parent, "zerocopy", 0));
	ASSERT_EQ(base, pins_stat_bytes(self->root, "zerocopy"));
	pins_buf_free(buf, SEND_PAGES);
}

/*
 * A UMEM is charged its length in pages, rounded up, from registration
 * until its socket is closed; two UMEMs add up.
 */
TEST_F(net, xdp_umem)
{
	int x1, x2;
	struct site s;
	char *buf;

	if (!self->pins)
		SKIP(return, "%s", self->why);
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	buf = pins_buf_alloc(SEND_PAGES, false);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg, "xdp"));
	x1 = xsk_open();
	ASSERT_LE(0, x1);
	x2 = xsk_open();
	ASSERT_LE(0, x2);

	ASSERT_EQ(0, umem_reg_pages(x1, buf, SEND_PAGES, 0));
	ASSERT_EQ(0, held(&s, SEND_PAGES));

	/* 2048-byte chunks: half a page at the end is a whole page. */
	ASSERT_EQ(0, umem_reg(x2, buf, (SEND_PAGES - 1) * page_size + 2048,
			      2048, 0));
	ASSERT_EQ(0, held(&s, 2 * SEND_PAGES));

	/* The UMEM goes with its socket, maybe a little later. */
	close(x1);
	ASSERT_EQ(0, held_wait(&s, SEND_PAGES));
	close(x2);
	ASSERT_EQ(0, held_wait(&s, 0));
	pins_buf_free(buf, SEND_PAGES);
}

/*
 * A registration that @limited's pins.max refuses fails with ENOBUFS and
 * charges nothing; one that fits exactly is taken.
 */
static int xdp_refusal(const struct site *s, const char *limited)
{
	int x = -1, ret = -1;
	char *buf;

	buf = pins_buf_alloc(SEND_PAGES, false);
	if (!buf || pins_set_max(limited, SEND_PAGES - 1))
		goto out;

	x = xsk_open();
	if (x < 0)
		goto out;

	if (umem_reg_pages(x, buf, SEND_PAGES, ENOBUFS) || held(s, 0))
		goto out;

	/* The socket can still take a UMEM, within the limit. */
	if (umem_reg_pages(x, buf, SEND_PAGES - 1, 0) ||
	    held(s, SEND_PAGES - 1) ||
	    pins_expect(s->cg, "pins.peak", SEND_PAGES - 1))
		goto out;

	pins_close_fd(&x);
	if (held_wait(s, 0))
		goto out;

	ret = 0;
out:
	pins_close_fd(&x);
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/*
 * Enables pins:charge_refused with an empty trace, if tracefs is there.
 * Returns its directory, or NULL (reported) if it isn't or can't be.
 */
static const char *xdp_trace_start(bool *traced)
{
	const char *dir = pins_tracefs();

	if (!dir) {
		ksft_print_msg("no tracefs: the refusal's trace event is not checked\n");
		return NULL;
	}
	*traced = true;
	if (write_file(dir, REFUSED_EVENT, "1", 0) ||
	    write_file(dir, "trace", "", O_TRUNC))
		return NULL;

	return dir;
}

/*
 * Returns 0 if the trace in @dir holds exactly one pins:charge_refused
 * event, and it is xdp_refusal()'s: SEND_PAGES pages for @cg refused by
 * @limiter's pins.max of SEND_PAGES - 1 pages with nothing charged.
 */
static int xdp_traced(const char *dir, const char *cg, const char *limiter)
{
	char comm[32] = "", want[256], *trace;
	int ret = -1;
	FILE *f;

	f = fopen("/proc/self/comm", "r");
	if (!f || !fgets(comm, sizeof(comm), f)) {
		ksft_print_msg("can't read /proc/self/comm\n");
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(want, sizeof(want),
		 " pid=%d comm=%s cgroup=%llu limiter=%llu source=xdp pages=%d limit=%d usage=0\n",
		 getpid(), comm, pins_cg_id(cg), pins_cg_id(limiter),
		 SEND_PAGES, SEND_PAGES - 1);
	trace = trace_read(dir);
	if (!trace)
		return -1;
	if (count_lines(trace, "charge_refused:") != 1 ||
	    count_lines(trace, want) != 1)
		ksft_print_msg("expected one \"%s\" in the trace:\n%s", want,
			       trace);
	else
		ret = 0;
	free(trace);

	return ret;
}

/*
 * The cgroup's pins.max refuses a UMEM: ENOBUFS, counted as events and
 * traced.
 */
TEST_F(net, xdp_refused_cgroup)
{
	const char *dir;
	struct site s;

	if (!self->pins)
		SKIP(return, "%s", self->why);
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg, "xdp"));
	dir = xdp_trace_start(&self->traced);
	ASSERT_EQ(0, xdp_refusal(&s, self->cg));
	ASSERT_EQ(0, pins_events_expect(self->cg, 1, 1));
	ASSERT_EQ(0, pins_events_expect(self->parent, 1, 0));
	if (dir)
		ASSERT_EQ(0, xdp_traced(dir, self->cg, self->cg));
}

/*
 * The parent's pins.max refuses a UMEM: ENOBUFS, counted as events and
 * traced.
 */
TEST_F(net, xdp_refused_parent)
{
	const char *dir;
	struct site s;

	if (!self->pins)
		SKIP(return, "%s", self->why);
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	ASSERT_EQ(0, cg_enter_current(self->cg));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg, "xdp"));
	dir = xdp_trace_start(&self->traced);
	ASSERT_EQ(0, xdp_refusal(&s, self->parent));
	ASSERT_EQ(0, pins_events_expect(self->cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->parent, 1, 1));
	if (dir)
		ASSERT_EQ(0, xdp_traced(dir, self->cg, self->parent));
}

/*
 * Register a page as the UMEM of @fd once the user's locked_vm has room
 * for it again, which a closed UMEM's release may take a moment to make.
 */
static int umem_reg_page_wait(int fd, char *buf)
{
	long long end = now_ms() + TIMEOUT_MS;
	struct xdp_umem_reg mr = {
		.addr = (unsigned long)buf,
		.len = page_size,
		.chunk_size = page_size,
	};

	while (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr))) {
		if (errno != ENOBUFS || now_ms() >= end) {
			ksft_print_msg("XDP_UMEM_REG of a page: %s\n",
				       strerror(errno));
			return -1;
		}
		usleep(10000);
	}

	return 0;
}

/*
 * Child of xdp_rlimit: sockets made as root (AF_XDP needs CAP_NET_RAW),
 * UMEMs registered without CAP_IPC_LOCK, with RLIMIT_MEMLOCK at
 * SEND_PAGES pages: one page more is refused, SEND_PAGES are taken and
 * fill the user's locked_vm, which refuses a page on another socket until
 * the first UMEM is gone. The cgroup, if any, holds what locked_vm holds.
 */
static int child_xdp_rlimit(const char *cgroup, void *arg)
{
	int x1 = -1, x2 = -1, ret = EXIT_FAILURE;
	char *buf;

	buf = pins_buf_alloc(SEND_PAGES + 1, false);
	if (!buf)
		goto out;

	x1 = xsk_open();
	x2 = xsk_open();
	if (x1 < 0 || x2 < 0 || pins_drop_privileges(SEND_PAGES))
		goto out;

	if (umem_reg_pages(x1, buf, SEND_PAGES + 1, ENOBUFS) ||
	    usage_expect(cgroup, "xdp", 0))
		goto out;

	if (umem_reg_pages(x1, buf, SEND_PAGES, 0) ||
	    usage_expect(cgroup, "xdp", SEND_PAGES))
		goto out;

	if (umem_reg_pages(x2, buf, 1, ENOBUFS) ||
	    usage_expect(cgroup, "xdp", SEND_PAGES))
		goto out;

	pins_close_fd(&x1);
	if (usage_wait(cgroup, "xdp", 0) || umem_reg_page_wait(x2, buf) ||
	    usage_expect(cgroup, "xdp", 1))
		goto out;

	pins_close_fd(&x2);
	if (usage_wait(cgroup, "xdp", 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	pins_close_fd(&x1);
	pins_close_fd(&x2);
	pins_buf_free(buf, SEND_PAGES + 1);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits the user's UMEMs as on
 * vanilla (with or without the controller); with the controller the
 * cgroup holds their pages too.
 */
TEST_F(net, xdp_rlimit)
{
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	if (self->pins)
		ASSERT_EQ(0, pins_set_max(self->cg, PINS_MAX));

	ASSERT_EQ(0, run_child(self->pins ? self->cg : NULL, child_xdp_rlimit, NULL));
	if (self->pins)
		ASSERT_EQ(0, usage_wait(self->cg, "xdp", 0));
}

/*
 * Child of xdp_cap_ipc_lock, as root in the test's cgroup (if any), whose
 * pins.max is then SEND_PAGES + 2 pages: with RLIMIT_MEMLOCK at a page,
 * CAP_IPC_LOCK lets SEND_PAGES through; the cgroup refuses 3 more and
 * takes 2.
 */
static int child_xdp_cap(const char *cgroup, void *arg)
{
	int x1 = -1, x2 = -1, ret = EXIT_FAILURE;
	char *buf;

	if (pins_set_memlock(1))
		return EXIT_FAILURE;

	if (pins_cap_ipc_lock_effective() != 1) {
		ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
		return EXIT_FAILURE;
	}

	buf = pins_buf_alloc(SEND_PAGES, false);
	x1 = xsk_open();
	x2 = xsk_open();
	if (!buf || x1 < 0 || x2 < 0)
		goto out;

	if (umem_reg_pages(x1, buf, SEND_PAGES, 0) ||
	    usage_expect(cgroup, "xdp", SEND_PAGES))
		goto out;

	if (cgroup && (umem_reg_pages(x2, buf, 3, ENOBUFS) ||
		       usage_expect(cgroup, "xdp", SEND_PAGES)))
		goto out;

	if (umem_reg_pages(x2, buf, 2, 0) ||
	    usage_expect(cgroup, "xdp", SEND_PAGES + 2))
		goto out;

	pins_close_fd(&x1);
	pins_close_fd(&x2);
	if (usage_wait(cgroup, "xdp", 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	pins_close_fd(&x1);
	pins_close_fd(&x2);
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for UMEMs but not pins.max. */
TEST_F(net, xdp_cap_ipc_lock)
{
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	if (self->pins)
		ASSERT_EQ(0, pins_set_max(self->cg, SEND_PAGES + 2));

	ASSERT_EQ(0, run_child(self->pins ? self->cg : NULL, child_xdp_cap, NULL));
	if (self->pins)
		ASSERT_EQ(0, usage_wait(self->cg, "xdp", 0));
}

/*
 * Child of xdp_scm_rights, in @cgroup: register a UMEM, pass its socket
 * over @sock, close it and exit.
 */
static int child_xdp_registrant(const char *cgroup, int sock)
{
	int x = -1, ret = EXIT_FAILURE;
	char *buf;

	if (cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		return EXIT_FAILURE;
	}

	buf = pins_buf_alloc(SEND_PAGES, false);
	x = xsk_open();
	if (!buf || x < 0)
		goto out;

	if (umem_reg_pages(x, buf, SEND_PAGES, 0) ||
	    usage_expect(cgroup, "xdp", SEND_PAGES))
		goto out;

	if (pins_sock_send(sock, 'F', x))
		goto out;

	ret = EXIT_SUCCESS;
out:
	/* The pages stay pinned and charged: the socket we sent holds them. */
	pins_close_fd(&x);
	pins_buf_free(buf, SEND_PAGES);

	return ret;
}

/*
 * An AF_XDP socket passed to a process in another cgroup keeps its UMEM
 * charged to the registrant's cgroup after the registrant closed it and
 * exited, until the receiver closes it.
 */
TEST_F(net, xdp_scm_rights)
{
	int sock, x = -1;
	struct site s;
	pid_t pid;

	if (!self->pins)
		SKIP(return, "%s", self->why);
	if (!self->xdp)
		SKIP(return, "no AF_XDP sockets");

	ASSERT_EQ(0, cg_enter_current(self->sibling));
	ASSERT_EQ(0, site_init(&s, self->root, self->parent, self->cg, "xdp"));
	pid = pins_fork_peer(NULL, &sock);
	ASSERT_LE(0, pid);
	if (!pid)
		pins_child_exit(child_xdp_registrant(self->cg, sock));

	ASSERT_EQ(0, pins_sock_recv(sock, 'F', &x));
	ASSERT_EQ(0, pins_reap(&pid));
	close(sock);

	/* Registrant gone, its socket with us in the sibling: still its. */
	ASSERT_EQ(0, held(&s, SEND_PAGES));
	ASSERT_EQ(0, usage_expect(self->sibling, "xdp", 0));

	close(x);
	ASSERT_EQ(0, held_wait(&s, 0));
	ASSERT_EQ(0, usage_expect(self->sibling, "xdp", 0));
}

TEST_HARNESS_MAIN
