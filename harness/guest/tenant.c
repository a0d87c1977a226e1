// SPDX-License-Identifier: GPL-2.0
/*
 * tenant STEP...: the program a container runs in guest:crun_container and
 * in `make run`. It does each STEP in order and keeps everything it locked
 * or registered until it exits:
 *
 *   mlock=SIZE   maps SIZE bytes (K or M suffix) of anonymous memory and
 *                mlock()s them;
 *   uring=SIZE   maps SIZE bytes and registers them as an io_uring fixed
 *                buffer (liburing, one ring for every buffer);
 *   show         prints the pins files of its cgroup as the container sees
 *                them (its cgroup namespace's root) and its VmLck/VmPin;
 *   hold         prints "tenant: holding" and waits for SIGTERM.
 *
 * It first prints its RLIMIT_MEMLOCK and whether it has CAP_IPC_LOCK. Each
 * mlock or registration prints "tenant: mlock 32M: ok" or, refused,
 * "tenant: mlock 32M: ENOMEM". It exits 0 once every step ran, whatever
 * the steps returned, and 2 on a bad argument or a failed set-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "demo.h"

#define MAX_BUFFERS 16

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

/* CAP_IPC_LOCK (bit 14) in the effective set, from /proc/self/status. */
static int has_ipc_lock(void)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return !!(eff & (1ULL << 14));
}

static void *map(long len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("tenant: mmap");
		exit(2);
	}
	return p;
}

static void report(const char *what, const char *size, int err)
{
	printf("tenant: %s %s: %s\n", what, size,
	       err ? strerrorname_np(err) : "ok");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	int ring_up = 0, nbuf = 0, i, ret;
	struct sigaction sa = { .sa_handler = on_term };
	struct rlimit rl;

	/* PID 1 of its PID namespace gets no signal it has no handler for. */
	sigaction(SIGTERM, &sa, NULL);
	getrlimit(RLIMIT_MEMLOCK, &rl);
	printf("tenant: RLIMIT_MEMLOCK %s, CAP_IPC_LOCK %s\n",
	       rl.rlim_cur == RLIM_INFINITY ? "unlimited" : "limited",
	       has_ipc_lock() ? "yes" : "no");
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		long len = eq ? size_arg(eq + 1) : 0;

		if (!strcmp(arg, "show")) {
			printf("tenant: its cgroup, at its cgroup namespace's root:\n");
			show("/sys/fs/cgroup", "pins.max", NULL);
			show("/sys/fs/cgroup", "pins.current", NULL);
			show("/sys/fs/cgroup", "pins.events", NULL);
			show("/sys/fs/cgroup", "pins.stat", "mlock");
			show("/sys/fs/cgroup", "pins.stat", "io_uring");
			show("/proc/self", "status", "VmLck");
			show("/proc/self", "status", "VmPin");
			fflush(stdout);
		} else if (!strcmp(arg, "hold")) {
			printf("tenant: holding\n");
			fflush(stdout);
			while (!stop)
				pause();
		} else if (eq && len > 0 && !strncmp(arg, "mlock=", 6)) {
			ret = mlock(map(len), len);
			report("mlock", eq + 1, ret ? errno : 0);
		} else if (eq && len > 0 && !strncmp(arg, "uring=", 6)) {
			struct iovec iov = { .iov_base = map(len), .iov_len = len };
			__u64 tag = 0;

			if (!ring_up) {
				/* A sparse table: each buffer registers alone. */
				ret = io_uring_queue_init(8, &ring, 0);
				if (!ret)
					ret = io_uring_register_buffers_sparse(&ring,
									       MAX_BUFFERS);
				if (ret) {
					fprintf(stderr, "tenant: io_uring set-up: %s\n",
						strerror(-ret));
					return 2;
				}
				ring_up = 1;
			}
			if (nbuf == MAX_BUFFERS) {
				fprintf(stderr, "tenant: more than %d buffers\n",
					MAX_BUFFERS);
				return 2;
			}
			ret = io_uring_register_buffers_update_tag(&ring, nbuf++,
								   &iov, &tag, 1);
			report("io_uring buffer", eq + 1, ret < 0 ? -ret : 0);
		} else {
			fprintf(stderr, "tenant: bad step '%s'\n", arg);
			return 2;
		}
	}
	return 0;
}
