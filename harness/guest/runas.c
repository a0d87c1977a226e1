// SPDX-License-Identifier: GPL-2.0
/*
 * runas UID COMMAND [ARG...]: run COMMAND as UID (group UID, no
 * supplementary groups, no capabilities), the guest's stand-in for
 * upstream run_vmtests.sh's `sudo -u nobody`.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long id;

	if (argc < 3) {
		fprintf(stderr, "usage: runas UID COMMAND [ARG...]\n");
		return 2;
	}
	id = strtol(argv[1], &end, 10);
	if (*end || id <= 0) {
		fprintf(stderr, "runas: bad uid '%s'\n", argv[1]);
		return 2;
	}
	if (setgroups(0, NULL) || setresgid(id, id, id) ||
	    setresuid(id, id, id)) {
		perror("runas");
		return 1;
	}
	execv(argv[2], argv + 2);
	perror("runas: exec");
	return 1;
}
