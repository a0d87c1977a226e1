// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for how RDMA memory registration charges pinned memory to the
 * "pins" cgroup v2 controller and to RLIMIT_MEMLOCK, through libibverbs on
 * the two soft RDMA drivers: siw on lo and rxe on dummy0.
 *
 * ibv_reg_mr() pins every page its buffer spans (ib_umem_get(), which every
 * verbs driver registers user memory through). The pages are charged to
 * the pins cgroup of the registering task, as it is at registration, under
 * "rdma" in pins.stat, and to the registrant's mm->pinned_vm (the "VmPin:"
 * line of /proc/<pid>/status), not to VmLck. Without CAP_IPC_LOCK,
 * pinned_vm is limited by the registrant's RLIMIT_MEMLOCK exactly as on
 * vanilla 6.12: the registration fails with EPERM if the rlimit is 0 and
 * with ENOMEM if pinned_vm would go past it, and nothing is charged to the
 * cgroup then. CAP_IPC_LOCK lifts the rlimit, never pins.max.
 *
 * A charge that a pins.max has no room for fails the registration with
 * ENOMEM, leaves VmPin as it was and pins nothing; it is counted in
 * pins.events, logged once per limiting cgroup and traced by
 * pins:charge_refused.
 *
 * The charge belongs to the MR: it stays in the cgroup it was made in when
 * the registrant moves, and goes back there when the MR is deregistered or
 * when the uverbs file holding it is closed, by whoever closes it last:
 * the registrant's exit, or another process the file was passed to, whose
 * cgroup is never charged. ibv_rc_pingpong, a real verbs application run
 * on rxe0 at both ends, is charged the pages it registers, and fails
 * cleanly when pins.max has no room for them.
 *
 * Before the tests run, the test creates siw0 on lo and rxe0 on dummy0
 * through RDMA netlink (dummy0 up, with 10.0.0.1/24), unless they exist;
 * it removes what it made and undoes what it changed when it exits. Every
 * test runs in a process of its own (kselftest_harness.h) on the fixture
 * below: a cgroup with pins enabled for its children, a child of it that
 * the test charges, and cleanup of whatever the test leaves behind.
 * Without the device a test needs, it reports SKIP with the reason. The
 * tests of the rlimit alone (rlimit_as_vanilla, rlimit_zero,
 * cap_ipc_lock_lifts_rlimit) need no pins controller: without it they run
 * in the current cgroup and check errno, VmPin and VmLck only; the other
 * tests report SKIP.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <linux/limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <rdma/rdma_netlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* The memory a test registers from, in pages. */
#define BUF_PAGES	16

/* The netdev rxe0 is made on and the address it gets. */
#define DUMMY_DEV	"dummy0"
#define DUMMY_ADDR	"10.0.0.1"
#define DUMMY_PREFIX	24

#define PINGPONG	"/usr/bin/ibv_rc_pingpong"
#define PP_PORT		"18515"
#define PP_ITERS	"10"
/* The pages each end of ibv_rc_pingpong registers (its -s). */
#define PP_PAGES	2
/* How long an ibv_rc_pingpong may take, in seconds. */
#define PP_TIMEOUT	20

/* A soft RDMA device that the tests use. */
struct rdma_dev {
	const char *name;	/* the ib device */
	const char *type;	/* its link type */
	const char *netdev;	/* what it is made on */
	const char *why;	/* why it can't be used, or NULL */
	char why_buf[160];
	bool made;		/* made by this test: removed at exit */
	char node[PATH_MAX];	/* its /dev/infiniband/uverbsN */
	mode_t mode;		/* the mode of node before the test */
	bool chmodded;		/* the test changed that mode */
	char addr[INET_ADDRSTRLEN];	/* an IPv4 address of its GIDs, or "" */
	char gid_index[16];	/* the index of that GID */
};

static struct rdma_dev siw_dev = {
	.name = "siw0", .type = "siw", .netdev = "lo",
};

static struct rdma_dev rxe_dev = {
	.name = "rxe0", .type = "rxe", .netdev = DUMMY_DEV,
};

/* What the setup changed on dummy0, for the cleanup to undo. */
static bool dummy_upped;
static bool dummy_addr_added;

/* Why no RDMA device can be used at all, or NULL. */
static const char *no_rdma;

/* The test's main process: the only one that cleans up at exit. */
static pid_t main_pid;

/* A netlink message with room for a few attributes. */
union nl_msg {
	struct nlmsghdr nlh;
	char buf[512];
};

/* Append the attribute @type of @len bytes at @data to @msg. */
static void nl_put(union nl_msg *msg, unsigned short type, const void *data,
		   size_t len)
{
	struct nlattr *nla;

	nla = (struct nlattr *)(msg->buf + NLMSG_ALIGN(msg->nlh.nlmsg_len));
	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, data, len);
	msg->nlh.nlmsg_len = NLMSG_ALIGN(msg->nlh.nlmsg_len) +
			     NLA_ALIGN(nla->nla_len);
}

/*
 * Send the request @msg on a new netlink socket of protocol @proto.
 * Returns the socket, to read the reply from and close, or -errno.
 */
static int nl_send(int proto, union nl_msg *msg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -errno;

	msg->nlh.nlmsg_flags |= NLM_F_REQUEST;
	msg->nlh.nlmsg_seq = 1;
	if (sendto(fd, msg, msg->nlh.nlmsg_len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}

	return fd;
}

/*
 * Send the request @msg on a new netlink socket of protocol @proto and
 * wait for its ack. Returns 0 or -errno.
 */
static int nl_request(int proto, union nl_msg *msg)
{
	union {
		struct nlmsghdr nlh;
		char buf[4096];
	} ack;
	struct nlmsghdr *nlh;
	int fd, err = -EIO;
	ssize_t len;

	msg->nlh.nlmsg_flags |= NLM_F_ACK;
	fd = nl_send(proto, msg);
	if (fd < 0)
		return fd;

	for (;;) {
		len = recv(fd, &ack, sizeof(ack), 0);
		if (len <= 0) {
			err = len ? -errno : -EIO;
			break;
		}
		for (nlh = &ack.nlh; NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len))
			if (nlh->nlmsg_type == NLMSG_ERROR)
				break;
		if (NLMSG_OK(nlh, len)) {
			err = ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
			break;
		}
	}
	close(fd);

	return err;
}

/* Start an RDMA netlink (nldev) request @cmd in @msg. */
static void rdma_nl_init(union nl_msg *msg, int cmd)
{
	memset(msg, 0, sizeof(*msg));
	msg->nlh.nlmsg_len = NLMSG_HDRLEN;
	msg->nlh.nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, cmd);
}

/*
 * What "rdma link add NAME type TYPE netdev NETDEV" does: make @dev.
 * Returns 0 or -errno.
 */
static int rdma_link_add(const struct rdma_dev *dev)
{
	union nl_msg msg;

	rdma_nl_init(&msg, RDMA_NLDEV_CMD_NEWLINK);
	nl_put(&msg, RDMA_NLDEV_ATTR_DEV_NAME, dev->name,
	       strlen(dev->name) + 1);
	nl_put(&msg, RDMA_NLDEV_ATTR_LINK_TYPE, dev->type,
	       strlen(dev->type) + 1);
	nl_put(&msg, RDMA_NLDEV_ATTR_NDEV_NAME, dev->netdev,
	       strlen(dev->netdev) + 1);

	return nl_request(NETLINK_RDMA, &msg);
}

/*
 * Returns true if the nldev message @nlh is about the ib device @name,
 * with its index in *@index.
 */
static bool dev_attrs(const struct nlmsghdr *nlh, const char *name,
		      __u32 *index)
{
	int len = nlh->nlmsg_len - NLMSG_HDRLEN;
	const struct nlattr *nla = NLMSG_DATA(nlh);
	bool found_name = false, found_index = false;
	const char *data;

	while (len >= NLA_HDRLEN && nla->nla_len >= NLA_HDRLEN &&
	       nla->nla_len <= len) {
		data = (const char *)nla + NLA_HDRLEN;
		switch (nla->nla_type & NLA_TYPE_MASK) {
		case RDMA_NLDEV_ATTR_DEV_INDEX:
			memcpy(index, data, sizeof(*index));
			found_index = true;
			break;
		case RDMA_NLDEV_ATTR_DEV_NAME:
			found_name = !strncmp(data, name,
					      nla->nla_len - NLA_HDRLEN);
			break;
		}
		len -= NLA_ALIGN(nla->nla_len);
		nla = (const struct nlattr *)((const char *)nla +
					      NLA_ALIGN(nla->nla_len));
	}

	return found_name && found_index;
}

/*
 * The RDMA device index of the ib device @name, from a dump of them all.
 * Returns 0 with *@index set, or -errno (-ENODEV if there is no @name).
 */
static int rdma_dev_index(const char *name, __u32 *index)
{
	union {
		struct nlmsghdr nlh;
		char buf[16384];
	} reply;
	bool found = false;
	struct nlmsghdr *nlh;
	union nl_msg msg;
	int sock, ret;
	__u32 idx = 0;
	ssize_t len;

	rdma_nl_init(&msg, RDMA_NLDEV_CMD_GET);
	msg.nlh.nlmsg_flags = NLM_F_DUMP;
	sock = nl_send(NETLINK_RDMA, &msg);
	if (sock < 0)
		return sock;

	for (;;) {
		len = recv(sock, &reply, sizeof(reply), 0);
		if (len <= 0) {
			ret = len ? -errno : -EIO;
			goto out;
		}
		for (nlh = &reply.nlh; NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			if (nlh->nlmsg_type == NLMSG_DONE) {
				ret = found ? 0 : -ENODEV;
				goto out;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				ret = ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
				goto out;
			}

			if (dev_attrs(nlh, name, &idx)) {
				*index = idx;
				found = true;
			}
		}
	}
out:
	close(sock);

	return ret;
}

/* What "rdma link delete NAME" does. Returns 0 or -errno. */
static int rdma_link_del(const char *name)
{
	union nl_msg msg;
	__u32 index;
	int ret;

	ret = rdma_dev_index(name, &index);
	if (ret)
		return ret;

	rdma_nl_init(&msg, RDMA_NLDEV_CMD_DELLINK);
	nl_put(&msg, RDMA_NLDEV_ATTR_DEV_INDEX, &index, sizeof(index));

	return nl_request(NETLINK_RDMA, &msg);
}

/*
 * Add (@cmd RTM_NEWADDR) or remove (RTM_DELADDR) DUMMY_ADDR/DUMMY_PREFIX
 * on the netdev @ifindex. Returns 0 or -errno.
 */
static int dummy_addr(int cmd, int ifindex)
{
	struct ifaddrmsg *ifa;
	union nl_msg msg;
	struct in_addr a;

	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(*ifa));
	msg.nlh.nlmsg_type = cmd;
	if (cmd == RTM_NEWADDR)
		msg.nlh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = NLMSG_DATA(&msg.nlh);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = DUMMY_PREFIX;
	ifa->ifa_index = ifindex;
	inet_pton(AF_INET, DUMMY_ADDR, &a);
	nl_put(&msg, IFA_LOCAL, &a, sizeof(a));
	nl_put(&msg, IFA_ADDRESS, &a, sizeof(a));

	return nl_request(NETLINK_ROUTE, &msg);
}

/*
 * Bring the netdev @name up or down. Returns 0 with *@was_up telling
 * whether it was up (NULL: don't tell), or -errno.
 */
static int netdev_set_up(const char *name, bool up, bool *was_up)
{
	struct ifreq ifr = {};
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ret = -errno;
		goto out;
	}
	if (was_up)
		*was_up = ifr.ifr_flags & IFF_UP;
	if (!!(ifr.ifr_flags & IFF_UP) == up)
		goto out;

	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		ret = -errno;
out:
	close(fd);

	return ret;
}

/* Why @dev can't be used: "@dev->name: " and the rest as printf. */
static void __printf(2, 3)
dev_fail(struct rdma_dev *dev, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	len = snprintf(dev->why_buf, sizeof(dev->why_buf), "%s: ", dev->name);
	va_start(ap, fmt);
	vsnprintf(dev->why_buf + len, sizeof(dev->why_buf) - len, fmt, ap);
	va_end(ap);
	dev->why = dev->why_buf;
}

/*
 * Read the first line of @path into @buf, without its newline. Returns 0
 * or -1.
 */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, size, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);

	return ret;
}

/* Wait up to @secs seconds for port 1 of @dev to be ACTIVE. */
static int wait_port_active(struct rdma_dev *dev, int secs)
{
	char path[PATH_MAX], state[64] = "";
	int i;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/state",
		 dev->name);
	for (i = 0; i < secs * 20; i++) {
		if (!read_line(path, state, sizeof(state)) &&
		    strstr(state, "ACTIVE"))
			return 0;
		usleep(50000);
	}
	dev_fail(dev, "port 1 isn't ACTIVE (\"%s\")", state);

	return -1;
}

/*
 * Find the uverbs device node of @dev and make sure it is usable by
 * TEST_UID (devtmpfs makes it 0666; give it that mode if it hasn't).
 */
static int find_uverbs(struct rdma_dev *dev)
{
	char path[PATH_MAX], ibdev[64];
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int i;

	dir = opendir("/sys/class/infiniband_verbs");
	if (!dir) {
		dev_fail(dev, "no /sys/class/infiniband_verbs (no RDMA user access in the kernel)");
		return -1;
	}
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "uverbs", 6))
			continue;
		snprintf(path, sizeof(path),
			 "/sys/class/infiniband_verbs/%s/ibdev", d->d_name);
		if (read_line(path, ibdev, sizeof(ibdev)) ||
		    strcmp(ibdev, dev->name))
			continue;
		snprintf(dev->node, sizeof(dev->node), "/dev/infiniband/%s",
			 d->d_name);
		break;
	}
	closedir(dir);
	if (!*dev->node) {
		dev_fail(dev, "no uverbs device");
		return -1;
	}

	for (i = 0; i < 100 && stat(dev->node, &st); i++)
		usleep(20000);
	if (i == 100) {
		dev_fail(dev, "no %s: %s", dev->node, strerror(errno));
		return -1;
	}
	dev->mode = st.st_mode & 07777;
	if ((dev->mode & 0666) != 0666) {
		if (chmod(dev->node, dev->mode | 0666)) {
			dev_fail(dev, "chmod %s: %s", dev->node,
				 strerror(errno));
			return -1;
		}
		dev->chmodded = true;
	}

	return 0;
}

/*
 * Find an IPv4 RoCE v2 GID of port 1 of @dev: its index and address. The
 * address of a netdev comes to the GID table asynchronously: wait up to
 * @secs seconds for one. Without one, @dev->addr stays "".
 */
static void find_ipv4_gid(struct rdma_dev *dev, int secs)
{
	static const char v4_prefix[] = "0000:0000:0000:0000:0000:ffff:";
	char path[PATH_MAX], gid[64], type[32];
	unsigned int hi, lo;
	int i, n;

	for (i = 0; i < secs * 10; i++) {
		for (n = 0;; n++) {
			snprintf(path, sizeof(path),
				 "/sys/class/infiniband/%s/ports/1/gids/%d",
				 dev->name, n);
			if (read_line(path, gid, sizeof(gid)))
				break;
			if (strncmp(gid, v4_prefix, strlen(v4_prefix)) ||
			    sscanf(gid + strlen(v4_prefix), "%4x:%4x", &hi,
				   &lo) != 2)
				continue;
			snprintf(path, sizeof(path),
				 "/sys/class/infiniband/%s/ports/1/gid_attrs/types/%d",
				 dev->name, n);
			if (read_line(path, type, sizeof(type)) ||
			    strcmp(type, "RoCE v2"))
				continue;

			snprintf(dev->addr, sizeof(dev->addr), "%u.%u.%u.%u",
				 (hi >> 8) & 0xff, hi & 0xff,
				 (lo >> 8) & 0xff, lo & 0xff);
			snprintf(dev->gid_index, sizeof(dev->gid_index), "%d",
				 n);
			return;
		}
		usleep(100000);
	}
}

/* Make @dev, unless it exists, and find its uverbs device node. */
static int dev_setup(struct rdma_dev *dev)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s", dev->name);
	if (access(path, F_OK)) {
		ret = rdma_link_add(dev);
		if (ret) {
			dev_fail(dev, "can't make it on %s (RDMA_NLDEV_CMD_NEWLINK: %s)",
				 dev->netdev, strerror(-ret));
			return -1;
		}
		dev->made = true;
	}

	if (wait_port_active(dev, 5))
		return -1;

	return find_uverbs(dev);
}

/* Bring dummy0 up with DUMMY_ADDR and make rxe0 on it. */
static void rxe_setup(void)
{
	char path[PATH_MAX];
	bool was_up;
	int ifindex, ret;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s", rxe_dev.name);
	if (access(path, F_OK)) {
		ifindex = if_nametoindex(DUMMY_DEV);
		if (!ifindex) {
			dev_fail(&rxe_dev, "no %s netdev (CONFIG_DUMMY)",
				 DUMMY_DEV);
			return;
		}
		ret = netdev_set_up(DUMMY_DEV, true, &was_up);
		if (ret) {
			dev_fail(&rxe_dev, "can't bring %s up: %s", DUMMY_DEV,
				 strerror(-ret));
			return;
		}
		dummy_upped = !was_up;
		ret = dummy_addr(RTM_NEWADDR, ifindex);
		if (ret && ret != -EEXIST) {
			dev_fail(&rxe_dev, "can't add %s/%d to %s: %s",
				 DUMMY_ADDR, DUMMY_PREFIX, DUMMY_DEV,
				 strerror(-ret));
			return;
		}
		dummy_addr_added = !ret;
	}

	if (dev_setup(&rxe_dev))
		return;
	find_ipv4_gid(&rxe_dev, 5);
}

/* Check that libibverbs lists every device that is usable so far. */
static void check_ibverbs(void)
{
	struct rdma_dev *devs[] = { &siw_dev, &rxe_dev };
	struct ibv_device **list;
	int i, j, n;

	list = ibv_get_device_list(&n);
	for (i = 0; i < 2; i++) {
		if (devs[i]->why)
			continue;
		for (j = 0; list && j < n; j++)
			if (!strcmp(ibv_get_device_name(list[j]), devs[i]->name))
				break;
		if (!list || j == n)
			dev_fail(devs[i], "libibverbs doesn't list it");
	}
	if (list)
		ibv_free_device_list(list);
}

/*
 * Make the devices the tests use, before the tests run; what can't be made
 * is told by its why.
 */
static void devices_setup(void)
{
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	if (fd < 0) {
		dev_fail(&siw_dev, "no RDMA netlink: %s", strerror(errno));
		rxe_dev.why = siw_dev.why;
		no_rdma = "no RDMA in the kernel (no NETLINK_RDMA)";
		return;
	}
	close(fd);

	dev_setup(&siw_dev);
	rxe_setup();
	check_ibverbs();
}

/* Undo what devices_setup() did, at the main process's exit. */
static void devices_cleanup(void)
{
	struct rdma_dev *devs[] = { &rxe_dev, &siw_dev };
	bool failed = false;
	int i, ifindex, ret;

	if (getpid() != main_pid)
		return;

	for (i = 0; i < 2; i++) {
		if (devs[i]->chmodded && chmod(devs[i]->node, devs[i]->mode)) {
			ksft_print_msg("chmod %s back: %s\n", devs[i]->node,
				       strerror(errno));
			failed = true;
		}
		if (!devs[i]->made)
			continue;
		ret = rdma_link_del(devs[i]->name);
		if (ret) {
			ksft_print_msg("can't remove %s: %s\n", devs[i]->name,
				       strerror(-ret));
			failed = true;
		}
	}

	ifindex = if_nametoindex(DUMMY_DEV);
	if (dummy_addr_added) {
		ret = dummy_addr(RTM_DELADDR, ifindex);
		if (ret) {
			ksft_print_msg("can't remove %s from %s: %s\n",
				       DUMMY_ADDR, DUMMY_DEV, strerror(-ret));
			failed = true;
		}
	}
	if (dummy_upped) {
		ret = netdev_set_up(DUMMY_DEV, false, NULL);
		if (ret) {
			ksft_print_msg("can't bring %s down: %s\n", DUMMY_DEV,
				       strerror(-ret));
			failed = true;
		}
	}

	fflush(stdout);
	if (failed)
		_exit(KSFT_FAIL);
}

/* A verbs context on a device, with a protection domain. */
struct verbs {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
};

/* Open @dev and allocate a PD on it. Returns 0 or -1 (reported). */
static int verbs_open(struct verbs *v, const struct rdma_dev *dev)
{
	struct ibv_device **list;
	int i, n;

	v->ctx = NULL;
	v->pd = NULL;
	list = ibv_get_device_list(&n);
	if (!list) {
		ksft_print_msg("ibv_get_device_list: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!strcmp(ibv_get_device_name(list[i]), dev->name)) {
			v->ctx = ibv_open_device(list[i]);
			if (!v->ctx)
				ksft_print_msg("ibv_open_device(%s): %s\n",
					       dev->name, strerror(errno));
			break;
		}
	}
	if (i == n)
		ksft_print_msg("libibverbs doesn't list %s\n", dev->name);
	ibv_free_device_list(list);
	if (!v->ctx)
		return -1;

	v->pd = ibv_alloc_pd(v->ctx);
	if (!v->pd) {
		ksft_print_msg("ibv_alloc_pd: %s\n", strerror(errno));
		ibv_close_device(v->ctx);
		v->ctx = NULL;
		return -1;
	}

	return 0;
}

/*
 * Close @v's device, whatever it still holds: the kernel deregisters its
 * MRs. Returns 0 or -1 (reported).
 */
static int verbs_close(struct verbs *v)
{
	int ret;

	if (!v->ctx)
		return 0;
	ret = ibv_close_device(v->ctx);
	v->ctx = NULL;
	v->pd = NULL;
	if (ret) {
		ksft_print_msg("ibv_close_device: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Register the @len bytes at @addr with @v's PD. Returns 0 if that ends
 * with errno @err (0 for success, the MR then in *@mr), else -1
 * (reported).
 */
static int reg(struct verbs *v, void *addr, size_t len, int err,
	       struct ibv_mr **mr)
{
	struct ibv_mr *m;
	int got;

	errno = 0;
	m = ibv_reg_mr(v->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);
	got = m ? 0 : errno;
	if (got != err) {
		ksft_print_msg("ibv_reg_mr(%p, %zu): got \"%s\", expected \"%s\"\n",
			       addr, len, strerror(got), strerror(err));
		if (m)
			ibv_dereg_mr(m);
		return -1;
	}
	if (mr)
		*mr = m;

	return 0;
}

/* reg() of @npages pages of @buf from page @first on. */
static int reg_pages(struct verbs *v, char *buf, long first, long npages,
		     int err, struct ibv_mr **mr)
{
	return reg(v, pins_page_at(buf, first), npages * page_size, err, mr);
}

/* Deregister *@mr. Returns 0 or -1 (reported). */
static int dereg(struct ibv_mr **mr)
{
	int ret = ibv_dereg_mr(*mr);

	*mr = NULL;
	if (ret) {
		ksft_print_msg("ibv_dereg_mr: %s\n", strerror(ret));
		return -1;
	}

	return 0;
}

/* The fixture is shared memory: see struct pins_tree. */
FIXTURE(rdma) {
	struct pins_tree tree;	/* root_base: the root's rdma pages */
};

FIXTURE_SETUP(rdma)
{
	int ret;

	pins_util_init();

	if (no_rdma)
		SKIP(return, "%s", no_rdma);
	if (siw_dev.why && rxe_dev.why)
		SKIP(return, "no RDMA device: %s; %s", siw_dev.why,
		     rxe_dev.why);

	/*
	 * Without the controller only the rlimit tests run. The processes
	 * of a test that failed may still be going: setup waits for them.
	 */
	ret = pins_tree_setup(&self->tree, "rdma", _metadata->name, "rdma");
	if (ret == KSFT_SKIP)
		return;
	ASSERT_EQ(KSFT_PASS, ret);
}

/*
 * Kill the test's children if they are still there, remove the tracefs
 * instance and the cgroups. See struct pins_tree for why it is a
 * FIXTURE_TEARDOWN_PARENT(): the test's verbs contexts close, and give
 * their MRs' charges back, when its process exits.
 */
FIXTURE_TEARDOWN_PARENT(rdma)
{
	pins_tree_teardown(&self->tree);
}

/*
 * Returns 0 if @cg pages are charged to the fixture's cgroup and @sib to
 * its sibling (if there is one), all under rdma, both to their parent and,
 * on top of what it had at setup, to the root's rdma line, and if @vmpin
 * isn't negative, if the VmPin of @pid (0: this process) is @vmpin pages
 * and its VmLck 0. Only VmPin and VmLck are checked without the pins
 * controller. Quiet unless @verbose.
 */
static int check_all(struct _test_data_rdma *self, long cg, long sib,
		     pid_t pid, long vmpin, bool verbose)
{
	if (vmpin >= 0 &&
	    (pins_status_check(pid, "VmPin", vmpin, verbose) ||
	     pins_status_check(pid, "VmLck", 0, verbose)))
		return -1;

	return pins_tree_check(&self->tree, "rdma", cg, sib, verbose);
}

/* check_all() for this process, telling what differs. */
static int expect_all(struct _test_data_rdma *self, long cg, long sib,
		      long vmpin)
{
	return check_all(self, cg, sib, 0, vmpin, true);
}

/*
 * expect_all(), giving the kernel up to two seconds to get there, for
 * charges returned by a process's exit.
 */
static int wait_all(struct _test_data_rdma *self, long cg, long sib,
		    long vmpin)
{
	int tries = 0;

	while (pins_retry(&tries))
		if (!check_all(self, cg, sib, 0, vmpin, false))
			return 0;

	return expect_all(self, cg, sib, vmpin);
}

/*
 * Run @fn(@self) in a child process, in the fixture's cgroup if there is
 * one. Returns 0 if it exited with EXIT_SUCCESS.
 */
static int run_child(struct _test_data_rdma *self,
		     int (*fn)(struct _test_data_rdma *self))
{
	pid_t pid = pins_fork(self->tree.have_pins ? self->tree.cg : NULL);

	if (pid == 0)
		pins_child_exit(fn(self));
	self->tree.pid = pid;

	return pid < 0 ? -1 : pins_reap(&self->tree.pid);
}

/*
 * Registrations on @dev charge the registrant's cgroup, its ancestors, the
 * root's rdma line and the registrant's VmPin, not its VmLck, one page per
 * page an MR spans, again for pages another MR has; deregistering gives it
 * all back.
 */
static void exact_charge(struct __test_metadata *_metadata,
			 struct _test_data_rdma *self, struct rdma_dev *dev)
{
	struct ibv_mr *mr[4];
	struct verbs v;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (dev->why)
		SKIP(return, "%s", dev->why);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, verbs_open(&v, dev));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	ASSERT_EQ(0, reg_pages(&v, buf, 0, 3, 0, &mr[0]));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	/* Two pages' worth that span three. */
	ASSERT_EQ(0, reg(&v, pins_page_at(buf, 4) + 100, 2 * page_size, 0,
			 &mr[1]));
	ASSERT_EQ(0, expect_all(self, 6, 0, 6));

	/* Two bytes across a page boundary: two pages. */
	ASSERT_EQ(0, reg(&v, pins_page_at(buf, 9) - 1, 2, 0, &mr[2]));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));

	/* The pages of mr[0] again, as pinned_vm counts them. */
	ASSERT_EQ(0, reg_pages(&v, buf, 0, 3, 0, &mr[3]));
	ASSERT_EQ(0, expect_all(self, 11, 0, 11));

	ASSERT_EQ(0, dereg(&mr[1]));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));
	ASSERT_EQ(0, dereg(&mr[0]));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));
	ASSERT_EQ(0, dereg(&mr[3]));
	ASSERT_EQ(0, expect_all(self, 2, 0, 2));
	ASSERT_EQ(0, dereg(&mr[2]));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	ASSERT_EQ(0, verbs_close(&v));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/* Exact charges of MRs on siw0. */
TEST_F(rdma, reg_dereg_siw)
{
	exact_charge(_metadata, self, &siw_dev);
}

/* Exact charges of MRs on rxe0. */
TEST_F(rdma, reg_dereg_rxe)
{
	exact_charge(_metadata, self, &rxe_dev);
}

/*
 * Refusals by a pins.max of 4 pages at @limiter, the fixture's cgroup or
 * its parent, of MRs registered on siw0 from the fixture's cgroup: each
 * fails with ENOMEM and charges nothing anywhere, VmPin included, is
 * counted in pins.events at the limiter and above and in
 * pins.events.local at the limiter, and is traced with the pages the MR
 * spans; the first one is logged. What fits still registers.
 */
static void refusals(struct __test_metadata *_metadata,
		     struct _test_data_rdma *self, const char *limiter)
{
	bool at_cg = limiter == self->tree.cg;
	char text[PATH_MAX + 64];
	struct ibv_mr *mr[2];
	struct verbs v;
	int kmsg, ret;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ret = pins_trace_start(self->tree.instance, "pins_rdma");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);
	pins_refusal_text(text, sizeof(text), "rdma", self->tree.root, limiter);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(limiter, 4));
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, verbs_open(&v, &siw_dev));

	ASSERT_EQ(0, reg_pages(&v, buf, 0, 3, 0, &mr[0]));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 0, 0));

	/* Two more pages would make five. */
	ASSERT_EQ(0, reg_pages(&v, buf, 3, 2, ENOMEM, NULL));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 1, 1, self->tree.cg,
				       limiter, "rdma", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));

	/* Again: counted and traced, not logged. */
	ASSERT_EQ(0, reg_pages(&v, buf, 3, 2, ENOMEM, NULL));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 2, 2, self->tree.cg,
				       limiter, "rdma", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* One page's worth that spans two is two pages. */
	ASSERT_EQ(0, reg(&v, pins_page_at(buf, 5) + 1, page_size, ENOMEM,
			 NULL));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 3 * at_cg, 3 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 3, 3, self->tree.cg,
				       limiter, "rdma", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Up to the limit is fine. */
	ASSERT_EQ(0, reg_pages(&v, buf, 3, 1, 0, &mr[1]));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	ASSERT_EQ(0, dereg(&mr[0]));
	ASSERT_EQ(0, expect_all(self, 1, 0, 1));
	ASSERT_EQ(0, dereg(&mr[1]));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	ASSERT_EQ(0, verbs_close(&v));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 3, 3, self->tree.cg,
				       limiter, "rdma", 2, 4, 3));

	close(kmsg);
	pins_buf_free(buf, BUF_PAGES);
}

/* Refusals by the registrant's own pins.max. */
TEST_F(rdma, refusal_at_limit)
{
	refusals(_metadata, self, self->tree.cg);
}

/* Refusals by the pins.max of the registrant's parent. */
TEST_F(rdma, refusal_at_ancestor)
{
	refusals(_metadata, self, self->tree.parent);
}

/* Set RLIMIT_MEMLOCK to @pages, staying root with CAP_IPC_LOCK. */
static int keep_cap_ipc_lock(long long pages)
{
	return pins_set_memlock(pages) || pins_cap_ipc_lock_effective() != 1;
}

/*
 * The body of a child of the rlimit tests, run with a verbs context on siw0
 * and a buffer of BUF_PAGES pages: 0 if everything it checks holds.
 */
typedef int (*verbs_child_fn)(struct _test_data_rdma *self, struct verbs *v,
			      char *buf);

/*
 * In a child of the test: set the credentials and RLIMIT_MEMLOCK with
 * @prepare(@pages), open siw0 and run @fn. Returns EXIT_SUCCESS if every
 * step succeeded.
 */
static int verbs_child(struct _test_data_rdma *self,
		       int (*prepare)(long long pages), long long pages,
		       verbs_child_fn fn)
{
	int ret = EXIT_FAILURE;
	struct verbs v;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (!prepare(pages) && !verbs_open(&v, &siw_dev)) {
		if (!fn(self, &v, buf))
			ret = EXIT_SUCCESS;
		verbs_close(&v);
	}
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * Child of rlimit_as_vanilla: as TEST_UID, without CAP_IPC_LOCK, with
 * RLIMIT_MEMLOCK at 4 pages, MRs of up to 4 pages in all fit and more
 * don't, counting the pages each spans, and VmPin counts what fits.
 */
static int rlimit_body(struct _test_data_rdma *self, struct verbs *v,
		       char *buf)
{
	struct ibv_mr *mr[2];

	if (reg_pages(v, buf, 0, 5, ENOMEM, NULL) ||
	    expect_all(self, 0, 0, 0))
		return -1;

	if (reg_pages(v, buf, 0, 4, 0, &mr[0]) ||
	    expect_all(self, 4, 0, 4) || dereg(&mr[0]) ||
	    expect_all(self, 0, 0, 0))
		return -1;

	/* Three pages' worth that span four fit, four that span five not. */
	if (reg(v, buf + 1, 4 * page_size, ENOMEM, NULL) ||
	    expect_all(self, 0, 0, 0) ||
	    reg(v, buf + 1, 3 * page_size, 0, &mr[0]) ||
	    expect_all(self, 4, 0, 4) || dereg(&mr[0]) ||
	    expect_all(self, 0, 0, 0))
		return -1;

	/* Two MRs: the second one only if both fit. */
	if (reg_pages(v, buf, 0, 2, 0, &mr[0]) ||
	    expect_all(self, 2, 0, 2) ||
	    reg_pages(v, buf, 2, 3, ENOMEM, NULL) ||
	    expect_all(self, 2, 0, 2) ||
	    reg_pages(v, buf, 2, 2, 0, &mr[1]) ||
	    expect_all(self, 4, 0, 4))
		return -1;

	if (dereg(&mr[0]) || expect_all(self, 2, 0, 2) || dereg(&mr[1]) ||
	    expect_all(self, 0, 0, 0))
		return -1;

	return 0;
}

static int child_rlimit(struct _test_data_rdma *self)
{
	return verbs_child(self, pins_drop_privileges, 4, rlimit_body);
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits MRs as on vanilla 6.12
 * (ENOMEM), and what it refuses is neither charged nor counted in
 * pins.events. Also without the pins controller.
 */
TEST_F(rdma, rlimit_as_vanilla)
{
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ASSERT_EQ(0, run_child(self, child_rlimit));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	if (self->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
}

/*
 * Child of rlimit_zero: as TEST_UID, without CAP_IPC_LOCK, with
 * RLIMIT_MEMLOCK at 0, no MR registers, not even of one page: EPERM.
 */
static int rlimit_zero_body(struct _test_data_rdma *self, struct verbs *v,
			    char *buf)
{
	if (reg_pages(v, buf, 0, 1, EPERM, NULL) ||
	    expect_all(self, 0, 0, 0) ||
	    reg(v, buf, 1, EPERM, NULL) || expect_all(self, 0, 0, 0))
		return -1;

	return 0;
}

static int child_rlimit_zero(struct _test_data_rdma *self)
{
	return verbs_child(self, pins_drop_privileges, 0, rlimit_zero_body);
}

/*
 * Without CAP_IPC_LOCK, an RLIMIT_MEMLOCK of 0 fails every MR with EPERM,
 * as on vanilla 6.12, and nothing is charged or counted. Also without the
 * pins controller.
 */
TEST_F(rdma, rlimit_zero)
{
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ASSERT_EQ(0, run_child(self, child_rlimit_zero));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	if (self->tree.have_pins)
		ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
}

/*
 * Child of cap_ipc_lock_lifts_rlimit: as root, with CAP_IPC_LOCK, MRs
 * register past an RLIMIT_MEMLOCK of 0, then of 1 page, and VmPin counts
 * them.
 */
static int cap_lifts_body(struct _test_data_rdma *self, struct verbs *v,
			  char *buf)
{
	struct ibv_mr *mr[2];

	if (reg_pages(v, buf, 0, 3, 0, &mr[0]) || expect_all(self, 3, 0, 3))
		return -1;
	if (pins_set_memlock(1) || reg_pages(v, buf, 3, 2, 0, &mr[1]) ||
	    expect_all(self, 5, 0, 5))
		return -1;
	if (dereg(&mr[0]) || dereg(&mr[1]) || expect_all(self, 0, 0, 0))
		return -1;

	return 0;
}

static int child_cap_lifts(struct _test_data_rdma *self)
{
	return verbs_child(self, keep_cap_ipc_lock, 0, cap_lifts_body);
}

/*
 * CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for MRs, as on vanilla 6.12, and the
 * cgroup is charged as much. Also without the pins controller.
 */
TEST_F(rdma, cap_ipc_lock_lifts_rlimit)
{
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ASSERT_EQ(0, run_child(self, child_cap_lifts));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of cap_ipc_lock_not_cgroup: as root with RLIMIT_MEMLOCK at 0, in a
 * cgroup whose pins.max is 4 pages.
 */
static int cap_not_cgroup_body(struct _test_data_rdma *self, struct verbs *v,
			       char *buf)
{
	struct ibv_mr *mr;

	/* Past the rlimit: CAP_IPC_LOCK lets it through. */
	if (reg_pages(v, buf, 0, 3, 0, &mr) || expect_all(self, 3, 0, 3))
		return -1;

	/* Past pins.max: it doesn't, and pinned_vm stays. */
	if (reg_pages(v, buf, 3, 2, ENOMEM, NULL) ||
	    expect_all(self, 3, 0, 3))
		return -1;

	if (dereg(&mr) || expect_all(self, 0, 0, 0))
		return -1;

	return 0;
}

static int child_cap_not_cgroup(struct _test_data_rdma *self)
{
	return verbs_child(self, keep_cap_ipc_lock, 0, cap_not_cgroup_body);
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK but not pins.max. */
TEST_F(rdma, cap_ipc_lock_not_cgroup)
{
	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ASSERT_EQ(0, pins_set_max(self->tree.cg, 4));
	ASSERT_EQ(0, run_child(self, child_cap_not_cgroup));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));
}

/*
 * An MR's charge stays in the cgroup it was registered from when the
 * registrant moves, and goes back there at deregistration or when the
 * device is closed with the MR still registered; what is registered
 * after the move is charged to the new cgroup.
 */
TEST_F(rdma, charge_stays_after_move)
{
	struct ibv_mr *mr[2];
	struct verbs v;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, verbs_open(&v, &siw_dev));
	ASSERT_EQ(0, reg_pages(&v, buf, 0, 3, 0, &mr[0]));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, reg_pages(&v, buf, 3, 2, 0, &mr[1]));
	ASSERT_EQ(0, expect_all(self, 3, 2, 5));

	ASSERT_EQ(0, dereg(&mr[0]));
	ASSERT_EQ(0, expect_all(self, 0, 2, 2));

	/* Back in the first cgroup, the second MR's charge stays put. */
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, reg_pages(&v, buf, 5, 1, 0, &mr[0]));
	ASSERT_EQ(0, expect_all(self, 1, 2, 3));

	/* Closing the device deregisters both, each where it was charged. */
	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ASSERT_EQ(0, verbs_close(&v));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * The child of fd_passing, in the fixture's cgroup: register 3 pages on
 * siw0, pass the context's uverbs command fd to the test, and exit when
 * told to, with the MR registered and the context open.
 */
static int child_pass_fd(int sock)
{
	struct ibv_mr *mr;
	struct verbs v;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || verbs_open(&v, &siw_dev) ||
	    reg_pages(&v, buf, 0, 3, 0, &mr) ||
	    pins_sock_send(sock, 'R', v.ctx->cmd_fd) ||
	    pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * An MR whose uverbs file was passed to another process stays charged to
 * the registrant's cgroup after the registrant exits, while the receiver
 * holds the file, and goes back when the receiver closes it; the
 * receiver's cgroup and VmPin are never charged.
 */
TEST_F(rdma, fd_passing)
{
	int sock = -1, fd = -1;
	pid_t pid;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	ASSERT_EQ(0, pins_tree_sibling(&self->tree));
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));

	pid = pins_fork_peer(self->tree.cg, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(child_pass_fd(sock));
	self->tree.pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'R', &fd));
	ASSERT_EQ(0, check_all(self, 3, 0, self->tree.pid, 3, true));
	ASSERT_EQ(0, expect_all(self, 3, 0, 0));

	/* The registrant exits: the receiver's file keeps the MR. */
	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	ASSERT_EQ(0, expect_all(self, 3, 0, 0));
	usleep(200000);
	ASSERT_EQ(0, expect_all(self, 3, 0, 0));

	/* The receiver closes it: the charge goes back to the child's cgroup. */
	pins_close_fd(&fd);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sock);
}

/*
 * The child of exit_without_dereg, in the fixture's cgroup: register 3
 * and 2 pages on siw0 and exit when told to, without deregistering.
 */
static int child_exit(int sock)
{
	struct ibv_mr *mr[2];
	struct verbs v;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || verbs_open(&v, &siw_dev) ||
	    reg_pages(&v, buf, 0, 3, 0, &mr[0]) ||
	    reg_pages(&v, buf, 3, 2, 0, &mr[1]) ||
	    pins_sock_send(sock, 'R', -1) || pins_sock_recv(sock, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/* A process that exits with its MRs registered gives their charge back. */
TEST_F(rdma, exit_without_dereg)
{
	int sock = -1;
	pid_t pid;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (siw_dev.why)
		SKIP(return, "%s", siw_dev.why);

	pid = pins_fork_peer(self->tree.cg, &sock);
	ASSERT_LE(0, pid);
	if (pid == 0)
		pins_child_exit(child_exit(sock));
	self->tree.pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'R', NULL));
	ASSERT_EQ(0, check_all(self, 5, 0, self->tree.pid, 5, true));

	ASSERT_EQ(0, pins_sock_send(sock, 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sock);
}

/* Returns true if a TCP socket listens on @port, over IPv4 or IPv6. */
static bool tcp_listening(unsigned int port)
{
	static const char * const files[] = {
		"/proc/net/tcp", "/proc/net/tcp6",
	};
	char line[512], local[128];
	unsigned int state;
	bool found = false;
	char *colon;
	size_t i;
	FILE *f;

	for (i = 0; i < ARRAY_SIZE(files) && !found; i++) {
		f = fopen(files[i], "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f)) {
			if (sscanf(line, " %*d: %127s %*s %x", local,
				   &state) != 2)
				continue;
			colon = strrchr(local, ':');
			found = colon && state == 0x0a &&
				strtoul(colon + 1, NULL, 16) == port;
		}
		fclose(f);
	}

	return found;
}

/*
 * Start @argv in @cgroup with its stdout and stderr to a pipe, whose
 * reading end goes to *@out. Returns the pid, or -1 (reported).
 */
static pid_t spawn(const char *cgroup, const char *const argv[], int *out)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		ksft_print_msg("pipe: %s\n", strerror(errno));
		return -1;
	}

	pid = pins_fork(cgroup);
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) < 0 ||
		    dup2(p[1], STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	*out = p[0];

	return pid;
}

/*
 * Wait up to @secs seconds for the child *@pid to exit, then kill it, and
 * forget it. Returns its exit status, or -1 if it didn't exit (reported).
 */
static int wait_exit(pid_t *pid, int secs)
{
	int i, status;
	pid_t ret;

	for (i = 0; i < secs * 50; i++) {
		ret = waitpid(*pid, &status, WNOHANG);
		if (ret == *pid) {
			*pid = 0;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			ksft_print_msg("child killed (status %#x)\n", status);
			return -1;
		}
		if (ret < 0) {
			ksft_print_msg("waitpid %d: %s\n", *pid,
				       strerror(errno));
			*pid = 0;
			return -1;
		}
		usleep(20000);
	}

	ksft_print_msg("%d still runs after %d s: killed\n", *pid, secs);
	pins_kill(pid);

	return -1;
}

/*
 * Print what a child that is gone wrote to *@fd, each line after @who, and
 * close *@fd. Returns true if @text is in it.
 */
static bool show_output(int *fd, const char *who, const char *text)
{
	char buf[8192], *line, *save;
	size_t len = 0;
	bool found;
	ssize_t ret;

	while (len < sizeof(buf) - 1) {
		ret = read(*fd, buf + len, sizeof(buf) - 1 - len);
		if (ret <= 0)
			break;
		len += ret;
	}
	buf[len] = '\0';
	pins_close_fd(fd);

	found = strstr(buf, text);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		ksft_print_msg("%s: %s\n", who, line);

	return found;
}

/*
 * Fill @argv with the arguments of ibv_rc_pingpong on rxe0 exchanging
 * @size bytes: a server's, or with @host a client's.
 */
static void pp_args(const char **argv, const char *size, const char *host)
{
	int n = 0;

	argv[n++] = PINGPONG;
	argv[n++] = "-d";
	argv[n++] = rxe_dev.name;
	argv[n++] = "-g";
	argv[n++] = rxe_dev.gid_index;
	argv[n++] = "-s";
	argv[n++] = size;
	argv[n++] = "-n";
	argv[n++] = PP_ITERS;
	argv[n++] = "-p";
	argv[n++] = PP_PORT;
	if (host)
		argv[n++] = host;
	argv[n] = NULL;
}

/*
 * Run ibv_rc_pingpong on rxe0 in @cgroup, both ends registering PP_PAGES
 * pages: a server and, once it listens or has exited, a client connecting
 * to rxe0's IPv4 address. Their exit statuses go to @status (-1 for one
 * killed at the timeout), and whether each printed "Couldn't register
 * MR" to @refused: server first. Returns 0 if both could be started.
 */
static int pingpong(struct _test_data_rdma *self, const char *cgroup,
		    int status[2], bool refused[2])
{
	static const char refusal[] = "Couldn't register MR";
	const char *argv[16];
	char size[16];
	int i, out[2] = { -1, -1 };
	siginfo_t info;

	snprintf(size, sizeof(size), "%ld", PP_PAGES * page_size);
	pp_args(argv, size, NULL);

	self->tree.pid = spawn(cgroup, argv, &out[0]);
	if (self->tree.pid < 0) {
		self->tree.pid = 0;
		return -1;
	}
	for (i = 0; i < PP_TIMEOUT * 50 && !tcp_listening(atoi(PP_PORT)); i++) {
		info.si_pid = 0;
		if (waitid(P_PID, self->tree.pid, &info,
			   WEXITED | WNOHANG | WNOWAIT) || info.si_pid)
			break;
		usleep(20000);
	}

	pp_args(argv, size, rxe_dev.addr);
	self->tree.pid2 = spawn(cgroup, argv, &out[1]);
	if (self->tree.pid2 < 0) {
		self->tree.pid2 = 0;
		pins_kill(&self->tree.pid);
		pins_close_fd(&out[0]);
		return -1;
	}

	status[1] = wait_exit(&self->tree.pid2, PP_TIMEOUT);
	status[0] = wait_exit(&self->tree.pid, PP_TIMEOUT);
	refused[0] = show_output(&out[0], "server", refusal);
	refused[1] = show_output(&out[1], "client", refusal);

	return 0;
}

/*
 * ibv_rc_pingpong, both ends on rxe0 in a cgroup whose pins.max has room
 * for both, works and is charged exactly the pages both register
 * (pins.peak), and gives them back. In a cgroup whose pins.max has room
 * for neither, both ends fail cleanly at ibv_reg_mr(): each refusal is
 * counted, traced and the first logged, and nothing stays charged.
 */
TEST_F_TIMEOUT(rdma, rc_pingpong, 90)
{
	char text[PATH_MAX + 64], want[256];
	int kmsg, ret, status[2];
	bool refused[2];

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");
	if (rxe_dev.why)
		SKIP(return, "%s", rxe_dev.why);
	if (!*rxe_dev.addr)
		SKIP(return, "%s: no IPv4 RoCE v2 GID on port 1", rxe_dev.name);
	if (access(PINGPONG, X_OK))
		SKIP(return, "no %s", PINGPONG);

	ret = pins_trace_start(self->tree.instance, "pins_rdma");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);
	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);

	/* Room for both ends' MRs, exactly. */
	ASSERT_EQ(0, pins_set_max(self->tree.cg, 2 * PP_PAGES));
	ASSERT_EQ(0, pingpong(self, self->tree.cg, status, refused));
	ASSERT_EQ(0, status[0]);
	ASSERT_EQ(0, status[1]);
	ASSERT_EQ(0, pins_expect(self->tree.cg, "pins.peak", 2 * PP_PAGES));
	ASSERT_EQ(0, pins_expect(self->tree.parent, "pins.peak", 2 * PP_PAGES));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));

	/* Room for one page: neither end's MR fits. */
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));
	ASSERT_EQ(0, pins_set_max(self->tree.sibling, 1));
	ASSERT_EQ(0, pingpong(self, self->tree.sibling, status, refused));
	ASSERT_EQ(1, status[0]);
	ASSERT_EQ(1, status[1]);
	ASSERT_TRUE(refused[0]);
	ASSERT_TRUE(refused[1]);
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	ASSERT_EQ(0, pins_expect(self->tree.sibling, "pins.peak", 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.sibling, 2, 2));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 2, 0));

	snprintf(want, sizeof(want),
		 " cgroup=%llu limiter=%llu source=rdma pages=%d limit=1 usage=0\n",
		 pins_cg_id(self->tree.sibling), pins_cg_id(self->tree.sibling),
		 PP_PAGES);
	ASSERT_EQ(2, pins_trace_count(self->tree.instance, "charge_refused: "));
	ASSERT_EQ(2, pins_trace_count(self->tree.instance, want));
	pins_refusal_text(text, sizeof(text), "rdma", self->tree.root,
			  self->tree.sibling);
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));
	close(kmsg);
}

int main(int argc, char **argv)
{
	main_pid = getpid();
	pins_util_init();
	devices_setup();
	if (atexit(devices_cleanup)) {
		devices_cleanup();
		return KSFT_FAIL;
	}

	return test_harness_run(argc, argv);
}
