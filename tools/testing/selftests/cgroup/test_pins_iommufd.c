// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for how iommufd charges pinned memory to the "pins" cgroup v2
 * controller and to RLIMIT_MEMLOCK, through /dev/iommu.
 *
 * An IOAS gets a domain from a device attached to it: a mock device of
 * CONFIG_IOMMUFD_TEST or, where those are unusable (in 6.12 another IOMMU
 * driver, such as intel_iommu=on, probes the mock devices and fails them),
 * QEMU's edu PCI device on vfio-pci, through its vfio cdev. The tests use
 * one device per iommufd, attached to one IOAS at a time: attaching it to
 * another IOAS gives that one a domain before the first loses its own.
 *
 * IOMMU_IOAS_MAP of a user range makes one iopt_pages for it. Its pages are
 * pinned, one pin per page, when the range meets a domain: at the map if
 * the IOAS has a domain attached, else when one is attached. Each
 * iopt_pages is charged to the pins cgroup of the task that mapped the
 * range, as it was at the map, under "iommufd" in pins.stat, and to the
 * mm->pinned_vm of that task (the "VmPin:" line of /proc/<pid>/status),
 * in every accounting mode. The accounting mode, as on vanilla 6.12,
 * chooses the rlimit counter beside it: the user's locked_vm (the default,
 * IOMMU_OPTION_RLIMIT_MODE 0), the mm's locked_vm ("VmLck:", mode 1) or,
 * for a mapper with CAP_IPC_LOCK, none. RLIMIT_MEMLOCK limits the first
 * two; nothing lifts pins.max. IOMMU_IOAS_UNMAP, or the last domain going,
 * unpins and returns the charges where they were made, whoever does it:
 * they belong to the pages, not to the task that holds the iommufd. The
 * pages of a range copied into another IOAS (IOMMU_IOAS_COPY) are the same
 * pages: pinned and charged once.
 *
 * A refused charge fails the map (or the attachment of a domain) with
 * ENOMEM and charges nothing anywhere, neither the cgroup nor the rlimit
 * counter nor VmPin, and leaves no mapping. A refusal by a pins.max is
 * counted in pins.events, logged once per limiting cgroup and traced by
 * pins:charge_refused.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on the
 * fixture below: a cgroup with pins enabled for its children, a child of
 * it that the test charges, and cleanup of whatever the test leaves
 * behind. Without /dev/iommu, or without both a usable mock domain and
 * the edu device with vfio-pci and its cdev, every test reports SKIP.
 * The tests of the accounting modes (mode_user, mode_mm, mode_none) need
 * no pins controller: without it they run in the current cgroup and check
 * the rlimit, VmPin and VmLck only; the other tests report SKIP.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "../../../../drivers/iommu/iommufd/iommufd_test.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* The memory a test maps, in pages. */
#define BUF_PAGES	16

/* The accounting modes of IOMMU_OPTION_RLIMIT_MODE; -1 keeps the default. */
#define MODE_USER	0
#define MODE_MM		1

/*
 * What gives an IOAS a domain: a mock device, or, if the mock domain is
 * unusable, QEMU's edu PCI device through vfio-pci's cdev. Set up by the
 * fixture, in the test's process.
 */
static bool use_vfio;
/* The edu device's /dev/vfio/devices/vfioN, with use_vfio. */
static char vfio_path[PATH_MAX];

/*
 * An iommufd, an IOAS in it and the device (mock or vfio) that gives an
 * IOAS of it a domain: one device, attached to one IOAS at a time.
 */
struct ifd {
	int fd;
	__u32 ioas;
	__u32 stdev;	/* the mock device, 0 if none */
	int devfd;	/* the vfio device, -1 if none */
};

/* Where page @i of a test's buffer is mapped. */
static __u64 iova_of(long i)
{
	return MOCK_APERTURE_START + (__u64)i * page_size;
}

/* Set IOMMU_OPTION_RLIMIT_MODE of the iommufd @fd to @mode. */
static int set_rlimit_mode(int fd, int mode)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_SET,
		.val64 = mode,
	};

	if (ioctl(fd, IOMMU_OPTION, &cmd)) {
		ksft_print_msg("set rlimit mode %d: %s\n", mode,
			       strerror(errno));
		return -1;
	}

	return 0;
}

/* IOMMU_OPTION_RLIMIT_MODE of the iommufd @fd, or -1. */
static int get_rlimit_mode(int fd)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_GET,
	};

	if (ioctl(fd, IOMMU_OPTION, &cmd)) {
		ksft_print_msg("get rlimit mode: %s\n", strerror(errno));
		return -1;
	}

	return cmd.val64;
}

/* Allocate an IOAS in the iommufd @fd, its id in *@id. */
static int ioas_alloc(int fd, __u32 *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd)) {
		ksft_print_msg("IOMMU_IOAS_ALLOC: %s\n", strerror(errno));
		return -1;
	}
	*id = cmd.out_ioas_id;

	return 0;
}

/*
 * Attach a new mock device, and so a mock domain, to the IOAS @ioas, the
 * device's id in *@stdev. Returns 0 or -errno, quietly.
 */
static int mock_domain_try(int fd, __u32 ioas, __u32 *stdev)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		return -errno;
	*stdev = cmd.mock_domain.out_stdev_id;

	return 0;
}

/*
 * mock_domain_try(), telling what happened. Returns 0 if it ended with
 * errno @err (0 for success).
 */
static int mock_domain(int fd, __u32 ioas, __u32 *stdev, int err)
{
	int ret = mock_domain_try(fd, ioas, stdev);

	if (ret != -err) {
		ksft_print_msg("mock domain on IOAS %u: got %s, expected %s\n",
			       ioas, strerror(-ret), strerror(err));
		return -1;
	}

	return 0;
}

/* Destroy the object @id of the iommufd @fd. */
static int obj_destroy(int fd, __u32 id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	if (ioctl(fd, IOMMU_DESTROY, &cmd)) {
		ksft_print_msg("IOMMU_DESTROY %u: %s\n", id, strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Move the mock device @stdev to the IOAS @ioas, with a domain of its own.
 * Returns 0 or -errno, quietly.
 */
static int mock_replace_try(int fd, __u32 stdev, __u32 ioas)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev,
		.mock_domain_replace = { .pt_id = ioas },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd) ? -errno : 0;
}

/* Open the edu device's vfio cdev and bind it to the iommufd @fd. */
static int vfio_bind(int fd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = fd,
	};
	int devfd;

	devfd = open(vfio_path, O_RDWR | O_CLOEXEC);
	if (devfd < 0) {
		ksft_print_msg("open %s: %s\n", vfio_path, strerror(errno));
		return -1;
	}
	if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD: %s\n",
			       strerror(errno));
		close(devfd);
		return -1;
	}

	return devfd;
}

/* Attach the vfio device @devfd to the IOAS @ioas. Returns 0 or -errno. */
static int vfio_attach_try(int devfd, __u32 ioas)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = ioas,
	};

	return ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ?
	       -errno : 0;
}

/*
 * Attach @f's device to the IOAS @ioas of @f, which gives it a domain of
 * its own; the device leaves the IOAS it was attached to, if any, once
 * that is done. Returns 0 if that ends with errno @err (0 for success).
 */
static int dev_attach(struct ifd *f, __u32 ioas, int err)
{
	int ret;

	if (use_vfio) {
		if (f->devfd < 0) {
			f->devfd = vfio_bind(f->fd);
			if (f->devfd < 0)
				return -1;
		}
		ret = vfio_attach_try(f->devfd, ioas);
	} else if (f->stdev) {
		ret = mock_replace_try(f->fd, f->stdev, ioas);
	} else {
		ret = mock_domain_try(f->fd, ioas, &f->stdev);
	}

	if (ret != -err) {
		ksft_print_msg("attach to IOAS %u: got %s, expected %s\n",
			       ioas, strerror(-ret), strerror(err));
		return -1;
	}

	return 0;
}

/* Detach @f's device from its IOAS, which loses the domain. */
static int dev_detach(struct ifd *f)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};
	int ret;

	if (!use_vfio) {
		ret = obj_destroy(f->fd, f->stdev);
		f->stdev = 0;
		return ret;
	}

	if (ioctl(f->devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach)) {
		ksft_print_msg("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s\n",
			       strerror(errno));
		return -1;
	}

	return 0;
}

/* Close @f's vfio device, if any, and its iommufd. */
static void ifd_close(struct ifd *f)
{
	pins_close_fd(&f->devfd);
	pins_close_fd(&f->fd);
}

/*
 * Map the @len bytes at @va into the IOAS @ioas at @iova, readable and
 * writable. Returns 0 if that ends with errno @err (0 for success).
 */
static int ioas_map(int fd, __u32 ioas, void *va, size_t len, __u64 iova,
		    int err)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};
	int ret = ioctl(fd, IOMMU_IOAS_MAP, &cmd) ? errno : 0;

	if (ret != err) {
		ksft_print_msg("map %zu bytes at %#llx: got %s, expected %s\n",
			       len, (unsigned long long)iova, strerror(ret),
			       strerror(err));
		return -1;
	}

	return 0;
}

/*
 * Unmap @len bytes at @iova from the IOAS @ioas (all of it if @len is
 * UINT64_MAX and @iova 0). Returns 0 if that unmapped @expected bytes.
 */
static int ioas_unmap(int fd, __u32 ioas, __u64 iova, __u64 len,
		      __u64 expected)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};

	if (ioctl(fd, IOMMU_IOAS_UNMAP, &cmd)) {
		ksft_print_msg("unmap at %#llx: %s\n",
			       (unsigned long long)iova, strerror(errno));
		return -1;
	}
	if (cmd.length != expected) {
		ksft_print_msg("unmap at %#llx: %llu bytes, expected %llu\n",
			       (unsigned long long)iova,
			       (unsigned long long)cmd.length,
			       (unsigned long long)expected);
		return -1;
	}

	return 0;
}

/*
 * Copy the mapping of @len bytes at @src_iova of the IOAS @src to
 * @dst_iova of the IOAS @dst.
 */
static int ioas_copy(int fd, __u32 dst, __u64 dst_iova, __u32 src,
		     __u64 src_iova, __u64 len)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = len,
		.dst_iova = dst_iova,
		.src_iova = src_iova,
	};

	if (ioctl(fd, IOMMU_IOAS_COPY, &cmd)) {
		ksft_print_msg("IOMMU_IOAS_COPY: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Open /dev/iommu into @f, set its accounting mode to @mode unless it is
 * negative, allocate an IOAS and, if @domain, attach the device to it.
 * Returns 0, or -1 with nothing left open.
 */
static int ifd_open(struct ifd *f, int mode, bool domain)
{
	f->stdev = 0;
	f->devfd = -1;
	f->fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		ksft_print_msg("open /dev/iommu: %s\n", strerror(errno));
		return -1;
	}

	if ((mode >= 0 && set_rlimit_mode(f->fd, mode)) ||
	    ioas_alloc(f->fd, &f->ioas) ||
	    (domain && dev_attach(f, f->ioas, 0))) {
		ifd_close(f);
		return -1;
	}

	return 0;
}

/*
 * Map @npages pages of @buf from page @first on into @f's IOAS, at the
 * IOVA of page @first. Returns 0 if that ends with errno @err.
 */
static int map_pages(struct ifd *f, char *buf, long first, long npages,
		     int err)
{
	return ioas_map(f->fd, f->ioas, pins_page_at(buf, first),
			npages * page_size, iova_of(first), err);
}

/* Unmap the mapping of @npages pages at the IOVA of page @first. */
static int unmap_pages(struct ifd *f, long first, long npages)
{
	return ioas_unmap(f->fd, f->ioas, iova_of(first), npages * page_size,
			  npages * page_size);
}

/* Unmap all of @f's IOAS, which must be @npages pages. */
static int unmap_all(struct ifd *f, long npages)
{
	return ioas_unmap(f->fd, f->ioas, 0, UINT64_MAX, npages * page_size);
}

/* The fixture is shared memory: see struct pins_tree. */
FIXTURE(iommufd) {
	struct pins_tree tree;	/* root_base: the root's iommufd pages */
	__u32 ioas;		/* IOAS ids a child tells the test */
	__u32 ioas2;
	__u32 stdev;		/* a mock device id a child tells the test */
	char edu[NAME_MAX + 1];	/* the edu device's address, with vfio */
	char edu_driver[NAME_MAX + 1];	/* the driver it had, if any */
	bool edu_bound;		/* the fixture bound it to vfio-pci */
	bool unsafe_irqs;	/* the fixture allowed unsafe interrupts */
};

/* Where PCI devices and drivers are. */
#define PCI_DEVICES	"/sys/bus/pci/devices"
#define PCI_DRIVERS	"/sys/bus/pci/drivers"
/* iommufd's leave to bind devices whose MSIs the platform can't isolate. */
#define UNSAFE_IRQS	"/sys/module/iommufd/parameters/allow_unsafe_interrupts"

/*
 * Find QEMU's edu device (1234:11e8), its PCI address in @bdf
 * (NAME_MAX + 1).
 * Returns 0, or -1 if there is none.
 */
static int edu_find(char *bdf)
{
	char path[PATH_MAX + 16], id[16];
	struct dirent *e;
	int ret = -1;
	DIR *d;

	d = opendir(PCI_DEVICES);
	if (!d)
		return -1;
	while (ret && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor",
			 e->d_name);
		if (read_text(path, id, sizeof(id)) < 0 ||
		    strcmp(id, "0x1234\n"))
			continue;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/device",
			 e->d_name);
		if (read_text(path, id, sizeof(id)) < 0 ||
		    strcmp(id, "0x11e8\n"))
			continue;
		snprintf(bdf, NAME_MAX + 1, "%.*s", NAME_MAX, e->d_name);
		ret = 0;
	}
	closedir(d);

	return ret;
}

/*
 * The driver the PCI device @bdf is bound to, in @driver (NAME_MAX + 1),
 * "" if none.
 */
static void pci_driver_of(const char *bdf, char *driver)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t len;
	char *base;

	*driver = '\0';
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0)
		return;
	link[len] = '\0';
	base = strrchr(link, '/');
	snprintf(driver, NAME_MAX + 1, "%.*s", NAME_MAX,
		 base ? base + 1 : link);
}

/* Give the edu device back to the driver it had, if the fixture took it. */
static void edu_unbind(struct _test_data_iommufd *self)
{
	char path[PATH_MAX + 64];

	if (self->unsafe_irqs)
		pins_write_file(UNSAFE_IRQS, "N", 0);
	self->unsafe_irqs = false;
	if (!self->edu_bound)
		return;
	self->edu_bound = false;

	pins_write_file(PCI_DRIVERS "/vfio-pci/unbind", self->edu, 0);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override",
		 self->edu);
	pins_write_file(path, "\n", 0);
	if (*self->edu_driver)
		pins_write_file("/sys/bus/pci/drivers_probe", self->edu, 0);
}

/*
 * Bind the edu device @self->edu to vfio-pci, unless it is already, and
 * find its vfio cdev, in vfio_path. Returns 0, or a reason to skip in
 * *@why, or -1; with nothing left bound but on success.
 */
static int edu_bind(struct _test_data_iommufd *self, const char **why)
{
	char path[PATH_MAX + 64], driver[NAME_MAX + 1], buf[8];
	struct dirent *e;
	DIR *d;

	*why = NULL;
	if (access(PCI_DRIVERS "/vfio-pci", F_OK)) {
		*why = "no mock domain, and no vfio-pci for the edu device";
		return -1;
	}

	pci_driver_of(self->edu, self->edu_driver);
	if (strcmp(self->edu_driver, "vfio-pci")) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind",
			 self->edu);
		if (*self->edu_driver &&
		    pins_write_file(path, self->edu, 0))
			return -1;
		self->edu_bound = true;
		snprintf(path, sizeof(path),
			 PCI_DEVICES "/%s/driver_override", self->edu);
		if (pins_write_file(path, "vfio-pci", 0) ||
		    pins_write_file("/sys/bus/pci/drivers_probe", self->edu,
				    0))
			goto fail;
		pci_driver_of(self->edu, driver);
		if (strcmp(driver, "vfio-pci")) {
			ksft_print_msg("vfio-pci didn't take %s\n", self->edu);
			goto fail;
		}
	}

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vfio-dev", self->edu);
	d = opendir(path);
	if (!d) {
		*why = "no vfio cdev (CONFIG_VFIO_DEVICE_CDEV)";
		goto fail;
	}
	while ((e = readdir(d)) && strncmp(e->d_name, "vfio", 4))
		;
	if (e)
		snprintf(vfio_path, sizeof(vfio_path), "/dev/vfio/devices/%s",
			 e->d_name);
	closedir(d);
	if (!e) {
		ksft_print_msg("no vfio cdev in %s\n", path);
		goto fail;
	}

	/*
	 * The guest's IOMMU may not remap interrupts (QEMU's intel-iommu
	 * with intremap=off): iommufd binds the device only if allowed to.
	 */
	if (read_text(UNSAFE_IRQS, buf, sizeof(buf)) < 0) {
		ksft_print_msg("can't read %s\n", UNSAFE_IRQS);
		goto fail;
	}
	if (buf[0] == 'N') {
		if (pins_write_file(UNSAFE_IRQS, "Y", 0))
			goto fail;
		self->unsafe_irqs = true;
	}

	return 0;

fail:
	edu_unbind(self);

	return -1;
}

/*
 * Close this process's fds of vfio devices: vfio-pci lets a device go only
 * once they are closed.
 */
static void close_vfio_fds(void)
{
	char link[PATH_MAX];
	struct dirent *e;
	ssize_t len;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((e = readdir(d))) {
		len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strncmp(link, "/dev/vfio/", strlen("/dev/vfio/")))
			close(atoi(e->d_name));
	}
	closedir(d);
}

FIXTURE_SETUP(iommufd)
{
	const char *why;
	__u32 ioas, stdev;
	int fd, ret;

	pins_util_init();

	/*
	 * Every test needs /dev/iommu and a domain for its IOASes: a mock
	 * domain, or where the mock one is unusable (with 6.12, another
	 * IOMMU driver, such as intel_iommu=on, probes the mock devices and
	 * fails), the domain of the edu device on vfio-pci.
	 */
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		SKIP(return, "no /dev/iommu (CONFIG_IOMMUFD)");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ret = mock_domain_try(fd, ioas, &stdev);
	close(fd);
	if (ret) {
		if (edu_find(self->edu))
			SKIP(return, "no mock domain (%s) and no edu device",
			     strerror(-ret));
		ret = edu_bind(self, &why);
		if (why)
			SKIP(return, "%s", why);
		ASSERT_EQ(0, ret);
		use_vfio = true;
	}
	ksft_print_msg("IOAS domains from %s\n", use_vfio ?
		       "the edu device through its vfio cdev" :
		       "iommufd's test mock");

	/*
	 * Without the controller only the tests of the modes run. Teardown
	 * only follows a complete setup: undo a partial one here.
	 */
	ret = pins_tree_setup(&self->tree, "iommufd", _metadata->name,
			      "iommufd");
	if (ret == KSFT_FAIL)
		edu_unbind(self);
	ASSERT_NE(KSFT_FAIL, ret);
}

/*
 * Kill the test's child if it is still there, remove the tracefs instance,
 * give the edu device back and remove the cgroups. See struct pins_tree
 * for why it is a FIXTURE_TEARDOWN_PARENT(): it uses nothing of the test's
 * process but its vfio device fds, which it closes before giving the
 * device back; the mappings' charges go back when the last holder of an
 * iommufd closes it.
 */
FIXTURE_TEARDOWN_PARENT(iommufd)
{
	pins_tree_stop(&self->tree);
	close_vfio_fds();
	edu_unbind(self);
	pins_tree_teardown(&self->tree);
}

/*
 * Returns 0 if @cg pages are charged to the fixture's cgroup and @sib to
 * its sibling (if there is one), both to their parent and, on top of what
 * it had at setup, to the root's iommufd line, and if the VmPin and VmLck
 * of @pid (0: this process) are @vmpin and @vmlck pages, each unless
 * negative. Only VmPin and VmLck are checked without the pins controller.
 * Quiet unless @verbose.
 */
static int check_all(struct _test_data_iommufd *self, long cg, long sib,
		     pid_t pid, long vmpin, long vmlck, bool verbose)
{
	if (vmpin >= 0 && pins_status_check(pid, "VmPin", vmpin, verbose))
		return -1;
	if (vmlck >= 0 && pins_status_check(pid, "VmLck", vmlck, verbose))
		return -1;

	return pins_tree_check(&self->tree, "iommufd", cg, sib, verbose);
}

/* check_all() for this process, telling what differs. */
static int expect_all(struct _test_data_iommufd *self, long cg, long sib,
		      long vmpin, long vmlck)
{
	return check_all(self, cg, sib, 0, vmpin, vmlck, true);
}

/*
 * Run @fn(@self, @arg) in a child process, in the fixture's cgroup if
 * there is one. Returns 0 if it exited with EXIT_SUCCESS.
 */
static int run_child(struct _test_data_iommufd *self,
		     int (*fn)(struct _test_data_iommufd *self,
			       const void *arg),
		     const void *arg)
{
	pid_t pid = pins_fork(self->tree.have_pins ? self->tree.cg : NULL);

	if (pid == 0)
		pins_child_exit(fn(self, arg));
	self->tree.pid = pid;

	return pid < 0 ? -1 : pins_reap(&self->tree.pid);
}

/*
 * Mapping into an IOAS with a domain charges the mapper's cgroup, its
 * ancestors, the root's iommufd line and the mapper's VmPin, one page per
 * page the range spans, and unmapping gives it all back. Two mappings of
 * the same memory are two iopt_pages, each pinning and charging its pages.
 */
TEST_F(iommufd, map_unmap)
{
	struct ifd f;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, -1, true));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));

	/*
	 * Two pages' worth from the middle of a page: three pages. The mock
	 * domain maps half pages; an IOMMU's domain may not.
	 */
	if (!use_vfio) {
		ASSERT_EQ(0, ioas_map(f.fd, f.ioas, pins_page_at(buf, 4) +
				      page_size / 2, 2 * page_size,
				      iova_of(4) + page_size / 2, 0));
	} else {
		ASSERT_EQ(0, map_pages(&f, buf, 4, 3, 0));
	}
	ASSERT_EQ(0, expect_all(self, 6, 0, 6, 0));

	/* The first three pages again, at another IOVA: charged again. */
	ASSERT_EQ(0, ioas_map(f.fd, f.ioas, buf, 3 * page_size, iova_of(8),
			      0));
	ASSERT_EQ(0, expect_all(self, 9, 0, 9, 0));

	ASSERT_EQ(0, unmap_pages(&f, 0, 3));
	ASSERT_EQ(0, expect_all(self, 6, 0, 6, 0));
	if (!use_vfio) {
		ASSERT_EQ(0, ioas_unmap(f.fd, f.ioas,
					iova_of(4) + page_size / 2,
					2 * page_size, 2 * page_size));
	} else {
		ASSERT_EQ(0, unmap_pages(&f, 4, 3));
	}
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));
	ASSERT_EQ(0, unmap_pages(&f, 8, 3));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * A mapping into an IOAS without a domain pins nothing; the domain
 * attached later pins its pages and charges them to the cgroup the
 * mapper was in, not the attacher's. Detaching the last domain unpins
 * them and gives the charge back, while the mapping stays.
 */
TEST_F(iommufd, pin_at_attach)
{
	struct ifd f;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, -1, false));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 2, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, dev_attach(&f, f.ioas, 0));
	ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));

	ASSERT_EQ(0, dev_detach(&f));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	/* Again, and the mapping goes with the domain attached. */
	ASSERT_EQ(0, dev_attach(&f, f.ioas, 0));
	ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));
	ASSERT_EQ(0, unmap_all(&f, 2));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/* How the child of a test of the accounting modes maps. */
struct mode_arg {
	int mode;	/* IOMMU_OPTION_RLIMIT_MODE to set, -1: the default */
	bool cap;	/* stay root with CAP_IPC_LOCK, else become nobody */
	long memlock;	/* RLIMIT_MEMLOCK, in pages */
	/* The part of the test the child runs: returns 0 or -1. */
	int (*part)(struct _test_data_iommufd *self,
		    const struct mode_arg *a, struct ifd *f, char *buf);
};

/*
 * Open /dev/iommu as root for the child of a test of the modes, with the
 * mode @a asks for, and become what @a says. Returns 0 or -1.
 */
static int mode_setup(const struct mode_arg *a, struct ifd *f)
{
	int mode = a->mode == MODE_MM ? MODE_MM : MODE_USER;

	if (ifd_open(f, a->mode, true))
		return -1;

	if (get_rlimit_mode(f->fd) != mode) {
		ksft_print_msg("rlimit mode isn't %d\n", mode);
		return -1;
	}

	if (a->cap) {
		if (pins_set_memlock(a->memlock) ||
		    pins_cap_ipc_lock_effective() != 1)
			return -1;
		return 0;
	}

	return pins_drop_privileges(a->memlock);
}

/* expect_all() for the child of a test of the modes, @pages pinned. */
static int mode_expect(struct _test_data_iommufd *self,
		       const struct mode_arg *a, long pages)
{
	bool vmlck = a->mode == MODE_MM && !a->cap;

	return expect_all(self, pages, 0, pages, vmlck ? pages : 0);
}

/*
 * The rlimit part of the tests of the modes: RLIMIT_MEMLOCK is 4 pages,
 * or 0 with CAP_IPC_LOCK, and there is no pins.max.
 */
static int mode_rlimit(struct _test_data_iommufd *self,
		       const struct mode_arg *a, struct ifd *f, char *buf)
{
	if (map_pages(f, buf, 0, 3, 0) || mode_expect(self, a, 3))
		return -1;

	if (a->cap) {
		/* No limit: five pages. */
		if (map_pages(f, buf, 3, 2, 0) || mode_expect(self, a, 5) ||
		    unmap_all(f, 5))
			return -1;
	} else {
		/* Five pages would be past the rlimit: nothing is mapped. */
		if (map_pages(f, buf, 3, 2, ENOMEM) ||
		    mode_expect(self, a, 3))
			return -1;
		/* So one page can be at that IOVA. */
		if (map_pages(f, buf, 3, 1, 0) || mode_expect(self, a, 4) ||
		    unmap_all(f, 4))
			return -1;
	}
	if (mode_expect(self, a, 0))
		return -1;

	/* All of it went back to the rlimit counter: 4 pages fit again. */
	if (!a->cap &&
	    (map_pages(f, buf, 0, 5, ENOMEM) || mode_expect(self, a, 0)))
		return -1;
	if (map_pages(f, buf, 0, 4, 0) || mode_expect(self, a, 4) ||
	    unmap_all(f, 4) || mode_expect(self, a, 0))
		return -1;

	return 0;
}

/*
 * The cgroup part of the tests of the modes: pins.max is 2 pages,
 * RLIMIT_MEMLOCK 4 pages, or 0 with CAP_IPC_LOCK.
 */
static int mode_cgroup(struct _test_data_iommufd *self,
		       const struct mode_arg *a, struct ifd *f, char *buf)
{
	/* Within the rlimit but past pins.max: nothing is charged. */
	if (map_pages(f, buf, 0, 3, ENOMEM) || mode_expect(self, a, 0))
		return -1;

	/*
	 * Not even the rlimit counter: two pages fit in both (five would
	 * be past the rlimit), at the same IOVA.
	 */
	if (map_pages(f, buf, 0, 2, 0) || mode_expect(self, a, 2))
		return -1;

	if (map_pages(f, buf, 2, 1, ENOMEM) || mode_expect(self, a, 2) ||
	    unmap_all(f, 2) || mode_expect(self, a, 0))
		return -1;

	return 0;
}

/*
 * The child of the tests of the modes: map BUF_PAGES pages, open
 * /dev/iommu and become what @arg, a struct mode_arg, says, and run its
 * part.
 */
static int child_mode(struct _test_data_iommufd *self, const void *arg)
{
	const struct mode_arg *a = arg;
	int ret = EXIT_FAILURE;
	struct ifd f;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || mode_setup(a, &f))
		return EXIT_FAILURE;

	if (!a->part(self, a, &f, buf))
		ret = EXIT_SUCCESS;
	ifd_close(&f);
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * A test of a mode: the rlimit part, then, with the pins controller, the
 * cgroup part under a pins.max of 2 pages, whose 2 refusals are counted
 * on top of the @events refusals of earlier parts. pins.max is left at
 * "max".
 */
static void modes(struct __test_metadata *_metadata,
		  struct _test_data_iommufd *self, const struct mode_arg *a,
		  long events)
{
	struct mode_arg part = *a;

	part.part = mode_rlimit;
	ASSERT_EQ(0, run_child(self, child_mode, &part));
	ASSERT_EQ(0, expect_all(self, 0, 0, -1, -1));
	if (!self->tree.have_pins)
		return;
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, events, events));

	ASSERT_EQ(0, pins_set_max(self->tree.cg, 2));
	part.part = mode_cgroup;
	ASSERT_EQ(0, run_child(self, child_mode, &part));
	ASSERT_EQ(0, expect_all(self, 0, 0, -1, -1));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, events + 2, events + 2));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, events + 2, 0));
	ASSERT_EQ(0, pins_set_max(self->tree.cg, PINS_MAX));
}

/*
 * Without CAP_IPC_LOCK, the default mode charges the user's locked_vm
 * against RLIMIT_MEMLOCK, not VmLck, as on vanilla 6.12, and the cgroup
 * beside it, all or nothing. The rlimit part also runs without the pins
 * controller.
 */
TEST_F(iommufd, mode_user)
{
	const struct mode_arg a = { .mode = -1, .memlock = 4 };

	modes(_metadata, self, &a, 0);
}

/*
 * Without CAP_IPC_LOCK, IOMMU_OPTION_RLIMIT_MODE 1 charges the mm's
 * locked_vm (VmLck) against RLIMIT_MEMLOCK, as on vanilla 6.12, and the
 * cgroup beside it, all or nothing. The rlimit part also runs without the
 * pins controller.
 */
TEST_F(iommufd, mode_mm)
{
	const struct mode_arg a = { .mode = MODE_MM, .memlock = 4 };

	modes(_metadata, self, &a, 0);
}

/*
 * A mapper with CAP_IPC_LOCK charges no rlimit counter in either mode, as
 * on vanilla 6.12, but the cgroup still, and pins.max still limits it. The
 * rlimit part also runs without the pins controller.
 */
TEST_F(iommufd, mode_none)
{
	const struct mode_arg user = { .mode = -1, .cap = true };
	const struct mode_arg mm = { .mode = MODE_MM, .cap = true };

	modes(_metadata, self, &user, 0);
	modes(_metadata, self, &mm, 2);
}

/*
 * Refusals by a pins.max of 4 pages at @limiter, the fixture's cgroup or
 * its parent, of pages mapped from the fixture's cgroup by this process
 * without CAP_IPC_LOCK, in the per-mm mode: each fails with ENOMEM and
 * charges nothing anywhere, neither the cgroups nor VmPin nor VmLck, and
 * leaves no mapping; it is counted in pins.events at the limiter and above
 * and in pins.events.local at the limiter, and traced; the first one is
 * logged. Attaching a device (and so a domain) to an IOAS whose mappings
 * that would pin past the limit is refused likewise.
 */
static void refusals(struct __test_metadata *_metadata,
		     struct _test_data_iommufd *self, const char *limiter)
{
	bool at_cg = limiter == self->tree.cg;
	char text[PATH_MAX + 64];
	struct ifd f;
	int kmsg, ret;
	__u32 ioas2;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ret = pins_trace_start(self->tree.instance, "pins_iommufd");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);
	pins_refusal_text(text, sizeof(text), "iommufd", self->tree.root,
			  limiter);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(limiter, 4));
	ASSERT_EQ(0, pins_set_memlock(64));
	ASSERT_EQ(0, pins_set_cap_ipc_lock(false));
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, MODE_MM, true));

	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 0, 0));

	/* Two more pages would make five. */
	ASSERT_EQ(0, map_pages(&f, buf, 3, 2, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 1, 1, self->tree.cg,
				       limiter, "iommufd", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));

	/* Again: counted and traced, not logged. */
	ASSERT_EQ(0, map_pages(&f, buf, 3, 2, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 2, 2, self->tree.cg,
				       limiter, "iommufd", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Nothing was left at that IOVA: up to the limit is fine there. */
	ASSERT_EQ(0, map_pages(&f, buf, 3, 1, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4, 4));

	/*
	 * A mapping without a domain pins nothing, until one comes: moving
	 * the device to its IOAS pins it for the new domain before the old
	 * one goes. Refused, the device stays where it was.
	 */
	ASSERT_EQ(0, ioas_alloc(f.fd, &ioas2));
	ASSERT_EQ(0, ioas_map(f.fd, ioas2, pins_page_at(buf, 8), page_size,
			      iova_of(8), 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4, 4));
	ASSERT_EQ(0, dev_attach(&f, ioas2, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4, 4));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 3 * at_cg, 3 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 3, 1, self->tree.cg,
				       limiter, "iommufd", 1, 4, 4));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/*
	 * Unmapping a page makes room for it; then the old domain goes,
	 * unpinning the first IOAS's pages, and comes back.
	 */
	ASSERT_EQ(0, unmap_pages(&f, 3, 1));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 3));
	ASSERT_EQ(0, dev_attach(&f, ioas2, 0));
	ASSERT_EQ(0, expect_all(self, 1, 0, 1, 1));
	ASSERT_EQ(0, dev_attach(&f, f.ioas, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 3));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));

	close(kmsg);
	pins_buf_free(buf, BUF_PAGES);
}

/* Refusals by the mapper's own pins.max. */
TEST_F(iommufd, refusal_at_limit)
{
	refusals(_metadata, self, self->tree.cg);
}

/* Refusals by the pins.max of the mapper's parent. */
TEST_F(iommufd, refusal_at_ancestor)
{
	refusals(_metadata, self, self->tree.parent);
}

/*
 * The charge of a mapping stays where it was made when the mapper moves to
 * another cgroup, which its new mappings charge; unmapping from there
 * gives each back where it was made. A cgroup removed with pages still
 * charged to it gets them back, as its parent shows.
 */
TEST_F(iommufd, migrate)
{
	struct ifd f;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, -1, true));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));

	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));
	ASSERT_EQ(0, map_pages(&f, buf, 4, 2, 0));
	ASSERT_EQ(0, expect_all(self, 3, 2, 5, 0));

	ASSERT_EQ(0, unmap_pages(&f, 0, 3));
	ASSERT_EQ(0, expect_all(self, 0, 2, 2, 0));
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, unmap_pages(&f, 4, 2));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	/* The sibling is removed while charged. */
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 0, 3, 3, 0));
	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ASSERT_EQ(0, rmdir(self->tree.sibling));
	*self->tree.sibling = '\0';
	ASSERT_EQ(0, expect_all(self, 0, 3, 3, 0));
	ASSERT_EQ(0, unmap_pages(&f, 0, 3));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	ifd_close(&f);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * The mapper of fd_passing, in the fixture's cgroup: as nobody, in the
 * per-mm mode, map 3 and 2 pages into an IOAS with the device and 1 page
 * into another IOAS, pass the iommufd (and the vfio device, if it is one)
 * over @sock and exit when told to.
 */
static int passing_mapper(struct _test_data_iommufd *self, int sock)
{
	struct ifd f;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || cg_enter_current(self->tree.cg) ||
	    ifd_open(&f, MODE_MM, true))
		return EXIT_FAILURE;
	if (pins_drop_privileges(BUF_PAGES))
		return EXIT_FAILURE;

	if (map_pages(&f, buf, 0, 3, 0) || map_pages(&f, buf, 4, 2, 0) ||
	    ioas_alloc(f.fd, &self->ioas2) ||
	    ioas_map(f.fd, self->ioas2, pins_page_at(buf, 10), page_size,
		     iova_of(10), 0))
		return EXIT_FAILURE;
	self->ioas = f.ioas;
	self->stdev = f.stdev;
	if (pins_sock_send(sock, 'M', f.fd) ||
	    (use_vfio && pins_sock_send(sock, 'D', f.devfd)))
		return EXIT_FAILURE;

	/* Exit with the iommufd open and the memory mapped. */
	if (pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * The charges of mappings made through an iommufd passed to a process in
 * another cgroup stay with the mappings: unmapping there gives them back
 * to the mapper's cgroup and lowers the mapper's VmPin and VmLck, before
 * and after the mapper exits; pinning the mapper's pages from there (the
 * device moving to another IOAS and back) charges them to the mapper's
 * cgroup, VmPin and VmLck; what the other process maps is its own.
 */
TEST_F(iommufd, fd_passing)
{
	struct ifd f = { .fd = -1, .devfd = -1 };
	int sock = -1;
	char *buf;
	pid_t pid;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));

	pid = pins_fork_peer(NULL, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(passing_mapper(self, sock));
	self->tree.pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'M', &f.fd));
	if (use_vfio)
		ASSERT_EQ(0, pins_sock_recv(sock, 'D', &f.devfd));
	f.ioas = self->ioas;
	f.stdev = self->stdev;
	ASSERT_EQ(0, check_all(self, 5, 0, self->tree.pid, 5, 5, true));

	/* Unmapped from the sibling: back to the mapper's cgroup and mm. */
	ASSERT_EQ(0, unmap_pages(&f, 0, 3));
	ASSERT_EQ(0, check_all(self, 2, 0, self->tree.pid, 2, 2, true));

	/* The sibling's own mapping, charged to it and to this process. */
	ASSERT_EQ(0, map_pages(&f, buf, 8, 1, 0));
	ASSERT_EQ(0, check_all(self, 2, 1, self->tree.pid, 2, 2, true));
	ASSERT_EQ(0, expect_all(self, 2, 1, 1, 0));

	/*
	 * The device moves to the other IOAS, whose page of the mapper's is
	 * pinned from here, and the pages of the first IOAS are unpinned.
	 */
	ASSERT_EQ(0, dev_attach(&f, self->ioas2, 0));
	ASSERT_EQ(0, check_all(self, 1, 0, self->tree.pid, 1, 1, true));
	ASSERT_EQ(0, expect_all(self, 1, 0, 0, 0));

	/* And back. */
	ASSERT_EQ(0, dev_attach(&f, f.ioas, 0));
	ASSERT_EQ(0, check_all(self, 2, 1, self->tree.pid, 2, 2, true));
	ASSERT_EQ(0, expect_all(self, 2, 1, 1, 0));

	/* The mapper exits: its mapping stays charged to its cgroup. */
	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	ASSERT_EQ(0, expect_all(self, 2, 1, 1, 0));

	ASSERT_EQ(0, unmap_pages(&f, 4, 2));
	ASSERT_EQ(0, expect_all(self, 0, 1, 1, 0));

	/* Closing the iommufd (and the device) unmaps the rest. */
	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	pins_close_fd(&sock);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * A range copied into another IOAS shares the pages of the original
 * mapping: they are pinned and charged once, to the cgroup of the
 * original mapper, not the copier's, as long as a domain of either IOAS
 * has them.
 */
TEST_F(iommufd, ioas_copy)
{
	__u32 ioas2, stdev2;
	struct ifd f;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, -1, true));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));

	/* Copied from the sibling into an IOAS without a domain. */
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, ioas_alloc(f.fd, &ioas2));
	ASSERT_EQ(0, ioas_copy(f.fd, ioas2, iova_of(8), f.ioas, iova_of(0),
			       3 * page_size));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));

	/* The device moves there: its new domain takes the same pages. */
	ASSERT_EQ(0, dev_attach(&f, ioas2, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));

	/* The copy keeps them pinned until it goes too. */
	ASSERT_EQ(0, unmap_pages(&f, 0, 3));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3, 0));
	ASSERT_EQ(0, ioas_unmap(f.fd, ioas2, iova_of(8), 3 * page_size,
				3 * page_size));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	/*
	 * Mapped where there is no domain now, then copied from the sibling
	 * into the IOAS with the domain: pinned then, for the mapper's
	 * cgroup.
	 */
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 2, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, ioas_copy(f.fd, ioas2, iova_of(8), f.ioas, iova_of(0),
			       2 * page_size));
	ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));

	/*
	 * With mock devices, both IOASes can have a domain at once: a copy
	 * from one into the other pins nothing more.
	 */
	if (!use_vfio) {
		ASSERT_EQ(0, mock_domain(f.fd, f.ioas, &stdev2, 0));
		ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));
		ASSERT_EQ(0, ioas_copy(f.fd, ioas2, iova_of(12), f.ioas,
				       iova_of(0), 2 * page_size));
		ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));
		ASSERT_EQ(0, ioas_unmap(f.fd, ioas2, 0, UINT64_MAX,
					4 * page_size));
		ASSERT_EQ(0, expect_all(self, 2, 0, 2, 0));
	}

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Child of close_and_exit: as nobody with RLIMIT_MEMLOCK at 8 pages, map
 * *@arg pages and exit without unmapping or closing.
 */
static int child_map_exit(struct _test_data_iommufd *self, const void *arg)
{
	long npages = *(const long *)arg;
	struct ifd f;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || ifd_open(&f, -1, true) || pins_drop_privileges(8))
		return EXIT_FAILURE;
	if (map_pages(&f, buf, 0, npages, 0) ||
	    expect_all(self, npages, 0, npages, 0))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * Closing an iommufd, or exiting, unmaps everything and gives it all back:
 * the cgroup's charge and the user's locked_vm (8 pages fit again).
 */
TEST_F(iommufd, close_and_exit)
{
	const long three = 3, eight = 8;
	struct ifd f;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ifd_open(&f, -1, true));
	ASSERT_EQ(0, map_pages(&f, buf, 0, 3, 0));
	ASSERT_EQ(0, map_pages(&f, buf, 4, 2, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5, 0));
	ifd_close(&f);
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	ASSERT_EQ(0, cg_enter_current(self->tree.root));

	ASSERT_EQ(0, run_child(self, child_map_exit, &three));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));
	ASSERT_EQ(0, run_child(self, child_map_exit, &eight));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

TEST_HARNESS_MAIN
