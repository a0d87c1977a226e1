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

static void show(const char *dir, const char *file, const char *prefix)
{
	char path[512], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!prefix || !strncmp(line, prefix, strlen(prefix)))
			printf("    %s: %s", prefix ? "status" : file, line);
	fclose(f);
}

static long size_arg(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*end == 'K' || *end == 'k') {
		n <<= 10;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		n <<= 20;
		end++;
	}
	return (*end || n <= 0) ? -1 : n;
}

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
