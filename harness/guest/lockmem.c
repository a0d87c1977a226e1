// SPDX-License-Identifier: GPL-2.0
/*
 * lockmem CGROUP SIZE...: for `make run`. mlock()s a new anonymous mapping
 * of each SIZE (bytes, K or M suffix) in turn and prints the result, then
 * the pins.current and pins.events of CGROUP (the caller's cgroup) and the
 * process's VmLck. Everything stays locked until it exits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "demo.h"

int main(int argc, char **argv)
{
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CGROUP SIZE...\n", argv[0]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		long len = size_arg(argv[i]);
		void *p;

		if (len < 0) {
			fprintf(stderr, "bad size %s\n", argv[i]);
			return 2;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		if (mlock(p, len))
			printf("mlock(%s): %s\n", argv[i], strerror(errno));
		else
			printf("mlock(%s): ok\n", argv[i]);
		show(argv[1], "pins.current", NULL);
		show(argv[1], "pins.events", NULL);
		show("/proc/self", "status", "VmLck");
	}
	return 0;
}
