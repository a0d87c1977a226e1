// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for how VFIO charges the memory it pins for DMA to the "pins"
 * cgroup v2 controller and to RLIMIT_MEMLOCK, for real: QEMU's edu PCI
 * device (1234:11e8), bound to vfio-pci, behind QEMU's emulated Intel
 * IOMMU, through a type1 container.
 *
 * VFIO_IOMMU_MAP_DMA pins every page of the mapping, one per page (the
 * tests keep huge pages out), and charges them to the pins cgroup of the
 * task that maps, as it is then, under "vfio" in pins.stat, and to the
 * mapper's mm->locked_vm (the "VmLck:" line of /proc/<pid>/status)
 * against the mapper's RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK, exactly
 * as vanilla 6.12 does: mlock()ed memory counts against the same limit.
 * The same pages mapped at two iovas are pinned, and charged, twice.
 *
 * The charge belongs to the mapping: VFIO_IOMMU_UNMAP_DMA, or the
 * container going with its last fd, returns it where it was made, whoever
 * unmaps, wherever the mapper moved, even after the mapper exited or its
 * cgroup was removed. A process taking a mapping over with
 * VFIO_DMA_MAP_FLAG_VADDR takes over its locked_vm charge, as vanilla
 * does, and the cgroup charge stays where it was.
 *
 * A refused charge fails the map with ENOMEM and changes nothing: the
 * range stays unmapped and free. A refusal by a pins.max is counted in
 * pins.events, logged once per limiting cgroup and traced by
 * pins:charge_refused; CAP_IPC_LOCK lifts RLIMIT_MEMLOCK, never pins.max.
 *
 * The same device opened through its vfio cdev and bound to iommufd
 * charges what an IOAS maps under "iommufd".
 *
 * Every test runs in a process of its own (kselftest_harness.h) on the
 * fixture below: the edu device bound to vfio-pci, vfio_iommu_type1's
 * allow_unsafe_interrupts set (QEMU's IOMMU runs without interrupt
 * remapping), a cgroup with pins enabled for its children and a child of
 * it that the test charges, all undone at teardown. Without the edu
 * device, vfio-pci or the type1 backend every test reports SKIP. The tests
 * of the rlimit and VmLck alone (map_unmap, rlimit_as_vanilla,
 * rlimit_shared_with_mlock, cap_ipc_lock_bypasses_rlimit, vaddr_update)
 * need no pins controller: without it they run in the current cgroup and
 * check VmLck and errnos only, the other tests report SKIP.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <linux/limits.h>
#include <linux/vfio.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* The memory a test maps from, in pages. */
#define BUF_PAGES	16

/* Mapping n of a test is at iova (n + 1) MiB. */
#define IOVA_STEP	0x100000ULL

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define VFIO_PCI	"/sys/bus/pci/drivers/vfio-pci"
#define TYPE1_UNSAFE	"/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
#define IOMMUFD_UNSAFE	"/sys/module/iommufd/parameters/allow_unsafe_interrupts"

/* A type1 container with the edu device's group in it. */
struct vfio_ctx {
	int container;
	int group;
};

/* The fixture is shared memory: see struct pins_tree. */
FIXTURE(vfio) {
	struct pins_tree tree;	/* root_base: the root's vfio pages */
	char dev[NAME_MAX];	/* the edu device's PCI address */
	char driver[NAME_MAX];	/* its driver at setup, "" if none */
	char override[NAME_MAX];	/* its driver_override at setup */
	char group[PATH_MAX];	/* /dev/vfio/<its IOMMU group> */
	bool bound;		/* setup bound it to vfio-pci */
	bool type1_unsafe;	/* setup set type1's allow_unsafe_interrupts */
	bool iommufd_unsafe;	/* a test set iommufd's */
	long mlocked;		/* pages the test's cgroup has under "mlock" */
};

/* Read the sysfs file @dir/@name into @buf (@size bytes). Returns 0 or -1. */
static int sysfs_read(const char *dir, const char *name, char *buf,
		      size_t size)
{
	char path[PATH_MAX];

	if (pins_path_of(path, dir, name))
		return -1;

	return read_text(path, buf, size) < 0 ? -1 : 0;
}

/* Write @str to @dir/@name with one write(2). Returns 0 or -1 (reported). */
static int sysfs_write(const char *dir, const char *name, const char *str)
{
	char path[PATH_MAX];

	if (pins_path_of(path, dir, name))
		return -1;

	return pins_write_file(path, str, 0);
}

/* Find the edu device: its address goes to @self->dev. Returns 0 or -1. */
static int find_edu(struct _test_data_vfio *self)
{
	char dir[PATH_MAX], vendor[16], device[16];
	struct dirent *de;
	int ret = -1;
	DIR *d;

	d = opendir(PCI_DEVICES);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    pins_path_of(dir, PCI_DEVICES, de->d_name) ||
		    sysfs_read(dir, "vendor", vendor, sizeof(vendor)) ||
		    sysfs_read(dir, "device", device, sizeof(device)))
			continue;
		if (!strcmp(vendor, "0x1234\n") && !strcmp(device, "0x11e8\n") &&
		    strlen(de->d_name) < sizeof(self->dev)) {
			snprintf(self->dev, sizeof(self->dev), "%s",
				 de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);

	return ret;
}

/*
 * The last component of the symlink @name of the edu device's sysfs
 * directory, in @buf (NAME_MAX bytes): "" if there is no such link.
 * Returns 0 or -1 (reported).
 */
static int dev_link(struct _test_data_vfio *self, const char *name,
		    char *buf)
{
	char path[PATH_MAX], target[PATH_MAX], *base;
	ssize_t len;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", self->dev, name);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0 && errno == ENOENT) {
		*buf = '\0';
		return 0;
	}
	if (len < 0) {
		ksft_print_msg("readlink %s: %s\n", path, strerror(errno));
		return -1;
	}
	target[len] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= NAME_MAX)
		return -1;
	snprintf(buf, NAME_MAX, "%s", base);

	return 0;
}

/*
 * Give the edu device back to the driver it had at setup, if setup bound it
 * to vfio-pci, and put allow_unsafe_interrupts back.
 */
static void dev_release(struct _test_data_vfio *self)
{
	char dir[PATH_MAX];

	if (self->bound) {
		snprintf(dir, sizeof(dir), PCI_DEVICES "/%s", self->dev);
		sysfs_write(VFIO_PCI, "unbind", self->dev);
		/* "\n" clears driver_override. */
		sysfs_write(dir, "driver_override",
			    strcmp(self->override, "(null)\n") ?
			    self->override : "\n");
		if (*self->driver)
			sysfs_write("/sys/bus/pci", "drivers_probe",
				    self->dev);
		self->bound = false;
	}
	if (self->type1_unsafe) {
		pins_write_file(TYPE1_UNSAFE, "N", 0);
		self->type1_unsafe = false;
	}
	if (self->iommufd_unsafe) {
		pins_write_file(IOMMUFD_UNSAFE, "N", 0);
		self->iommufd_unsafe = false;
	}
}

/*
 * Bind the edu device to vfio-pci and find its group. Returns 0, 1 to skip
 * (with the reason in @why) or -1; undoes what it did unless it returns 0.
 */
static int dev_bind(struct _test_data_vfio *self, const char **why)
{
	char dir[PATH_MAX], drv[PATH_MAX], name[NAME_MAX], buf[16];

	snprintf(dir, sizeof(dir), PCI_DEVICES "/%s", self->dev);
	if (dev_link(self, "iommu_group", name))
		return -1;
	if (!*name) {
		*why = "the edu device has no IOMMU group (IOMMU off?)";
		return 1;
	}
	snprintf(self->group, sizeof(self->group), "/dev/vfio/%s", name);

	if (dev_link(self, "driver", self->driver) ||
	    sysfs_read(dir, "driver_override", self->override,
		       sizeof(self->override)))
		return -1;
	if (strcmp(self->driver, "vfio-pci")) {
		self->bound = true;
		if (*self->driver &&
		    (pins_path_of(drv, "/sys/bus/pci/drivers", self->driver) ||
		     sysfs_write(drv, "unbind", self->dev)))
			goto fail;
		if (sysfs_write(dir, "driver_override", "vfio-pci") ||
		    sysfs_write("/sys/bus/pci", "drivers_probe", self->dev) ||
		    dev_link(self, "driver", name))
			goto fail;
		if (strcmp(name, "vfio-pci")) {
			ksft_print_msg("%s didn't bind to vfio-pci\n",
				       self->dev);
			goto fail;
		}
	}

	if (access(self->group, F_OK)) {
		ksft_print_msg("no %s: %s\n", self->group, strerror(errno));
		goto fail;
	}

	/* QEMU's IOMMU has no interrupt remapping here. */
	if (read_text(TYPE1_UNSAFE, buf, sizeof(buf)) < 0)
		goto fail;
	if (strcmp(buf, "Y\n")) {
		self->type1_unsafe = true;
		if (pins_write_file(TYPE1_UNSAFE, "Y", 0))
			goto fail;
	}

	return 0;

fail:
	dev_release(self);
	return -1;
}

FIXTURE_SETUP(vfio)
{
	const char *why = NULL;
	int ret;

	pins_util_init();

	if (access(VFIO_PCI, F_OK))
		SKIP(return, "vfio-pci isn't available");
	if (access("/sys/module/vfio_iommu_type1", F_OK))
		SKIP(return, "no VFIO type1 IOMMU backend");
	if (find_edu(self))
		SKIP(return, "no edu PCI device (1234:11e8)");
	ret = dev_bind(self, &why);
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret);

	/*
	 * Without the controller only the rlimit tests run. A container a
	 * failed test left may still be going: setup waits for it.
	 * Teardown only follows a complete setup: undo a partial one here.
	 */
	ret = pins_tree_setup(&self->tree, "vfio", _metadata->name, "vfio");
	if (ret == KSFT_SKIP)
		return;
	if (ret != KSFT_PASS)
		dev_release(self);
	ASSERT_EQ(KSFT_PASS, ret);
}

/*
 * Kill the test's child if it is still there, remove the tracefs
 * instance, give the device back and remove the cgroups. See struct
 * pins_tree for why it is a FIXTURE_TEARDOWN_PARENT(): the test's
 * containers and groups close when its process exits. Unbinding the
 * device detaches a group still in a container, which unpins its
 * mappings.
 */
FIXTURE_TEARDOWN_PARENT(vfio)
{
	pins_tree_stop(&self->tree);
	dev_release(self);
	self->mlocked = 0;
	pins_tree_teardown(&self->tree);
}

/*
 * Returns 0 if @cg pages are charged under vfio to the fixture's cgroup
 * and @sib to its sibling (if there is one), both to their parent and, on
 * top of what it had at setup, to the root's vfio line, nothing else but
 * the fixture's "mlocked" pages under mlock, and if @vmlck isn't negative,
 * if the VmLck of @pid (0: this process) is @vmlck pages. Only VmLck is
 * checked without the pins controller. Quiet unless @verbose.
 */
static int check_all(struct _test_data_vfio *self, long cg, long sib,
		     pid_t pid, long vmlck, bool verbose)
{
	if (vmlck >= 0 && pins_status_check(pid, "VmLck", vmlck, verbose))
		return -1;

	return pins_tree_check_other(&self->tree, "vfio", cg, sib, "mlock",
				     self->mlocked, verbose);
}

/* check_all() for this process, telling what differs. */
static int expect_all(struct _test_data_vfio *self, long cg, long sib,
		      long vmlck)
{
	return check_all(self, cg, sib, 0, vmlck, true);
}

/*
 * expect_all(), giving the kernel up to two seconds to get there, for
 * charges returned when a container goes.
 */
static int wait_all(struct _test_data_vfio *self, long cg, long sib,
		    long vmlck)
{
	int tries = 0;

	while (pins_retry(&tries))
		if (!check_all(self, cg, sib, 0, vmlck, false))
			return 0;

	return expect_all(self, cg, sib, vmlck);
}

/* Close what vfio_open() opened. */
static void vfio_close(struct vfio_ctx *v)
{
	pins_close_fd(&v->group);
	pins_close_fd(&v->container);
}

/*
 * Open a container, put the edu device's group in it and give it a type1v2
 * IOMMU. Returns 0, or -1 (reported) with nothing left open.
 */
static int vfio_open(struct _test_data_vfio *self, struct vfio_ctx *v)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	v->group = -1;
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0) {
		ksft_print_msg("open /dev/vfio/vfio: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		ksft_print_msg("no VFIO type1v2 IOMMU\n");
		goto fail;
	}

	v->group = open(self->group, O_RDWR | O_CLOEXEC);
	if (v->group < 0) {
		ksft_print_msg("open %s: %s\n", self->group, strerror(errno));
		goto fail;
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ksft_print_msg("group %s isn't viable\n", self->group);
		goto fail;
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container)) {
		ksft_print_msg("VFIO_GROUP_SET_CONTAINER: %s\n",
			       strerror(errno));
		goto fail;
	}
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ksft_print_msg("VFIO_SET_IOMMU: %s\n", strerror(errno));
		goto fail;
	}

	return 0;

fail:
	vfio_close(v);
	return -1;
}

/* The iova of mapping @slot. */
static __u64 slot_iova(int slot)
{
	return (slot + 1) * IOVA_STEP;
}

/* Print "got X, expected Y" for an ioctl that ended with errno @got. */
static int errno_mismatch(const char *what, int got, int want)
{
	ksft_print_msg("%s: got \"%s\", expected \"%s\"\n", what,
		       got ? strerror(got) : "success",
		       want ? strerror(want) : "success");

	return -1;
}

/*
 * VFIO_IOMMU_MAP_DMA of the @npages pages at @vaddr, read and write, at
 * mapping @slot of @container. Returns 0 if that ends with errno @err (0
 * for success).
 */
static int dma_map(int container, char *vaddr, long npages, int slot,
		   int err)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = slot_iova(slot),
		.size = npages * page_size,
	};
	char what[64];
	int ret;

	ret = ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? errno : 0;
	if (ret == err)
		return 0;

	snprintf(what, sizeof(what), "map %ld pages at slot %d", npages,
		 slot);

	return errno_mismatch(what, ret, err);
}

/*
 * VFIO_IOMMU_MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR: give mapping @slot of
 * @npages pages the new address @vaddr. Returns 0 if that ends with errno
 * @err (0 for success).
 */
static int dma_map_vaddr(int container, char *vaddr, long npages, int slot,
			 int err)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_VADDR,
		.vaddr = (uintptr_t)vaddr,
		.iova = slot_iova(slot),
		.size = npages * page_size,
	};
	int ret;

	ret = ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? errno : 0;
	if (ret == err)
		return 0;

	return errno_mismatch("map with VFIO_DMA_MAP_FLAG_VADDR", ret, err);
}

/*
 * VFIO_IOMMU_UNMAP_DMA with @flags of the @npages pages at mapping @slot
 * of @container (of everything with VFIO_DMA_UNMAP_FLAG_ALL). Returns 0 if
 * it succeeds and says it unmapped @unmapped pages.
 */
static int dma_unmap_flags(int container, int slot, long npages,
			   long unmapped, __u32 flags)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = flags & VFIO_DMA_UNMAP_FLAG_ALL ? 0 : slot_iova(slot),
		.size = flags & VFIO_DMA_UNMAP_FLAG_ALL ? 0 :
			npages * page_size,
	};

	if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap)) {
		ksft_print_msg("unmap %ld pages at slot %d (flags %#x): %s\n",
			       npages, slot, flags, strerror(errno));
		return -1;
	}
	if (unmap.size != (__u64)unmapped * page_size) {
		ksft_print_msg("unmap slot %d (flags %#x): %llu bytes, expected %ld pages\n",
			       slot, flags, (unsigned long long)unmap.size,
			       unmapped);
		return -1;
	}

	return 0;
}

/* Unmap mapping @slot of @npages pages: @unmapped pages must go. */
static int dma_unmap(int container, int slot, long npages, long unmapped)
{
	return dma_unmap_flags(container, slot, npages, unmapped, 0);
}

/* Unmap everything: @unmapped pages must go. */
static int dma_unmap_all(int container, long unmapped)
{
	return dma_unmap_flags(container, 0, 0, unmapped,
			       VFIO_DMA_UNMAP_FLAG_ALL);
}

/*
 * Run @fn(@self) in a child process, in the fixture's cgroup if there is
 * one. Returns 0 if it exited with EXIT_SUCCESS.
 */
static int run_child(struct _test_data_vfio *self,
		     int (*fn)(struct _test_data_vfio *self))
{
	pid_t pid = pins_fork(self->tree.have_pins ? self->tree.cg : NULL);

	if (pid == 0)
		pins_child_exit(fn(self));
	self->tree.pid = pid;

	return pid < 0 ? -1 : pins_reap(&self->tree.pid);
}

/* A pins:charge_refused line. */
struct refusal {
	int pid;
	char comm[64];
	unsigned long long cgroup, limiter;
	char source[32];
	long pages, limit, usage;
};

/*
 * Count the pins:charge_refused lines of @dir/trace and parse the last one
 * into @last. Returns the count, or -1 (reported) if a line can't be
 * parsed or the trace can't be read.
 */
static int trace_read(const char *dir, struct refusal *last)
{
	FILE *f = pins_trace_open(dir);
	char *line = NULL, *p;
	size_t size = 0;
	int count = 0;

	if (!f)
		return -1;
	while (getline(&line, &size, f) > 0) {
		p = strstr(line, "charge_refused: ");
		if (!p)
			continue;
		if (sscanf(p,
			   "charge_refused: pid=%d comm=%63s cgroup=%llu limiter=%llu source=%31s pages=%ld limit=%ld usage=%ld",
			   &last->pid, last->comm, &last->cgroup,
			   &last->limiter, last->source, &last->pages,
			   &last->limit, &last->usage) != 8) {
			ksft_print_msg("can't parse \"%s\"\n", p);
			count = -1;
			break;
		}
		count++;
	}
	free(line);
	fclose(f);

	return count;
}

/*
 * Returns 0 if @dir/trace has @total pins:charge_refused lines and the
 * last is for a refused vfio charge by this process to @cgroup, refused by
 * @limiter at @limit pages, of @pages pages with @usage charged; if
 * @pages is 0, for whatever pages, but with @usage pages in all with them.
 */
static int trace_expect(const char *dir, int total, const char *cgroup,
			const char *limiter, long pages, long limit,
			long usage)
{
	char comm[16] = "";
	struct refusal r;
	int got;

	got = trace_read(dir, &r);
	if (got < 0)
		return -1;
	if (got != total) {
		ksft_print_msg("%d pins:charge_refused lines, expected %d\n",
			       got, total);
		return -1;
	}

	prctl(PR_GET_NAME, comm, 0, 0, 0);
	if (r.pid != getpid() || strcmp(r.comm, comm) ||
	    r.cgroup != pins_cg_id(cgroup) ||
	    r.limiter != pins_cg_id(limiter) || strcmp(r.source, "vfio") ||
	    r.limit != limit ||
	    (pages ? r.pages != pages || r.usage != usage :
		     r.pages <= 0 || r.pages + r.usage != usage)) {
		ksft_print_msg("refused: pid=%d comm=%s cgroup=%llu limiter=%llu\n",
			       r.pid, r.comm, r.cgroup, r.limiter);
		ksft_print_msg("refused: source=%s pages=%ld limit=%ld usage=%ld\n",
			       r.source, r.pages, r.limit, r.usage);
		ksft_print_msg("expected: pid=%d comm=%s cgroup=%llu limiter=%llu\n",
			       getpid(), comm, pins_cg_id(cgroup),
			       pins_cg_id(limiter));
		if (pages)
			ksft_print_msg("expected: source=vfio pages=%ld limit=%ld usage=%ld\n",
				       pages, limit, usage);
		else
			ksft_print_msg("expected: source=vfio limit=%ld, pages + usage = %ld\n",
				       limit, usage);
		return -1;
	}

	return 0;
}

/*
 * Mapping charges the mapper's cgroup, its ancestors, the root's vfio line
 * and the mapper's VmLck one page per page, the same pages mapped twice
 * twice; unmapping, one mapping or all, gives it back, and so does closing
 * the container and the group. Also without the pins controller (VmLck
 * only).
 */
TEST_F(vfio, map_unmap)
{
	struct vfio_ctx v;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	if (self->tree.have_pins)
		ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, vfio_open(self, &v));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	ASSERT_EQ(0, dma_map(v.container, buf, 3, 0, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 3), 2, 1, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));
	/* The same pages at another iova: pinned, and charged, again. */
	ASSERT_EQ(0, dma_map(v.container, buf, 3, 2, 0));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));
	/* Over an existing mapping: EEXIST, nothing charged. */
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 8), 3, 0,
			     EEXIST));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));

	ASSERT_EQ(0, dma_unmap(v.container, 0, 3, 3));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));
	ASSERT_EQ(0, dma_unmap(v.container, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));
	ASSERT_EQ(0, dma_unmap_all(v.container, 5));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	/* The mappings left go with the container and the group. */
	ASSERT_EQ(0, dma_map(v.container, buf, 4, 0, 0));
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 4), 4, 1, 0));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));
	vfio_close(&v);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Refusals by a pins.max of 4 pages at @limiter, the fixture's cgroup or
 * its parent, of mappings made from the fixture's cgroup: each fails with
 * ENOMEM and changes nothing (pins.current, pins.stat, VmLck; the range
 * stays free), is counted in pins.events at the limiter and above and in
 * pins.events.local at the limiter, and is traced; the first one is
 * logged.
 */
static void refusals(struct __test_metadata *_metadata,
		     struct _test_data_vfio *self, const char *limiter)
{
	bool at_cg = limiter == self->tree.cg;
	char text[PATH_MAX + 64];
	struct vfio_ctx v;
	int kmsg, ret;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ret = pins_trace_start(self->tree.instance, "pins_vfio");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);
	pins_refusal_text(text, sizeof(text), "vfio", self->tree.root, limiter);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(limiter, 4));
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, vfio_open(self, &v));

	ASSERT_EQ(0, dma_map(v.container, buf, 3, 0, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 0, 0));

	/*
	 * Two more pages would make five. VFIO charges a mapping in runs of
	 * physically contiguous pages: the refused run is both pages, or
	 * the second one after the first was charged (and then returned).
	 */
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 3), 2, 1,
			     ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, trace_expect(self->tree.instance, 1, self->tree.cg,
				  limiter, 0, 4, 5));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));

	/* Nothing is mapped there: one page fits. */
	ASSERT_EQ(0, dma_unmap(v.container, 1, 2, 0));
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 3), 1, 1, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	/* At the limit, one page more: counted and traced, not logged. */
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 5), 1, 2,
			     ENOMEM));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, trace_expect(self->tree.instance, 2, self->tree.cg,
				  limiter, 1, 4, 4));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Pages already mapped elsewhere are charged again: refused too. */
	ASSERT_EQ(0, dma_map(v.container, buf, 1, 2, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, trace_expect(self->tree.instance, 3, self->tree.cg,
				  limiter, 1, 4, 4));

	/* Room again: the refused range maps. */
	ASSERT_EQ(0, dma_unmap(v.container, 0, 3, 3));
	ASSERT_EQ(0, expect_all(self, 1, 0, 1));
	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 5), 3, 2, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	vfio_close(&v);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 3 * at_cg, 3 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	close(kmsg);
	pins_buf_free(buf, BUF_PAGES);
}

/* Refusals by the mapper's own pins.max. */
TEST_F(vfio, refusal_at_limit)
{
	refusals(_metadata, self, self->tree.cg);
}

/* Refusals by the pins.max of the mapper's parent. */
TEST_F(vfio, refusal_at_ancestor)
{
	refusals(_metadata, self, self->tree.parent);
}

/*
 * Set up a child of a test to map: BUF_PAGES pages in *@buf and a
 * container in @v. With @nobody, the container is opened as root and the
 * child then becomes nobody with RLIMIT_MEMLOCK at 4 pages; else the child
 * stays root, with CAP_IPC_LOCK, and sets RLIMIT_MEMLOCK to 0 first.
 * Returns 0, or -1 with nothing left.
 */
static int child_start(struct _test_data_vfio *self, struct vfio_ctx *v,
		       char **buf, bool nobody)
{
	int ret;

	*buf = pins_buf_alloc(BUF_PAGES, true);
	if (!*buf)
		return -1;

	if (nobody) {
		ret = vfio_open(self, v);
		if (!ret && pins_drop_privileges(4)) {
			vfio_close(v);
			ret = -1;
		}
	} else {
		ret = pins_set_memlock(0) ||
		      pins_cap_ipc_lock_effective() != 1 ||
		      vfio_open(self, v) ? -1 : 0;
	}
	if (ret)
		pins_buf_free(*buf, BUF_PAGES);

	return ret;
}

/* Undo child_start(). Returns @ret, the child's exit status. */
static int child_end(struct vfio_ctx *v, char *buf, int ret)
{
	vfio_close(v);
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * Child of rlimit_as_vanilla: without CAP_IPC_LOCK, with RLIMIT_MEMLOCK at
 * 4 pages, 4 pages fit and 5 don't, in one mapping or in several, and
 * VmLck counts what fits. The container was set up as root.
 */
static int child_rlimit(struct _test_data_vfio *self)
{
	int ret = EXIT_FAILURE;
	struct vfio_ctx v;
	char *buf;

	if (child_start(self, &v, &buf, true))
		return EXIT_FAILURE;

	if (dma_map(v.container, buf, 5, 0, ENOMEM) ||
	    expect_all(self, 0, 0, 0) || dma_unmap(v.container, 0, 5, 0))
		goto out;

	if (dma_map(v.container, buf, 4, 0, 0) || expect_all(self, 4, 0, 4))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 4), 1, 1, ENOMEM) ||
	    expect_all(self, 4, 0, 4))
		goto out;
	if (dma_unmap(v.container, 0, 4, 4) || expect_all(self, 0, 0, 0))
		goto out;

	if (dma_map(v.container, buf, 2, 0, 0) ||
	    dma_map(v.container, pins_page_at(buf, 2), 2, 1, 0) ||
	    expect_all(self, 4, 0, 4))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 4), 1, 2, ENOMEM) ||
	    expect_all(self, 4, 0, 4))
		goto out;
	if (dma_unmap_all(v.container, 4) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	return child_end(&v, buf, ret);
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits mappings as on vanilla 6.12,
 * and its refusals aren't the cgroup's. Also without the pins controller.
 */
TEST_F(vfio, rlimit_as_vanilla)
{
	ASSERT_EQ(0, run_child(self, child_rlimit));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	if (self->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(self->tree.parent, 0, 0));
}

/* mlock() (@lock) or munlock() @npages pages at @addr: 0 if it ends with @err. */
static int lock_pages(char *addr, long npages, bool lock, int err)
{
	int ret;

	if (lock)
		ret = mlock(addr, npages * page_size) ? errno : 0;
	else
		ret = munlock(addr, npages * page_size) ? errno : 0;
	if (ret == err)
		return 0;

	return errno_mismatch(lock ? "mlock" : "munlock", ret, err);
}

/*
 * Child of rlimit_shared_with_mlock: without CAP_IPC_LOCK, with
 * RLIMIT_MEMLOCK at 4 pages, mlock()ed pages and mapped pages add up in
 * VmLck against the one limit, even when they are the same pages.
 */
static int child_rlimit_mlock(struct _test_data_vfio *self)
{
	int ret = EXIT_FAILURE;
	struct vfio_ctx v;
	char *buf;

	if (child_start(self, &v, &buf, true))
		return EXIT_FAILURE;

	/* Two locked: room for two mapped. */
	if (lock_pages(pins_page_at(buf, 8), 2, true, 0))
		goto out;
	self->mlocked = self->tree.have_pins ? 2 : 0;
	if (expect_all(self, 0, 0, 2))
		goto out;
	if (dma_map(v.container, buf, 3, 0, ENOMEM) ||
	    expect_all(self, 0, 0, 2) || dma_unmap(v.container, 0, 3, 0))
		goto out;
	/* The locked pages themselves: counted again, as on vanilla. */
	if (dma_map(v.container, pins_page_at(buf, 8), 2, 0, 0) ||
	    expect_all(self, 2, 0, 4))
		goto out;

	/* Two mapped, two locked: no room to lock another. */
	if (lock_pages(pins_page_at(buf, 10), 1, true, ENOMEM) ||
	    expect_all(self, 2, 0, 4))
		goto out;

	/* Unlocked: room to map. */
	if (lock_pages(pins_page_at(buf, 8), 2, false, 0))
		goto out;
	self->mlocked = 0;
	if (expect_all(self, 2, 0, 2))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 2), 3, 1, ENOMEM) ||
	    expect_all(self, 2, 0, 2))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 2), 2, 1, 0) ||
	    expect_all(self, 4, 0, 4))
		goto out;
	if (dma_unmap_all(v.container, 4) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	return child_end(&v, buf, ret);
}

/*
 * VFIO counts its pins in locked_vm, which mlock() counts in too: the two
 * share RLIMIT_MEMLOCK, as on vanilla 6.12, while the cgroup tells them
 * apart in pins.stat. Also without the pins controller.
 */
TEST_F(vfio, rlimit_shared_with_mlock)
{
	int ret;

	ret = run_child(self, child_rlimit_mlock);
	self->mlocked = 0;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of cap_ipc_lock_bypasses_rlimit: as root with RLIMIT_MEMLOCK at
 * 0, mappings go past the rlimit and VmLck counts them. Exits with 4 pages
 * mapped.
 */
static int child_cap_rlimit(struct _test_data_vfio *self)
{
	int ret = EXIT_FAILURE;
	struct vfio_ctx v;
	char *buf;

	if (child_start(self, &v, &buf, false))
		return EXIT_FAILURE;

	if (dma_map(v.container, buf, 3, 0, 0) || expect_all(self, 3, 0, 3))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 3), 2, 1, 0) ||
	    expect_all(self, 5, 0, 5))
		goto out;
	if (dma_unmap_all(v.container, 5) || expect_all(self, 0, 0, 0))
		goto out;

	/* Exit with a mapping in place: exit gives it back. */
	if (dma_map(v.container, buf, 4, 0, 0) || expect_all(self, 4, 0, 4))
		goto out;

	return EXIT_SUCCESS;
out:
	return child_end(&v, buf, ret);
}

/*
 * CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for mappings, which VmLck still
 * counts, as on vanilla 6.12; the mapper's exit gives back what it left
 * mapped. Also without the pins controller.
 */
TEST_F(vfio, cap_ipc_lock_bypasses_rlimit)
{
	ASSERT_EQ(0, run_child(self, child_cap_rlimit));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of cap_ipc_lock_not_cgroup: as root with RLIMIT_MEMLOCK at 0, in a
 * cgroup whose pins.max is 4 pages.
 */
static int child_cap_cgroup(struct _test_data_vfio *self)
{
	int ret = EXIT_FAILURE;
	struct vfio_ctx v;
	char *buf;

	if (child_start(self, &v, &buf, false))
		return EXIT_FAILURE;

	/* Past the rlimit: CAP_IPC_LOCK lets it through. */
	if (dma_map(v.container, buf, 3, 0, 0) || expect_all(self, 3, 0, 3))
		goto out;
	/* Past pins.max: it doesn't. */
	if (dma_map(v.container, pins_page_at(buf, 3), 2, 1, ENOMEM) ||
	    expect_all(self, 3, 0, 3))
		goto out;
	if (dma_map(v.container, pins_page_at(buf, 3), 1, 1, 0) ||
	    expect_all(self, 4, 0, 4))
		goto out;
	if (dma_unmap_all(v.container, 4) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	return child_end(&v, buf, ret);
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK but not pins.max. */
TEST_F(vfio, cap_ipc_lock_not_cgroup)
{
	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ASSERT_EQ(0, pins_set_max(self->tree.cg, 4));
	ASSERT_EQ(0, run_child(self, child_cap_cgroup));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, 0));
}

/*
 * The mapper moving to another cgroup leaves its mapping's charge where it
 * was made; the mapping unmapped from there gives it back there. A new
 * mapping charges the new cgroup.
 */
TEST_F(vfio, charge_stays_after_migration)
{
	struct vfio_ctx v;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, vfio_open(self, &v));
	ASSERT_EQ(0, dma_map(v.container, buf, 4, 0, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	ASSERT_EQ(0, dma_map(v.container, pins_page_at(buf, 4), 2, 1, 0));
	ASSERT_EQ(0, expect_all(self, 4, 2, 6));

	ASSERT_EQ(0, dma_unmap(v.container, 0, 4, 4));
	ASSERT_EQ(0, expect_all(self, 0, 2, 2));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	vfio_close(&v);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * A mapping outlives the removal of the cgroup it was made in, which
 * lingers, its charge still counted in its parent, until the mapping
 * goes.
 */
TEST_F(vfio, unmap_after_rmdir)
{
	struct vfio_ctx v;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, vfio_open(self, &v));
	ASSERT_EQ(0, dma_map(v.container, buf, 3, 0, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ASSERT_EQ(0, rmdir(self->tree.cg));
	ASSERT_EQ(0, pins_cg_check(self->tree.parent, "vfio", 3, true));
	ASSERT_EQ(self->tree.root_base + 3,
		  pins_stat_pages(self->tree.root, "vfio"));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 3));

	ASSERT_EQ(0, dma_unmap(v.container, 0, 3, 3));
	ASSERT_EQ(0, pins_cg_check(self->tree.parent, "vfio", 0, true));
	ASSERT_EQ(self->tree.root_base,
		  pins_stat_pages(self->tree.root, "vfio"));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 0));

	vfio_close(&v);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * The mapper of fd_passing, in the fixture's cgroup: map 4 pages, pass the
 * container and the group over @sock, map 3 more when told to, and exit,
 * with its mappings in place, when told to.
 */
static int passing_mapper(struct _test_data_vfio *self, int sock)
{
	struct vfio_ctx v;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || cg_enter_current(self->tree.cg) || vfio_open(self, &v))
		return EXIT_FAILURE;

	if (dma_map(v.container, buf, 4, 0, 0) ||
	    pins_sock_send(sock, 'C', v.container) ||
	    pins_sock_send(sock, 'G', v.group))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'm', NULL) ||
	    dma_map(v.container, pins_page_at(buf, 4), 3, 1, 0) ||
	    pins_sock_send(sock, 'M', -1))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * Passing the container (and its group) over a unix socket to a process
 * in another cgroup moves no charge: what the mapper mapped stays with
 * the mapper's cgroup and mm until the receiver unmaps it, even after the
 * mapper exited; what the receiver maps is the receiver's. Closing the
 * last fds gives back what is left.
 */
TEST_F(vfio, fd_passing)
{
	int sock = -1;
	struct vfio_ctx v = { -1, -1 };
	char *buf;
	pid_t pid;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	pid = pins_fork_peer(NULL, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(passing_mapper(self, sock));
	self->tree.pid = pid;

	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, pins_sock_recv(sock, 'C', &v.container));
	ASSERT_EQ(0, pins_sock_recv(sock, 'G', &v.group));
	ASSERT_EQ(0, check_all(self, 4, 0, self->tree.pid, 4, true));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 0));

	/* The receiver unmaps: back to the mapper's cgroup and mm. */
	ASSERT_EQ(0, dma_unmap(v.container, 0, 4, 4));
	ASSERT_EQ(0, check_all(self, 0, 0, self->tree.pid, 0, true));

	/* The receiver maps: its own cgroup and mm. */
	ASSERT_EQ(0, dma_map(v.container, buf, 2, 2, 0));
	ASSERT_EQ(0, check_all(self, 0, 2, self->tree.pid, 0, true));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 2));

	/* The mapper maps again, and exits. */
	ASSERT_EQ(0, pins_sock_send(sock, 'm', -1));
	ASSERT_EQ(0, pins_sock_recv(sock, 'M', NULL));
	ASSERT_EQ(0, check_all(self, 3, 2, self->tree.pid, 3, true));
	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	usleep(100000);
	ASSERT_EQ(0, expect_all(self, 3, 2, 2));

	/* Its mapping, unmapped after it exited, leaves its cgroup. */
	ASSERT_EQ(0, dma_unmap(v.container, 1, 3, 3));
	ASSERT_EQ(0, expect_all(self, 0, 2, 2));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	vfio_close(&v);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sock);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Child of vaddr_update that tries to take the mapping over without
 * CAP_IPC_LOCK and with no room under RLIMIT_MEMLOCK (2 pages).
 */
static int vaddr_nobody(struct _test_data_vfio *self, int container)
{
	char *buf = pins_buf_alloc(BUF_PAGES, true);

	if (!buf ||
	    (self->tree.have_pins && cg_enter_current(self->tree.sibling)) ||
	    pins_drop_privileges(2))
		return EXIT_FAILURE;

	if (dma_map_vaddr(container, buf, 4, 0, ENOMEM) ||
	    pins_status_expect(0, "VmLck", 0))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * Child of vaddr_update that takes the mapping over (as root), then maps
 * 2 pages of its own when told to, then exits when told to.
 */
static int vaddr_owner(struct _test_data_vfio *self, int container,
		       int sock)
{
	char *buf = pins_buf_alloc(BUF_PAGES, true);

	if (!buf ||
	    (self->tree.have_pins && cg_enter_current(self->tree.sibling)))
		return EXIT_FAILURE;

	if (dma_map_vaddr(container, buf, 4, 0, 0) ||
	    pins_sock_send(sock, 'V', -1))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'm', NULL) ||
	    dma_map(container, pins_page_at(buf, 4), 2, 1, 0) ||
	    pins_sock_send(sock, 'M', -1))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A mapping whose vaddr was invalidated (VFIO_DMA_UNMAP_FLAG_VADDR) stays
 * pinned and charged; another process giving it a new vaddr
 * (VFIO_DMA_MAP_FLAG_VADDR) takes its locked_vm charge over, against its
 * own RLIMIT_MEMLOCK, as on vanilla 6.12, while the cgroup charge stays
 * with the mapping, in the cgroup it was made in. Also without the pins
 * controller (VmLck only).
 */
TEST_F(vfio, vaddr_update)
{
	struct vfio_ctx v;
	int sock = -1;
	char *buf;
	pid_t pid;

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	if (self->tree.have_pins) {
		ASSERT_EQ(0, pins_tree_sibling(&self->tree));
		ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	}
	ASSERT_EQ(0, vfio_open(self, &v));
	if (ioctl(v.container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR) != 1)
		SKIP(return, "no VFIO_UPDATE_VADDR");

	ASSERT_EQ(0, dma_map(v.container, buf, 4, 0, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, dma_unmap_flags(v.container, 0, 4, 4,
				     VFIO_DMA_UNMAP_FLAG_VADDR));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	/* No room under the new owner's rlimit: nothing moves. */
	pid = pins_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(vaddr_nobody(self, v.container));
	self->tree.pid = pid;
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	/* Taken over: VmLck moves, the cgroup charge doesn't. */
	pid = pins_fork_peer(NULL, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(vaddr_owner(self, v.container, sock));
	self->tree.pid = pid;
	ASSERT_EQ(0, pins_sock_recv(sock, 'V', NULL));
	ASSERT_EQ(0, check_all(self, 4, 0, self->tree.pid, 4, true));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 0));

	/* The new owner's own mapping is its cgroup's. */
	ASSERT_EQ(0, pins_sock_send(sock, 'm', -1));
	ASSERT_EQ(0, pins_sock_recv(sock, 'M', NULL));
	ASSERT_EQ(0, check_all(self, 4, 2, self->tree.pid, 6, true));

	/* Unmapped by the first owner: from the new owner's VmLck. */
	ASSERT_EQ(0, dma_unmap(v.container, 0, 4, 4));
	ASSERT_EQ(0, check_all(self, 0, 2, self->tree.pid, 2, true));
	ASSERT_EQ(0, dma_unmap(v.container, 1, 2, 2));
	ASSERT_EQ(0, check_all(self, 0, 0, self->tree.pid, 0, true));
	ASSERT_EQ(0, pins_status_expect(0, "VmLck", 0));

	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	if (self->tree.have_pins)
		ASSERT_EQ(0, cg_enter_current(self->tree.root));
	vfio_close(&v);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sock);
	pins_buf_free(buf, BUF_PAGES);
}

/* The iommufd fds of iommufd_cdev's child. */
struct iommufd_ctx {
	int iommufd;
	int device;
	__u32 ioas;
};

/*
 * Open the edu device's vfio cdev, bind it to a new iommufd and attach it
 * to a new IOAS. Returns 0, 1 if there is no cdev, or -1 (reported).
 */
static int iommufd_open(struct _test_data_vfio *self, struct iommufd_ctx *c)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char name[NAME_MAX], path[PATH_MAX + 32];
	struct dirent *de;
	DIR *d;

	c->iommufd = -1;
	c->device = -1;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vfio-dev", self->dev);
	d = opendir(path);
	if (!d)
		return 1;
	*name = '\0';
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4) &&
		    strlen(de->d_name) < sizeof(name))
			snprintf(name, sizeof(name), "%s", de->d_name);
	closedir(d);
	if (!*name)
		return 1;

	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	c->device = open(path, O_RDWR | O_CLOEXEC);
	if (c->device < 0) {
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
		return -1;
	}
	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (c->iommufd < 0) {
		ksft_print_msg("open /dev/iommu: %s\n", strerror(errno));
		return -1;
	}
	bind.iommufd = c->iommufd;
	if (ioctl(c->device, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD: %s\n",
			       strerror(errno));
		return -1;
	}
	if (ioctl(c->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		ksft_print_msg("IOMMU_IOAS_ALLOC: %s\n", strerror(errno));
		return -1;
	}
	c->ioas = alloc.out_ioas_id;
	attach.pt_id = c->ioas;
	if (ioctl(c->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ksft_print_msg("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s\n",
			       strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * IOMMU_IOAS_MAP of the @npages pages at @vaddr at mapping @slot of @c's
 * IOAS. Returns 0 if that ends with errno @err (0 for success).
 */
static int ioas_map(struct iommufd_ctx *c, char *vaddr, long npages,
		    int slot, int err)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_READABLE,
		.ioas_id = c->ioas,
		.user_va = (uintptr_t)vaddr,
		.length = npages * page_size,
		.iova = slot_iova(slot),
	};
	int ret;

	ret = ioctl(c->iommufd, IOMMU_IOAS_MAP, &map) ? errno : 0;
	if (ret == err)
		return 0;

	return errno_mismatch("IOMMU_IOAS_MAP", ret, err);
}

/* IOMMU_IOAS_UNMAP of mapping @slot of @npages pages. Returns 0 or -1. */
static int ioas_unmap(struct iommufd_ctx *c, int slot, long npages)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = c->ioas,
		.iova = slot_iova(slot),
		.length = npages * page_size,
	};

	if (ioctl(c->iommufd, IOMMU_IOAS_UNMAP, &unmap) ||
	    unmap.length != (__u64)npages * page_size) {
		ksft_print_msg("IOMMU_IOAS_UNMAP: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Returns 0 if @pages pages are charged under iommufd, and nothing else,
 * to @cgroup, and if this process's VmPin is @pages.
 */
static int expect_iommufd(const char *cgroup, long pages)
{
	if (pins_expect(cgroup, "pins.current", pages) ||
	    pins_stat_check(cgroup, "iommufd", pages, true))
		return -1;

	return pins_status_expect(0, "VmPin", pages);
}

/*
 * Child of iommufd_cdev, as root in the fixture's cgroup, whose pins.max is
 * 4 pages. Exits with 4 (KSFT_SKIP) if the device has no vfio cdev.
 */
static int child_iommufd(struct _test_data_vfio *self)
{
	struct iommufd_ctx c;
	int ret;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	ret = iommufd_open(self, &c);
	if (ret > 0)
		return KSFT_SKIP;
	if (ret)
		return EXIT_FAILURE;

	if (ioas_map(&c, buf, 3, 0, 0) || expect_iommufd(self->tree.cg, 3))
		return EXIT_FAILURE;
	if (ioas_map(&c, pins_page_at(buf, 3), 2, 1, ENOMEM) ||
	    expect_iommufd(self->tree.cg, 3))
		return EXIT_FAILURE;
	if (ioas_map(&c, pins_page_at(buf, 3), 1, 1, 0) ||
	    expect_iommufd(self->tree.cg, 4))
		return EXIT_FAILURE;
	if (ioas_unmap(&c, 0, 3) || expect_iommufd(self->tree.cg, 1) ||
	    ioas_unmap(&c, 1, 1) || expect_iommufd(self->tree.cg, 0))
		return EXIT_FAILURE;

	/* What is left goes with the fds. */
	if (ioas_map(&c, buf, 2, 0, 0) || expect_iommufd(self->tree.cg, 2))
		return EXIT_FAILURE;
	pins_close_fd(&c.device);
	pins_close_fd(&c.iommufd);
	if (pins_expect_wait(self->tree.cg, "pins.current", 0) ||
	    pins_stat_check(self->tree.cg, "iommufd", 0, true))
		return EXIT_FAILURE;
	pins_buf_free(buf, BUF_PAGES);

	return EXIT_SUCCESS;
}

/*
 * The same device through its vfio cdev bound to iommufd: what an IOAS
 * maps is charged under "iommufd" and limited by pins.max.
 */
TEST_F(vfio, iommufd_cdev)
{
	char buf[16];
	pid_t pid;
	int status;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (access("/dev/iommu", F_OK))
		SKIP(return, "no /dev/iommu");

	ASSERT_EQ(0, pins_set_max(self->tree.cg, 4));
	ASSERT_EQ(0, read_text(IOMMUFD_UNSAFE, buf, sizeof(buf)) < 0);
	if (strcmp(buf, "Y\n")) {
		self->iommufd_unsafe = true;
		ASSERT_EQ(0, pins_write_file(IOMMUFD_UNSAFE, "Y", 0));
	}

	/* A child holds the device: teardown never waits for this one. */
	pid = pins_fork(self->tree.cg);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(child_iommufd(self));
	self->tree.pid = pid;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->tree.pid = 0;
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == KSFT_SKIP)
		SKIP(return, "the edu device has no vfio cdev");
	ASSERT_EQ(EXIT_SUCCESS, WEXITSTATUS(status));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));
}

TEST_HARNESS_MAIN
