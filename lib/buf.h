/*
 * buf: the one growable byte buffer, with a hard cap set at init.
 * Every append checks the cap and fails (returns -1, errno = EMSGSIZE)
 * rather than grow past it. Contents are always NUL-terminated after len
 * so a buffer holding text can be used as a C string.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 size;	/* allocated, including room for the NUL */
	size_t	 cap;	/* hard upper bound on len */
};

void	 buf_init(struct buf *, size_t cap);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);		/* len = 0, memory kept */
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_putc(struct buf *, int);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *, const char *, va_list);
void	 buf_consume(struct buf *, size_t n);	/* drop n bytes from the front */

/* Allocation that never returns NULL: logs and exits on failure. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
/* Free n strings and the array that holds them. */
void	 xfreev(char **, size_t n);
char	*xstrndup(const char *, size_t);

#endif
