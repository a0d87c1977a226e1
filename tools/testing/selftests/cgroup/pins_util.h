/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the pins controller selftests. */
#ifndef __PINS_UTIL_H
#define __PINS_UTIL_H

#include <linux/limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "../kselftest.h"

/* Used for "max" in pins.max expectations. */
#define PINS_MAX	(-1LL)

/* Flags and a syscall number the tests use, for older C libraries. */
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT		0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT		4
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif
#if !defined(__NR_memfd_secret) && defined(__x86_64__)
#define __NR_memfd_secret	447
#endif
#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY		60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY		0x4000000
#endif
#ifndef AF_XDP
#define AF_XDP			44
#endif
#ifndef SOL_XDP
#define SOL_XDP			283
#endif

/* The page size, set by pins_util_init(). */
extern long page_size;
/* Why the last test that returned KSFT_SKIP skipped. */
extern const char *skip_reason;

/* A test: returns KSFT_PASS, KSFT_SKIP (with skip_reason) or KSFT_FAIL. */
struct pins_test {
	int (*fn)(const char *root);
	const char *name;
};

int pins_run_tests(const struct pins_test *tests, size_t n);
void pins_util_init(void);
const char *pins_escape(char *dst, size_t size, const char *src);
int pins_cg_has_word(const char *cgroup, const char *control,
		     const char *word);
int pins_prepare(const char *root);
int pins_setup_root(char *root, size_t size);
int pins_create(const char *cgroup, bool enable);
int pins_expect_str(const char *cgroup, const char *control,
		    const char *expected);
void pins_format(char *buf, size_t size, long long pages);
int pins_expect(const char *cgroup, const char *control, long long pages);
int pins_write(const char *cgroup, const char *control, const char *buf);
int pins_set_max(const char *cgroup, long long pages);
int pins_create_pair(const char *root, const char *name, char **parent,
		     char **child);
void pins_destroy_pair(const char *root, char **parent, char **child);
int pins_create_pair_at(const char *root, const char *name, char *parent,
			char *child);
void pins_destroy_pair_at(const char *root, const char *parent,
			  const char *child, const char *sibling);

int pins_cap_ipc_lock_effective(void);
int pins_set_memlock(long long pages);
int pins_run_child(const char *cgroup,
		   int (*fn)(const char *cgroup, void *arg), void *arg);

int pins_expect_wait(const char *cgroup, const char *control,
		     long long pages);
int pins_run_in_new_cgroup(const char *root, const char *name,
			   long long max,
			   int (*fn)(const char *cgroup, void *arg), void *arg);

long pins_status_pages(pid_t pid, const char *key);
int pins_status_check(pid_t pid, const char *key, long pages, bool verbose);
int pins_status_expect(pid_t pid, const char *key, long pages);

int pins_become_nobody(void);
int pins_perf_open(void);
int pins_reap(pid_t *pid);
void pins_kill(pid_t *pid);

/* pins.stat's keys, in the order it shows them. */
#define PINS_NR_STAT_KEYS	12
extern const char * const pins_stat_keys[PINS_NR_STAT_KEYS];

/* What pins.stat and pins.current of a cgroup show, in pages. */
struct pins_usage {
	long long stat[PINS_NR_STAT_KEYS];
	long long current;
};

int pins_usage_read(const char *cgroup, struct pins_usage *u);
int pins_usage_expect(const char *cgroup, const struct pins_usage *base,
		      const struct pins_usage *delta);
long long pins_stat_bytes(const char *cgroup, const char *key);
long pins_stat_pages(const char *cgroup, const char *key);
int pins_stat_match(const char *cgroup,
		    const long long pages[PINS_NR_STAT_KEYS], bool verbose);
int pins_stat_check(const char *cgroup, const char *key, long pages,
		    bool verbose);
int pins_cg_match(const char *cgroup,
		  const long long pages[PINS_NR_STAT_KEYS], bool verbose);
int pins_cg_check(const char *cgroup, const char *key, long pages,
		  bool verbose);
int pins_events_expect(const char *cgroup, long events, long local);
unsigned long long pins_cg_id(const char *cgroup);

int pins_write_file(const char *path, const char *str, int flags);
const char *pins_tracefs(void);
int pins_kmsg_open(void);

char *pins_buf_alloc(long npages, bool no_thp);
void pins_buf_free(char *buf, long npages);
char *pins_page_at(char *buf, long i);
void pins_close_fd(int *fd);
int pins_path_of(char *buf, const char *dir, const char *name);
int pins_drop_privileges(long long pages);
int pins_sock_send(int sock, char c, int fd);
int pins_sock_recv(int sock, char c, int *fd);

int pins_set_cap_ipc_lock(bool on);
pid_t pins_fork(const char *cgroup);
pid_t pins_fork_peer(const char *cgroup, int *sock);
__noreturn void pins_child_exit(int ret);

int pins_trace_start(char *dir, const char *name);
FILE *pins_trace_open(const char *dir);
int pins_trace_count(const char *dir, const char *text);
int pins_trace_expect(const char *dir, int total, int nr, const char *cgroup,
		      const char *limiter, const char *source, long pages,
		      long limit, long usage);
void pins_refusal_text(char *buf, size_t size, const char *source,
		       const char *root, const char *cgroup);
int pins_kmsg_read(int fd, char *buf, size_t size);
int pins_kmsg_expect(int fd, const char *text, int nr);

/**
 * struct pins_tree - the cgroups of a pinning site's test fixture
 * @root: the cgroup v2 root, "" if cgroup v2 isn't mounted
 * @parent: "pins_<site>_<test>" below @root, pins enabled for its children
 * @cg: the test's cgroup, @parent's child "child"
 * @sibling: @parent's child "b", if pins_tree_sibling() made it, or ""
 * @instance: a tracefs instance the test made, or ""
 * @have_pins: the cgroups above exist (there is a pins controller)
 * @root_base: the pages the root had under the site's source at setup
 * @pid: a child of the test, or 0
 * @pid2: another child of the test (or of that child), or 0
 *
 * A site's FIXTURE embeds one. Its teardown is a FIXTURE_TEARDOWN_PARENT():
 * with this kselftest_harness.h, a FIXTURE_TEARDOWN() is skipped after a
 * failed ASSERT_*() when the compiler keeps the harness's pid of the test
 * process in a register, which longjmp() resets, and it is at -O2.
 * Teardown then runs once, in the test's process after a failed assertion
 * or in its parent after the test's process has exited, so it uses nothing
 * of the test's process: its fds close and its memory goes when it exits,
 * and the charges of what they held go back then. The fixture is shared
 * memory, shared with the children the test forks too: it holds the
 * cgroups' paths, not pointers to them, and a child's pid goes there only
 * after the fork, from the parent. The test's process never drops its
 * privileges, only its children do, so teardown runs as root.
 */
struct pins_tree {
	char root[PATH_MAX];
	char parent[PATH_MAX];
	char cg[PATH_MAX];
	char sibling[PATH_MAX];
	char instance[PATH_MAX];
	bool have_pins;
	long root_base;
	pid_t pid;
	pid_t pid2;
};

int pins_tree_setup(struct pins_tree *tree, const char *site,
		    const char *test, const char *source);
void pins_tree_stop(struct pins_tree *tree);
void pins_tree_teardown(struct pins_tree *tree);
int pins_tree_sibling(struct pins_tree *tree);
int pins_tree_check(const struct pins_tree *tree, const char *source,
		    long cg, long sib, bool verbose);
int pins_tree_check_other(const struct pins_tree *tree, const char *source,
			  long cg, long sib, const char *other, long other_cg,
			  bool verbose);
bool pins_retry(int *tries);

#endif /* __PINS_UTIL_H */
