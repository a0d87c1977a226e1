/* SPDX-License-Identifier: GPL-2.0 */
/* What the demo programs of `make run` (lockmem, uringbuf) share. */
#ifndef PINS_DEMO_H
#define PINS_DEMO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Prints the lines of DIR/FILE, or only those starting with PREFIX if it
 * isn't NULL, indented and labelled with FILE.
 */
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
			printf("    %s: %s", file, line);
	fclose(f);
}

/* A size in bytes with an optional K or M suffix, or -1 if it is bad. */
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

#endif /* PINS_DEMO_H */
