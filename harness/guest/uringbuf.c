// SPDX-License-Identifier: GPL-2.0
/*
 * uringbuf CGROUP SIZE...: for `make run`. Sets up an io_uring and
 * registers a fixed buffer of each SIZE (bytes, K or M suffix) in turn with
 * liburing, printing the result, the io_uring line of CGROUP's pins.stat,
 * its pins.events, the process's VmPin and the io_uring line of the root
 * cgroup's pins.stat, which counts the whole host. Everything stays
 * registered until it exits.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "demo.h"

int main(int argc, char **argv)
{
	struct io_uring ring;
	int i, ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CGROUP SIZE...\n", argv[0]);
		return 2;
	}
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}
	/* A sparse table, so that each buffer can be registered alone. */
	ret = io_uring_register_buffers_sparse(&ring, argc - 2);
	if (ret) {
		fprintf(stderr, "io_uring_register_buffers_sparse: %s\n",
			strerror(-ret));
		return 1;
	}
	for (i = 2; i < argc; i++) {
		long len = size_arg(argv[i]);
		struct iovec iov;
		__u64 tag = 0;

		if (len < 0) {
			fprintf(stderr, "bad size %s\n", argv[i]);
			return 2;
		}
		iov.iov_len = len;
		iov.iov_base = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (iov.iov_base == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		ret = io_uring_register_buffers_update_tag(&ring, i - 2, &iov,
							   &tag, 1);
		if (ret < 0)
			printf("register buffer of %s: %s\n", argv[i],
			       strerror(-ret));
		else
			printf("register buffer of %s: ok\n", argv[i]);
		show(argv[1], "pins.stat", "io_uring");
		show(argv[1], "pins.events", NULL);
		show("/proc/self", "status", "VmPin");
		printf("    the root cgroup, for the whole host:\n");
		show("/sys/fs/cgroup", "pins.stat", "io_uring");
	}
	return 0;
}
