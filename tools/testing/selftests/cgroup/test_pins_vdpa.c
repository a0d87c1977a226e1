// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for how vhost-vdpa (the vdpa tests) and VDUSE (the vduse tests)
 * charge pinned memory to the "pins" cgroup v2 controller, under "vdpa" in
 * pins.stat, and to RLIMIT_MEMLOCK.
 *
 * vhost-vdpa, on a vDPA net simulator device made over the vdpa generic
 * netlink family (the kernel boots with vdpa_sim.use_va=0, so the simulator
 * maps physical addresses and vhost-vdpa pins what it maps): an IOTLB update
 * (a struct vhost_msg_v2 written to /dev/vhost-vdpa-N) pins every page it
 * spans. The pages are charged, one per page, to the pins cgroup of the task
 * that did VHOST_SET_OWNER, as it was then, and to the owner's
 * mm->pinned_vm (the "VmPin:" line of /proc/<pid>/status). An IOTLB
 * invalidation and the device's release give them back, to where they were
 * charged, whoever holds the device by then and wherever the owner moved.
 * The update is refused, as on vanilla 6.12, when its pages and the owner's
 * VmPin would exceed the writer's RLIMIT_MEMLOCK, CAP_IPC_LOCK or not, and
 * when they would exceed a pins.max (CAP_IPC_LOCK never bypasses it). The
 * whole update is charged before anything is pinned, so a refused update
 * fails the write() with EFAULT (vhost's errno for every failed IOTLB
 * message) having pinned nothing (the system's FOLL_PIN count from
 * /proc/vmstat) and charged nothing, and never raised pins.peak. A refusal
 * by a pins.max is counted in pins.events, logged once per limiting cgroup
 * and traced by pins:charge_refused with pages= the update's pages and
 * usage= the limiter's usage before it.
 *
 * vhost-vdpa maps each physically contiguous run of pages as a chunk of its
 * own; the vdpa tests map buffers no two pages of which are physically
 * contiguous (arranged through /proc/self/pagemap and mremap()), so that an
 * update has a chunk per page. An update that fails part-way, with some
 * chunks mapped and one pinned but not yet mapped, leaves nothing pinned,
 * charged, counted in VmPin or mapped: fault_all_or_nothing makes it fail at
 * each of its fault-injection points in turn (/proc/thread-self/fail-nth and
 * failslab, whose settings it sets and restores: the non-sleeping
 * allocations of vhost's IOTLB and of the simulator's), with or without the
 * pins controller. The simulator's device is bound to vhost_vdpa, whichever
 * vDPA bus driver (virtio_vdpa is another) picked it.
 *
 * VDUSE: each vduse test makes a VDUSE virtio-net device (two virtqueues, a
 * bounce buffer of VDUSE_BOUNCE bytes) and runs its "VDUSE daemon", a
 * thread that answers every request the kernel reads to /dev/vduse/<name>
 * with VDUSE_REQ_RESULT_OK. It adds the device's vDPA device over the vdpa
 * generic netlink family, binds it to virtio_vdpa (not vhost_vdpa) and
 * brings virtio_net's interface up: virtio_net DMA-maps its receive buffers
 * through the device, which sets up the bounce buffer's IOTLB entry that
 * VDUSE_IOTLB_REG_UMEM needs.
 *
 * VDUSE_IOTLB_REG_UMEM of the bounce buffer (uaddr page-aligned, iova 0,
 * size the bounce buffer's) pins its VDUSE_BOUNCE / 4096 pages and charges
 * them to the pins cgroup of the registrant, as it is at registration, and
 * to its VmPin. VDUSE_IOTLB_DEREG_UMEM gives them back, and so does the
 * release of the device's fd (its last close): to the cgroup that was
 * charged, wherever the registrant moved, and even after the registrant
 * exited or its cgroup was removed. Deleting the vDPA device leaves the
 * umem registered. REG_UMEM is refused with ENOMEM, as on vanilla 6.12,
 * when its pages and the registrant's VmPin would exceed its
 * RLIMIT_MEMLOCK, CAP_IPC_LOCK or not, and when they would exceed a
 * pins.max of its cgroup or an ancestor, which CAP_IPC_LOCK never
 * bypasses. A refused REG_UMEM pins nothing and charges nothing; a refusal
 * by a pins.max is counted in pins.events, logged once per limiting cgroup
 * and traced by pins:charge_refused with pages= the bounce buffer's pages.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on a
 * fixture that makes a cgroup with pins enabled for its children, a child
 * of it that the test charges, and the test's device, and removes them all
 * afterwards: the vdpa fixture a simulator device; the vduse fixture a
 * VDUSE device, which it takes down in this order: DEREG_UMEM,
 * VDPA_CMD_DEV_DEL, the daemon stops, the fd is closed, VDUSE_DESTROY_DEV.
 * The vdpa tests report SKIP without vhost-vdpa and the simulator,
 * fault_all_or_nothing also without fault injection; the vduse tests
 * without VDUSE, virtio_vdpa or virtio_net. Without the pins controller
 * rlimit_as_vanilla and fault_all_or_nothing of the vdpa tests and
 * reg_dereg, rlimit_as_vanilla, rlimit_counts_vmpin and registrant_exit of
 * the vduse tests run, in the current cgroup, and check VmPin, the pinned
 * pages and errnos only (as vanilla); the other tests report SKIP.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/genetlink.h>
#include <linux/io_uring.h>
#include <linux/limits.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>
#include <linux/vduse.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* The memory a test maps from, in pages. */
#define BUF_PAGES	16

/* An IOVA far from 0, for a second mapping. */
#define IOVA_B		0x40000000ULL

/* The vDPA simulator device the vdpa tests make. */
#define SIM_MGMTDEV	"vdpasim_net"
#define SIM_NAME	"pins-vdpa"

/* The pages fault_all_or_nothing maps. */
#define FAULT_PAGES	4

/* The most fault-injection points an update of FAULT_PAGES may have. */
#define FAULT_MAX_NTH	100

/* failslab's settings in debugfs. */
#define FAILSLAB_DIR	"/sys/kernel/debug/failslab"
#define FAILSLAB_KNOBS	3

/*
 * What fault_all_or_nothing sets them to: only allocations that can't sleep
 * fail (the default), from any slab cache, without a report in the log.
 */
static const char * const failslab_knobs[FAILSLAB_KNOBS][2] = {
	{ "ignore-gfp-wait", "Y" },
	{ "cache-filter", "N" },
	{ "verbose", "0" },
};

/* The VDUSE device the tests make, and its bounce buffer (the least). */
#define VDUSE_NAME	"pins-vduse-net"
#define VDUSE_DEV	"/dev/vduse/" VDUSE_NAME
#define VDUSE_SYSFS	"/sys/class/vduse/" VDUSE_NAME
#define VDPA_DEV	"/sys/bus/vdpa/devices/" VDUSE_NAME
#define VDUSE_BOUNCE	(1024 * 1024)

/* The pages of the bounce buffer: what REG_UMEM pins and charges. */
#define UMEM_PAGES	(VDUSE_BOUNCE / 4096)

/* Virtqueues: receive and transmit; their size. */
#define VQ_NUM		2
#define VQ_SIZE		64

/* Seconds the kernel waits for the daemon's answer to a request. */
#define MSG_TIMEOUT	"10"

/* A generic netlink message: request or answer. */
struct genl_msg {
	struct nlmsghdr nlh;
	struct genlmsghdr genl;
	char attrs[1024];
};

/* Start @m as a request @cmd to the generic netlink family @family. */
static void genl_init(struct genl_msg *m, __u16 family, __u8 cmd)
{
	memset(m, 0, sizeof(*m));
	m->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->nlh.nlmsg_type = family;
	m->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m->genl.cmd = cmd;
	m->genl.version = 1;
}

/* Add the string attribute @type, @s, to @m (whose room suffices). */
static void genl_put_str(struct genl_msg *m, __u16 type, const char *s)
{
	size_t off = NLMSG_ALIGN(m->nlh.nlmsg_len), len = strlen(s) + 1;
	struct nlattr *nla = (struct nlattr *)((char *)m + off);

	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, s, len);
	m->nlh.nlmsg_len = off + NLA_ALIGN(nla->nla_len);
}

/*
 * Send @req and read the first answer into @ans. Returns 0 if it is an ack
 * or a reply, the -errno of an error answer, or -errno if the exchange
 * failed.
 */
static int genl_talk(struct genl_msg *req, struct genl_msg *ans)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nlmsgerr *err;
	ssize_t len;
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;

	if (sendto(fd, req, req->nlh.nlmsg_len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	len = recv(fd, ans, sizeof(*ans), 0);
	if (len < 0) {
		ret = -errno;
		goto out;
	}

	ret = -EPROTO;
	if (!NLMSG_OK(&ans->nlh, len))
		goto out;
	ret = 0;
	if (ans->nlh.nlmsg_type == NLMSG_ERROR) {
		err = NLMSG_DATA(&ans->nlh);
		ret = err->error;
	}
out:
	close(fd);

	return ret;
}

/* The id of the "vdpa" generic netlink family, or -errno. */
static int vdpa_family(void)
{
	struct genl_msg req, ans;
	struct nlattr *nla;
	int ret, left;

	genl_init(&req, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	genl_put_str(&req, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
	ret = genl_talk(&req, &ans);
	if (ret)
		return ret;

	nla = (struct nlattr *)ans.attrs;
	left = ans.nlh.nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	while (left >= NLA_HDRLEN && nla->nla_len >= NLA_HDRLEN &&
	       nla->nla_len <= left) {
		if (nla->nla_type == CTRL_ATTR_FAMILY_ID)
			return *(__u16 *)((char *)nla + NLA_HDRLEN);
		left -= NLA_ALIGN(nla->nla_len);
		nla = (struct nlattr *)((char *)nla + NLA_ALIGN(nla->nla_len));
	}

	return -EPROTO;
}

/*
 * Add the vDPA device @name with the management device @mgmtdev, or with
 * @mgmtdev NULL, delete it. Returns 0 or -errno.
 */
static int vdpa_dev(const char *mgmtdev, const char *name)
{
	struct genl_msg req, ans;
	int family;

	family = vdpa_family();
	if (family < 0)
		return family;

	genl_init(&req, family, mgmtdev ? VDPA_CMD_DEV_NEW : VDPA_CMD_DEV_DEL);
	if (mgmtdev)
		genl_put_str(&req, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev);
	genl_put_str(&req, VDPA_ATTR_DEV_NAME, name);

	return genl_talk(&req, &ans);
}

/*
 * Pages pinned (FOLL_PIN) in the whole system: nr_foll_pin_acquired less
 * nr_foll_pin_released of /proc/vmstat, once the per-CPU counts are folded
 * in (which takes root), or -1 if that can't be had.
 */
static long long foll_pinned(void)
{
	long long acquired = -1, released = -1;
	char line[256];
	FILE *f;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, "1", 1) != 1) {
		close(fd);
		return -1;
	}
	close(fd);

	f = fopen("/proc/vmstat", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "nr_foll_pin_acquired ", 21))
			acquired = strtoll(line + 21, NULL, 10);
		else if (!strncmp(line, "nr_foll_pin_released ", 21))
			released = strtoll(line + 21, NULL, 10);
	}
	fclose(f);

	if (acquired < 0 || released < 0)
		return -1;

	return acquired - released;
}

/*
 * What a test of either fixture works with, in the fixture, which is shared
 * memory (see struct pins_tree): the device's fd in the test's process, for
 * the teardown to use if it runs there.
 */
struct fix {
	struct pins_tree tree;	/* root_base: the root's vdpa pages */
	long long pin_base;	/* pages pinned in the system at setup */
	pid_t test_pid;		/* the test's process */
	int fd;			/* its fd of the device, or -1 */
	/* The vdpa fixture's: */
	char dev[PATH_MAX];	/* the simulator's /dev/vhost-vdpa-N */
	bool have_dev;		/* the simulator device exists */
	bool failslab_set;	/* failslab's settings to restore: */
	char failslab[FAILSLAB_KNOBS][32];
};

/*
 * Returns 0 if @cg pages of the device are charged to the fixture's cgroup
 * and @sib to its sibling, and @uring pages of io_uring buffers to the
 * fixture's cgroup: counted in the system's pinned pages (checked as root
 * only), charged to those cgroups, to their parent and, on top of what it
 * had at setup, to the root's vdpa line; and if @vmpin isn't negative, if
 * the VmPin of @pid (0: this process) is @vmpin pages. Without the pins
 * controller only the pinned pages and VmPin are checked. Every difference
 * is reported if @verbose.
 */
static int check_all(struct fix *fx, long cg, long sib, long uring,
		     pid_t pid, long vmpin, bool verbose)
{
	long long pinned;
	int ret = 0;

	if (vmpin >= 0 && pins_status_check(pid, "VmPin", vmpin, verbose))
		ret = -1;

	if (fx->pin_base >= 0 && !geteuid()) {
		pinned = foll_pinned() - fx->pin_base;
		if (pinned != cg + sib + uring) {
			if (verbose)
				ksft_print_msg("%lld pages pinned in the system, expected %ld\n",
					       pinned, cg + sib + uring);
			ret = -1;
		}
	}

	if (pins_tree_check_other(&fx->tree, "vdpa", cg, sib, "io_uring", uring,
				  verbose))
		ret = -1;

	return ret;
}

/* check_all() of the device's pages for this process, telling what differs. */
static int expect_all(struct fix *fx, long cg, long sib, long vmpin)
{
	return check_all(fx, cg, sib, 0, 0, vmpin, true);
}

/*
 * expect_all() for another process, giving the kernel up to two seconds
 * to get there, for charges returned when a process exits.
 */
static int wait_all(struct fix *fx, long cg, long sib)
{
	int tries = 0;

	while (pins_retry(&tries))
		if (!check_all(fx, cg, sib, 0, 0, -1, false))
			return 0;

	return expect_all(fx, cg, sib, -1);
}

/*
 * Run @fn(@fx) in a child process, in the fixture's cgroup if there is
 * one. Returns 0 if it exited with EXIT_SUCCESS.
 */
static int run_child(struct fix *fx, int (*fn)(struct fix *fx))
{
	pid_t pid = pins_fork(fx->tree.have_pins ? fx->tree.cg : NULL);

	if (pid == 0)
		pins_child_exit(fn(fx));
	fx->tree.pid = pid;

	return pid < 0 ? -1 : pins_reap(&fx->tree.pid);
}

/*
 * The part of the setup both fixtures share, before the device is made:
 * count the pages pinned in the system and, with the pins controller, make
 * the cgroups, "pins_<fixture>_<test>" and its child. Without the
 * controller only some tests run.
 */
static void setup_common(struct __test_metadata *_metadata, struct fix *fx)
{
	int ret;

	fx->pin_base = foll_pinned();

	/* Teardown only follows a complete setup: that undoes a partial one. */
	ret = pins_tree_setup(&fx->tree, _metadata->fixture->name,
			      _metadata->name, "vdpa");
	if (ret == KSFT_SKIP)
		return;
	ASSERT_EQ(KSFT_PASS, ret);
}

/*
 * The start of the refusal tests: skip without the pins controller or
 * tracefs, make the tracefs instance "pins_<fixture>" and open /dev/kmsg,
 * and put in @text (PATH_MAX + 64) the line the first refusal by @limiter
 * logs. Returns the /dev/kmsg fd, or -1 if the test is skipped.
 */
static int refusals_start(struct __test_metadata *_metadata, struct fix *fx,
			  const char *limiter, char *text)
{
	char name[NAME_MAX];
	int kmsg, ret;

	if (!fx->tree.have_pins)
		SKIP(return -1, "pins controller not available");

	snprintf(name, sizeof(name), "pins_%s", _metadata->fixture->name);
	ret = pins_trace_start(fx->tree.instance, name);
	if (ret > 0)
		SKIP(return -1, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);
	pins_refusal_text(text, PATH_MAX + 64, "vdpa", fx->tree.root, limiter);

	return kmsg;
}

/* The vdpa tests: vhost-vdpa on the simulator. */

/*
 * Bind vDPA device @name to vhost_vdpa, which may not be the driver the bus
 * picked for it (virtio_vdpa is built in too). Returns 0 or -1.
 */
static int vhost_vdpa_bind(const char *name)
{
	char link[PATH_MAX], drv[NAME_MAX + 1], path[PATH_MAX];
	const char *base;
	ssize_t len;

	snprintf(link, sizeof(link), "/sys/bus/vdpa/devices/%s/driver", name);
	len = readlink(link, drv, sizeof(drv) - 1);
	if (len > 0) {
		drv[len] = '\0';
		base = strrchr(drv, '/');
		base = base ? base + 1 : drv;
		if (!strcmp(base, "vhost_vdpa"))
			return 0;
		snprintf(path, sizeof(path), "/sys/bus/vdpa/drivers/%s/unbind",
			 base);
		if (pins_write_file(path, name, 0)) {
			ksft_print_msg("unbind %s from %s failed\n", name, base);
			return -1;
		}
	}
	if (pins_write_file("/sys/bus/vdpa/drivers/vhost_vdpa/bind", name, 0)) {
		ksft_print_msg("bind %s to vhost_vdpa failed\n", name);
		return -1;
	}
	return 0;
}

/*
 * Find the /dev/vhost-vdpa-N of vDPA device @name, into @path (PATH_MAX).
 * Returns 0, or -1 if it doesn't appear within two seconds.
 */
static int vhost_vdpa_path(const char *name, char *path)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int i, found;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/vdpa/devices/%s", name);
	for (i = 0; i < 200; i++) {
		found = 0;
		d = opendir(dir);
		while (d && (de = readdir(d))) {
			if (strncmp(de->d_name, "vhost-vdpa-", 11))
				continue;
			snprintf(path, PATH_MAX, "/dev/%s", de->d_name);
			found = 1;
			break;
		}
		if (d)
			closedir(d);
		if (found && !access(path, F_OK))
			return 0;
		usleep(10000);
	}

	ksft_print_msg("no /dev/vhost-vdpa-N for %s\n", dir);
	return -1;
}

/* Read the PFNs of the @npages pages at @buf into @pfn. Returns 0 or -1. */
static int read_pfns(const char *buf, long npages, unsigned long long *pfn)
{
	unsigned long long entry;
	int fd, ret = -1;
	off_t off;
	long i;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open pagemap: %s\n", strerror(errno));
		return -1;
	}

	for (i = 0; i < npages; i++) {
		off = ((uintptr_t)buf / page_size + i) * sizeof(entry);
		if (pread(fd, &entry, sizeof(entry), off) != sizeof(entry)) {
			ksft_print_msg("read pagemap: %s\n", strerror(errno));
			goto out;
		}
		pfn[i] = entry & ((1ULL << 55) - 1);
		if (!(entry >> 63) || !pfn[i]) {
			ksft_print_msg("no PFN for page %ld in pagemap\n", i);
			goto out;
		}
	}
	ret = 0;
out:
	close(fd);

	return ret;
}

/*
 * Map @npages read-write pages, none of which is physically contiguous to
 * the page before it: vhost-vdpa maps and charges each as a chunk of its
 * own. Their PFNs, read through /proc/self/pagemap (which shows them to
 * root only), go down page by page: each is moved in place with mremap().
 * Returns the memory, for pins_buf_free(), or NULL (reported).
 */
static char *buf_scattered(long npages)
{
	unsigned long long pfn[BUF_PAGES];
	char *src, *dst = MAP_FAILED;
	int order[BUF_PAGES];
	long i, j;
	int tmp;

	if (npages > BUF_PAGES)
		return NULL;
	src = pins_buf_alloc(npages, true);
	if (!src || read_pfns(src, npages, pfn))
		goto fail;

	/* The pages by PFN, highest first. */
	for (i = 0; i < npages; i++)
		order[i] = i;
	for (i = 1; i < npages; i++)
		for (j = i; j > 0 && pfn[order[j]] > pfn[order[j - 1]]; j--) {
			tmp = order[j];
			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}

	dst = mmap(NULL, npages * page_size, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		goto fail;
	for (i = 0; i < npages; i++)
		if (mremap(pins_page_at(src, order[i]), page_size, page_size,
			   MREMAP_MAYMOVE | MREMAP_FIXED,
			   pins_page_at(dst, i)) != pins_page_at(dst, i))
			goto fail;

	if (read_pfns(dst, npages, pfn))
		goto fail;
	for (i = 1; i < npages; i++)
		if (pfn[i] >= pfn[i - 1]) {
			ksft_print_msg("PFNs of pages %ld and %ld: %#llx %#llx\n",
				       i - 1, i, pfn[i - 1], pfn[i]);
			goto fail;
		}

	return dst;

fail:
	ksft_print_msg("can't map %ld scattered pages: %s\n", npages,
		       strerror(errno));
	if (dst != MAP_FAILED)
		munmap(dst, npages * page_size);
	pins_buf_free(src, npages);

	return NULL;
}

/*
 * Write an IOTLB message (v2) of type @type for @size bytes at @iova, from
 * @uaddr, read-write, to the vhost-vdpa device @fd. Returns 0 or -errno.
 */
static int iotlb_msg(int fd, __u8 type, __u64 iova, __u64 size,
		     const char *uaddr)
{
	struct vhost_msg_v2 msg = { .type = VHOST_IOTLB_MSG_V2 };
	ssize_t ret;

	msg.iotlb.iova = iova;
	msg.iotlb.size = size;
	msg.iotlb.uaddr = (uintptr_t)uaddr;
	msg.iotlb.perm = VHOST_ACCESS_RW;
	msg.iotlb.type = type;

	ret = write(fd, &msg, sizeof(msg));
	if (ret < 0)
		return -errno;

	return ret == sizeof(msg) ? 0 : -EIO;
}

/*
 * Map @npages pages at @buf at @iova of @fd. Returns 0 if that ends with
 * errno @err (0 for success).
 */
static int map(int fd, __u64 iova, const char *buf, long npages, int err)
{
	int ret = iotlb_msg(fd, VHOST_IOTLB_UPDATE, iova, npages * page_size,
			    buf);

	if (ret != -err) {
		ksft_print_msg("IOTLB update of %ld pages at %#llx: got %d, expected %d\n",
			       npages, (unsigned long long)iova, ret, -err);
		return -1;
	}

	return 0;
}

/* Unmap @npages pages at @iova of @fd. Returns 0 or -1 (reported). */
static int unmap(int fd, __u64 iova, long npages)
{
	int ret = iotlb_msg(fd, VHOST_IOTLB_INVALIDATE, iova,
			    npages * page_size, NULL);

	if (ret) {
		ksft_print_msg("IOTLB invalidation of %ld pages at %#llx: %s\n", npages,
			       (unsigned long long)iova, strerror(-ret));
		return -1;
	}

	return 0;
}

/*
 * Become the owner of the vhost-vdpa device @fd and set it up for IOTLB
 * messages v2; check that its IOVA range is the simulator's, all of it.
 * Returns 0 or -1 (reported).
 */
static int dev_own(int fd)
{
	struct vhost_vdpa_iova_range range;
	__u64 features;

	if (ioctl(fd, VHOST_SET_OWNER)) {
		ksft_print_msg("VHOST_SET_OWNER: %s\n", strerror(errno));
		return -1;
	}

	if (ioctl(fd, VHOST_GET_BACKEND_FEATURES, &features)) {
		ksft_print_msg("VHOST_GET_BACKEND_FEATURES: %s\n",
			       strerror(errno));
		return -1;
	}
	if (!(features & (1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2))) {
		ksft_print_msg("no VHOST_BACKEND_F_IOTLB_MSG_V2 in %#llx\n",
			       (unsigned long long)features);
		return -1;
	}
	features = 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2;
	if (ioctl(fd, VHOST_SET_BACKEND_FEATURES, &features)) {
		ksft_print_msg("VHOST_SET_BACKEND_FEATURES: %s\n",
			       strerror(errno));
		return -1;
	}

	if (ioctl(fd, VHOST_VDPA_GET_IOVA_RANGE, &range)) {
		ksft_print_msg("VHOST_VDPA_GET_IOVA_RANGE: %s\n",
			       strerror(errno));
		return -1;
	}
	if (range.first || range.last != ~0ULL) {
		ksft_print_msg("IOVA range [%#llx, %#llx], expected all\n",
			       (unsigned long long)range.first,
			       (unsigned long long)range.last);
		return -1;
	}

	return 0;
}

FIXTURE(vdpa) {
	struct fix fx;
};

/* Undo what a setup that failed half-way made. */
static void undo_setup(struct fix *fx)
{
	if (fx->have_dev)
		vdpa_dev(NULL, SIM_NAME);
	fx->have_dev = false;
	pins_tree_teardown(&fx->tree);
}

FIXTURE_SETUP(vdpa)
{
	struct fix *fx = &self->fx;
	char buf[16];
	int ret;

	pins_util_init();
	fx->fd = -1;
	fx->test_pid = getpid();

	if (access("/sys/bus/vdpa/drivers/vhost_vdpa", F_OK))
		SKIP(return, "no vhost_vdpa driver (CONFIG_VHOST_VDPA)");
	if (cg_read("/sys/module/vdpa_sim/parameters", "use_va", buf,
		    sizeof(buf)))
		SKIP(return, "no vDPA simulator (CONFIG_VDPA_SIM)");
	if (strcmp(buf, "N\n"))
		SKIP(return,
		     "the simulator maps by VA, pinning nothing: boot with vdpa_sim.use_va=0");
	ret = vdpa_family();
	if (ret < 0)
		SKIP(return, "no vdpa netlink family: %s", strerror(-ret));
	/* Left over by an earlier run that was killed? */
	vdpa_dev(NULL, SIM_NAME);

	setup_common(_metadata, fx);

	ret = vdpa_dev(SIM_MGMTDEV, SIM_NAME);
	if (ret) {
		undo_setup(fx);
		if (ret == -ENODEV)
			SKIP(return, "no %s vDPA management device",
			     SIM_MGMTDEV);
		TH_LOG("add vDPA device %s: %s", SIM_NAME, strerror(-ret));
		ASSERT_EQ(0, ret);
	}
	fx->have_dev = true;
	ret = vhost_vdpa_bind(SIM_NAME);
	if (!ret)
		ret = vhost_vdpa_path(SIM_NAME, fx->dev);
	if (ret)
		undo_setup(fx);
	ASSERT_EQ(0, ret);
}

/* Put failslab's settings back as the test found them. */
static void failslab_restore(struct fix *fx)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < FAILSLAB_KNOBS; i++) {
		snprintf(path, sizeof(path), "%s/%s", FAILSLAB_DIR,
			 failslab_knobs[i][0]);
		pins_write_file(path, fx->failslab[i], 0);
	}
	fx->failslab_set = false;
}

/*
 * Save failslab's settings for the teardown and set them as
 * failslab_knobs says. Returns 0 or -1 (reported).
 */
static int failslab_setup(struct fix *fx)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < FAILSLAB_KNOBS; i++) {
		if (cg_read(FAILSLAB_DIR, failslab_knobs[i][0],
			    fx->failslab[i], sizeof(fx->failslab[i]))) {
			ksft_print_msg("read %s/%s: %s\n", FAILSLAB_DIR,
				       failslab_knobs[i][0], strerror(errno));
			return -1;
		}
		fx->failslab[i][strcspn(fx->failslab[i], "\n")] = '\0';
	}
	fx->failslab_set = true;

	for (i = 0; i < FAILSLAB_KNOBS; i++) {
		snprintf(path, sizeof(path), "%s/%s", FAILSLAB_DIR,
			 failslab_knobs[i][0]);
		if (pins_write_file(path, failslab_knobs[i][1], 0))
			return -1;
	}

	return 0;
}

/*
 * Close the test's fd if this is the test's process, kill the test's
 * child if it is still there, remove the tracefs instance, delete the
 * simulator device and remove the cgroups. See struct pins_tree for why
 * it is a FIXTURE_TEARDOWN_PARENT(). Deleting the device waits until
 * every fd of it is closed: the test's fd is in the fixture for that.
 */
FIXTURE_TEARDOWN_PARENT(vdpa)
{
	struct fix *fx = &self->fx;

	if (getpid() == fx->test_pid)
		pins_close_fd(&fx->fd);
	pins_tree_stop(&fx->tree);
	if (fx->have_dev)
		vdpa_dev(NULL, SIM_NAME);
	if (fx->failslab_set)
		failslab_restore(fx);
	pins_tree_teardown(&fx->tree);
}

/* Open the simulator's vhost-vdpa device. Returns the fd or -1. */
static int dev_open(struct fix *fx)
{
	int fd = open(fx->dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ksft_print_msg("open %s: %s\n", fx->dev, strerror(errno));

	return fd;
}

/*
 * Open the simulator's vhost-vdpa device in the test's process, as the
 * fixture's fd (see the teardown), and become its owner. Returns the fd.
 */
static int test_dev_own(struct __test_metadata *_metadata, struct fix *fx)
{
	int fd = dev_open(fx);

	fx->fd = fd;
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dev_own(fd));

	return fd;
}

/* Undo child_start(): close @fd if open, unmap @buf. Returns @ret. */
static int child_end(char *buf, int fd, int ret)
{
	if (fd >= 0)
		close(fd);
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * Set up a child of a test to map: BUF_PAGES scattered pages, returned,
 * and the device opened, in *@fd, and owned. Returns NULL, with nothing
 * left, if that fails.
 */
static char *child_start(struct fix *fx, int *fd)
{
	char *buf = buf_scattered(BUF_PAGES);

	*fd = -1;
	if (!buf)
		return NULL;
	*fd = dev_open(fx);
	if (*fd < 0 || dev_own(*fd)) {
		child_end(buf, *fd, EXIT_FAILURE);
		return NULL;
	}

	return buf;
}

/*
 * An IOTLB update charges the owner's cgroup, its ancestors, the root's
 * vdpa line and the owner's VmPin one page per page it spans, and pins as
 * many; an invalidation and closing the device give it all back, after the
 * owner moved elsewhere too. An update that overlaps a mapping fails and
 * charges nothing.
 */
TEST_F(vdpa, map_unmap)
{
	struct fix *fx = &self->fx;
	char *buf;
	int fd;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = buf_scattered(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	fd = test_dev_own(_metadata, fx);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	ASSERT_EQ(0, map(fd, 0, buf, 3, 0));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 3), 2, 0));
	ASSERT_EQ(0, expect_all(fx, 5, 0, 5));

	/* Overlapping: EEXIST, which the write turns into EFAULT. */
	ASSERT_EQ(0, map(fd, page_size, pins_page_at(buf, 5), 1, EFAULT));
	ASSERT_EQ(0, expect_all(fx, 5, 0, 5));

	/* Two pages and a bit span three. */
	ASSERT_EQ(0, iotlb_msg(fd, VHOST_IOTLB_UPDATE, 2 * IOVA_B,
			       2 * page_size + 100, pins_page_at(buf, 8)));
	ASSERT_EQ(0, expect_all(fx, 8, 0, 8));

	ASSERT_EQ(0, unmap(fd, 0, 3));
	ASSERT_EQ(0, expect_all(fx, 5, 0, 5));

	/* The owner leaving doesn't take the charge along. */
	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	ASSERT_EQ(0, expect_all(fx, 5, 0, 5));

	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Refusals by a pins.max of 4 pages at @limiter, the fixture's cgroup or
 * its parent, of updates by an owner in the fixture's cgroup that has
 * CAP_IPC_LOCK: each fails with EFAULT, pins and charges nothing, is
 * counted in pins.events at the limiter and above and in pins.events.local
 * at the limiter, and is traced with the update's pages; the first one is
 * logged.
 */
static void refusals(struct __test_metadata *_metadata,
		     struct fix *fx, const char *limiter)
{
	bool at_cg = limiter == fx->tree.cg;
	char text[PATH_MAX + 64];
	int kmsg, fd;
	char *buf;

	kmsg = refusals_start(_metadata, fx, limiter, text);
	if (kmsg < 0)
		return;

	buf = buf_scattered(BUF_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(1, pins_cap_ipc_lock_effective());

	ASSERT_EQ(0, pins_set_max(limiter, 4));
	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	fd = test_dev_own(_metadata, fx);

	ASSERT_EQ(0, map(fd, 0, buf, 4, 0));
	ASSERT_EQ(0, expect_all(fx, 4, 0, 4));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 0, 0));

	/* One more page would make five. */
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 4), 1, EFAULT));
	ASSERT_EQ(0, expect_all(fx, 4, 0, 4));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 1, 1,
				       fx->tree.cg, limiter, "vdpa", 1, 4, 4));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));

	/* Two more, refused together: counted, not logged. */
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 4), 2, EFAULT));
	ASSERT_EQ(0, expect_all(fx, 4, 0, 4));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 2, 1,
				       fx->tree.cg, limiter, "vdpa", 1, 4, 4));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 2, 1,
				       fx->tree.cg, limiter, "vdpa", 2, 4, 4));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Room made is room to map; each page is a mapping of its own. */
	ASSERT_EQ(0, unmap(fd, 0, 1));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 4), 1, 0));
	ASSERT_EQ(0, expect_all(fx, 4, 0, 4));

	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 2, 2 * !at_cg));

	close(kmsg);
	pins_buf_free(buf, BUF_PAGES);
}

/* Refusals by the owner's own pins.max. */
TEST_F(vdpa, refusal_at_limit)
{
	struct fix *fx = &self->fx;

	refusals(_metadata, fx, fx->tree.cg);
}

/* Refusals by the pins.max of the owner's parent. */
TEST_F(vdpa, refusal_at_ancestor)
{
	struct fix *fx = &self->fx;

	refusals(_metadata, fx, fx->tree.parent);
}

/*
 * An update of several chunks that doesn't fit whole is refused whole,
 * before any of it is pinned or charged, even though its first chunk would
 * fit: nothing pinned, pins.current and pins.peak unchanged, one refusal
 * traced with the update's pages and the usage before it; the room left is
 * still there to map.
 */
TEST_F(vdpa, refusal_all_or_nothing)
{
	struct fix *fx = &self->fx;
	int fd, ret;
	char *buf;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	ret = pins_trace_start(fx->tree.instance, "pins_vdpa");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	buf = buf_scattered(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(fx->tree.cg, 4));
	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	fd = test_dev_own(_metadata, fx);
	ASSERT_EQ(0, map(fd, 0, buf, 3, 0));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));

	/* Three one-page chunks: the first would fit, the update doesn't. */
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 3), 3, EFAULT));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 1, 1,
				       fx->tree.cg, fx->tree.cg, "vdpa", 3, 4,
				       3));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 1, 1));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));
	ASSERT_EQ(0, pins_expect(fx->tree.cg, "pins.peak", 3));
	ASSERT_EQ(0, pins_expect(fx->tree.parent, "pins.peak", 3));

	/* The room is still there. */
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 3), 1, 0));
	ASSERT_EQ(0, expect_all(fx, 4, 0, 4));

	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Make the @n-th fault-injection point of this thread fail from now on
 * (/proc/thread-self/fail-nth, open in @nth), write an IOTLB update of
 * @npages pages at @buf to @iova of @fd, into *@err its errno (0 if it
 * succeeded), and turn fault injection off. Returns 1 if the fault was
 * injected, 0 if it wasn't (the update has fewer points), or -1 (reported)
 * if fail-nth failed.
 */
static int update_nth(int nth, long n, int fd, __u64 iova, const char *buf,
		      long npages, int *err)
{
	char num[32];
	ssize_t len;

	len = snprintf(num, sizeof(num), "%ld", n);
	if (write(nth, num, len) != len) {
		ksft_print_msg("write %ld to fail-nth: %s\n", n,
			       strerror(errno));
		return -1;
	}
	*err = -iotlb_msg(fd, VHOST_IOTLB_UPDATE, iova, npages * page_size,
			  buf);

	/* 0 once the fault was injected, what is left of @n otherwise. */
	len = pread(nth, num, sizeof(num) - 1, 0);
	if (write(nth, "0", 1) != 1 || len <= 0) {
		ksft_print_msg("fail-nth: %s\n", strerror(errno));
		return -1;
	}
	num[len] = '\0';

	return !strtol(num, NULL, 10);
}

/*
 * An update that fails part-way leaves nothing behind. With a page mapped
 * at IOVA_B, updates of FAULT_PAGES pages, a chunk each, at IOVA 0 are made
 * to fail at their first fault-injection point, their second and so on
 * (failslab: the non-sleeping allocations of the update's IOTLB entries,
 * the device's own included), until one has fewer points and succeeds.
 * Each failed update fails with EFAULT and leaves, wherever it failed, only
 * the page at IOVA_B pinned in the system, charged to the owner's cgroup
 * and in its VmPin, and IOVA 0 free for the next update; the one that
 * succeeds pins and charges all its pages; no refusal is counted. Without
 * the pins controller the pinned pages and VmPin are checked.
 */
TEST_F(vdpa, fault_all_or_nothing)
{
	struct fix *fx = &self->fx;
	int fd, nth, injected, err;
	long n, faults = 0;
	char *buf;

	if (access("/proc/thread-self/fail-nth", F_OK))
		SKIP(return,
		     "no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
	if (access(FAILSLAB_DIR, F_OK))
		SKIP(return,
		     "no %s (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS, debugfs)",
		     FAILSLAB_DIR);
	if (fx->pin_base < 0)
		SKIP(return, "can't count pinned pages (/proc/vmstat)");

	buf = buf_scattered(BUF_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, failslab_setup(fx));
	nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nth);

	if (fx->tree.have_pins)
		ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	fd = test_dev_own(_metadata, fx);
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, FAULT_PAGES), 1, 0));
	ASSERT_EQ(0, expect_all(fx, 1, 0, 1));

	for (n = 1; n <= FAULT_MAX_NTH; n++) {
		injected = update_nth(nth, n, fd, 0, buf, FAULT_PAGES, &err);
		ASSERT_LE(0, injected);
		if (!injected) {
			/* Fewer fault-injection points than n: done. */
			if (err)
				TH_LOG("update failed with no fault injected: %s",
				       strerror(err));
			ASSERT_EQ(0, err);
			break;
		}
		faults++;
		if (!err) {
			/* The kernel got over the fault: fine too. */
			ksft_print_msg("fault %ld injected, update made\n", n);
			ASSERT_EQ(0, expect_all(fx, 1 + FAULT_PAGES, 0,
						1 + FAULT_PAGES));
			ASSERT_EQ(0, unmap(fd, 0, FAULT_PAGES));
			ASSERT_EQ(0, expect_all(fx, 1, 0, 1));
			continue;
		}
		if (err != EFAULT || check_all(fx, 1, 0, 0, 0, 1, false))
			TH_LOG("update failed at its fault-injection point %ld: %s",
			       n, strerror(err));
		ASSERT_EQ(EFAULT, err);
		ASSERT_EQ(0, expect_all(fx, 1, 0, 1));
	}
	close(nth);
	if (n > FAULT_MAX_NTH)
		TH_LOG("the update still fails at point %d", FAULT_MAX_NTH);
	ASSERT_GE(FAULT_MAX_NTH, n);
	if (!faults)
		SKIP(return, "no fault-injection point in an IOTLB update");
	ksft_print_msg("%ld fault-injection points in an update of %d pages\n",
		       faults, FAULT_PAGES);

	ASSERT_EQ(0, expect_all(fx, 1 + FAULT_PAGES, 0, 1 + FAULT_PAGES));
	if (fx->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 0, 0));
	ASSERT_EQ(0, unmap(fd, 0, FAULT_PAGES));
	ASSERT_EQ(0, expect_all(fx, 1, 0, 1));
	if (fx->tree.have_pins)
		ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Child of rlimit_as_vanilla: with RLIMIT_MEMLOCK at 4 pages, 4 pages fit
 * and 5 don't, whether in one update or in two, as root with CAP_IPC_LOCK
 * and as another user without it; VmPin counts what fits.
 */
static int child_rlimit(struct fix *fx)
{
	int ret = EXIT_FAILURE, fd;
	char *buf;

	buf = child_start(fx, &fd);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_set_memlock(4) || pins_cap_ipc_lock_effective() != 1)
		goto out;

	/* CAP_IPC_LOCK doesn't lift it in this site. */
	if (map(fd, 0, buf, 5, EFAULT) || expect_all(fx, 0, 0, 0) ||
	    map(fd, 0, buf, 4, 0) || expect_all(fx, 4, 0, 4) ||
	    map(fd, IOVA_B, pins_page_at(buf, 4), 1, EFAULT) ||
	    expect_all(fx, 4, 0, 4) ||
	    unmap(fd, 0, 4) || expect_all(fx, 0, 0, 0))
		goto out;

	if (pins_drop_privileges(4))
		goto out;
	if (map(fd, 0, buf, 5, EFAULT) || expect_all(fx, 0, 0, 0) ||
	    map(fd, 0, buf, 2, 0) || expect_all(fx, 2, 0, 2) ||
	    map(fd, IOVA_B, pins_page_at(buf, 2), 3, EFAULT) ||
	    expect_all(fx, 2, 0, 2) ||
	    map(fd, IOVA_B, pins_page_at(buf, 2), 2, 0) ||
	    expect_all(fx, 4, 0, 4))
		goto out;

	/* Closing gives VmPin back. */
	close(fd);
	fd = -1;
	if (expect_all(fx, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	return child_end(buf, fd, ret);
}

/*
 * RLIMIT_MEMLOCK limits IOTLB updates against VmPin as on vanilla 6.12,
 * CAP_IPC_LOCK or not; its refusals aren't pins.events. Also without the
 * pins controller.
 */
TEST_F(vdpa, rlimit_as_vanilla)
{
	struct fix *fx = &self->fx;

	ASSERT_EQ(0, run_child(fx, child_rlimit));
	ASSERT_EQ(0, expect_all(fx, 0, 0, -1));
	if (fx->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 0, 0));
}

/*
 * Child of lesser_of_rlimit_and_cgroup: as another user with
 * RLIMIT_MEMLOCK at @rlimit pages, 4 pages fit and a fifth is refused,
 * after which the fixture's cgroup has counted @events refusals.
 */
static int lesser_child(struct fix *fx, long rlimit, long events)
{
	int ret = EXIT_FAILURE, fd;
	char *buf;

	buf = child_start(fx, &fd);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_drop_privileges(rlimit))
		goto out;

	if (map(fd, 0, buf, 4, 0) || expect_all(fx, 4, 0, 4) ||
	    map(fd, IOVA_B, pins_page_at(buf, 4), 1, EFAULT) ||
	    expect_all(fx, 4, 0, 4) ||
	    pins_events_expect(fx->tree.cg, events, events))
		goto out;

	ret = EXIT_SUCCESS;
out:
	return child_end(buf, fd, ret);
}

/* The cgroup's pins.max, 4 pages, is the lesser limit: it refuses. */
static int lesser_cgroup(struct fix *fx)
{
	return lesser_child(fx, 6, 1);
}

/* RLIMIT_MEMLOCK, 4 pages, is the lesser limit: it refuses, uncounted. */
static int lesser_rlimit(struct fix *fx)
{
	return lesser_child(fx, 4, 1);
}

/*
 * The lesser of RLIMIT_MEMLOCK and pins.max wins: a refusal by the rlimit
 * isn't counted in pins.events.
 */
TEST_F(vdpa, lesser_of_rlimit_and_cgroup)
{
	struct fix *fx = &self->fx;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	ASSERT_EQ(0, pins_set_max(fx->tree.cg, 4));
	ASSERT_EQ(0, run_child(fx, lesser_cgroup));
	ASSERT_EQ(0, expect_all(fx, 0, 0, -1));

	ASSERT_EQ(0, pins_set_max(fx->tree.cg, 8));
	ASSERT_EQ(0, run_child(fx, lesser_rlimit));
	ASSERT_EQ(0, expect_all(fx, 0, 0, -1));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 1, 1));
}

/*
 * The charges go to the cgroup the owner was in at VHOST_SET_OWNER, not the
 * one it opened the device in, and stay there: after the owner moves, its
 * new mappings are charged there too, and closing the device from
 * elsewhere gives them all back there.
 */
TEST_F(vdpa, charge_stays_with_device)
{
	struct fix *fx = &self->fx;
	char *buf;
	int fd;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = buf_scattered(BUF_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&fx->tree));

	/* Opened from the sibling, owned from the fixture's cgroup. */
	ASSERT_EQ(0, cg_enter_current(fx->tree.sibling));
	fd = dev_open(fx);
	fx->fd = fd;
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	ASSERT_EQ(0, dev_own(fd));

	ASSERT_EQ(0, cg_enter_current(fx->tree.sibling));
	ASSERT_EQ(0, map(fd, 0, buf, 3, 0));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));
	ASSERT_EQ(0, map(fd, IOVA_B, pins_page_at(buf, 3), 2, 0));
	ASSERT_EQ(0, expect_all(fx, 5, 0, 5));

	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	ASSERT_EQ(0, unmap(fd, IOVA_B, 2));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 3));

	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * The owner of charge_outlives_owner: in the fixture's cgroup, own the
 * device, map 3 pages, pass the device to the test over @sock and exit
 * when told to.
 */
static int outlives_owner(struct fix *fx, int sock)
{
	char *buf;
	int fd;

	buf = child_start(fx, &fd);
	if (!buf || map(fd, 0, buf, 3, 0) || pins_sock_send(sock, 'M', fd))
		return EXIT_FAILURE;

	/* Exit with the device open: exit closes it. */
	if (pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * The charges of a device outlive its owner and the owner's cgroup: they
 * stay charged, to the removed cgroup (its parent shows them), while
 * another process holds the device, which can't map (it isn't the owner),
 * and go back when that process closes it.
 */
TEST_F(vdpa, charge_outlives_owner)
{
	struct fix *fx = &self->fx;
	int sock = -1;
	pid_t pid;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	pid = pins_fork_peer(fx->tree.cg, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(outlives_owner(fx, sock));
	fx->tree.pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'M', &fx->fd));
	ASSERT_EQ(0, check_all(fx, 3, 0, 0, fx->tree.pid, 3, true));

	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&fx->tree.pid));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 0));

	/* Not the owner: EPERM, which the write turns into EFAULT. */
	ASSERT_EQ(0, map(fx->fd, IOVA_B, NULL, 1, EFAULT));
	ASSERT_EQ(0, expect_all(fx, 3, 0, 0));

	/* The owner's cgroup goes, its charge lingers. */
	ASSERT_EQ(0, cg_destroy(fx->tree.cg));
	ASSERT_EQ(0, pins_cg_check(fx->tree.parent, "vdpa", 3, true));
	ASSERT_EQ(fx->tree.root_base + 3,
		  pins_stat_pages(fx->tree.root, "vdpa"));

	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, pins_cg_check(fx->tree.parent, "vdpa", 0, true));
	ASSERT_EQ(fx->tree.root_base, pins_stat_pages(fx->tree.root, "vdpa"));
	if (fx->pin_base >= 0)
		ASSERT_EQ(fx->pin_base, foll_pinned());

	pins_close_fd(&sock);
}

/* The vduse tests: a VDUSE device of this process. */

/*
 * The VDUSE daemon of this process: a thread that answers what the kernel
 * asks of the device through @fd, until told to stop through @stop.
 */
static struct {
	pthread_t thread;
	bool running;
	int fd;
	int stop[2];
} daemon_state;

/* The daemon's thread: answer every request with VDUSE_REQ_RESULT_OK. */
static void *daemon_fn(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = daemon_state.fd, .events = POLLIN },
		{ .fd = daemon_state.stop[0], .events = POLLIN },
	};
	struct vduse_dev_response resp;
	struct vduse_dev_request req;
	ssize_t len;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ksft_print_msg("VDUSE daemon: poll: %s\n",
				       strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & (POLLERR | POLLNVAL)) {
			ksft_print_msg("VDUSE daemon: the device is broken\n");
			break;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;

		len = read(daemon_state.fd, &req, sizeof(req));
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (len != sizeof(req)) {
			ksft_print_msg("VDUSE daemon: read %zd: %s\n", len,
				       strerror(errno));
			break;
		}

		memset(&resp, 0, sizeof(resp));
		resp.request_id = req.request_id;
		resp.result = VDUSE_REQ_RESULT_OK;
		switch (req.type) {
		case VDUSE_GET_VQ_STATE:
			/* A zeroed state: nothing was ever used. */
			resp.vq_state.index = req.vq_state.index;
			break;
		case VDUSE_SET_STATUS:
		case VDUSE_UPDATE_IOTLB:
			break;
		default:
			ksft_print_msg("VDUSE daemon: request type %u\n",
				       req.type);
			resp.result = VDUSE_REQ_RESULT_FAILED;
			break;
		}
		if (write(daemon_state.fd, &resp, sizeof(resp)) !=
		    sizeof(resp)) {
			ksft_print_msg("VDUSE daemon: write: %s\n",
				       strerror(errno));
			break;
		}
	}

	return NULL;
}

/* Start this process's daemon on @fd. Returns 0 or -1 (reported). */
static int daemon_start(int fd)
{
	int ret;

	if (pipe2(daemon_state.stop, O_CLOEXEC)) {
		ksft_print_msg("pipe: %s\n", strerror(errno));
		return -1;
	}
	daemon_state.fd = fd;
	ret = pthread_create(&daemon_state.thread, NULL, daemon_fn, NULL);
	if (ret) {
		ksft_print_msg("pthread_create: %s\n", strerror(ret));
		close(daemon_state.stop[0]);
		close(daemon_state.stop[1]);
		return -1;
	}
	daemon_state.running = true;

	return 0;
}

/* Stop this process's daemon, if it runs. */
static void daemon_stop(void)
{
	if (!daemon_state.running)
		return;

	if (write(daemon_state.stop[1], "x", 1) != 1)
		ksft_print_msg("stop the VDUSE daemon: %s\n", strerror(errno));
	pthread_join(daemon_state.thread, NULL);
	close(daemon_state.stop[0]);
	close(daemon_state.stop[1]);
	daemon_state.running = false;
}

/* Open VDUSE_DEV, waiting up to two seconds for it to be free. */
static int vduse_open(void)
{
	int fd, i;

	for (i = 0; i < 200; i++) {
		fd = open(VDUSE_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 || errno != EBUSY)
			break;
		usleep(10000);
	}
	if (fd < 0)
		ksft_print_msg("open %s: %s\n", VDUSE_DEV, strerror(errno));

	return fd;
}

/* VDUSE_DESTROY_DEV of VDUSE_NAME. Returns 0 or -errno. */
static int vduse_destroy(void)
{
	char name[VDUSE_NAME_MAX] = VDUSE_NAME;
	int fd, ret, i;

	fd = open("/dev/vduse/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Busy until its vDPA device is released and its fd closed. */
	for (i = 0; i < 200; i++) {
		ret = ioctl(fd, VDUSE_DESTROY_DEV, name) ? -errno : 0;
		if (ret != -EBUSY)
			break;
		usleep(10000);
	}
	close(fd);

	return ret;
}

/*
 * Register the @buf of UMEM_PAGES pages as the bounce buffer of the device
 * @fd. Returns 0 if that ends with errno @err (0 for success).
 */
static int reg_umem(int fd, char *buf, int err)
{
	struct vduse_iova_umem umem = {
		.uaddr = (uintptr_t)buf,
		.iova = 0,
		.size = VDUSE_BOUNCE,
	};
	int ret;

	ret = ioctl(fd, VDUSE_IOTLB_REG_UMEM, &umem) ? errno : 0;
	if (ret != err) {
		ksft_print_msg("VDUSE_IOTLB_REG_UMEM: got %s, expected %s\n",
			       ret ? strerror(ret) : "success",
			       err ? strerror(err) : "success");
		return -1;
	}

	return 0;
}

/*
 * Deregister @size bytes of umem at IOVA 0 of the device @fd. Returns 0 if
 * that ends with errno @err (0 for success).
 */
static int dereg_umem(int fd, __u64 size, int err)
{
	struct vduse_iova_umem umem = { .iova = 0, .size = size };
	int ret;

	ret = ioctl(fd, VDUSE_IOTLB_DEREG_UMEM, &umem) ? errno : 0;
	if (ret != err) {
		ksft_print_msg("VDUSE_IOTLB_DEREG_UMEM: got %s, expected %s\n",
			       ret ? strerror(ret) : "success",
			       err ? strerror(err) : "success");
		return -1;
	}

	return 0;
}

FIXTURE(vduse) {
	struct fix fx;
};

/*
 * Take the device down, if it is there, in this order: deregister its
 * umem, delete its vDPA device, stop the daemon, close the fd, destroy the
 * device. The daemon runs meanwhile, to answer virtio_net's resets: in
 * another process than the test's, or if the test closed its fd, this
 * opens the device again and runs a daemon of its own. Returns 0, or -1
 * (reported) if a step failed.
 */
static int vduse_down(struct fix *fx)
{
	int ret = 0, err;

	/* Another process's fd, closed when the test's process exited. */
	if (getpid() != fx->test_pid)
		fx->fd = -1;
	if (access(VDUSE_DEV, F_OK)) {
		daemon_stop();
		pins_close_fd(&fx->fd);
		return 0;
	}

	if (fx->fd < 0)
		fx->fd = vduse_open();
	if (fx->fd >= 0 && !daemon_state.running && daemon_start(fx->fd))
		ret = -1;

	if (fx->fd >= 0) {
		err = ioctl(fx->fd, VDUSE_IOTLB_DEREG_UMEM,
			    &(struct vduse_iova_umem){ .size = VDUSE_BOUNCE });
		if (err && errno != ENOENT) {
			ksft_print_msg("VDUSE_IOTLB_DEREG_UMEM: %s\n",
				       strerror(errno));
			ret = -1;
		}
	}

	if (!access(VDPA_DEV, F_OK)) {
		err = vdpa_dev(NULL, VDUSE_NAME);
		if (err) {
			ksft_print_msg("delete vDPA device %s: %s\n",
				       VDUSE_NAME, strerror(-err));
			ret = -1;
		}
	}

	daemon_stop();
	pins_close_fd(&fx->fd);

	err = vduse_destroy();
	if (err) {
		ksft_print_msg("VDUSE_DESTROY_DEV %s: %s\n", VDUSE_NAME,
			       strerror(-err));
		ret = -1;
	}

	return ret;
}

/*
 * Bind the vDPA device to virtio_vdpa, whichever driver the bus picked.
 * Returns 0 or -1 (reported).
 */
static int bind_virtio_vdpa(void)
{
	char link[PATH_MAX], path[PATH_MAX + 64], *drv;
	ssize_t len;

	len = readlink(VDPA_DEV "/driver", link, sizeof(link) - 1);
	if (len >= 0) {
		link[len] = '\0';
		drv = strrchr(link, '/');
		drv = drv ? drv + 1 : link;
		if (!strcmp(drv, "virtio_vdpa"))
			return 0;
		snprintf(path, sizeof(path), "/sys/bus/vdpa/drivers/%s/unbind",
			 drv);
		if (pins_write_file(path, VDUSE_NAME, 0))
			return -1;
	}

	if (pins_write_file(VDPA_DEV "/driver_override", "virtio_vdpa", 0) ||
	    pins_write_file("/sys/bus/vdpa/drivers/virtio_vdpa/bind",
			    VDUSE_NAME, 0))
		return -1;

	len = readlink(VDPA_DEV "/driver", link, sizeof(link) - 1);
	if (len >= 0)
		link[len] = '\0';
	if (len < 0 || !strstr(link, "/virtio_vdpa")) {
		ksft_print_msg("%s isn't bound to virtio_vdpa\n", VDPA_DEV);
		return -1;
	}

	return 0;
}

/*
 * Find the network interface virtio_net made for the device, into @ifname
 * (IFNAMSIZ). Returns 0, or -1 (reported) if none appears within two
 * seconds.
 */
static int find_netdev(char *ifname)
{
	char path[PATH_MAX];
	struct dirent *de, *ne;
	DIR *d, *n;
	int i;

	for (i = 0; i < 200; i++) {
		d = opendir(VDPA_DEV);
		while (d && (de = readdir(d))) {
			if (strncmp(de->d_name, "virtio", 6))
				continue;
			snprintf(path, sizeof(path), "%s/%s/net", VDPA_DEV,
				 de->d_name);
			n = opendir(path);
			while (n && (ne = readdir(n))) {
				if (ne->d_name[0] == '.')
					continue;
				snprintf(ifname, IFNAMSIZ, "%.*s",
					 IFNAMSIZ - 1, ne->d_name);
				closedir(n);
				closedir(d);
				return 0;
			}
			if (n)
				closedir(n);
		}
		if (d)
			closedir(d);
		usleep(10000);
	}

	ksft_print_msg("no network interface under %s/virtio*/net\n",
		       VDPA_DEV);
	return -1;
}

/* Bring the interface @ifname up. Returns 0 or -1 (reported). */
static int link_up(const char *ifname)
{
	struct ifreq ifr = {};
	char path[PATH_MAX];
	int s, ret = -1;

	/* Keep IPv6 quiet: no packets the daemon would never complete. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	if (!access(path, F_OK))
		pins_write_file(path, "1", 0);

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ksft_print_msg("socket: %s\n", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr)) {
		ksft_print_msg("SIOCGIFFLAGS %s: %s\n", ifname,
			       strerror(errno));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr)) {
		ksft_print_msg("SIOCSIFFLAGS %s up: %s\n", ifname,
			       strerror(errno));
		goto out;
	}
	ret = 0;
out:
	close(s);

	return ret;
}

/*
 * Wait up to five seconds for the bounce buffer's IOTLB entry of the
 * device @fd, [0, VDUSE_BOUNCE - 1], that REG_UMEM can take. Returns 0 or
 * -1 (reported).
 */
static int wait_bounce_map(int fd)
{
	struct vduse_iova_info info;
	int i;

	for (i = 0; i < 500; i++) {
		memset(&info, 0, sizeof(info));
		if (!ioctl(fd, VDUSE_IOTLB_GET_INFO, &info))
			break;
		if (errno != EINVAL) {
			ksft_print_msg("VDUSE_IOTLB_GET_INFO: %s\n",
				       strerror(errno));
			return -1;
		}
		usleep(10000);
	}
	if (i == 500) {
		ksft_print_msg("no IOTLB entry at IOVA 0 after 5 s: virtio_net mapped nothing\n");
		return -1;
	}

	if (info.start || info.last != VDUSE_BOUNCE - 1 ||
	    !(info.capability & VDUSE_IOVA_CAP_UMEM)) {
		ksft_print_msg("IOTLB entry [%#llx, %#llx], capability %#llx\n",
			       (unsigned long long)info.start,
			       (unsigned long long)info.last,
			       (unsigned long long)info.capability);
		return -1;
	}

	return 0;
}

/*
 * Create the VDUSE virtio-net device, open it into fx->fd, start the
 * daemon on it, add its vDPA device, bind that to virtio_vdpa and bring
 * virtio_net's interface up, then wait for the bounce buffer's IOTLB
 * entry. Returns 0 or -1 (reported).
 */
static int vduse_up(struct fix *fx)
{
	__u64 config[(sizeof(struct vduse_dev_config) +
		      sizeof(struct virtio_net_config)) / sizeof(__u64) + 1] = {};
	struct vduse_dev_config *dev = (struct vduse_dev_config *)config;
	struct vduse_vq_config vq = { .max_size = VQ_SIZE };
	char ifname[IFNAMSIZ], buf[32];
	__u64 version = VDUSE_API_VERSION;
	int fd, ret;

	fd = open("/dev/vduse/control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open /dev/vduse/control: %s\n",
			       strerror(errno));
		return -1;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", VDUSE_NAME);
	dev->device_id = VIRTIO_ID_NET;
	dev->features = 1ULL << VIRTIO_F_VERSION_1 |
			1ULL << VIRTIO_F_ACCESS_PLATFORM;
	dev->vq_num = VQ_NUM;
	dev->vq_align = 4096;
	dev->config_size = sizeof(struct virtio_net_config);
	ret = ioctl(fd, VDUSE_SET_API_VERSION, &version);
	if (ret)
		ksft_print_msg("VDUSE_SET_API_VERSION: %s\n", strerror(errno));
	if (!ret) {
		ret = ioctl(fd, VDUSE_CREATE_DEV, dev);
		if (ret)
			ksft_print_msg("VDUSE_CREATE_DEV: %s\n",
				       strerror(errno));
	}
	close(fd);
	if (ret)
		return -1;

	fx->fd = vduse_open();
	if (fx->fd < 0)
		return -1;
	for (vq.index = 0; vq.index < VQ_NUM; vq.index++)
		if (ioctl(fx->fd, VDUSE_VQ_SETUP, &vq)) {
			ksft_print_msg("VDUSE_VQ_SETUP %u: %s\n", vq.index,
				       strerror(errno));
			return -1;
		}
	snprintf(buf, sizeof(buf), "%d", VDUSE_BOUNCE);
	if (pins_write_file(VDUSE_SYSFS "/bounce_size", buf, 0) ||
	    pins_write_file(VDUSE_SYSFS "/msg_timeout", MSG_TIMEOUT, 0))
		return -1;
	if (daemon_start(fx->fd))
		return -1;

	ret = vdpa_dev("vduse", VDUSE_NAME);
	if (ret) {
		ksft_print_msg("add vDPA device %s: %s\n", VDUSE_NAME,
			       strerror(-ret));
		return -1;
	}
	if (bind_virtio_vdpa() || find_netdev(ifname) || link_up(ifname))
		return -1;

	return wait_bounce_map(fx->fd);
}

FIXTURE_SETUP(vduse)
{
	struct fix *fx = &self->fx;
	int ret;

	pins_util_init();
	fx->fd = -1;
	fx->test_pid = getpid();

	if (access("/dev/vduse/control", F_OK))
		SKIP(return, "no /dev/vduse/control (CONFIG_VDPA_USER)");
	if (access("/sys/bus/vdpa/drivers/virtio_vdpa", F_OK))
		SKIP(return,
		     "no virtio_vdpa (CONFIG_VIRTIO_VDPA): no driver DMA-maps through the device, so it never has the bounce IOTLB entry VDUSE_IOTLB_REG_UMEM needs");
	if (access("/sys/bus/virtio/drivers/virtio_net", F_OK))
		SKIP(return, "no virtio_net driver (CONFIG_VIRTIO_NET)");
	ret = vdpa_family();
	if (ret < 0)
		SKIP(return, "no vdpa netlink family: %s", strerror(-ret));
	/* Left over by an earlier run that was killed? */
	vduse_down(fx);
	/* REG_UMEM checks RLIMIT_MEMLOCK even with CAP_IPC_LOCK. */
	ASSERT_EQ(0, pins_set_memlock(PINS_MAX));

	setup_common(_metadata, fx);

	ret = vduse_up(fx);
	if (ret) {
		vduse_down(fx);
		pins_tree_teardown(&fx->tree);
	}
	ASSERT_EQ(0, ret);
}

/*
 * Kill the test's child if it is still there, remove the tracefs
 * instance, take the device down and remove the cgroups. See struct
 * pins_tree for why it is a FIXTURE_TEARDOWN_PARENT(). In the parent,
 * the test's fd is closed (which deregistered its umem) and its daemon
 * gone: vduse_down() runs a daemon there.
 */
FIXTURE_TEARDOWN_PARENT(vduse)
{
	struct fix *fx = &self->fx;

	pins_tree_stop(&fx->tree);
	vduse_down(fx);
	pins_tree_teardown(&fx->tree);
}

/*
 * REG_UMEM charges the registrant's cgroup, its ancestors, the root's vdpa
 * line and the registrant's VmPin the bounce buffer's pages, and pins as
 * many; a second REG_UMEM fails with EEXIST and a DEREG_UMEM of the wrong
 * size with EINVAL, changing nothing; the registrant leaving its cgroup
 * doesn't take the charge along; DEREG_UMEM gives it all back. Without
 * the pins controller the pinned pages and VmPin are checked.
 */
TEST_F(vduse, reg_dereg)
{
	struct fix *fx = &self->fx;
	char *buf;

	buf = pins_buf_alloc(UMEM_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	if (fx->tree.have_pins)
		ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	ASSERT_EQ(0, reg_umem(fx->fd, buf, 0));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));

	ASSERT_EQ(0, reg_umem(fx->fd, buf, EEXIST));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));
	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE / 2, EINVAL));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));

	if (fx->tree.have_pins) {
		ASSERT_EQ(0, cg_enter_current(fx->tree.root));
		ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));
	}

	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, 0));
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));
	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, ENOENT));

	pins_buf_free(buf, UMEM_PAGES);
}

/*
 * Refusals by a pins.max one page short of the bounce buffer at @limiter,
 * the fixture's cgroup or its parent, of REG_UMEM by a registrant in the
 * fixture's cgroup that has CAP_IPC_LOCK: each fails with ENOMEM, pins and
 * charges nothing, leaves pins.peak alone, is counted in pins.events at the
 * limiter and above and in pins.events.local at the limiter, and is traced
 * with the bounce buffer's pages; the first one is logged. With pins.max
 * at the bounce buffer's size, REG_UMEM fits exactly.
 */
static void umem_refusals(struct __test_metadata *_metadata,
			  struct fix *fx, const char *limiter)
{
	bool at_cg = limiter == fx->tree.cg;
	char text[PATH_MAX + 64];
	char *buf;
	int kmsg;

	kmsg = refusals_start(_metadata, fx, limiter, text);
	if (kmsg < 0)
		return;

	buf = pins_buf_alloc(UMEM_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(1, pins_cap_ipc_lock_effective());

	ASSERT_EQ(0, pins_set_max(limiter, UMEM_PAGES - 1));
	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));

	ASSERT_EQ(0, reg_umem(fx->fd, buf, ENOMEM));
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));
	ASSERT_EQ(0, pins_expect(fx->tree.cg, "pins.peak", 0));
	ASSERT_EQ(0, pins_expect(fx->tree.parent, "pins.peak", 0));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 1, 1,
				       fx->tree.cg, limiter, "vdpa", UMEM_PAGES,
				       UMEM_PAGES - 1, 0));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));
	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, ENOENT));

	/* Again: counted and traced, not logged. */
	ASSERT_EQ(0, reg_umem(fx->fd, buf, ENOMEM));
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(fx->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(fx->tree.instance, 2, 2,
				       fx->tree.cg, limiter, "vdpa", UMEM_PAGES,
				       UMEM_PAGES - 1, 0));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Exactly at the limit is fine. */
	ASSERT_EQ(0, pins_set_max(limiter, UMEM_PAGES));
	ASSERT_EQ(0, reg_umem(fx->fd, buf, 0));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));
	ASSERT_EQ(0, pins_expect(fx->tree.cg, "pins.peak", UMEM_PAGES));
	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, 0));
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 2, 2 * !at_cg));

	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	close(kmsg);
	pins_buf_free(buf, UMEM_PAGES);
}

/* Refusals by the registrant's own pins.max. */
TEST_F(vduse, refusal_at_limit)
{
	struct fix *fx = &self->fx;

	umem_refusals(_metadata, fx, fx->tree.cg);
}

/* Refusals by the pins.max of the registrant's parent. */
TEST_F(vduse, refusal_at_ancestor)
{
	struct fix *fx = &self->fx;

	umem_refusals(_metadata, fx, fx->tree.parent);
}

/*
 * Child of rlimit_as_vanilla: with RLIMIT_MEMLOCK one page short of the
 * bounce buffer, REG_UMEM fails with ENOMEM, pinning and charging nothing;
 * at the bounce buffer's size it fits; as root with CAP_IPC_LOCK and as
 * another user without it.
 */
static int child_umem_rlimit(struct fix *fx)
{
	struct rlimit rl = {
		.rlim_cur = (UMEM_PAGES - 1) * page_size,
		.rlim_max = UMEM_PAGES * page_size,
	};
	int ret = EXIT_FAILURE;
	char *buf;

	buf = pins_buf_alloc(UMEM_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_cap_ipc_lock_effective() != 1)
		goto out;

	/* CAP_IPC_LOCK doesn't lift it in this site. */
	if (pins_set_memlock(UMEM_PAGES - 1) ||
	    reg_umem(fx->fd, buf, ENOMEM) || expect_all(fx, 0, 0, 0) ||
	    pins_set_memlock(UMEM_PAGES) ||
	    reg_umem(fx->fd, buf, 0) ||
	    expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES) ||
	    dereg_umem(fx->fd, VDUSE_BOUNCE, 0) ||
	    expect_all(fx, 0, 0, 0))
		goto out;

	/* Nobody: the soft limit moves below the hard one. */
	if (setrlimit(RLIMIT_MEMLOCK, &rl) || pins_become_nobody()) {
		ksft_print_msg("setrlimit or setuid: %s\n", strerror(errno));
		goto out;
	}
	if (reg_umem(fx->fd, buf, ENOMEM) || expect_all(fx, 0, 0, 0))
		goto out;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		ksft_print_msg("setrlimit: %s\n", strerror(errno));
		goto out;
	}
	if (reg_umem(fx->fd, buf, 0) ||
	    expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES) ||
	    dereg_umem(fx->fd, VDUSE_BOUNCE, 0) ||
	    expect_all(fx, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	pins_buf_free(buf, UMEM_PAGES);

	return ret;
}

/*
 * RLIMIT_MEMLOCK limits REG_UMEM as on vanilla 6.12, CAP_IPC_LOCK or not;
 * its refusals aren't pins.events. Also without the pins controller.
 */
TEST_F(vduse, rlimit_as_vanilla)
{
	struct fix *fx = &self->fx;

	ASSERT_EQ(0, run_child(fx, child_umem_rlimit));
	ASSERT_EQ(0, expect_all(fx, 0, 0, -1));
	if (fx->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(fx->tree.parent, 0, 0));
}

/*
 * Register the page @page as a fixed buffer of a new io_uring, returned in
 * *@ring: that pins it and counts it in VmPin. Returns 0 or -errno.
 */
static int uring_reg_page(char *page, int *ring)
{
	struct iovec iov = { .iov_base = page, .iov_len = page_size };
	struct io_uring_params p = {};
	int fd, ret;

	fd = syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return -errno;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov,
		    1)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*ring = fd;

	return 0;
}

/*
 * Child of rlimit_counts_vmpin: as root with CAP_IPC_LOCK, one page
 * pinned by io_uring leaves no room under an RLIMIT_MEMLOCK of the bounce
 * buffer's size; one page more makes room.
 */
static int child_vmpin(struct fix *fx)
{
	int ret = EXIT_FAILURE, ring = -1, err;
	char *buf, *page;

	buf = pins_buf_alloc(UMEM_PAGES, true);
	page = pins_buf_alloc(1, true);
	if (!buf || !page)
		goto out;

	err = uring_reg_page(page, &ring);
	if (err) {
		ksft_print_msg("io_uring buffer: %s\n", strerror(-err));
		goto out;
	}
	if (check_all(fx, 0, 0, 1, 0, 1, true))
		goto out;

	if (pins_set_memlock(UMEM_PAGES) ||
	    reg_umem(fx->fd, buf, ENOMEM) ||
	    check_all(fx, 0, 0, 1, 0, 1, true) ||
	    pins_set_memlock(UMEM_PAGES + 1) ||
	    reg_umem(fx->fd, buf, 0) ||
	    check_all(fx, UMEM_PAGES, 0, 1, 0, UMEM_PAGES + 1, true) ||
	    dereg_umem(fx->fd, VDUSE_BOUNCE, 0) ||
	    check_all(fx, 0, 0, 1, 0, 1, true))
		goto out;

	if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS,
		    NULL, 0)) {
		ksft_print_msg("unregister io_uring buffers: %s\n",
			       strerror(errno));
		goto out;
	}
	if (expect_all(fx, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	if (ring >= 0)
		close(ring);
	pins_buf_free(page, 1);
	pins_buf_free(buf, UMEM_PAGES);

	return ret;
}

/*
 * RLIMIT_MEMLOCK is checked against the registrant's VmPin, which counts
 * pages pinned elsewhere (an io_uring buffer here), as on vanilla 6.12.
 * Also without the pins controller.
 */
TEST_F(vduse, rlimit_counts_vmpin)
{
	struct fix *fx = &self->fx;
	char buf[16];

	if (cg_read("/proc/sys/kernel", "io_uring_disabled", buf,
		    sizeof(buf)))
		SKIP(return, "io_uring not built");
	if (strcmp(buf, "0\n"))
		SKIP(return, "io_uring disabled by sysctl");

	ASSERT_EQ(0, run_child(fx, child_vmpin));
	ASSERT_EQ(0, wait_all(fx, 0, 0));
}

/*
 * The charge stays where REG_UMEM was made: the registrant moving to the
 * sibling cgroup leaves it in the fixture's cgroup and its VmPin, and
 * DEREG_UMEM from the sibling gives it back there.
 */
TEST_F(vduse, charge_stays_on_migration)
{
	struct fix *fx = &self->fx;
	char *buf;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(UMEM_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&fx->tree));

	ASSERT_EQ(0, cg_enter_current(fx->tree.cg));
	ASSERT_EQ(0, reg_umem(fx->fd, buf, 0));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));

	ASSERT_EQ(0, cg_enter_current(fx->tree.sibling));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES));

	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, 0));
	ASSERT_EQ(0, expect_all(fx, 0, 0, 0));

	ASSERT_EQ(0, cg_enter_current(fx->tree.root));
	pins_buf_free(buf, UMEM_PAGES);
}

/* The registrant of charge_outlives_registrant: register and exit. */
static int outlives_registrant(struct fix *fx)
{
	char *buf = pins_buf_alloc(UMEM_PAGES, true);

	if (!buf || reg_umem(fx->fd, buf, 0) ||
	    expect_all(fx, UMEM_PAGES, 0, UMEM_PAGES))
		return EXIT_FAILURE;

	/* Exit with the umem registered. */
	return EXIT_SUCCESS;
}

/*
 * A umem registered through a shared fd by a process that exits without
 * DEREG_UMEM stays pinned and charged to that process's cgroup, after the
 * cgroup is removed too (its parent shows it), and after the vDPA device
 * is deleted, until the device's fd is released. The device then goes, as
 * the teardown takes it down, step by step.
 */
TEST_F(vduse, charge_outlives_registrant)
{
	struct fix *fx = &self->fx;

	if (!fx->tree.have_pins)
		SKIP(return, "pins controller not available");

	ASSERT_EQ(0, run_child(fx, outlives_registrant));
	ASSERT_EQ(0, expect_all(fx, UMEM_PAGES, 0, 0));

	/* The registrant's cgroup goes, its charge lingers. */
	ASSERT_EQ(0, cg_destroy(fx->tree.cg));
	ASSERT_EQ(0, pins_cg_check(fx->tree.parent, "vdpa", UMEM_PAGES,
				   true));
	ASSERT_EQ(fx->tree.root_base + UMEM_PAGES,
		  pins_stat_pages(fx->tree.root, "vdpa"));

	/* The vDPA device goes, the umem stays. */
	ASSERT_EQ(0, vdpa_dev(NULL, VDUSE_NAME));
	ASSERT_NE(0, access(VDPA_DEV, F_OK));
	ASSERT_EQ(0, pins_cg_check(fx->tree.parent, "vdpa", UMEM_PAGES,
				   true));
	if (fx->pin_base >= 0)
		ASSERT_EQ(fx->pin_base + UMEM_PAGES, foll_pinned());

	/* The daemon stops and the fd's release gives everything back. */
	daemon_stop();
	pins_close_fd(&fx->fd);
	ASSERT_EQ(0, pins_cg_check(fx->tree.parent, "vdpa", 0, true));
	ASSERT_EQ(fx->tree.root_base, pins_stat_pages(fx->tree.root, "vdpa"));
	if (fx->pin_base >= 0)
		ASSERT_EQ(fx->pin_base, foll_pinned());
	ASSERT_EQ(0, pins_status_expect(0, "VmPin", 0));

	ASSERT_EQ(0, vduse_destroy());
	ASSERT_NE(0, access(VDUSE_DEV, F_OK));
}

/*
 * The registrant of registrant_exit, with @sock: open the device (the test
 * closed its own fd), register and exit when told to, closing the device.
 */
static int exit_registrant(struct fix *fx, int sock)
{
	char *buf = pins_buf_alloc(UMEM_PAGES, true);
	int fd = vduse_open();

	if (!buf || fd < 0 || reg_umem(fd, buf, 0) ||
	    pins_sock_send(sock, 'R', -1))
		return EXIT_FAILURE;

	/* Exit with the umem registered and the device open. */
	if (pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A registrant that holds the device's only fd and exits without
 * DEREG_UMEM gives the charge back when it exits: the fd's release
 * deregisters the umem. Also without the pins controller (VmPin and the
 * pinned pages).
 */
TEST_F(vduse, registrant_exit)
{
	struct fix *fx = &self->fx;
	int sock = -1;
	pid_t pid;

	/* The device needs no daemon meanwhile: nothing resets it. */
	daemon_stop();
	pins_close_fd(&fx->fd);

	pid = pins_fork_peer(fx->tree.have_pins ? fx->tree.cg : NULL, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(exit_registrant(fx, sock));
	fx->tree.pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'R', NULL));
	ASSERT_EQ(0, check_all(fx, UMEM_PAGES, 0, 0, fx->tree.pid, UMEM_PAGES,
			       true));

	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&fx->tree.pid));
	ASSERT_EQ(0, wait_all(fx, 0, 0));

	/* The device is free again, for the teardown. */
	fx->fd = vduse_open();
	ASSERT_LE(0, fx->fd);
	ASSERT_EQ(0, daemon_start(fx->fd));
	ASSERT_EQ(0, dereg_umem(fx->fd, VDUSE_BOUNCE, ENOENT));

	pins_close_fd(&sock);
}

TEST_HARNESS_MAIN
