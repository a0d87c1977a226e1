// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the "pins" cgroup v2 controller in a delegated subtree.
 *
 * As Documentation/admin-guide/cgroup-v2.rst ("Delegation") describes it,
 * a cgroup is delegated to an unprivileged user by giving the user its
 * directory and its cgroup.procs, cgroup.threads and
 * cgroup.subtree_control. The delegatee may then make children, move its
 * processes among them, enable the controllers it was given in them and
 * set their limits, but the delegated cgroup's own interface files stay
 * with the delegater. For pins that means a delegatee:
 *
 * - can't write its own pins.max or pins.peak (EACCES), nor change their
 *   owner or mode (EPERM), nor remove them;
 * - can make children and set their pins.max, above its own limit even,
 *   but what they charge stays bounded by the delegated cgroup's
 *   pins.max: a charge past it is refused, also with the controller
 *   turned off below the delegated cgroup;
 * - can't move its processes out of the delegated subtree, or others' in
 *   (EACCES: it can't write cgroup.procs of the common ancestor), and in
 *   a cgroup namespace on a hierarchy mounted with nsdelegate not out of
 *   the namespace (ENOENT), nor write the namespace root's pins.max
 *   (EPERM) even where its mode would let it;
 * - can't change any file of a cgroup outside the subtree.
 *
 * Each test forks a child that becomes TEST_UID, with no capability and
 * no RLIMIT_MEMLOCK (so that pins.max is what limits its mlock()), and
 * checks what it may and may not do, errno included; the test then
 * checks as root that nothing it may not do has changed. Without cgroup
 * v2 or the pins controller every test reports SKIP.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* pins.max of the delegated cgroup, of the other one, of their parent. */
#define DELEG_MAX	16
#define OTHER_MAX	32
#define TOP_MAX		64
/* What the delegatee sets its child's pins.max to: above DELEG_MAX. */
#define CHILD_MAX	48

/* The files a delegatee is given besides its directory. */
static const char * const delegated_files[] = {
	"cgroup.procs", "cgroup.threads", "cgroup.subtree_control",
};

/* Give @cgroup to TEST_UID as cgroup-v2.rst's "Delegation" says. */
static int delegate(const char *cgroup)
{
	char path[PATH_MAX];
	size_t i;

	if (chown(cgroup, TEST_UID, TEST_UID)) {
		ksft_print_msg("chown %s: %s\n", cgroup, strerror(errno));
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(delegated_files); i++) {
		if (pins_path_of(path, cgroup, delegated_files[i]))
			return -1;
		if (chown(path, TEST_UID, TEST_UID)) {
			ksft_print_msg("chown %s: %s\n", path, strerror(errno));
			return -1;
		}
	}

	return 0;
}

/* Remove a cgroup directory found by nftw(), deepest first. */
static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	if (type == FTW_DP)
		cg_destroy(path);
	return 0;
}

/* Remove @cgroup and every cgroup below it, killing what is inside. */
static void remove_tree(const char *cgroup)
{
	if (*cgroup)
		nftw(cgroup, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The cgroups of every test, below the root:
 *
 *   pins_delegate_<test>	top: root's, pins enabled, pins.max TOP_MAX
 *   ├── d			delegated to TEST_UID, pins.max DELEG_MAX
 *   └── o			another cgroup, root's, pins.max OTHER_MAX
 *
 * and a root process that sleeps in o, for the delegatee to try to move.
 */
struct deleg_tree {
	char root[PATH_MAX];
	char top[PATH_MAX];
	char d[PATH_MAX];
	char o[PATH_MAX];
	pid_t sleeper;		/* the process in o, or 0 */
};

FIXTURE(deleg) {
	struct deleg_tree t;	/* what the delegatee's side gets too */
	bool made;
	pid_t pid;		/* the delegatee, or 0 */
};

FIXTURE_SETUP(deleg)
{
	char name[NAME_MAX];
	pid_t pid;
	int ret;

	pins_util_init();

	ret = pins_setup_root(self->t.root, sizeof(self->t.root));
	if (ret == KSFT_SKIP)
		SKIP(return, "%s", skip_reason);
	ASSERT_EQ(KSFT_PASS, ret);

	snprintf(name, sizeof(name), "pins_delegate_%s", _metadata->name);
	ASSERT_EQ(0, pins_path_of(self->t.top, self->t.root, name));
	ASSERT_EQ(0, pins_path_of(self->t.d, self->t.top, "d"));
	ASSERT_EQ(0, pins_path_of(self->t.o, self->t.top, "o"));
	/* Left over from a run that was killed. */
	remove_tree(self->t.top);

	ret = pins_create(self->t.top, true);
	if (!ret)
		self->made = true;
	if (!ret)
		ret = pins_create(self->t.d, false);
	if (!ret)
		ret = pins_create(self->t.o, false);
	if (!ret)
		ret = pins_set_max(self->t.top, TOP_MAX) ||
		      pins_set_max(self->t.d, DELEG_MAX) ||
		      pins_set_max(self->t.o, OTHER_MAX);
	if (!ret)
		ret = delegate(self->t.d);
	if (!ret) {
		/* The fixture is shared: only the parent may store the pid. */
		pid = pins_fork(self->t.o);
		if (!pid) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pause();
			pins_child_exit(EXIT_SUCCESS);
		}
		ret = pid < 0;
		if (!ret)
			self->t.sleeper = pid;
	}
	if (ret) {
		pins_kill(&self->t.sleeper);
		remove_tree(self->t.top);
		self->made = false;
	}
	ASSERT_EQ(0, ret);
}

/*
 * A FIXTURE_TEARDOWN_PARENT(), as in test_pins.c: it runs once, in the
 * test's process after a failed assertion or in its parent, so it uses
 * nothing but the paths and pids in the (shared) fixture.
 */
FIXTURE_TEARDOWN_PARENT(deleg)
{
	pins_kill(&self->pid);
	pins_kill(&self->t.sleeper);
	cg_enter_current(self->t.root);
	if (self->made)
		remove_tree(self->t.top);
	self->made = false;
}

/* Returns 0 if @ret is -1 with errno @err, else reports @what. */
static int expect_errno(int ret, int err, const char *what)
{
	int got = errno;

	if (ret != -1 || got != err) {
		ksft_print_msg("%s: got %d (%s), expected %s\n", what, ret,
			       ret == -1 ? strerror(got) : "success",
			       strerror(err));
		return -1;
	}

	return 0;
}

/* open(@dir/@name, @flags) must fail with @err. */
static int expect_open_fails(const char *dir, const char *name, int flags,
			     int err)
{
	char path[PATH_MAX], what[PATH_MAX + 32];
	int fd;

	if (pins_path_of(path, dir, name))
		return -1;
	fd = open(path, flags | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	snprintf(what, sizeof(what), "open %s for writing", path);

	return expect_errno(fd < 0 ? -1 : 0, err, what);
}

/* Write @str to @dir/@name, which must work. */
static int write_ok(const char *dir, const char *name, const char *str)
{
	int ret = pins_write(dir, name, str);

	if (ret)
		ksft_print_msg("write \"%s\" to %s/%s: %s\n", str, dir, name,
			       strerror(-ret));
	return ret ? -1 : 0;
}

/* Write @str to @dir/@name, which must fail with @err. */
static int write_fails(const char *dir, const char *name, const char *str,
		       int err)
{
	int ret = pins_write(dir, name, str);

	if (ret != -err) {
		ksft_print_msg("write \"%s\" to %s/%s: got %s, expected %s\n",
			       str, dir, name,
			       ret ? strerror(-ret) : "success",
			       strerror(err));
		return -1;
	}

	return 0;
}

/* Returns 0 if @cgroup/@name is owned by @uid with mode @mode. */
static int expect_owner(const char *cgroup, const char *name, uid_t uid,
			mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;

	if (pins_path_of(path, cgroup, name))
		return -1;
	if (stat(path, &st)) {
		ksft_print_msg("stat %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != uid || (st.st_mode & 07777) != mode) {
		ksft_print_msg("%s: owner %u mode %04o, expected %u %04o\n",
			       path, st.st_uid, st.st_mode & 07777, uid, mode);
		return -1;
	}

	return 0;
}

/* Returns 0 if /proc/self/cgroup says this process is in @cgroup. */
static int expect_in(const char *root, const char *cgroup)
{
	char buf[PATH_MAX + 8], want[PATH_MAX + 8];

	snprintf(want, sizeof(want), "0::%s\n",
		 *(cgroup + strlen(root)) ? cgroup + strlen(root) : "/");
	if (read_text("/proc/self/cgroup", buf, sizeof(buf)) < 0) {
		ksft_print_msg("read /proc/self/cgroup: %s\n", strerror(errno));
		return -1;
	}
	if (strcmp(buf, want)) {
		ksft_print_msg("in %.*s, expected %.*s\n",
			       (int)strcspn(buf, "\n"), buf,
			       (int)strcspn(want, "\n"), want);
		return -1;
	}

	return 0;
}

/* Returns 0 if no capability at all is effective or permitted. */
static int expect_no_caps(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	int i;

	if (syscall(SYS_capget, &hdr, data)) {
		ksft_print_msg("capget: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted) {
			ksft_print_msg("capabilities left: %#x %#x\n",
				       data[i].effective, data[i].permitted);
			return -1;
		}
	}

	return 0;
}

/*
 * Lock @npages pages of @buf from @first: 0 if that worked and @err is 0,
 * or if it failed with @err.
 */
static int lock_expect(char *buf, long first, long npages, int err)
{
	char what[64];
	int ret;

	ret = mlock(pins_page_at(buf, first), npages * page_size);
	if (!err) {
		if (ret)
			ksft_print_msg("mlock %ld pages: %s\n", npages,
				       strerror(errno));
		return ret ? -1 : 0;
	}
	snprintf(what, sizeof(what), "mlock %ld more pages", npages);

	return expect_errno(ret, err, what);
}

/*
 * Run @fn as the delegatee: a child, in @start, that becomes TEST_UID
 * with no capability and RLIMIT_MEMLOCK unlimited. If @ns, it first makes
 * a cgroup namespace rooted at @start (which takes CAP_SYS_ADMIN, so as
 * root). Returns the child's pid for pins_reap(), or -1.
 */
static pid_t run_delegatee(const char *start, bool ns,
			   int (*fn)(const struct deleg_tree *t),
			   const struct deleg_tree *t)
{
	pid_t pid = pins_fork(start);

	if (pid)
		return pid;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (ns && unshare(CLONE_NEWCGROUP)) {
		ksft_print_msg("unshare(CLONE_NEWCGROUP): %s\n",
			       strerror(errno));
		pins_child_exit(EXIT_FAILURE);
	}
	if (pins_drop_privileges(PINS_MAX) || expect_no_caps())
		pins_child_exit(EXIT_FAILURE);
	pins_child_exit(fn(t) ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* The delegatee's side of own_files. */
static int own_files(const struct deleg_tree *c)
{
	char path[PATH_MAX];
	int err = 0;

	/* Its own limit and peak are the delegater's. */
	err |= expect_open_fails(c->d, "pins.max", O_WRONLY, EACCES);
	err |= expect_open_fails(c->d, "pins.max", O_RDWR, EACCES);
	err |= expect_open_fails(c->d, "pins.peak", O_WRONLY, EACCES);
	err |= pins_path_of(path, c->d, "pins.max");
	err |= expect_errno(chmod(path, 0666), EPERM, "chmod pins.max");
	err |= expect_errno(chown(path, TEST_UID, TEST_UID), EPERM,
			    "chown pins.max");
	/* The directory is its own, but cgroupfs files can't be unlinked. */
	err |= expect_errno(unlink(path), EPERM, "unlink pins.max");
	/* It may read them, and use what it was given. */
	err |= pins_expect(c->d, "pins.max", DELEG_MAX);
	err |= pins_expect(c->d, "pins.peak", 0);
	err |= write_ok(c->d, "cgroup.procs", "0");
	err |= expect_in(c->root, c->d);

	return err;
}

/*
 * The delegatee can't write, chmod, chown or remove the pins.max and
 * pins.peak of the cgroup delegated to it, nor the files of the controller
 * that the delegater enables for its children.
 */
TEST_F(deleg, own_files)
{
	self->pid = run_delegatee(self->t.d, false, own_files, &self->t);
	ASSERT_LE(0, self->pid);
	ASSERT_EQ(0, pins_reap(&self->pid));

	ASSERT_EQ(0, pins_expect(self->t.d, "pins.max", DELEG_MAX));
	ASSERT_EQ(0, expect_owner(self->t.d, "pins.max", 0, 0644));
	ASSERT_EQ(0, expect_owner(self->t.d, "pins.peak", 0, 0644));
	ASSERT_EQ(0, expect_owner(self->t.d, "pins.current", 0, 0444));
	ASSERT_EQ(0, pins_events_expect(self->t.d, 0, 0));
}

/*
 * The delegatee's side of child_bounded: charges of its children are
 * bounded by the delegated cgroup's pins.max, whatever it sets theirs to
 * and with or without the controller enabled below the delegated cgroup.
 */
static int child_bounded(const struct deleg_tree *c)
{
	char leaf[PATH_MAX], nest[PATH_MAX], grand[PATH_MAX];
	char limit[32], path[PATH_MAX];
	int err = 0;
	char *buf;

	buf = pins_buf_alloc(DELEG_MAX + 1, true);
	if (!buf || pins_path_of(leaf, c->d, "c") ||
	    pins_path_of(nest, c->d, "n") || pins_path_of(grand, nest, "g"))
		return -1;

	/* Children of its own, its processes in a leaf, pins enabled. */
	if (pins_create(leaf, false) || pins_create(nest, false) ||
	    write_ok(leaf, "cgroup.procs", "0") ||
	    write_ok(c->d, "cgroup.subtree_control", "+pins") ||
	    write_ok(nest, "cgroup.subtree_control", "+pins") ||
	    pins_create(grand, false))
		return -1;
	/* Its children's files are its own, set up by its write. */
	err |= expect_owner(leaf, "pins.max", TEST_UID, 0644);
	err |= expect_owner(grand, "pins.max", TEST_UID, 0644);

	/* Their limits are its to set: above its own, too. */
	snprintf(limit, sizeof(limit), "%ld", CHILD_MAX * page_size);
	err |= write_ok(leaf, "pins.max", limit);
	err |= write_ok(nest, "pins.max", "max");
	err |= write_ok(grand, "pins.max", limit);
	err |= pins_expect(leaf, "pins.max", CHILD_MAX);
	err |= pins_expect(grand, "pins.max", CHILD_MAX);
	if (err)
		return -1;

	/* Up to the delegated cgroup's limit, and not a page past it. */
	if (lock_expect(buf, 0, DELEG_MAX, 0) ||
	    lock_expect(buf, DELEG_MAX, 1, ENOMEM) ||
	    pins_expect(c->d, "pins.current", DELEG_MAX) ||
	    pins_expect(leaf, "pins.current", DELEG_MAX) ||
	    munlock(buf, (DELEG_MAX + 1) * page_size))
		return -1;

	/* The same from a grandchild, whose parent is unlimited. */
	if (write_ok(grand, "cgroup.procs", "0") ||
	    lock_expect(buf, 0, DELEG_MAX, 0) ||
	    lock_expect(buf, DELEG_MAX, 1, ENOMEM) ||
	    pins_expect(grand, "pins.current", DELEG_MAX) ||
	    pins_expect(nest, "pins.current", DELEG_MAX) ||
	    munlock(buf, (DELEG_MAX + 1) * page_size))
		return -1;

	/*
	 * With pins turned off below it, its children are charged to the
	 * delegated cgroup itself, which still refuses.
	 */
	if (write_ok(leaf, "cgroup.procs", "0") ||
	    write_ok(nest, "cgroup.subtree_control", "-pins") ||
	    write_ok(c->d, "cgroup.subtree_control", "-pins"))
		return -1;
	if (pins_path_of(path, leaf, "pins.max"))
		return -1;
	if (!access(path, F_OK)) {
		ksft_print_msg("%s still there with pins turned off\n", path);
		return -1;
	}
	if (lock_expect(buf, 0, DELEG_MAX, 0) ||
	    lock_expect(buf, DELEG_MAX, 1, ENOMEM) ||
	    pins_expect(c->d, "pins.current", DELEG_MAX) ||
	    munlock(buf, (DELEG_MAX + 1) * page_size) ||
	    pins_expect(c->d, "pins.current", 0))
		return -1;

	/* And it still can't raise its own. */
	return expect_open_fails(c->d, "pins.max", O_WRONLY, EACCES);
}

/*
 * A delegatee may set its children's pins.max, even above the delegated
 * cgroup's, but can't take their charges past the delegated cgroup's
 * pins.max: not from a child, not from a grandchild below an unlimited
 * child, not with pins turned off below the delegated cgroup. Every
 * refusal is the delegated cgroup's, and its limit never moved.
 */
TEST_F(deleg, child_bounded)
{
	self->pid = run_delegatee(self->t.d, false, child_bounded, &self->t);
	ASSERT_LE(0, self->pid);
	ASSERT_EQ(0, pins_reap(&self->pid));

	ASSERT_EQ(0, pins_expect(self->t.d, "pins.max", DELEG_MAX));
	ASSERT_EQ(0, pins_expect(self->t.d, "pins.peak", DELEG_MAX));
	ASSERT_EQ(0, pins_expect_wait(self->t.d, "pins.current", 0));
	ASSERT_EQ(0, pins_events_expect(self->t.d, 3, 3));
	ASSERT_EQ(0, pins_events_expect(self->t.top, 3, 0));
	ASSERT_EQ(0, pins_expect(self->t.top, "pins.max", TOP_MAX));
}

/* The delegatee's side of no_escape. */
static int no_escape(const struct deleg_tree *c)
{
	char leaf[PATH_MAX], pid[32];
	int err = 0;

	if (pins_path_of(leaf, c->d, "c") || pins_create(leaf, false) ||
	    write_ok(leaf, "cgroup.procs", "0"))
		return -1;

	/* Out of the subtree: the destination's cgroup.procs isn't its. */
	err |= expect_open_fails(c->o, "cgroup.procs", O_WRONLY, EACCES);
	err |= expect_open_fails(c->top, "cgroup.procs", O_WRONLY, EACCES);
	err |= expect_open_fails(c->root, "cgroup.procs", O_WRONLY, EACCES);
	err |= expect_open_fails(c->o, "cgroup.threads", O_WRONLY, EACCES);
	err |= expect_in(c->root, leaf);

	/*
	 * Another's process into the subtree: the migration needs write
	 * access to cgroup.procs of the common ancestor, top.
	 */
	snprintf(pid, sizeof(pid), "%d", c->sleeper);
	err |= write_fails(leaf, "cgroup.procs", pid, EACCES);
	err |= write_fails(c->d, "cgroup.procs", pid, EACCES);

	/* Within the subtree it may move. */
	err |= write_ok(c->d, "cgroup.procs", "0");
	err |= expect_in(c->root, c->d);
	err |= write_ok(leaf, "cgroup.procs", "0");
	err |= expect_in(c->root, leaf);

	return err;
}

/*
 * A delegatee can't move its processes out of the delegated subtree, nor
 * another user's process into it: EACCES, and both stay where they were.
 */
TEST_F(deleg, no_escape)
{
	char pid[32], leaf[PATH_MAX];

	self->pid = run_delegatee(self->t.d, false, no_escape, &self->t);
	ASSERT_LE(0, self->pid);
	ASSERT_EQ(0, pins_reap(&self->pid));

	snprintf(pid, sizeof(pid), "%d\n", self->t.sleeper);
	ASSERT_EQ(0, pins_expect_str(self->t.o, "cgroup.procs", pid));
	ASSERT_EQ(0, pins_path_of(leaf, self->t.d, "c"));
	ASSERT_EQ(0, pins_expect_str(self->t.d, "cgroup.procs", ""));
	ASSERT_EQ(0, pins_expect_str(self->t.top, "cgroup.procs", ""));
}

/* The delegatee's side of ns_escape, in a cgroup namespace at d/a. */
static int ns_escape(const struct deleg_tree *c)
{
	char a[PATH_MAX], b[PATH_MAX], limit[32];
	int err = 0;

	if (pins_path_of(a, c->d, "a") || pins_path_of(b, c->d, "b"))
		return -1;

	/* The namespace's root is where it is: "/". */
	err |= expect_in("", "");

	/*
	 * It may write d's and b's cgroup.procs, but both are outside its
	 * namespace: nsdelegate makes that ENOENT.
	 */
	err |= write_fails(b, "cgroup.procs", "0", ENOENT);
	err |= write_fails(c->d, "cgroup.procs", "0", ENOENT);

	/*
	 * a's pins.max was given to it too, but a is the namespace's root:
	 * only the delegatable files may be written from inside.
	 */
	snprintf(limit, sizeof(limit), "%ld", CHILD_MAX * page_size);
	err |= write_fails(a, "pins.max", limit, EPERM);
	err |= write_fails(a, "pins.max", "max", EPERM);
	err |= expect_in("", "");

	return err;
}

/*
 * On a hierarchy mounted with nsdelegate, a delegatee in a cgroup
 * namespace can't move out of the namespace (ENOENT) even to a cgroup it
 * could write to, and can't write the pins.max of the namespace's root
 * (EPERM) even if the delegater gave that file away.
 */
TEST_F(deleg, ns_escape)
{
	char a[PATH_MAX], b[PATH_MAX], path[PATH_MAX];
	bool nsdelegate = false;

	ASSERT_EQ(0, cg_find_unified_root(path, sizeof(path), &nsdelegate));
	if (!nsdelegate)
		SKIP(return, "cgroup2 isn't mounted with nsdelegate");

	ASSERT_EQ(0, pins_path_of(a, self->t.d, "a"));
	ASSERT_EQ(0, pins_path_of(b, self->t.d, "b"));
	ASSERT_EQ(0, pins_create(a, false));
	ASSERT_EQ(0, pins_create(b, false));
	ASSERT_EQ(0, pins_write(self->t.d, "cgroup.subtree_control", "+pins"));
	ASSERT_EQ(0, pins_set_max(a, DELEG_MAX / 2));
	ASSERT_EQ(0, delegate(a));
	ASSERT_EQ(0, delegate(b));
	/* The delegater's mistake: a's limit given away too. */
	ASSERT_EQ(0, pins_path_of(path, a, "pins.max"));
	ASSERT_EQ(0, chown(path, TEST_UID, TEST_UID));

	self->pid = run_delegatee(a, true, ns_escape, &self->t);
	ASSERT_LE(0, self->pid);
	ASSERT_EQ(0, pins_reap(&self->pid));

	ASSERT_EQ(0, pins_expect(a, "pins.max", DELEG_MAX / 2));
	ASSERT_EQ(0, pins_expect(self->t.d, "pins.max", DELEG_MAX));
	ASSERT_EQ(0, pins_expect_str(b, "cgroup.procs", ""));
	ASSERT_EQ(0, pins_expect_str(self->t.d, "cgroup.procs", ""));
}

/* The delegatee's side of other_files. */
static int other_files(const struct deleg_tree *c)
{
	static const struct {
		const char *file;
		const char *input;
	} files[] = {
		{ "pins.max",			"max" },
		{ "pins.max",			"0" },
		{ "pins.peak",			"reset" },
		{ "cgroup.procs",		"0" },
		{ "cgroup.threads",		"0" },
		{ "cgroup.subtree_control",	"-pins" },
		{ "cgroup.max.descendants",	"0" },
		{ "cgroup.max.depth",		"0" },
	};
	const char *const others[] = { c->o, c->top };
	char path[PATH_MAX], x[PATH_MAX], to[PATH_MAX];
	size_t i, j;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(others); i++) {
		for (j = 0; j < ARRAY_SIZE(files); j++) {
			err |= expect_open_fails(others[i], files[j].file,
						 O_WRONLY, EACCES);
			err |= write_fails(others[i], files[j].file,
					   files[j].input, EACCES);
		}
		err |= pins_path_of(path, others[i], "pins.max");
		err |= expect_errno(chmod(path, 0666), EPERM, "chmod");
		err |= expect_errno(chown(path, TEST_UID, TEST_UID), EPERM,
				    "chown");
		err |= expect_errno(chmod(others[i], 0777), EPERM,
				    "chmod a cgroup");
		err |= pins_path_of(x, others[i], "x");
		err |= expect_errno(mkdir(x, 0755), EACCES, "mkdir");
	}
	err |= write_fails(c->root, "cgroup.subtree_control", "-pins", EACCES);

	/* Nor remove or rename what is in top, its own cgroup included. */
	err |= expect_errno(rmdir(c->o), EACCES, "rmdir o");
	err |= expect_errno(rmdir(c->d), EACCES, "rmdir d");
	err |= pins_path_of(to, c->top, "e");
	err |= expect_errno(rename(c->d, to), EACCES, "rename d");
	err |= expect_errno(rename(c->o, to), EACCES, "rename o");

	return err;
}

/*
 * A delegatee can't change any file of a cgroup outside its subtree, nor
 * make, remove or rename cgroups there: EACCES (EPERM for chmod and
 * chown), and the limits, controllers and cgroups are all as they were.
 */
TEST_F(deleg, other_files)
{
	char pid[32], path[PATH_MAX];

	self->pid = run_delegatee(self->t.d, false, other_files, &self->t);
	ASSERT_LE(0, self->pid);
	ASSERT_EQ(0, pins_reap(&self->pid));

	ASSERT_EQ(0, pins_expect(self->t.o, "pins.max", OTHER_MAX));
	ASSERT_EQ(0, pins_expect(self->t.top, "pins.max", TOP_MAX));
	ASSERT_EQ(0, pins_expect(self->t.d, "pins.max", DELEG_MAX));
	ASSERT_EQ(1, pins_cg_has_word(self->t.top, "cgroup.subtree_control",
				      "pins"));
	ASSERT_EQ(1, pins_cg_has_word(self->t.root, "cgroup.subtree_control",
				      "pins"));
	ASSERT_EQ(0, pins_expect_str(self->t.o, "cgroup.max.descendants",
				     "max\n"));
	ASSERT_EQ(0, pins_expect_str(self->t.o, "cgroup.max.depth", "max\n"));
	ASSERT_EQ(0, pins_expect_str(self->t.top, "cgroup.max.descendants",
				     "max\n"));
	snprintf(pid, sizeof(pid), "%d\n", self->t.sleeper);
	ASSERT_EQ(0, pins_expect_str(self->t.o, "cgroup.procs", pid));
	ASSERT_EQ(0, expect_owner(self->t.o, "pins.max", 0, 0644));
	ASSERT_EQ(0, expect_owner(self->t.o, "", 0, 0755));
	ASSERT_EQ(0, pins_path_of(path, self->t.o, "x"));
	ASSERT_NE(0, access(path, F_OK));
	ASSERT_EQ(0, pins_path_of(path, self->t.top, "e"));
	ASSERT_NE(0, access(path, F_OK));
	ASSERT_EQ(0, access(self->t.d, F_OK));
	ASSERT_EQ(0, access(self->t.o, F_OK));
}

TEST_HARNESS_MAIN
