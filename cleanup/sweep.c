/*
 * cleanup's start-up sweep of incoming/: temp files (t.*) a crashed
 * cleanup left behind, once they are an hour old (a live one is never
 * that old). Never touches a queued message.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sweep.h"

/* Remove temp files a crashed cleanup left behind (older than an hour). */
void
sweep_temp(int incoming_fd)
{
	char path[512];
	int dfd = dup(incoming_fd);
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "t.", 2) != 0)
			continue;
		if (fstatat(incoming_fd, de->d_name, &st, 0) == 0 &&
		    now - st.st_mtime > 3600) {
			snprintf(path, sizeof(path), "%s", de->d_name);
			unlinkat(incoming_fd, path, 0);
		}
	}
	closedir(d);
}
