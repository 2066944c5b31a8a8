/*
 * qspace: the queue's free space against queue_minfree and 1.5 x SIZE
 * (see qspace.h). Reads statvfs only; must never block on anything but
 * the file system's own answer.
 */
#include <sys/statvfs.h>

#include <stdint.h>

#include "qspace.h"

int
qspace_ok(const char *queue_dir, uint64_t minfree, uint64_t size)
{
	struct statvfs sv;
	uint64_t need, avail;

	if (statvfs(queue_dir, &sv) == -1 && statvfs(".", &sv) == -1)
		return 1;
	need = size > UINT64_MAX / 3 ? UINT64_MAX : size + size / 2;
	if (need < minfree)
		need = minfree;
	if (sv.f_frsize != 0 && sv.f_bavail > UINT64_MAX / sv.f_frsize)
		return 1;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return avail >= need;
}
