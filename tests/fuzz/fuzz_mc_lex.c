/*
 * libFuzzer harness for the sendmail.mc reader of postern import-mc
 * (tools/mc_lex.c): any bytes as a .mc. Statements come in line order,
 * with at most MC_MAXARGS arguments each no longer than a statement.
 * Must never crash, leak or read out of bounds. `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/mc_lex.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_file	 f;
	char		 k[64], bits[256];
	int		 last = 0;

	if (size > 64 * 1024)
		return 0;
	if (mc_lex((const char *)data, size, &f) != 0)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		const struct mc_stmt *st = &f.st[i];

		if (st->line < last || st->nargs > MC_MAXARGS)
			abort();
		last = st->line;
		if (st->kind == MC_BAD && st->why == NULL)
			abort();
		for (int a = 0; a < st->nargs; a++) {
			if (strlen(st->args[a]) >= MC_MAXSTMT)
				abort();
			mc_squash(st->args[a], k, sizeof(k));
		}
		mc_lenient_text(st->lenient, bits, sizeof(bits));
	}
	mc_free(&f);
	return 0;
}
